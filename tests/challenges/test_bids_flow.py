"""After the deadline: the enterprise selects a bid or declares 流榜; then milestone delivery."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent
from bounty.challenges import attachments, services
from bounty.challenges.models import Attachment, ChallengeState
from bounty.errors import PermissionDenied, TransitionRefused
from bounty.extensions import db
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey

from .bids_world import AFTER, NOW, PDF, build_world, client_for, upload


@pytest.fixture
def world(app, time_machine):
    time_machine.move_to(NOW, tick=False)
    world = build_world()
    time_machine.move_to(AFTER, tick=False)
    return world


def _events(action: str) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    ).scalar_one()


def test_rank_bids_orders_by_relevance_then_submission_time(world, time_machine):
    world.other_bid.submitted_at = NOW.replace(hour=1)  # submitted earlier than world.bid
    db.session.commit()
    ranked = services.rank_bids(world.challenge, world.challenge.submitted_bids)
    # 超低功耗蓝牙 answers 智能锁低功耗蓝牙模组 better than 能量采集
    assert [r.bid.id for r in ranked] == [world.bid.id, world.other_bid.id]
    assert ranked[0].score > ranked[1].score


# --------------------------------------------------------------------------- selection


def test_owner_selects_a_bid_in_evaluating(app, world):
    services.close_due_challenges()
    client = client_for(app, world.owner)
    page = client.get(f"/challenges/{world.challenge.id}/bids").get_data(as_text=True)
    assert "选定该方案" in page and "宣布流榜" in page
    response = client.post(f"/challenges/{world.challenge.id}/bids/select",
                           data={"bid_id": str(world.bid.id)})
    assert response.status_code == 302
    assert world.challenge.state == ChallengeState.award_review
    assert world.challenge.winning_bid_id == world.bid.id
    # The same POST again (a double click) is refused and changes nothing.
    again = client.post(f"/challenges/{world.challenge.id}/bids/select",
                        data={"bid_id": str(world.other_bid.id)})
    assert again.status_code == 422
    assert world.challenge.winning_bid_id == world.bid.id and _events("select_bid") == 1
    # The winner sees it on 我的揭榜.
    mine = client_for(app, world.bidder).get("/bids/mine").get_data(as_text=True)
    assert "已被选定，待审核" in mine


@pytest.mark.parametrize("role", ["reviewer", "bidder_colleague"])
def test_only_the_owner_selects(app, world, role):
    services.close_due_challenges()
    user = world.user(role)
    with pytest.raises(PermissionDenied):
        services.select_bid(world.challenge, world.bid, user)
    response = client_for(app, user).post(f"/challenges/{world.challenge.id}/bids/select",
                                          data={"bid_id": str(world.bid.id)})
    assert response.status_code == (422 if role == "reviewer" else 404)
    assert world.challenge.state == ChallengeState.evaluating
    assert world.challenge.winning_bid_id is None


def test_other_enterprise_cannot_select(app, world):
    services.close_due_challenges()
    response = client_for(app, world.other_enterprise).post(
        f"/challenges/{world.challenge.id}/bids/select", data={"bid_id": str(world.bid.id)})
    assert response.status_code == 404
    assert world.challenge.state == ChallengeState.evaluating


def test_selection_only_in_evaluating(app, world):
    # Past the deadline but the closing job has not run: still `open`.
    with pytest.raises(TransitionRefused):
        services.select_bid(world.challenge, world.bid, world.owner)
    response = client_for(app, world.owner).post(
        f"/challenges/{world.challenge.id}/bids/select", data={"bid_id": str(world.bid.id)})
    assert response.status_code == 422
    assert "不能执行" in response.get_data(as_text=True)
    assert world.challenge.state == ChallengeState.open


@pytest.mark.parametrize("which", ["draft_bid", "withdrawn_bid"])
def test_unsubmitted_bids_cannot_be_selected(app, world, which):
    services.close_due_challenges()
    hidden = getattr(world, which)
    with pytest.raises(Exception, match="已提交"):
        services.select_bid(world.challenge, hidden, world.owner)
    response = client_for(app, world.owner).post(
        f"/challenges/{world.challenge.id}/bids/select", data={"bid_id": str(hidden.id)})
    assert response.status_code == 422 and world.challenge.winning_bid_id is None


def test_declare_failed_needs_a_comment(app, world):
    services.close_due_challenges()
    client = client_for(app, world.owner)
    url = f"/challenges/{world.challenge.id}/bids/fail"
    response = client.post(url, data={"comment": "  "})
    assert response.status_code == 422 and "须填写说明" in response.get_data(as_text=True)
    assert world.challenge.state == ChallengeState.evaluating
    assert client.post(url, data={"comment": "方案均未达到控温精度要求"}).status_code == 302
    assert world.challenge.state == ChallengeState.failed
    assert _events("declare_failed") == 1


# --------------------------------------------------------------------------- delivery


@pytest.fixture
def delivering(world):
    services.close_due_challenges()
    services.select_bid(world.challenge, world.bid, world.owner)
    decide(world.challenge, world.reviewer, Outcome.approve, stage=StageKey.award)
    assert world.challenge.state == ChallengeState.in_progress
    return world


@pytest.mark.parametrize(("role", "status"), [
    ("anonymous", 404), ("owner", 200), ("other_enterprise", 404), ("bidder", 200),
    ("bidder_colleague", 200), ("other_bidder", 404), ("non_bidder", 404), ("reviewer", 200),
    ("admin", 404),
])
def test_delivery_page_access(app, delivering, role, status):
    client = client_for(app, delivering.user(role))
    assert client.get(f"/challenges/{delivering.challenge.id}/delivery").status_code == status


def test_delivery_page_hidden_before_award(app, world):
    services.close_due_challenges()
    client = client_for(app, world.owner)
    assert client.get(f"/challenges/{world.challenge.id}/delivery").status_code == 404


def test_report_and_confirm_every_milestone_opens_acceptance(app, delivering):
    challenge, bid = delivering.challenge, delivering.bid
    winner, owner = client_for(app, delivering.bidder), client_for(app, delivering.owner)
    first, last = bid.milestones
    page = winner.get(f"/challenges/{challenge.id}/delivery").get_data(as_text=True)
    assert "提交报告" in page and "确认该里程碑" not in page
    for where in (f"/bids/{bid.id}", f"/challenges/{challenge.id}/bids", "/bids/mine"):
        client = winner if where == "/bids/mine" else owner
        assert f"/challenges/{challenge.id}/delivery" in client.get(where).get_data(as_text=True)

    # Confirming before a report is refused.
    owner.post(f"/milestones/{first.id}/confirm")
    assert first.confirmed_at is None

    for milestone in (first, last):
        prefix = f"m{milestone.id}"
        response = winner.post(
            f"/milestones/{milestone.id}/report",
            data={f"{prefix}-report": f"{milestone.name}已完成，附测试报告。",
                  f"{prefix}-attachments": [upload("测试报告.pdf", PDF)]},
            content_type="multipart/form-data")
        assert response.status_code == 302
        assert milestone.reported_at is not None
        assert [a.original_name for a in milestone.attachments] == ["测试报告.pdf"]
        assert owner.post(f"/milestones/{milestone.id}/confirm").status_code == 302
        assert milestone.confirmed_at is not None
    assert challenge.state == ChallengeState.acceptance_review
    assert _events("request_acceptance") == 1
    # Milestone files are the delivery's, not the bid's own attachments.
    assert [a.original_name for a in bid.attachments] == ["方案.png"]
    page = owner.get(f"/challenges/{challenge.id}/delivery").get_data(as_text=True)
    assert "已确认" in page and "提交报告" not in page


def test_report_needs_text_and_a_real_file(app, delivering):
    milestone = delivering.bid.milestones[0]
    winner = client_for(app, delivering.bidder)
    prefix = f"m{milestone.id}"
    empty = winner.post(f"/milestones/{milestone.id}/report", data={f"{prefix}-report": ""})
    assert empty.status_code == 422 and "请填写里程碑报告" in empty.get_data(as_text=True)
    disguised = winner.post(
        f"/milestones/{milestone.id}/report",
        data={f"{prefix}-report": "报告正文保留", f"{prefix}-attachments": [
            upload("报告.pdf", b"not a pdf at all")]},
        content_type="multipart/form-data")
    page = disguised.get_data(as_text=True)
    assert disguised.status_code == 422 and "内容与扩展名不符" in page and "报告正文保留" in page
    assert milestone.reported_at is None
    assert db.session.execute(sa.select(sa.func.count()).select_from(Attachment)).scalar_one() == 1


@pytest.mark.parametrize("role", ["other_bidder", "owner", "reviewer"])
def test_only_the_winner_reports(app, delivering, role):
    milestone = delivering.bid.milestones[0]
    user = delivering.user(role)
    with pytest.raises(PermissionDenied):
        services.report_milestone(milestone, user, "冒名报告")
    prefix = f"m{milestone.id}"
    response = client_for(app, user).post(f"/milestones/{milestone.id}/report",
                                          data={f"{prefix}-report": "冒名报告"})
    assert response.status_code == (404 if role == "other_bidder" else 422)
    assert milestone.reported_at is None and milestone.report == ""


def test_a_losing_bid_has_no_delivery(app, delivering):
    losing = delivering.other_bid.milestones[0]
    client = client_for(app, delivering.other_bidder)
    response = client.post(f"/milestones/{losing.id}/report", data={f"m{losing.id}-report": "x"})
    assert response.status_code == 404
    with pytest.raises(TransitionRefused):
        services.report_milestone(losing, delivering.other_bidder, "x")


def test_only_the_owner_confirms(app, delivering):
    milestone = delivering.bid.milestones[0]
    services.report_milestone(milestone, delivering.bidder, "完成")
    for user in (delivering.bidder, delivering.reviewer):
        with pytest.raises(PermissionDenied):
            services.confirm_milestone(milestone, user)
        client_for(app, user).post(f"/milestones/{milestone.id}/confirm")
    assert milestone.confirmed_at is None


def test_request_acceptance_by_hand_waits_for_every_milestone(app, delivering):
    client = client_for(app, delivering.owner)
    client.post(f"/challenges/{delivering.challenge.id}/acceptance")
    assert delivering.challenge.state == ChallengeState.in_progress
    with pytest.raises(TransitionRefused):
        services.request_acceptance(delivering.challenge, delivering.owner)


def test_a_report_can_remove_its_own_files(app, delivering):
    milestone = delivering.bid.milestones[0]
    winner = client_for(app, delivering.bidder)
    prefix = f"m{milestone.id}"
    winner.post(f"/milestones/{milestone.id}/report",
                data={f"{prefix}-report": "初稿", f"{prefix}-attachments": [
                    upload("旧报告.pdf", PDF), upload("测试数据.pdf", PDF)]},
                content_type="multipart/form-data")
    old = next(a for a in milestone.attachments if a.original_name == "旧报告.pdf")
    stored = attachments.upload_folder() / old.stored_name
    assert stored.exists()
    page = winner.get(f"/challenges/{delivering.challenge.id}/delivery").get_data(as_text=True)
    assert "删除 旧报告.pdf" in page
    response = winner.post(
        f"/milestones/{milestone.id}/report",
        data={f"{prefix}-report": "终稿", f"{prefix}-remove_attachments": [str(old.id)],
              f"{prefix}-attachments": [upload("新报告.pdf", PDF)]},
        content_type="multipart/form-data")
    assert response.status_code == 302
    assert sorted(a.original_name for a in milestone.attachments) == ["新报告.pdf", "测试数据.pdf"]
    assert not stored.exists()
    assert _events("remove_attachment") == 1


def test_a_failed_report_is_summed_up_at_the_top(app, delivering):
    milestone = delivering.bid.milestones[0]
    winner = client_for(app, delivering.bidder)
    response = winner.post(f"/milestones/{milestone.id}/report",
                           data={f"m{milestone.id}-report": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="error-summary"' in html and f'href="#m{milestone.id}-report"' in html
