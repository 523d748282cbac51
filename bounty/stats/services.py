"""Platform statistics for the public and for reviewers, and their server-side SVG charts.

Read from the running counts and the stays that :mod:`bounty.stats.tracking` keeps: a
fixed, small number of queries whatever the size of the platform and its history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from ..certification.models import CertificationState, EquipmentCategory
from ..challenges.models import PUBLIC_STATES, ChallengeState, Industry
from ..extensions import db
from ..market.models import ListingState, TransactionType
from .models import StageStay, StatsCount

AWARDED_STATES = frozenset({ChallengeState.in_progress, ChallengeState.acceptance_review,
                            ChallengeState.completed})

# (subject type in the audit log, state): the stage whose time we measure, in life order.
TIMED_STAGES = (
    ("challenge", ChallengeState.vetting.value, _l("审题")),
    ("challenge", ChallengeState.open.value, _l("揭榜期")),
    ("challenge", ChallengeState.evaluating.value, _l("评选")),
    ("challenge", ChallengeState.award_review.value, _l("揭榜结果审核")),
    ("challenge", ChallengeState.in_progress.value, _l("攻关")),
    ("challenge", ChallengeState.acceptance_review.value, _l("验收")),
    ("certificationapplication", CertificationState.submitted.value, _l("首台（套）认定")),
    ("marketlisting", ListingState.submitted.value, _l("科技大市场挂牌审核")),
)


@dataclass
class StageTime:
    label: str
    median_days: float | None
    count: int


@dataclass
class Stats:
    states: list[ChallengeState]
    industry_rows: list[tuple[Industry, dict[ChallengeState, int], int]]
    by_industry: list[tuple[str, int]]
    by_state: list[tuple[str, int]]
    challenge_total: int
    bounty_total: int
    bounty_awarded: int
    bounty_by_industry: list[tuple[str, int]]
    awarded: int
    failed: int
    stage_times: list[StageTime]
    certificates: int
    certificates_by_category: list[tuple[str, int]]
    listings_public: int
    listings_by_type: list[tuple[str, int]]
    deals: int
    deal_total: int
    pending: dict[str, int] = field(default_factory=dict)

    @property
    def award_rate(self) -> float | None:
        """Awarded ÷ (awarded + 流榜); None until some challenge has concluded."""
        concluded = self.awarded + self.failed
        return self.awarded / concluded if concluded else None


def visible_states(staff: bool) -> list[ChallengeState]:
    """The public counts published challenges; reviewers also see those under 审题."""
    if staff:
        return [s for s in ChallengeState if s != ChallengeState.draft]
    return [s for s in ChallengeState if s in PUBLIC_STATES]


def stage_times() -> list[StageTime]:
    """Median days spent in each stage, over every completed stay in it."""
    counts = {(subject_type, state): n for subject_type, state, n in db.session.execute(
        sa.select(StageStay.subject_type, StageStay.state, sa.func.count())
        .where(StageStay.subject_type.in_({subject_type for subject_type, _, _ in TIMED_STAGES}),
               StageStay.days.is_not(None))
        .group_by(StageStay.subject_type, StageStay.state)).all()}
    result = []
    for subject_type, state, label in TIMED_STAGES:
        n = counts.get((subject_type, state), 0)
        median = None
        if n:
            # the middle one (odd) or two (even) durations, read along the index
            middle = list(db.session.execute(
                sa.select(StageStay.days).where(StageStay.subject_type == subject_type,
                                                StageStay.state == state,
                                                StageStay.days.is_not(None))
                .order_by(StageStay.days).offset((n - 1) // 2).limit(2 - n % 2)).scalars())
            median = round(sum(middle) / len(middle), 1)
        result.append(StageTime(str(label), median, n))
    return result


def _counts() -> dict[str, dict[tuple[str, str], tuple[int, int]]]:
    """kind -> (a, b) -> (count, amount), from the running counts (one query)."""
    found: dict[str, dict[tuple[str, str], tuple[int, int]]] = defaultdict(dict)
    for row in db.session.execute(sa.select(StatsCount).where(StatsCount.count != 0)).scalars():
        found[row.kind][(row.a, row.b)] = (int(row.count), int(row.amount))
    return found


def compute(staff: bool = False) -> Stats:
    """All figures of the statistics page; ``staff`` widens the scope to challenges in 审题."""
    states = visible_states(staff)
    counted = _counts()
    counts: dict[Industry, dict[ChallengeState, int]] = defaultdict(dict)
    bounty_by_industry: dict[Industry, int] = defaultdict(int)
    by_state: dict[ChallengeState, int] = defaultdict(int)
    bounty_total = bounty_awarded = 0
    for (industry_name, state_name), (count, bounty) in counted["challenge"].items():
        industry, state = Industry[industry_name], ChallengeState[state_name]
        if state not in states:
            continue
        counts[industry][state] = count
        by_state[state] += count
        bounty_by_industry[industry] += bounty
        bounty_total += bounty
        if state in AWARDED_STATES:
            bounty_awarded += bounty
    industry_rows = [(industry, counts[industry], sum(counts[industry].values()))
                     for industry in Industry if industry in counts]
    certificates: dict[EquipmentCategory, int] = defaultdict(int)
    submitted_certifications = 0
    for (category, state), (count, _) in counted["certification"].items():
        if state == CertificationState.certified.name:
            certificates[EquipmentCategory[category]] += count
        elif state == CertificationState.submitted.name:
            submitted_certifications += count
    listings: dict[TransactionType, int] = defaultdict(int)
    submitted_listings = 0
    for (kind, state), (count, _) in counted["listing"].items():
        if state in (ListingState.listed.name, ListingState.traded.name):
            listings[TransactionType[kind]] += count
        elif state == ListingState.submitted.name:
            submitted_listings += count
    deals, deal_total = counted["deal"].get(("", ""), (0, 0))
    pending = {}
    if staff:
        pending = {"certifications": submitted_certifications, "listings": submitted_listings}
    return Stats(
        states=[s for s in states if by_state.get(s)],
        industry_rows=industry_rows,
        by_industry=[(industry.label, total) for industry, _, total in industry_rows],
        by_state=[(s.label, by_state[s]) for s in states if by_state.get(s)],
        challenge_total=sum(by_state.values()),
        bounty_total=bounty_total,
        bounty_awarded=bounty_awarded,
        bounty_by_industry=[(i.label, bounty_by_industry[i]) for i, _, _ in industry_rows],
        awarded=sum(by_state.get(s, 0) for s in AWARDED_STATES),
        failed=by_state.get(ChallengeState.failed, 0),
        stage_times=stage_times(),
        certificates=sum(certificates.values()),
        certificates_by_category=[(c.label, certificates[c]) for c in EquipmentCategory
                                  if c in certificates],
        listings_public=sum(listings.values()),
        listings_by_type=[(t.label, listings[t]) for t in TransactionType if t in listings],
        deals=deals,
        deal_total=deal_total,
        pending=pending,
    )


# --------------------------------------------------------------------------- SVG charts


def bar_chart(rows: list[tuple[str, float | int]], title: str,
              value_format=lambda v: f"{v:,}") -> Markup:
    """A horizontal bar chart as inline SVG: no JavaScript, labels escaped, scales to a phone."""
    bar_height, gap, label_width, bar_width, value_width = 22, 8, 150, 300, 110
    width = label_width + bar_width + value_width
    height = max(1, len(rows)) * (bar_height + gap) + gap
    peak = max((value for _, value in rows if value), default=0)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        parts.append(f'<text x="0" y="{bar_height}" fill="#666">{escape(_l("暂无数据"))}</text>')
    for index, (label, value) in enumerate(rows):
        y = gap + index * (bar_height + gap)
        length = 0 if not peak or not value else max(2, round(bar_width * value / peak))
        text_y = y + bar_height * 0.72
        parts.append(
            f'<text x="{label_width - 6}" y="{text_y:.1f}" text-anchor="end" '
            f'font-size="13">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length}" height="{bar_height}" '
            f'fill="#b71c1c"><title>{escape(label)}: {escape(value_format(value))}</title></rect>'
            f'<text x="{label_width + length + 6}" y="{text_y:.1f}" font-size="13">'
            f"{escape(value_format(value))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
