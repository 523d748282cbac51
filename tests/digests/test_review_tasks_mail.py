"""Workbench tasks reach their reviewer by email: once when assigned, once when overdue."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bounty.challenges.models import ChallengeState
from bounty.digests.outbox import drain_outbox
from bounty.extensions import db
from bounty.jobs import run_due_jobs
from bounty.review.assignment import ReviewTask, assign_task, sync_tasks

from ..factories import create_challenge, create_user


def test_assigned_and_overdue_tasks_are_emailed_once(mail_app, smtp_server, time_machine):
    challenge = create_challenge(state=ChallengeState.vetting, title="伺服压装机力位控制")
    sync_tasks()
    task = db.session.execute(sa.select(ReviewTask)).scalars().one()
    reviewer = create_user("reviewer", email="shen@kjj.example.com")
    assign_task(task, reviewer, create_user("admin"))
    drain_outbox()
    assigned = smtp_server.to("shen@kjj.example.com")
    assert len(assigned) == 1
    assert challenge.title in assigned[0].message["Subject"]

    time_machine.move_to(task.due_at + timedelta(minutes=1))
    run_due_jobs()
    run_due_jobs()  # a second run sends nothing more
    mails = smtp_server.to("shen@kjj.example.com")
    assert len(mails) == 2
    assert "逾期" in mails[1].message["Subject"]
    assert "/review/tasks" in mails[1].message.get_body(("plain",)).get_content()


def test_an_invited_institute_hears_of_it_once(mail_app, smtp_server):
    from bounty.matching.services import invite_institute

    owner = create_user("enterprise")
    challenge = create_challenge(owner, state=ChallengeState.open, title="眼镜架钛合金激光焊接")
    member = create_user("institute", email="li@wzu.example.com")
    invite_institute(challenge, member.organization, owner)
    drain_outbox()
    drain_outbox()
    mails = smtp_server.to("li@wzu.example.com")
    assert len(mails) == 1
    assert challenge.title in mails[0].message["Subject"]
    assert owner.organization.name in mails[0].message.get_body(("plain",)).get_content()
