"""The challenge as a review item: 审题, 揭榜结果审核 and 验收 (bounty.review.items).

What an outcome means at each stage is a transition of the challenge's own table
(bounty/challenges/workflow.py); the decision itself is the one path of
bounty.review.decisions.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l

from ..accounts.models import Role
from ..challenges import workflow
from ..challenges.models import BidState, Challenge
from ..challenges.services import bidding_window_problem
from ..errors import TransitionRefused
from ..timeutil import to_local, utcnow
from . import items
from .models import Outcome, StageKey

# The action of each outcome at each stage.
STAGE_ACTIONS = {
    (stage, outcome): f"{outcome.value}_{stage.value}"
    for stage in items.STAGE_STATES for outcome in Outcome
}


def stage_of(challenge: Challenge) -> StageKey | None:
    return items.CHALLENGE_STAGES.get(challenge.state)


def _check(challenge: Challenge, outcome: Outcome, user, stage: StageKey | None,
           now: datetime | None) -> workflow.Transition:
    """The challenge's guard for a reviewer's outcome; raises with the reason."""
    current = stage_of(challenge)
    if current is None or (stage is not None and stage != current):
        raise TransitionRefused(str(_l("该榜单已不在此审核阶段，请刷新页面。")))
    action = STAGE_ACTIONS[(current, outcome)]
    transition = workflow.find_transition(challenge, action, user)
    if action == "approve_vetting":
        problem = bidding_window_problem(challenge.bid_deadline, now or utcnow())
        if problem is not None:
            raise TransitionRefused(str(_l(
                "该榜单的揭榜截止时间为 %(deadline)s，现在发榜留给揭榜的时间不足。%(problem)s"
                "请退回企业修改截止时间。",
                deadline=to_local(challenge.bid_deadline).strftime("%Y-%m-%d %H:%M"),
                problem=problem)))
    return transition


def _apply(challenge: Challenge, outcome: Outcome, user, comment: str,
           now: datetime | None) -> None:
    workflow.apply_transition(challenge, STAGE_ACTIONS[(stage_of(challenge), outcome)], user,
                              comment, now=now)


def can_view_decisions(challenge: Challenge, user) -> bool:
    """The parties see the decisions and their comments: the enterprise, the institutes
    that submitted a bid (the winner among them), reviewers and admins."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or challenge.is_owned_by(user):
        return True
    if user.role != Role.institute:
        return False
    return any(
        user.belongs_to(bid.organization_id)
        and (bid.state == BidState.submitted or bid.id == challenge.winning_bid_id)
        for bid in challenge.bids
    )


items.register_kind(items.ItemKind(
    name="challenge", model=Challenge,
    stage_of=stage_of,
    waiting=lambda: sa.select(Challenge).where(
        Challenge.state.in_(list(items.CHALLENGE_STAGES))),
    title=lambda c: c.title,
    review_url=lambda c: url_for("review.decision", challenge_id=c.id),
    challenge=lambda c: c,
    organization_id=lambda c: None,
    entered_stage_at=items.challenge_entered_stage_at,
    check=_check,
    apply=_apply,
))
