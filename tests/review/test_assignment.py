"""Assignment: by hand, automatically with a per-reviewer cap, declined with a reason;
overdue notifications."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent
from bounty.challenges.models import ChallengeState
from bounty.errors import InvalidField, PermissionDenied
from bounty.extensions import db
from bounty.jobs import run_due_jobs
from bounty.review.assignment import (
    ReviewTask,
    TaskDecline,
    assign_task,
    auto_assign,
    check_overdue,
    decline_task,
    sync_tasks,
)
from bounty.review.stages import StageKey
from bounty.signals import review_assigned, review_overdue
from bounty.timeutil import utcnow

from ..factories import create_challenge, create_user
from .test_stages import set_stage


def _open_tasks() -> list[ReviewTask]:
    return list(db.session.execute(sa.select(ReviewTask).where(
        ReviewTask.closed_at.is_(None)).order_by(ReviewTask.id)).scalars())


def test_auto_assignment_spreads_load_evenly_up_to_the_cap(app):
    for i in range(7):
        create_challenge(state=ChallengeState.vetting, title=f"待审榜单{i}")
    lead = create_user("reviewer", is_lead_reviewer=True)
    a, b = create_user("reviewer"), create_user("reviewer")
    # The lead is a reviewer too: three reviewers, at most two open tasks each.
    done = auto_assign(lead, cap=2)
    assert len(done) == 6
    load = Counter(t.assignee_id for t in _open_tasks() if t.assignee_id)
    assert load == {lead.id: 2, a.id: 2, b.id: 2}
    assert sum(1 for t in _open_tasks() if t.assignee_id is None) == 1
    # Nobody is below the cap: a second run assigns nothing.
    assert auto_assign(lead, cap=2) == []


def test_auto_assignment_uses_the_configured_cap(app):
    app.config["REVIEW_MAX_OPEN_TASKS"] = 1
    for i in range(3):
        create_challenge(state=ChallengeState.vetting, title=f"待审榜单{i}")
    admin = create_user("admin")
    reviewer = create_user("reviewer")
    assert [r.id for _t, r in auto_assign(admin)] == [reviewer.id]


def test_auto_assignment_gives_the_n_slots_of_one_item_to_n_people(app):
    set_stage(StageKey.vetting, approvals_needed=2)
    create_challenge(state=ChallengeState.vetting)
    admin = create_user("admin")
    a, b = create_user("reviewer"), create_user("reviewer")
    auto_assign(admin)
    assert sorted(t.assignee_id for t in _open_tasks()) == [a.id, b.id]


def test_only_admins_and_leads_assign(app):
    create_challenge(state=ChallengeState.vetting)
    sync_tasks()
    task = _open_tasks()[0]
    reviewer = create_user("reviewer")
    with pytest.raises(PermissionDenied):
        auto_assign(reviewer)
    with pytest.raises(PermissionDenied):
        assign_task(task, reviewer, create_user("enterprise"))
    with pytest.raises(InvalidField, match="只能分配给在岗的审核员"):
        assign_task(task, create_user("enterprise"), create_user("admin"))


def test_decline_with_a_reason(app, sign_in):
    create_challenge(state=ChallengeState.vetting, title="智能锁指纹模组")
    sync_tasks()
    task = _open_tasks()[0]
    admin = create_user("admin")
    first, second = create_user("reviewer"), create_user("reviewer")
    assign_task(task, first, admin)
    with pytest.raises(PermissionDenied):
        decline_task(task, second, "不是我的")
    client = sign_in(first)
    page = client.get("/review/tasks?view=mine").get_data(as_text=True)
    assert f"/review/tasks/{task.id}/decline" in page
    refused = client.post(f"/review/tasks/{task.id}/decline", data={"reason": " "})
    assert refused.status_code == 422
    response = client.post(f"/review/tasks/{task.id}/decline",
                           data={"reason": "下周出差，无法按期完成"})
    assert response.status_code == 302
    db.session.expire_all()
    assert task.assignee_id is None
    decline = db.session.execute(sa.select(TaskDecline)).scalar_one()
    assert (decline.reviewer_id, decline.reason) == (first.id, "下周出差，无法按期完成")
    event = db.session.execute(sa.select(AuditEvent).where(
        AuditEvent.action == "decline_review")).scalar_one()
    assert event.actor_id == first.id and "下周出差" in event.comment
    # Auto-assignment does not hand it back to the one who declined.
    assert [r.id for _t, r in auto_assign(admin)] == [second.id]
    # Someone else cannot open the decline page of a task that is not theirs.
    assert client.get(f"/review/tasks/{task.id}/decline").status_code == 404


def test_overdue_signal_once_and_from_the_jobs(app, time_machine):
    challenge = create_challenge(state=ChallengeState.vetting)
    sync_tasks()
    task = _open_tasks()[0]
    assign_task(task, create_user("reviewer"), create_user("admin"))
    seen = []

    def receiver(sender, assignee, due_at):
        seen.append((sender.id, assignee.id if assignee else None))

    review_overdue.connect(receiver)
    try:
        assert check_overdue() == []
        time_machine.move_to(task.due_at + timedelta(minutes=1))
        lines = run_due_jobs()
        assert any("overdue" in line and str(challenge.id) in line for line in lines), lines
        assert check_overdue(utcnow()) == []  # sent once per task
    finally:
        review_overdue.disconnect(receiver)
    assert seen == [(task.id, task.assignee_id)]


def test_assignment_sends_the_signal_for_auto_assignment_too(app):
    create_challenge(state=ChallengeState.vetting)
    reviewer = create_user("reviewer")
    seen = []

    def receiver(sender, assignee, actor):
        seen.append((sender.id, assignee.id, actor.id))

    review_assigned.connect(receiver)
    try:
        lead = create_user("reviewer", is_lead_reviewer=True)
        done = auto_assign(lead)
    finally:
        review_assigned.disconnect(receiver)
    assert [(t.id, r.id) for t, r in done] == [(s[0], s[1]) for s in seen]
    assert {s[1] for s in seen} <= {reviewer.id, lead.id}
