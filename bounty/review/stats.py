"""Platform statistics for the public and for reviewers, and their server-side SVG charts."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from ..audit import AuditEvent
from ..certification.models import (
    CertificationApplication,
    CertificationState,
    EquipmentCategory,
)
from ..challenges import services as challenges
from ..challenges.models import PUBLIC_STATES, Challenge, ChallengeState, Industry
from ..extensions import db
from ..market.models import ListingState, MarketDeal, MarketListing, TransactionType

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
    """Median days spent in each stage, from the audit log's transition times."""
    wanted = {subject_type for subject_type, _, _ in TIMED_STAGES}
    events = db.session.execute(
        sa.select(AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.from_state,
                  AuditEvent.to_state, AuditEvent.created_at)
        .where(AuditEvent.subject_type.in_(wanted), AuditEvent.to_state.is_not(None))
        .order_by(AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.seq)
    ).all()
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    current: dict[tuple[str, int], tuple[str, object]] = {}
    for subject_type, subject_id, from_state, to_state, created_at in events:
        if from_state == to_state:
            continue  # an edit, not a move
        key = (subject_type, subject_id)
        if key in current:
            state, entered_at = current[key]
            durations[(subject_type, state)].append(
                (created_at - entered_at).total_seconds() / 86400)
        current[key] = (to_state, created_at)
    result = []
    for subject_type, state, label in TIMED_STAGES:
        values = durations.get((subject_type, state), [])
        median = round(statistics.median(values), 1) if values else None
        result.append(StageTime(str(label), median, len(values)))
    return result


def _count_by(column, *where) -> dict:
    return dict(db.session.execute(
        sa.select(column, sa.func.count()).where(*where).group_by(column)).all())


def compute(staff: bool = False) -> Stats:
    """All figures of the statistics page; ``staff`` widens the scope to challenges in 审题."""
    states = visible_states(staff)
    rows = db.session.execute(
        sa.select(Challenge.industry, Challenge.state, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(Challenge.bounty_yuan), 0))
        .where(Challenge.state.in_(states))
        .group_by(Challenge.industry, Challenge.state)
    ).all()
    counts: dict[Industry, dict[ChallengeState, int]] = defaultdict(dict)
    bounty_by_industry: dict[Industry, int] = defaultdict(int)
    by_state: dict[ChallengeState, int] = defaultdict(int)
    bounty_awarded = 0
    for industry, state, count, bounty in rows:
        counts[industry][state] = count
        by_state[state] += count
        bounty_by_industry[industry] += int(bounty)
        if state in AWARDED_STATES:
            bounty_awarded += int(bounty)
    industry_rows = [(industry, counts[industry], sum(counts[industry].values()))
                     for industry in Industry if industry in counts]
    certificates = _count_by(CertificationApplication.equipment_category,
                             CertificationApplication.state == CertificationState.certified)
    listings = _count_by(MarketListing.transaction_type,
                         MarketListing.state.in_([ListingState.listed, ListingState.traded]))
    deals, deal_total = db.session.execute(
        sa.select(sa.func.count(MarketDeal.id), sa.func.coalesce(sa.func.sum(MarketDeal.price_yuan),
                                                                 0))
    ).one()
    pending = {}
    if staff:
        pending = {
            "certifications": sum(_count_by(
                CertificationApplication.state,
                CertificationApplication.state == CertificationState.submitted).values()),
            "listings": sum(_count_by(
                MarketListing.state, MarketListing.state == ListingState.submitted).values()),
        }
    return Stats(
        states=[s for s in states if by_state.get(s)],
        industry_rows=industry_rows,
        by_industry=[(industry.label, total) for industry, _, total in industry_rows],
        by_state=[(s.label, by_state[s]) for s in states if by_state.get(s)],
        challenge_total=sum(by_state.values()),
        bounty_total=challenges.bounty_total(states),
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
        deals=int(deals),
        deal_total=int(deal_total),
        pending=pending,
    )


# --------------------------------------------------------------------------- SVG charts


def bar_chart(rows: list[tuple[str, float | int]], title: str,
              value_format=lambda v: f"{v:,}") -> Markup:
    """A horizontal bar chart as inline SVG: no JavaScript, labels escaped, scales to a phone."""
    bar_height, gap, label_width, bar_width, value_width = 22, 8, 130, 300, 110
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
