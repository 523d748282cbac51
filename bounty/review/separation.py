"""The review-separation rule: which stages of one challenge must be decided by
different people.

A challenge passes up to five stages (审题, 揭榜结果审核, 验收, 首台套认定,
科技大市场挂牌). The rule is a list of stage groups (``REVIEW_SEPARATED_STAGES``,
or ``BOUNTY_REVIEW_SEPARATION`` in the environment): a reviewer who approved the
challenge at one stage of a group may not decide it at another stage of that
group. Stages that share no group may be decided by the same person.

The default separates the decisions that check one another: whoever confirmed
the winner (揭榜结果审核) does not accept the winner's work (验收), which releases
the bounty; and whoever accepted the result does not certify it as first-set
equipment (首台套认定), which rests on that acceptance. 审题 and 挂牌 are
separated from nothing. An office of two reviewers can walk every stage.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from .models import Outcome, ReviewDecision, StageKey

DEFAULT_SEPARATED_STAGES: tuple[tuple[str, ...], ...] = (
    ("award", "acceptance"),
    ("acceptance", "certification"),
)


def parse_groups(value: str | Iterable[Iterable[str]] | None
                 ) -> tuple[frozenset[StageKey], ...]:
    """Stage groups from config: "award+acceptance,acceptance+certification" (or
    "none"), or a list of lists of stage keys. Raises ValueError on an unknown stage."""
    if value is None:
        value = DEFAULT_SEPARATED_STAGES
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "none", "off"):
            return ()
        value = [part.split("+") for part in text.split(",") if part.strip()]
    groups = []
    for group in value:
        names = [str(name).strip() for name in group if str(name).strip()]
        try:
            keys = frozenset(StageKey(name) for name in names)
        except ValueError:
            raise ValueError(
                f"REVIEW_SEPARATED_STAGES: unknown stage in {names!r}; the stages are "
                + ", ".join(key.value for key in StageKey)) from None
        if len(keys) > 1:
            groups.append(keys)
    return tuple(groups)


# What the check-only form of the rules (``explain=False``) returns for "barred".
BARRED = "barred"


def separated_groups() -> tuple[frozenset[StageKey], ...]:
    value = current_app.config.get("REVIEW_SEPARATED_STAGES")
    if isinstance(value, str | None):
        return _parsed(value)  # a list page asks once per item and reviewer
    return parse_groups(value)


@functools.lru_cache(maxsize=16)
def _parsed(value: str | None) -> tuple[frozenset[StageKey], ...]:
    return parse_groups(value)


def separated_from(stage: StageKey) -> frozenset[StageKey]:
    """The other stages whose approver may not decide at ``stage``."""
    others: set[StageKey] = set()
    for group in separated_groups():
        if stage in group:
            others |= group
    others.discard(stage)
    return frozenset(others)


def approvals_by_reviewer(challenge_id: int) -> dict[int, set[StageKey]]:
    """reviewer id -> the stages at which they approved this challenge or one of its
    certification applications or listings (any round; several listings of one result
    count as one stage)."""
    return approvals_by_challenge({challenge_id}).get(challenge_id, defaultdict(set))


def approvals_by_challenge(challenge_ids: set[int]) -> dict[int, dict[int, set[StageKey]]]:
    """challenge id -> :func:`approvals_by_reviewer`, for many challenges in one query."""
    approved: dict[int, dict[int, set[StageKey]]] = defaultdict(lambda: defaultdict(set))
    if not challenge_ids:
        return approved
    for challenge_id, reviewer_id, stage in db.session.execute(
            sa.select(ReviewDecision.challenge_id, ReviewDecision.reviewer_id,
                      ReviewDecision.stage)
            .where(ReviewDecision.challenge_id.in_(challenge_ids),
                   ReviewDecision.outcome == Outcome.approve)):
        approved[challenge_id][reviewer_id].add(StageKey(stage))
    return approved


def barring_stage(stage: StageKey, approved: set[StageKey]) -> StageKey | None:
    """The stage (in StageKey order) whose approval bars deciding at ``stage``, or None."""
    others = separated_from(stage)
    return next((key for key in StageKey if key in others and key in approved), None)


def separation_problem(challenge_id: int, user, stage: StageKey, *, you: bool = True,
                       approvals: dict[int, set[StageKey]] | None = None,
                       explain: bool = True) -> str | None:
    """Why the rule bars this user from deciding the challenge at ``stage``, or None.

    :param you: word the message to the user themself ("您…"), else name them.
    :param approvals: :func:`approvals_by_reviewer` when the caller already has it.
    :param explain: ``False``: any non-empty string for "barred" (no message is
        translated: a list page asks this of every reviewer for every item).
    """
    if approvals is None:
        approvals = approvals_by_reviewer(challenge_id)
    other = barring_stage(stage, approvals.get(user.id, set()))
    if other is None:
        return None
    if not explain:
        return BARRED
    if you:
        return str(_l("您已在「%(other)s」阶段通过该榜单，按审核分离规则，"
                      "「%(stage)s」须由其他审核人员作出结论。",
                      other=other.label, stage=stage.label))
    return str(_l("%(name)s已在「%(other)s」阶段通过该榜单，"
                  "按审核分离规则不能在「%(stage)s」作出结论。",
                  name=user.name, other=other.label, stage=stage.label))
