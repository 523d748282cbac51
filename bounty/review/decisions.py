"""The one decision path: a reviewer approves, returns or rejects any review item.

The item's kind (bounty.review.items) says which transition an outcome is and what
it does; this module does the rest the same way for every kind: the stage's
settings, conflicts and separation, the round's slots, the version check, the
recorded decision, and the transition once the round completes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ..errors import CommentRequired, ConcurrentUpdate, TransitionRefused
from ..extensions import db
from ..timeutil import utcnow
from ..transactions import atomic
from . import items
from .assignment import BulkResult, check_may_vote, record_partial_approval, record_vote
from .models import Outcome, ReviewDecision, StageKey


def check_version(item, version: int | None) -> None:
    """Refuse a decision made on a page that showed an older version of the item."""
    if version is not None and item.version != version:
        raise ConcurrentUpdate(str(_l("该事项已被他人处理，请刷新页面查看最新状态。")))


def retrying(work: Callable[[], object], attempts: int = 5):
    """Run a unit of work again when it lost a unique-key race (not a stale version)."""
    for attempt in range(attempts):
        try:
            return work()
        except ConcurrentUpdate as exc:
            if not isinstance(exc.__cause__, IntegrityError) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def decide(item, reviewer, outcome: Outcome, comment: str = "", version: int | None = None,
           *, stage: StageKey | None = None, now: datetime | None = None) -> ReviewDecision:
    """Record a reviewer's decision; move the item on when the stage's round completes.

    The stage's settings (bounty.review.stages) decide: an approval counts once per
    reviewer, and the item moves on only when N distinct reviewers approved; a return
    or a rejection moves it at once. Conflicted reviewers and reviewers who approved
    the challenge at a separated stage are refused.

    :param version: the item version the reviewer's page showed; if someone decided in
        between, this decision is refused (exactly one of two wins).
    :param stage: the stage the reviewer believes the item is at; a stale page (the
        item moved on) is refused rather than applied elsewhere.
    :param now: when the decision takes effect (defaults to the clock).
    """
    kind = items.kind(item)
    # The item's own guard first: the transition must be one this user may take here,
    # with the comment it requires.
    comment = kind.check(item, outcome, reviewer, stage, now).checked_comment(comment)
    at = kind.stage_of(item)
    config = check_may_vote(item, at, reviewer, now)

    def work() -> ReviewDecision:
        with atomic():
            check_version(item, version)
            vote = record_vote(item, config, reviewer, outcome)
            decision = ReviewDecision(stage=at, outcome=outcome, comment=comment,
                                      reviewer_id=reviewer.id, created_at=now or utcnow(),
                                      task_id=vote.task.id, **items.owner_columns(item))
            db.session.add(decision)
            if vote.final:
                kind.apply(item, outcome, reviewer, comment, now)
            else:
                record_partial_approval(item, reviewer, vote, comment)
        return decision

    return retrying(work) if kind.retry else work()


def decisions_for(item) -> list[ReviewDecision]:
    """Every decision on the item, oldest first."""
    column = items.kind(item).owner_column or "challenge_id"
    query = sa.select(ReviewDecision).where(getattr(ReviewDecision, column) == item.id)
    if column == "challenge_id":
        query = query.where(ReviewDecision.certification_id.is_(None),
                            ReviewDecision.listing_id.is_(None))
    return list(db.session.execute(
        query.order_by(ReviewDecision.created_at, ReviewDecision.id)).scalars())


def bulk_return(tasks, user, comment: str) -> BulkResult:
    """Return every selected item for revision with one comment, each in its own
    transaction; refusals are reported per item, not fatal.

    :param tasks: review tasks (bounty.review.assignment.ReviewTask) picked in the queue.
    """
    result = BulkResult()
    seen: set[str] = set()
    for task in tasks:
        if task.item_key in seen:
            continue
        seen.add(task.item_key)

        def return_item(task=task) -> None:
            if not task.is_open:
                raise TransitionRefused(str(_l("该审核任务已结束。")))
            decide(task.item, user, Outcome.return_, comment, stage=task.stage)

        # Without a comment the return rule refuses every item alike: say so once.
        result.attempt(task, return_item, fatal=(CommentRequired,))
    return result
