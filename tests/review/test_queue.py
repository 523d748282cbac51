"""The one queue across stages: views, filters, sorting, counts, bulk actions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from bounty.challenges.models import Category, ChallengeState, Industry
from bounty.extensions import db
from bounty.review.assignment import ReviewTask, assign_task, sync_tasks
from bounty.review.models import Outcome, ReviewDecision
from bounty.review.stages import StageKey
from bounty.signals import review_assigned
from bounty.timeutil import SHANGHAI

from ..factories import create_challenge, create_user
from .conftest import award_challenge


def _task(challenge) -> ReviewTask:
    return db.session.execute(sa.select(ReviewTask).where(
        ReviewTask.challenge_id == challenge.id, ReviewTask.closed_at.is_(None))).scalars().first()


def _rows(page: str, *titles: str) -> list[str]:
    """The titles in the order they appear on the page."""
    return sorted((t for t in titles if t in page), key=page.index)


def test_queue_views_filters_sort_and_counts(app, sign_in, time_machine):
    time_machine.move_to(datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI), tick=False)
    old = create_challenge(state=ChallengeState.vetting, title="老榜单：眼镜钛架焊接",
                           industry=Industry.eyewear)
    time_machine.move_to(datetime(2026, 3, 4, 9, 0, tzinfo=SHANGHAI), tick=False)
    new = create_challenge(state=ChallengeState.vetting, title="新榜单：智能锁指纹模组",
                           industry=Industry.smart_lock, category=Category.key_process)
    award, _owner, _bids = award_challenge(title="揭榜结果：电机端盖压铸")
    sync_tasks()
    lead = create_user("reviewer", is_lead_reviewer=True)
    me = create_user("reviewer", name="我自己")
    assign_task(_task(new), me, lead)
    client = sign_in(me)

    page = client.get("/review/tasks").get_data(as_text=True)
    # 审题 (5 working days) and 揭榜结果审核 (10): sorted by due date, earliest first.
    assert _rows(page, old.title, new.title, award.title) == [old.title, new.title, award.title]
    assert "2 项待审" in page and "1 项待审" in page  # per stage
    assert "分配给我 (1)" in page and "待分配 (2)" in page and "全部待审 (3)" in page

    mine = client.get("/review/tasks?view=mine").get_data(as_text=True)
    assert _rows(mine, old.title, new.title, award.title) == [new.title]
    unassigned = client.get("/review/tasks?view=unassigned").get_data(as_text=True)
    assert _rows(unassigned, old.title, new.title, award.title) == [old.title, award.title]
    by_stage = client.get("/review/tasks?stage=award").get_data(as_text=True)
    assert _rows(by_stage, old.title, new.title, award.title) == [award.title]
    by_industry = client.get("/review/tasks?industry=eyewear").get_data(as_text=True)
    assert _rows(by_industry, old.title, new.title, award.title) == [old.title]
    by_category = client.get("/review/tasks?category=key_process").get_data(as_text=True)
    assert _rows(by_category, old.title, new.title, award.title) == [new.title]
    by_age = client.get("/review/tasks?age=2").get_data(as_text=True)
    assert _rows(by_age, old.title, new.title, award.title) == [old.title]
    by_entry = client.get("/review/tasks?sort=age").get_data(as_text=True)
    assert _rows(by_entry, old.title, new.title, award.title)[0] == old.title
    assert client.get("/review/tasks?view=bogus&stage=nope&age=x").status_code == 200


def test_queue_is_for_reviewers_and_admins(app, sign_in, client):
    assert client.get("/review/tasks").status_code == 302
    for role in ("enterprise", "institute"):
        assert sign_in(create_user(role)).get("/review/tasks").status_code == 403
    assert sign_in(create_user("admin")).get("/review/tasks").status_code == 200


def test_bulk_assign_by_a_lead_reviewer(app, sign_in):
    challenges = [create_challenge(state=ChallengeState.vetting, title=f"榜单{i}")
                  for i in range(3)]
    sync_tasks()
    lead = create_user("reviewer", is_lead_reviewer=True)
    expert = create_user("reviewer", name="许专家")
    sent = []

    def receiver(task, assignee, actor):
        sent.append((task.challenge_id, assignee.id, actor.id))

    review_assigned.connect(receiver)
    try:
        ids = [str(_task(c).id) for c in challenges[:2]]
        response = sign_in(lead).post("/review/tasks/bulk", data={
            "task": ids, "action": "assign", "assignee": expert.id}, follow_redirects=True)
    finally:
        review_assigned.disconnect(receiver)
    assert "已处理 2 项。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert [_task(c).assignee_id for c in challenges] == [expert.id, expert.id, None]
    assert sorted(sent) == sorted((c.id, expert.id, lead.id) for c in challenges[:2])


def test_a_plain_reviewer_cannot_assign(app, sign_in):
    challenge = create_challenge(state=ChallengeState.vetting)
    sync_tasks()
    reviewer = create_user("reviewer")
    response = sign_in(reviewer).post("/review/tasks/bulk", data={
        "task": [str(_task(challenge).id)], "action": "assign", "assignee": reviewer.id},
        follow_redirects=True)
    assert "只有管理员或审核组长可以分配审核任务。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert _task(challenge).assignee_id is None


def test_bulk_return_with_one_comment(app, sign_in):
    first = create_challenge(state=ChallengeState.vetting, title="榜单甲")
    second = create_challenge(state=ChallengeState.vetting, title="榜单乙")
    untouched = create_challenge(state=ChallengeState.vetting, title="榜单丙")
    sync_tasks()
    reviewer = create_user("reviewer")
    client = sign_in(reviewer)
    ids = [str(_task(c).id) for c in (first, second)]
    refused = client.post("/review/tasks/bulk", data={"task": ids, "action": "return",
                                                      "comment": " "}, follow_redirects=True)
    assert "退回或不予通过时必须填写意见。" in refused.get_data(as_text=True)
    assert all(_task(c).is_open for c in (first, second))
    response = client.post("/review/tasks/bulk", data={
        "task": ids, "action": "return", "comment": "请补充可考核的技术指标"},
        follow_redirects=True)
    assert "已处理 2 项。" in response.get_data(as_text=True)
    db.session.expire_all()
    assert (first.state, second.state, untouched.state) == (
        ChallengeState.returned, ChallengeState.returned, ChallengeState.vetting)
    decisions = db.session.execute(sa.select(ReviewDecision)).scalars().all()
    assert {(d.challenge_id, d.outcome, d.comment) for d in decisions} == {
        (first.id, Outcome.return_, "请补充可考核的技术指标"),
        (second.id, Outcome.return_, "请补充可考核的技术指标")}


def test_bulk_return_reports_each_refusal(app, sign_in):
    """An item assigned to someone else is refused; the others go through."""
    mine = create_challenge(state=ChallengeState.vetting, title="可退回")
    theirs = create_challenge(state=ChallengeState.vetting, title="别人的")
    sync_tasks()
    lead = create_user("reviewer", is_lead_reviewer=True)
    assign_task(_task(theirs), create_user("reviewer", name="王审核"), lead)
    response = sign_in(create_user("reviewer")).post("/review/tasks/bulk", data={
        "task": [str(_task(mine).id), str(_task(theirs).id)], "action": "return",
        "comment": "请修改"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "已处理 1 项。" in page and "别人的：该事项已分配给其他审核人员（王审核）" in page
    db.session.expire_all()
    assert mine.state == ChallengeState.returned and theirs.state == ChallengeState.vetting


def test_registry_items_are_in_the_queue(app, sign_in):
    from bounty.certification.services import apply_for_certification

    from ..registry.helpers import cert_data, completed_challenge, evidence_files

    challenge, owner, _winner = completed_challenge()
    application = apply_for_certification(challenge, owner, cert_data(), evidence_files())
    page = sign_in(create_user("reviewer")).get(
        "/review/tasks?stage=certification").get_data(as_text=True)
    assert application.product_name in page
    assert f"/certifications/{application.id}" in page
    task = db.session.execute(sa.select(ReviewTask)).scalar_one()
    assert task.stage == StageKey.certification and task.certification_id == application.id


def test_admins_reach_the_conflict_page_from_the_queue(app, sign_in):
    challenge = create_challenge(state=ChallengeState.vetting, title="管理员看到的榜单")
    sync_tasks()  # the worker opens the round of an item set up directly
    page = sign_in(create_user("admin")).get("/review/tasks").get_data(as_text=True)
    assert f"/review/items/challenge/{challenge.id}/conflicts" in page
    assert "自动分配待分配任务" in page
    reviewer_page = sign_in(create_user("reviewer")).get("/review/tasks").get_data(as_text=True)
    assert f"/review/challenges/{challenge.id}" in reviewer_page
    assert "自动分配待分配任务" not in reviewer_page
