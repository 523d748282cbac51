"""Reviewer decisions at 审题, 揭榜结果审核 and 验收."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..accounts.models import Role
from ..challenges import workflow
from ..challenges.models import Bid, BidState, Challenge, ChallengeState
from ..challenges.services import bidding_window_problem
from ..errors import InvalidField, TransitionRefused
from ..extensions import db
from ..timeutil import to_local, utcnow
from ..transactions import atomic
from .assignment import check_may_vote, record_partial_approval, record_vote
from .models import Outcome, ReviewDecision, Stage
from .registry import check_version
from .stages import StageKey

# Which challenge state each stage reviews, and the action of each outcome.
STAGE_STATES = {
    Stage.vetting: ChallengeState.vetting,
    Stage.award: ChallengeState.award_review,
    Stage.acceptance: ChallengeState.acceptance_review,
}
STAGE_ACTIONS = {
    (Stage.vetting, Outcome.approve): "approve_vetting",
    (Stage.vetting, Outcome.return_): "return_vetting",
    (Stage.vetting, Outcome.reject): "reject_vetting",
    (Stage.award, Outcome.approve): "approve_award",
    (Stage.award, Outcome.return_): "return_award",
    (Stage.award, Outcome.reject): "reject_award",
    (Stage.acceptance, Outcome.approve): "approve_acceptance",
    (Stage.acceptance, Outcome.return_): "return_acceptance",
    (Stage.acceptance, Outcome.reject): "reject_acceptance",
}


def stage_of(challenge: Challenge) -> Stage | None:
    for stage, state in STAGE_STATES.items():
        if challenge.state == state:
            return stage
    return None


def queue(stage: Stage, after: tuple[datetime, int] | None = None, per_page: int = 50
          ) -> tuple[list[Challenge], tuple[datetime, int] | None]:
    """Challenges waiting at a stage, oldest first: one page after the row ``after``
    ((updated_at, id) of the previous page's last row), with their enterprise and the
    bids that say who is a party (for the decision bar); and the cursor of the page's
    last row when more follow (else None)."""
    query = (sa.select(Challenge).where(Challenge.state == STAGE_STATES[stage])
             .options(sa.orm.joinedload(Challenge.organization),
                      sa.orm.selectinload(Challenge.bids).load_only(
                          Bid.organization_id, Bid.state))
             .order_by(Challenge.updated_at, Challenge.id).limit(per_page + 1))
    if after is not None:
        query = query.where(sa.tuple_(Challenge.updated_at, Challenge.id) > after)
    rows = list(db.session.execute(query).unique().scalars())
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, ((rows[-1].updated_at, rows[-1].id) if more else None)


def decide(challenge: Challenge, stage: Stage, outcome: Outcome, user,
           comment: str = "", now: datetime | None = None,
           version: int | None = None) -> ReviewDecision:
    """Record a reviewer's decision; move the challenge when the stage's round completes.

    The stage's settings (bounty.review.stages) decide: an approval counts once
    per reviewer, and the challenge moves on only when N distinct reviewers
    approved; a return or a rejection moves it at once. Conflicted reviewers and
    reviewers who approved the challenge at another stage are refused.

    :param stage: the stage the reviewer believes the challenge is at; a stale
        page (the challenge moved on) is refused rather than applied elsewhere.
    :param version: the challenge version the reviewer's page showed; if someone
        decided in between, this decision is refused (exactly one of two wins).
    """
    if stage_of(challenge) != stage:
        raise TransitionRefused(str(_l("该榜单已不在此审核阶段，请刷新页面。")))
    comment = (comment or "").strip()
    action = STAGE_ACTIONS[(stage, outcome)]
    # The workflow guard first: the action must be one this user may take here at all.
    transition = workflow.find_transition(challenge, action, user)
    if transition.comment_required and not comment:
        raise TransitionRefused(str(_l("退回或不予通过时必须填写意见。")))
    if action == "approve_vetting":
        problem = bidding_window_problem(challenge.bid_deadline, now or utcnow())
        if problem is not None:
            raise TransitionRefused(str(_l(
                "该榜单的揭榜截止时间为 %(deadline)s，现在发榜留给揭榜的时间不足。%(problem)s"
                "请退回企业修改截止时间。",
                deadline=to_local(challenge.bid_deadline).strftime("%Y-%m-%d %H:%M"),
                problem=problem)))
    config = check_may_vote(challenge, StageKey(stage.value), user, now)
    with atomic():
        check_version(challenge, version)
        vote = record_vote(challenge, config, user, outcome)
        decision = ReviewDecision(challenge_id=challenge.id, stage=stage, outcome=outcome,
                                  comment=comment, reviewer_id=user.id,
                                  created_at=now or utcnow(), task_id=vote.task.id)
        db.session.add(decision)
        if vote.final:
            workflow.apply_transition(challenge, action, user, comment, now=now)
        else:
            record_partial_approval(challenge, user, vote, comment)
    return decision


def decisions_for(challenge: Challenge) -> list[ReviewDecision]:
    return list(
        db.session.execute(
            sa.select(ReviewDecision)
            .where(ReviewDecision.challenge_id == challenge.id)
            .order_by(ReviewDecision.created_at, ReviewDecision.id)
        ).scalars()
    )


def queue_counts() -> dict[Stage, int]:
    """How many challenges wait at each stage."""
    counts = dict(
        db.session.execute(
            sa.select(Challenge.state, sa.func.count())
            .where(Challenge.state.in_(STAGE_STATES.values()))
            .group_by(Challenge.state)
        ).all()
    )
    return {stage: counts.get(state, 0) for stage, state in STAGE_STATES.items()}


def can_decide(user) -> bool:
    """Who works the review queues: active reviewers (the workbench may widen this)."""
    return bool(user and user.is_authenticated and user.is_active and user.role == Role.reviewer)


def can_view_decisions(challenge: Challenge, user) -> bool:
    """The parties see the decisions and their comments: the enterprise, the institutes
    that submitted a bid (the winner among them), reviewers and admins."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.role in (Role.reviewer, Role.admin) or challenge.is_owned_by(user):
        return True
    if user.role != Role.institute:
        return False
    return any(
        user.belongs_to(bid.organization_id)
        and (bid.state == BidState.submitted or bid.id == challenge.winning_bid_id)
        for bid in challenge.bids
    )


def bulk_return(tasks, user, comment: str):
    """Return every selected item for revision with one comment, each in its own
    transaction; refusals are reported per item, not fatal.

    :param tasks: review tasks (bounty.review.assignment.ReviewTask) picked in the queue.
    """
    from . import certification, market
    from .assignment import BulkResult
    comment = (comment or "").strip()
    if not comment:
        raise InvalidField(str(_l("批量退回时必须填写退回意见。")), "comment")
    result = BulkResult()
    seen: set[str] = set()
    for task in tasks:
        if task.item_key in seen:
            continue
        seen.add(task.item_key)

        def return_item(task=task) -> None:
            item = task.item
            if not task.is_open:
                raise TransitionRefused(str(_l("该审核任务已结束。")))
            if isinstance(item, Challenge):
                decide(item, Stage(task.stage.value), Outcome.return_, user, comment)
            elif isinstance(item, certification.CertificationApplication):
                certification.decide_certification(item, Outcome.return_, user, comment)
            else:
                market.decide_listing(item, Outcome.return_, user, comment)

        result.attempt(task, return_item)
    return result
