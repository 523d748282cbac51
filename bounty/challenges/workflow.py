"""The life of a challenge: one transition table and one guard (bounty.transitions).

No other code assigns ``Challenge.state``; every change goes through
:func:`apply_transition`, which checks the actor, writes the audit event, sends
``challenge_transitioned`` and relies on the challenge's version column so that two
concurrent actors cannot both win.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l

from ..signals import challenge_transitioned
from ..timeutil import utcnow
from ..transitions import Transition, TransitionTable
from .models import Challenge, ChallengeState

S = ChallengeState


class Actor(enum.StrEnum):
    owner = "owner"  # an active member of the posting enterprise
    reviewer = "reviewer"  # a government reviewer
    winner = "winner"  # an active member of the winning institute
    system = "system"  # scheduled jobs (no user)


TRANSITIONS: tuple[Transition, ...] = (
    Transition("submit", S.draft, S.vetting, Actor.owner),
    Transition("submit", S.returned, S.vetting, Actor.owner),
    Transition("approve_vetting", S.vetting, S.open, Actor.reviewer),
    Transition("return_vetting", S.vetting, S.returned, Actor.reviewer, True),
    Transition("reject_vetting", S.vetting, S.rejected, Actor.reviewer, True),
    Transition("close_bidding", S.open, S.evaluating, Actor.system),
    Transition("close_unbid", S.open, S.failed, Actor.system),
    Transition("select_bid", S.evaluating, S.award_review, Actor.owner),
    Transition("declare_failed", S.evaluating, S.failed, Actor.owner, True),
    Transition("approve_award", S.award_review, S.in_progress, Actor.reviewer),
    Transition("return_award", S.award_review, S.evaluating, Actor.reviewer, True),
    Transition("reject_award", S.award_review, S.failed, Actor.reviewer, True),
    Transition("request_acceptance", S.in_progress, S.acceptance_review, Actor.owner),
    Transition("approve_acceptance", S.acceptance_review, S.completed, Actor.reviewer),
    Transition("return_acceptance", S.acceptance_review, S.in_progress, Actor.reviewer, True),
    Transition("reject_acceptance", S.acceptance_review, S.failed, Actor.reviewer, True),
)

ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(t.action for t in TRANSITIONS))

ACTION_LABELS = {
    "submit": _l("提交审题"),
    "approve_vetting": _l("审题通过，发榜"),
    "return_vetting": _l("审题退回修改"),
    "reject_vetting": _l("审题不予通过"),
    "close_bidding": _l("揭榜截止"),
    "close_unbid": _l("揭榜截止，无人揭榜，流榜"),
    "select_bid": _l("选定揭榜方"),
    "declare_failed": _l("未选定揭榜方，流榜"),
    "approve_award": _l("揭榜结果审核通过"),
    "return_award": _l("揭榜结果退回"),
    "reject_award": _l("揭榜结果不予通过"),
    "request_acceptance": _l("申请验收"),
    "approve_acceptance": _l("验收通过"),
    "return_acceptance": _l("验收退回修改"),
    "reject_acceptance": _l("验收不予通过"),
}


def actor_matches(challenge: Challenge, actor: Actor, user) -> bool:
    """Does this user (None for the system) act as the given party of the challenge?"""
    if actor is Actor.system:
        return user is None
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if actor is Actor.owner:
        return user.role == "enterprise" and user.belongs_to(challenge.organization_id)
    if actor is Actor.reviewer:
        return user.role == "reviewer"
    if actor is Actor.winner:
        bid = challenge.winning_bid
        return bid is not None and user.role == "institute" and user.belongs_to(bid.organization_id)
    return False


def _published(challenge: Challenge, transition: Transition, now: datetime | None) -> None:
    if transition.target == S.open and challenge.published_at is None:
        challenge.published_at = now or utcnow()


TABLE = TransitionTable(
    TRANSITIONS, ACTION_LABELS, is_party=actor_matches, signal=challenge_transitioned,
    challenge_of=lambda challenge: challenge.id, on_change=_published,
    refused=lambda state, action: str(_l(
        "榜单当前状态为「%(state)s」，不能执行「%(action)s」。", state=state, action=action)),
    forbidden=lambda: str(_l("您无权对该榜单执行此操作。")),
)


def find_transition(challenge: Challenge, action: str, user) -> Transition:
    """The guard: return the transition, or raise with the reason it is refused."""
    return TABLE.find(challenge, action, user)


def allowed_actions(challenge: Challenge, user) -> list[str]:
    """Actions this user may take now: for showing buttons, never for enforcing."""
    return TABLE.allowed(challenge, user)


def apply_transition(challenge: Challenge, action: str, user, comment: str = "",
                     now: datetime | None = None) -> Transition:
    """Move the challenge along the table and write the audit event, in the caller's
    transaction. The caller commits; a concurrent change fails that commit.

    :param now: when the change takes effect (publication time); defaults to the clock.
    """
    return TABLE.apply(challenge, action, user, comment, now)
