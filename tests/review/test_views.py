"""Reviewer queues and decision pages: access, validation, double submission, visibility."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent
from bounty.challenges.models import ChallengeState
from bounty.review.assignment import sync_tasks
from bounty.review.models import ReviewDecision

from ..conftest import signed_in
from ..factories import create_bid, create_challenge, create_user


def _decisions(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ReviewDecision))


def _events(db, action: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


@pytest.fixture
def login_as(app):
    """A client with the user's session set directly: the password check (scrypt) is
    tested elsewhere and would make each login cost a fifth of a second."""

    return lambda user: signed_in(app, user)


@pytest.fixture
def vetting(app):
    return create_challenge(state=ChallengeState.vetting, title="鞋底注塑机能耗优化")


@pytest.mark.parametrize("path", ["/review/", "/review/queue/vetting", "/review/challenges/{id}"])
def test_anonymous_is_sent_to_login(client, vetting, path):
    response = client.get(path.format(id=vetting.id))
    assert response.status_code == 302
    assert "/accounts/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["enterprise", "institute", "admin"])
@pytest.mark.parametrize("path", ["/review/", "/review/queue/award", "/review/challenges/{id}"])
def test_non_reviewers_are_forbidden(login_as, vetting, role, path):
    client = login_as(create_user(role))
    assert client.get(path.format(id=vetting.id)).status_code == 403
    response = client.post(path.format(id=vetting.id),
                           data={"stage": "vetting", "outcome": "approve"})
    assert response.status_code in (403, 405)
    assert vetting.state == ChallengeState.vetting


def test_owner_cannot_post_a_decision(app, db, login_as, vetting):
    client = login_as(vetting.created_by)
    response = client.post(f"/review/challenges/{vetting.id}",
                           data={"stage": "vetting", "outcome": "approve"})
    assert response.status_code == 403
    assert _decisions(db) == 0


def test_index_counts_and_queue_oldest_first(app, login_as, time_machine):
    time_machine.move_to("2026-03-01 09:00 +08:00")
    older = create_challenge(state=ChallengeState.vetting, title="老的榜单：眼镜钛架焊接")
    time_machine.move_to("2026-03-02 09:00 +08:00")
    newer = create_challenge(state=ChallengeState.vetting, title="新的榜单：智能锁指纹模组")
    create_challenge(state=ChallengeState.award_review, title="等待揭榜结果审核")
    create_challenge(state=ChallengeState.open, title="已发榜")
    sync_tasks()  # the worker opens the rounds of items set up directly
    client = login_as(create_user("reviewer"))
    index = client.get("/review/").get_data(as_text=True)
    assert "2 项待审" in index and "1 项待审" in index and "0 项待审" in index
    page = client.get("/review/queue/vetting", follow_redirects=True).get_data(as_text=True)
    assert page.index(older.title) < page.index(newer.title)
    assert "已发榜" not in page and "等待揭榜结果审核" not in page
    assert client.get("/review/queue/nonsense").status_code == 404


def test_reviewer_cannot_open_a_draft(app, login_as):
    draft = create_challenge(state=ChallengeState.draft)
    client = login_as(create_user("reviewer"))
    assert client.get(f"/review/challenges/{draft.id}").status_code == 404


def test_decision_page_shows_the_challenge(login_as, vetting):
    client = login_as(create_user("reviewer"))
    page = client.get(f"/review/challenges/{vetting.id}").get_data(as_text=True)
    assert vetting.title in page and "控温精度" in page and "±0.5" in page
    assert 'name="stage" type="hidden" value="vetting"' in page
    assert "退回修改" in page and "不予通过" in page


@pytest.mark.parametrize("outcome", ["return", "reject"])
def test_comment_required_for_return_and_reject(app, db, login_as, vetting, outcome):
    client = login_as(create_user("reviewer"))
    response = client.post(f"/review/challenges/{vetting.id}",
                           data={"stage": "vetting", "outcome": outcome, "comment": "   "})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "退回或不予通过时必须填写意见。" in page  # the transition's rule, at the field
    assert re.search(r'<textarea[^>]*aria-invalid="true"[^>]*name="comment"', page)
    assert re.search(rf'<input checked id="outcome-\d" name="outcome" [^>]*value="{outcome}"', page)
    db.session.expire_all()
    assert vetting.state == ChallengeState.vetting
    assert _decisions(db) == 0


def test_approve_then_repeated_post_is_refused(app, db, login_as, vetting):
    client = login_as(create_user("reviewer"))
    url = f"/review/challenges/{vetting.id}"
    data = {"stage": "vetting", "outcome": "approve", "comment": ""}
    first = client.post(url, data=data)
    assert first.status_code == 302 and first.headers["Location"].endswith("/review/queue/vetting")
    second = client.post(url, data=data, follow_redirects=True)
    assert second.status_code == 200
    assert "该榜单已不在此审核阶段，请刷新页面。" in second.get_data(as_text=True)
    db.session.expire_all()
    assert vetting.state == ChallengeState.open
    assert _decisions(db) == 1
    assert _events(db, "approve_vetting") == 1


def test_two_tabs_two_reviewers_only_one_decision(app, db, login_as, vetting):
    """Two pages rendered for 审题; the second POST, with another outcome, loses."""
    url = f"/review/challenges/{vetting.id}"
    first = login_as(create_user("reviewer"))
    second = login_as(create_user("reviewer"))
    assert first.get(url).status_code == 200 and second.get(url).status_code == 200
    assert first.post(url, data={"stage": "vetting", "outcome": "return",
                                 "comment": "指标单位不清楚"}).status_code == 302
    response = second.post(url, data={"stage": "vetting", "outcome": "reject",
                                      "comment": "不符合产业方向"}, follow_redirects=True)
    assert "该榜单已不在此审核阶段" in response.get_data(as_text=True)
    db.session.expire_all()
    assert vetting.state == ChallengeState.returned
    assert _decisions(db) == 1
    assert _events(db, "return_vetting") == 1 and _events(db, "reject_vetting") == 0


def test_award_page_shows_selected_and_all_bids(app, login_as, time_machine):
    challenge = create_challenge(state=ChallengeState.award_review,
                                 deadline_in=timedelta(days=-1))
    chosen = create_bid(challenge, title="方案甲：伺服驱动")
    create_bid(challenge, title="方案乙：液压改造")
    challenge.winning_bid_id = chosen.id
    from bounty.extensions import db as _db

    _db.session.commit()
    page = login_as(create_user("reviewer")).get(
        f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "企业选定的揭榜方案" in page
    assert "方案甲：伺服驱动" in page and "方案乙：液压改造" in page
    assert "全部揭榜方案（2 份）" in page


def test_acceptance_page_shows_milestone_reports(app, db, login_as):
    challenge = create_challenge(state=ChallengeState.acceptance_review,
                                 deadline_in=timedelta(days=-90))
    bid = create_bid(challenge, milestones=2)
    challenge.winning_bid_id = bid.id
    bid.milestones[0].report = "样机完成，控温精度实测 ±0.3℃"
    db.session.commit()
    page = login_as(create_user("reviewer")).get(
        f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "里程碑与报告" in page and "样机完成，控温精度实测 ±0.3℃" in page
    assert 'value="acceptance"' in page


def test_page_of_a_challenge_not_under_review_has_no_form(app, login_as):
    challenge = create_challenge(state=ChallengeState.open)
    page = login_as(create_user("reviewer")).get(
        f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "该榜单当前不在审核阶段" in page and 'name="outcome"' not in page


def test_parties_see_decision_and_comment_on_challenge_page(app, db, login_as, time_machine):
    time_machine.move_to("2026-05-10 02:30 +00:00")
    owner = create_user("enterprise")
    challenge = create_challenge(owner, state=ChallengeState.award_review,
                                 deadline_in=timedelta(days=-1))
    winner, loser, other = create_user("institute"), create_user("institute"), \
        create_user("institute")
    bid = create_bid(challenge, winner)
    create_bid(challenge, loser)
    challenge.winning_bid_id = bid.id
    db.session.commit()
    reviewer = create_user("reviewer")
    response = login_as(reviewer).post(
        f"/review/challenges/{challenge.id}",
        data={"stage": "award", "outcome": "return", "comment": "报价依据不充分，请企业重新评选"})
    assert response.status_code == 302
    url = f"/challenges/{challenge.id}"
    for user in (owner, winner, loser, reviewer, create_user("admin")):
        page = login_as(user).get(url).get_data(as_text=True)
        assert "审核意见" in page, user.role
        assert "报价依据不充分，请企业重新评选" in page
        assert "揭榜结果审核" in page and "退回修改" in page
        assert "2026-05-10 10:30" in page  # shown in Asia/Shanghai
    for client in (login_as(other), login_as(create_user("enterprise")), app.test_client()):
        page = client.get(url).get_data(as_text=True)
        assert "报价依据不充分" not in page and "审核意见" not in page, client


def test_decision_needs_the_csrf_token(csrf_app, db, login_as, vetting):
    client = login_as(create_user("reviewer"))
    url = f"/review/challenges/{vetting.id}"
    refused = client.post(url, data={"stage": "vetting", "outcome": "approve"})
    assert refused.status_code == 400
    assert _decisions(db) == 0
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    accepted = client.post(url, data={"stage": "vetting", "outcome": "approve",
                                      "csrf_token": token})
    assert accepted.status_code == 302 and _decisions(db) == 1
