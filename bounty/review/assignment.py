"""Review tasks: the slots of a review round, who holds them, and what they decided.

When an item reaches a stage, a *round* of N task slots opens (N = the stage's
approvals needed), each due after the stage's time limit in working days. A
reviewer's approval closes their slot; the round completes when N distinct
reviewers approved, and one return or rejection ends it at once. Admins and
lead reviewers assign slots, by hand or evenly with a per-reviewer cap; an
assignee may decline with a reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import MembershipStatus, Role, User
from ..audit import record_event
from ..challenges.models import Bid, Challenge
from ..enums import LabelledEnum
from ..errors import (
    ConcurrentUpdate,
    DomainError,
    InvalidField,
    PermissionDenied,
    TransitionRefused,
)
from ..extensions import db
from ..limits import bounded_text
from ..signals import (
    challenge_transitioned,
    registry_transitioned,
    review_assigned,
    review_overdue,
)
from ..timeutil import UTCDateTime, utcnow
from ..transactions import atomic
from . import conflicts, items, separation
from .models import Outcome
from .stages import (
    ReviewStage,
    StageKey,
    all_stages,
    check_may_decide_at,
    get_stage,
)
from .workdays import add_working_days

DEFAULT_CAP = 10


class TaskResult(LabelledEnum):
    approved = "approved", _l("通过")
    returned = "returned", _l("退回修改")
    rejected = "rejected", _l("不予通过")
    closed = "closed", _l("已结束")  # the round ended without this slot's vote


OUTCOME_RESULTS = {Outcome.approve: TaskResult.approved, Outcome.return_: TaskResult.returned,
                   Outcome.reject: TaskResult.rejected}


class ReviewTask(db.Model):
    """One reviewer slot of one review round of one item at one stage."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        sa.UniqueConstraint("item_key", "stage", "round", "slot", name="uq_review_tasks_slot"),
        sa.Index("ix_review_tasks_open", "closed_at", "stage"),
        # the open slots in the queue's two orders (seek pagination), and a reviewer's own
        # (partial: PostgreSQL cannot skip an "IS NULL" leading column to read an order)
        sa.Index("ix_review_tasks_queue_due", "due_at", "item_key", "slot",
                 sqlite_where=sa.text("closed_at IS NULL"),
                 postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_review_tasks_queue_age", "opened_at", "item_key", "slot",
                 sqlite_where=sa.text("closed_at IS NULL"),
                 postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_review_tasks_assignee_due", "assignee_id", "due_at", "item_key", "slot",
                 sqlite_where=sa.text("closed_at IS NULL"),
                 postgresql_where=sa.text("closed_at IS NULL")),
        sa.Index("ix_review_tasks_export", "opened_at", "item_key", "stage", "round", "slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_key: Mapped[str] = mapped_column(sa.String(40), index=True)
    stage: Mapped[StageKey] = mapped_column(sa.Enum(StageKey, native_enum=False, length=20))
    round: Mapped[int] = mapped_column(default=1)
    slot: Mapped[int] = mapped_column(default=1)
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    certification_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("certification_applications.id", ondelete="CASCADE"))
    listing_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("market_listings.id", ondelete="CASCADE"))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[TaskResult | None] = mapped_column(
        sa.Enum(TaskResult, native_enum=False, length=20))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    challenge: Mapped[Challenge] = relationship()
    certification = relationship("CertificationApplication")
    listing = relationship("MarketListing")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def item(self):
        return self.certification or self.listing or self.challenge

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and (now or utcnow()) > self.due_at


class TaskDecline(db.Model):
    """A reviewer declined an assignment, and why."""

    __tablename__ = "review_task_declines"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("review_tasks.id", ondelete="CASCADE"),
                                         index=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = bounded_text(2_000)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --------------------------------------------------------------------------- rounds


def round_tasks(item, stage: StageKey, round_no: int | None = None) -> list[ReviewTask]:
    """The slots of the item's latest round at the stage (or of the given round)."""
    key = items.item_key(item)
    if round_no is None:
        round_no = db.session.execute(sa.select(sa.func.max(ReviewTask.round)).where(
            ReviewTask.item_key == key, ReviewTask.stage == stage)).scalar()
        if round_no is None:
            return []
    return list(db.session.execute(sa.select(ReviewTask).where(
        ReviewTask.item_key == key, ReviewTask.stage == stage, ReviewTask.round == round_no)
        .order_by(ReviewTask.slot)).scalars())


def ensure_round(item, stage_config: ReviewStage | None = None) -> list[ReviewTask]:
    """The open round of the item at the stage it waits at, opened if needed, in the
    caller's transaction; [] when it waits nowhere. Adds slots when the stage now
    needs more approvals than the round has room for."""
    stage = items.current_stage(item)
    if stage is None:
        return []
    config = stage_config or get_stage(stage)
    tasks = round_tasks(item, stage)
    if not tasks or all(not t.is_open for t in tasks):
        opened_at = items.entered_stage_at(item)
        round_no = (tasks[0].round + 1) if tasks else 1
        due_at = add_working_days(opened_at, config.time_limit_days)
        tasks = [ReviewTask(item_key=items.item_key(item), stage=stage, round=round_no,
                            slot=n, opened_at=opened_at, due_at=due_at, **items.owner_columns(item))
                 for n in range(1, config.approvals_needed + 1)]
        db.session.add_all(tasks)
        db.session.flush()
        return tasks
    approved = sum(1 for t in tasks if t.result == TaskResult.approved)
    still_open = [t for t in tasks if t.is_open]
    missing = config.approvals_needed - approved - len(still_open)
    if missing > 0:
        first = tasks[0]
        extra = [ReviewTask(item_key=first.item_key, stage=stage, round=first.round,
                            slot=len(tasks) + n, opened_at=first.opened_at, due_at=first.due_at,
                            **items.owner_columns(item)) for n in range(1, missing + 1)]
        db.session.add_all(extra)
        db.session.flush()
        tasks += extra
    return tasks


def sync_tasks() -> None:
    """Open a round for every waiting item that has none; close the slots of items that
    moved on (decided elsewhere, withdrawn, or set up directly). Idempotent."""
    now = utcnow()
    try:
        with atomic():
            waiting = {items.item_key(item): item for item in items.waiting_items()}
            open_tasks = db.session.execute(
                sa.select(ReviewTask).where(ReviewTask.closed_at.is_(None))).scalars().all()
            for task in open_tasks:
                item = waiting.get(task.item_key)
                if item is None or items.current_stage(item) != task.stage:
                    task.closed_at = now
                    task.result = TaskResult.closed
            db.session.flush()
            has_open = {task.item_key for task in open_tasks if task.closed_at is None}
            for key, item in waiting.items():
                if key not in has_open:
                    ensure_round(item)
    except ConcurrentUpdate:
        # Another request opened the same round first (unique slot): theirs stands.
        db.session.rollback()


def sync_item(item, now: datetime | None = None) -> None:
    """:func:`sync_tasks` for one item, in the caller's transaction: close its open slots
    at a stage it no longer waits at, and open its round where it waits now."""
    now = now or utcnow()
    stage = items.current_stage(item)
    for task in db.session.execute(sa.select(ReviewTask).where(
            ReviewTask.item_key == items.item_key(item),
            ReviewTask.closed_at.is_(None))).scalars():
        if task.stage != stage:
            task.closed_at, task.result = now, TaskResult.closed
    if stage is not None:
        ensure_round(item)


@challenge_transitioned.connect
@registry_transitioned.connect
def _sync_moved_item(item, **_kwargs) -> None:
    # The review queue follows every transition in its own transaction, so no page
    # has to write on GET; the worker's sync_tasks() catches items set up directly.
    sync_item(item)


# --------------------------------------------------------------------------- deciding


def decision_problem(item, stage: StageKey, user, now: datetime | None = None, *,
                     you: bool = True, approvals: dict | None = None,
                     context: BarContext | None = None, explain: bool = True) -> str | None:
    """Why this user may not decide on the item at ``stage``, or None: the stage's
    decider setting, a conflict of interest, the review-separation rule.

    One rule for the decision itself, the assignment of slots and the pages that
    say, before anyone types, who may decide.

    :param you: word the message to the user themself, else name them.
    :param approvals: separation.approvals_by_reviewer of the item's challenge, if known.
    :param context: what a list page fetched once for all its items (:func:`decision_bars`).
    :param explain: ``False``: ``separation.BARRED`` instead of a message (only whether
        the user is barred; no message is translated).
    """
    config = context.stages[stage] if context is not None else get_stage(stage)
    if not user.can_review(config):
        if not explain:
            return separation.BARRED
        if you:
            try:
                check_may_decide_at(config, user)
            except PermissionDenied as exc:
                return exc.message
        return str(_l("「%(stage)s」阶段只能由审核组长作出结论，%(name)s不是审核组长。",
                      stage=config.display_name, name=user.name))
    if context is not None:
        reason = conflicts.blocking_conflict(user, item, now, reasons=context.reasons_of(user),
                                             overridden=context.overridden,
                                             parties=context.parties_of(item))
    else:
        reason = conflicts.blocking_conflict(user, item, now)
    if reason is not None:
        if not explain:
            return separation.BARRED
        if you:
            return str(_l("您%(reason)s，不能审核该事项（如确需审核，请联系管理员登记例外）。",
                          reason=reason))
        return str(_l("不能分配给%(name)s：%(reason)s。", name=user.name, reason=reason))
    return separation.separation_problem(items.challenge_of(item).id, user, stage, you=you,
                                         approvals=approvals, explain=explain)


def check_may_vote(item, stage: StageKey, user, now: datetime | None = None) -> ReviewStage:
    """Everything that bars this user from deciding (or scoring) now, before any write."""
    problem = decision_problem(item, stage, user, now)
    if problem is not None:
        raise PermissionDenied(problem)
    return get_stage(stage)


def _slot_problem(tasks: list[ReviewTask], user, *, explain: bool = True) -> str | None:
    """Why the round's slots leave no room for this user's vote (read only), or None
    (``explain=False``: ``separation.BARRED`` instead of the message)."""
    if any(t.decided_by_id == user.id for t in tasks):
        return str(_l("您已在本轮审核中作出结论，请等待其他审核人员。")) if explain \
            else separation.BARRED
    open_tasks = [t for t in tasks if t.is_open]
    if not open_tasks or any(t.assignee_id in (None, user.id) for t in open_tasks):
        return None
    if not explain:
        return separation.BARRED
    names = str(_l("、")).join(t.assignee.name for t in open_tasks if t.assignee is not None)
    return str(_l("该事项已分配给其他审核人员（%(names)s），您无需审核。", names=names))


@dataclass
class DecisionBar:
    """Why the current reviewer cannot decide an item, and who can."""

    reason: str
    who_can: list[User]


def decision_bar(item, user, now: datetime | None = None, *,
                 context: BarContext | None = None) -> DecisionBar | None:
    """For the queues and decision pages: None when this reviewer may decide the item
    now; otherwise the reason, and the reviewers who may.

    :param context: what a list page fetched once for all its items (:func:`decision_bars`).
    """
    stage = items.current_stage(item)
    if stage is None or user is None or not user.can_review():
        return None
    challenge_id = items.challenge_of(item).id
    if context is None:
        approvals = separation.approvals_by_reviewer(challenge_id)
        tasks = round_tasks(item, stage)
    else:
        approvals = context.approvals.get(challenge_id, {})
        tasks = context.rounds.get((items.item_key(item), stage), [])
    tasks = [] if all(not t.is_open for t in tasks) else tasks

    def problem(reviewer, explain: bool = True) -> str | None:
        return (decision_problem(item, stage, reviewer, now, approvals=approvals,
                                 context=context, explain=explain)
                or _slot_problem(tasks, reviewer, explain=explain))

    reason = problem(user)
    if reason is None:
        return None
    reviewers = context.reviewers if context is not None else active_reviewers()
    others = [r for r in reviewers if r.id != user.id and problem(r, explain=False) is None]
    return DecisionBar(reason=reason, who_can=others)


@dataclass
class BarContext:
    """What :func:`decision_bar` reads, fetched once for a page of items."""

    now: datetime
    stages: dict[StageKey, ReviewStage]
    approvals: dict[int, dict[int, set[StageKey]]]  # challenge id -> approvals_by_reviewer
    rounds: dict[tuple[str, StageKey], list[ReviewTask]]  # the latest round's slots
    overridden: set[tuple[int, str]]  # (reviewer id, item key) of conflict overrides
    reviewers: list[User]
    _reasons: dict[int, dict[int, str]] = field(default_factory=dict)
    _parties: dict[str, set[int]] = field(default_factory=dict)

    def parties_of(self, item) -> set[int]:
        """items.party_org_ids of this item, read once per page (every reviewer is
        checked against it)."""
        key = items.item_key(item)
        if key not in self._parties:
            self._parties[key] = items.party_org_ids(item)
        return self._parties[key]

    def reasons_of(self, user) -> dict[int, str]:
        """conflicts.conflicted_org_ids of this user, read once per page."""
        if user.id not in self._reasons:
            self._reasons[user.id] = conflicts.conflicted_org_ids(user, self.now)
        return self._reasons[user.id]


def decision_bars(page_items: list, user, now: datetime | None = None
                  ) -> dict[str, DecisionBar | None]:
    """item key -> :func:`decision_bar` for every item of a list page, in a fixed number
    of queries however many items there are (their challenges' bids loaded already).
    Empty for anyone but a reviewer."""
    if user is None or not user.can_review() or not page_items:
        return {}
    now = now or utcnow()
    keys = {items.item_key(item) for item in page_items}
    latest: dict[tuple[str, StageKey], list[ReviewTask]] = {}
    for task in db.session.execute(
            sa.select(ReviewTask).where(ReviewTask.item_key.in_(keys))
            .order_by(ReviewTask.item_key, ReviewTask.stage, ReviewTask.round.desc(),
                      ReviewTask.slot)
            .options(sa.orm.joinedload(ReviewTask.assignee))).scalars():
        slots = latest.setdefault((task.item_key, task.stage), [])
        if not slots or slots[0].round == task.round:
            slots.append(task)
    reviewers = active_reviewers()
    context = BarContext(
        now=now, stages={s.key: s for s in all_stages()},
        approvals=separation.approvals_by_challenge(
            {items.challenge_of(item).id for item in page_items}),
        rounds=latest, overridden=conflicts.overrides_among(keys), reviewers=reviewers,
        _reasons=conflicts.conflicted_org_ids_of([*reviewers, user], now))
    return {items.item_key(item): decision_bar(item, user, now, context=context)
            for item in page_items}


def _take_slot(tasks: list[ReviewTask], user) -> ReviewTask:
    problem = _slot_problem(tasks, user)
    if problem is not None:
        raise (TransitionRefused if any(t.decided_by_id == user.id for t in tasks)
               else PermissionDenied)(problem)
    open_tasks = [t for t in tasks if t.is_open]
    mine = [t for t in open_tasks if t.assignee_id == user.id]
    free = [t for t in open_tasks if t.assignee_id is None]
    if not (mine or free):
        raise PermissionDenied(str(_l("该审核任务已结束。")))
    return (mine or free)[0]


@dataclass
class Vote:
    task: ReviewTask
    final: bool
    approvals: int
    needed: int


def record_vote(item, config: ReviewStage, user, outcome: Outcome) -> Vote:
    """Close the user's slot with their outcome, in the caller's transaction; ``final``
    when the round ends (N distinct approvals, or any return or rejection)."""
    now = utcnow()
    tasks = ensure_round(item, config)
    task = _take_slot(tasks, user)
    if task.assignee_id is None:
        task.assignee_id, task.assigned_at = user.id, now
    task.closed_at, task.result, task.decided_by_id = now, OUTCOME_RESULTS[outcome], user.id
    approvals = sum(1 for t in tasks if t.result == TaskResult.approved)
    final = outcome != Outcome.approve or approvals >= config.approvals_needed
    if final:
        for other in tasks:
            if other.is_open:
                other.closed_at, other.result = now, TaskResult.closed
    return Vote(task=task, final=final, approvals=approvals, needed=config.approvals_needed)


def record_partial_approval(item, user, vote: Vote, comment: str = "") -> None:
    """An approval that does not yet complete the round: touch the item so that a
    concurrent decision on the same version loses (optimistic lock), and audit it."""
    item.updated_at = utcnow()
    challenge = items.challenge_of(item)
    record_event(actor=user, action="review_vote", subject=item, challenge_id=challenge.id,
                 from_state=item.state.value, to_state=item.state.value,
                 comment=f"{vote.approvals}/{vote.needed} {comment}".strip())


def approvals_progress(item) -> tuple[int, int] | None:
    """(approvals so far, approvals needed) in the item's open round, or None."""
    stage = items.current_stage(item)
    if stage is None:
        return None
    tasks = round_tasks(item, stage)
    needed = get_stage(stage).approvals_needed
    if not tasks or all(not t.is_open for t in tasks):
        return (0, needed)
    return (sum(1 for t in tasks if t.result == TaskResult.approved), needed)


# --------------------------------------------------------------------------- assignment


def _require_assigner(actor) -> None:
    if actor is None or not actor.can_assign:
        raise PermissionDenied(str(_l("只有管理员或审核组长可以分配审核任务。")))


def active_reviewers() -> list[User]:
    return list(db.session.execute(sa.select(User).where(
        User.role == Role.reviewer, User.is_disabled.is_(False),
        User.membership == MembershipStatus.active).order_by(User.id)).scalars())


def open_load() -> Counter:
    """Open assigned slots per reviewer id."""
    return Counter(dict(db.session.execute(
        sa.select(ReviewTask.assignee_id, sa.func.count()).where(
            ReviewTask.closed_at.is_(None), ReviewTask.assignee_id.is_not(None))
        .group_by(ReviewTask.assignee_id)).all()))


def assignment_cap() -> int:
    return int(current_app.config.get("REVIEW_MAX_OPEN_TASKS", DEFAULT_CAP))


def _declined(task: ReviewTask, reviewer) -> bool:
    return db.session.execute(sa.select(TaskDecline.id).where(
        TaskDecline.task_id == task.id, TaskDecline.reviewer_id == reviewer.id)).first() is not None


def assignment_problem(task: ReviewTask, reviewer, approvals: dict | None = None
                       ) -> str | None:
    """Why this reviewer cannot take this slot, or None.

    :param approvals: separation.approvals_by_reviewer of the task's challenge, if known.
    """
    if not task.is_open:
        return str(_l("该审核任务已结束。"))
    if reviewer is None or not reviewer.can_review():
        return str(_l("只能分配给在岗的审核员。"))
    item = task.item
    problem = decision_problem(item, task.stage, reviewer, you=False, approvals=approvals)
    if problem is not None:
        return problem
    siblings = round_tasks(item, task.stage, task.round)
    if any(t.id != task.id and reviewer.id in (t.assignee_id, t.decided_by_id) for t in siblings):
        return str(_l("%(name)s已承担该事项本轮的另一个审核席位。", name=reviewer.name))
    return None


def _assign(task: ReviewTask, reviewer, actor, now: datetime) -> None:
    task.assignee_id, task.assigned_at = reviewer.id, now
    task.assigned_by_id = actor.id if actor is not None else None
    task.overdue_notified_at = None
    record_event(actor=actor, action="assign_review", subject=task,
                 to_state=task.stage.value,
                 comment=f"{task.item_key} -> {reviewer.email}")
    review_assigned.send(task, assignee=reviewer, actor=actor)


def assign_task(task: ReviewTask, reviewer, actor) -> ReviewTask:
    """An admin or lead reviewer gives a slot to a reviewer (reassigning is allowed)."""
    _require_assigner(actor)
    problem = assignment_problem(task, reviewer)
    if problem:
        raise InvalidField(problem, "assignee")
    with atomic():
        _assign(task, reviewer, actor, utcnow())
    return task


@dataclass
class BulkResult:
    done: list[ReviewTask] = field(default_factory=list)
    failed: list[tuple[ReviewTask, str]] = field(default_factory=list)

    def attempt(self, task: ReviewTask, action: Callable[[], object], *,
                fatal: tuple[type[DomainError], ...] = ()) -> None:
        """Run ``action`` for ``task`` in its own transaction; a refusal is recorded,
        rolled back and does not stop the others, unless it is one of ``fatal`` (a
        refusal every item would get alike), which is rolled back and raised."""
        try:
            action()
        except DomainError as exc:
            db.session.rollback()
            if isinstance(exc, fatal):
                raise
            self.failed.append((task, exc.message))
        else:
            self.done.append(task)


def bulk_assign(tasks: Iterable[ReviewTask], reviewer, actor) -> BulkResult:
    """Assign every selected slot to one reviewer; each refusal is reported, not fatal."""
    _require_assigner(actor)
    result = BulkResult()
    for task in tasks:
        result.attempt(task, lambda task=task: assign_task(task, reviewer, actor))
    return result


def auto_assign(actor, cap: int | None = None, stage: StageKey | None = None
                ) -> list[tuple[ReviewTask, User]]:
    """Give every unassigned open slot to the eligible reviewer with the fewest open
    slots, never above ``cap`` (config REVIEW_MAX_OPEN_TASKS); earliest due first.
    Slots nobody can take stay unassigned."""
    _require_assigner(actor)
    sync_tasks()
    cap = assignment_cap() if cap is None else cap
    query = sa.select(ReviewTask).where(ReviewTask.closed_at.is_(None),
                                        ReviewTask.assignee_id.is_(None))
    if stage is not None:
        query = query.where(ReviewTask.stage == stage)
    pending = db.session.execute(query.order_by(ReviewTask.due_at, ReviewTask.id)).scalars().all()
    reviewers = active_reviewers()
    load = open_load()
    done: list[tuple[ReviewTask, User]] = []
    now = utcnow()
    with atomic():
        for task in pending:
            approvals = separation.approvals_by_reviewer(task.challenge_id)
            candidates = [r for r in reviewers if load[r.id] < cap
                          and assignment_problem(task, r, approvals) is None
                          and not _declined(task, r)]
            if not candidates:
                continue
            chosen = min(candidates, key=lambda r: (load[r.id], r.id))
            _assign(task, chosen, actor, now)
            db.session.flush()
            load[chosen.id] += 1
            done.append((task, chosen))
    return done


def decline_task(task: ReviewTask, user, reason: str) -> TaskDecline:
    """The assignee hands a slot back, with a reason; audited. Auto-assignment will not
    give it to them again."""
    if task.assignee_id is None or user is None or task.assignee_id != user.id:
        raise PermissionDenied(str(_l("只能退回分配给您本人的审核任务。")))
    if not task.is_open:
        raise TransitionRefused(str(_l("该审核任务已结束，无需退回。")))
    reason = (reason or "").strip()
    if not reason:
        raise InvalidField(str(_l("请说明不能承担该审核任务的原因。")), "reason")
    with atomic():
        decline = TaskDecline(task_id=task.id, reviewer_id=user.id, reason=reason)
        db.session.add(decline)
        task.assignee_id = task.assigned_at = task.assigned_by_id = None
        record_event(actor=user, action="decline_review", subject=task,
                     to_state=task.stage.value, comment=f"{task.item_key}: {reason}")
    return decline


def declines_of(task: ReviewTask) -> list[TaskDecline]:
    return list(db.session.execute(sa.select(TaskDecline).where(
        TaskDecline.task_id == task.id).order_by(TaskDecline.id)).scalars())


# --------------------------------------------------------------------------- overdue


def check_overdue(now: datetime | None = None) -> list[ReviewTask]:
    """Send ``review_overdue`` once for every open slot past its due time."""
    sync_tasks()
    now = now or utcnow()
    with atomic():
        late = db.session.execute(sa.select(ReviewTask).where(
            ReviewTask.closed_at.is_(None), ReviewTask.due_at < now,
            ReviewTask.overdue_notified_at.is_(None)).order_by(ReviewTask.id)).scalars().all()
        for task in late:
            task.overdue_notified_at = now
            review_overdue.send(task, assignee=task.assignee, due_at=task.due_at)
    return list(late)


# --------------------------------------------------------------------------- the queue


class QueueView(LabelledEnum):
    mine = "mine", _l("分配给我")
    unassigned = "unassigned", _l("待分配")
    overdue = "overdue", _l("已超期")
    all = "all", _l("全部待审")


@dataclass
class QueueFilter:
    view: QueueView = QueueView.all
    stage: StageKey | None = None
    industry: str | None = None
    category: str | None = None
    min_age_days: int | None = None  # waiting at least this many days
    sort: str = "due"  # "due" (earliest first) or "age" (oldest first)


def queue_query(user, flt: QueueFilter, now: datetime | None = None) -> sa.Select:
    """The open slots in this view, filtered, unordered (pages seek in :func:`queue_order`),
    each with what its row shows: the item, its enterprise, the assignee, and the bids
    that say who is a party to it (for the decision bar)."""
    now = now or utcnow()
    query = (sa.select(ReviewTask).join(Challenge, Challenge.id == ReviewTask.challenge_id)
             .where(ReviewTask.closed_at.is_(None))
             .options(sa.orm.contains_eager(ReviewTask.challenge).options(
                          sa.orm.joinedload(Challenge.organization),
                          sa.orm.selectinload(Challenge.bids).load_only(
                              Bid.organization_id, Bid.state)),
                      sa.orm.selectinload(ReviewTask.certification),
                      sa.orm.selectinload(ReviewTask.listing),
                      sa.orm.joinedload(ReviewTask.assignee)))
    if flt.view == QueueView.mine:
        query = query.where(ReviewTask.assignee_id == user.id)
    elif flt.view == QueueView.unassigned:
        query = query.where(ReviewTask.assignee_id.is_(None))
    elif flt.view == QueueView.overdue:
        query = query.where(ReviewTask.due_at < now)
    if flt.stage is not None:
        query = query.where(ReviewTask.stage == flt.stage)
    if flt.industry:
        query = query.where(Challenge.industry == flt.industry)
    if flt.category:
        query = query.where(Challenge.category == flt.category)
    if flt.min_age_days:
        query = query.where(ReviewTask.opened_at <= now - timedelta(days=flt.min_age_days))
    return query


def queue_order(flt: QueueFilter) -> tuple:
    """The queue's order, ascending: earliest due (or longest waiting) first; the item key
    and slot make it total, so a page can continue after its last row (keyset pages)."""
    first = ReviewTask.opened_at if flt.sort == "age" else ReviewTask.due_at
    return (first, ReviewTask.item_key, ReviewTask.slot)


def queue_counts(user, now: datetime | None = None) -> dict:
    """Items waiting per stage, and the size of each queue view for this user."""
    now = now or utcnow()
    open_ = sa.select(ReviewTask).where(ReviewTask.closed_at.is_(None)).subquery()
    per_stage = dict(db.session.execute(
        sa.select(open_.c.stage, sa.func.count(sa.distinct(open_.c.item_key)))
        .group_by(open_.c.stage)).all())
    views = {
        QueueView.mine: sa.and_(ReviewTask.assignee_id == user.id),
        QueueView.unassigned: ReviewTask.assignee_id.is_(None),
        QueueView.overdue: ReviewTask.due_at < now,
        QueueView.all: sa.true(),
    }
    by_view = {view: db.session.execute(
        sa.select(sa.func.count()).select_from(ReviewTask)
        .where(ReviewTask.closed_at.is_(None), condition)).scalar() for view, condition
        in views.items()}
    return {"stages": {key: per_stage.get(key, 0) for key in StageKey}, "views": by_view}
