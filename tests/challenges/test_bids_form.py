"""The bid form: rows without JavaScript, invalid inputs, double submission, withdraw."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bounty.challenges import services
from bounty.challenges.models import Attachment, Bid, BidState, ChallengeState
from bounty.errors import ConcurrentUpdate, TransitionRefused

from ..factories import create_challenge, create_org, create_user
from ..stores import stored_names
from .bids_world import AFTER, DEADLINE, NOW, PDF, client_for, upload

pytestmark = pytest.mark.usefixtures("each_store")  # with each UPLOAD_STORE


def _count(model) -> int:
    from bounty.extensions import db

    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def bid_form(**overrides) -> dict:
    data = {
        "title": "温州大学：低功耗蓝牙模组方案",
        "approach": "采用 BLE 5.3 与能量采集电路，待机电流降至 2 μA。",
        "team_lead": "陈教授",
        "team_members": "林博士\n周工程师",
        "lab": "浙江省智能锁工程研究中心",
        "milestones-0-name": "样机研制",
        "milestones-0-month": "4",
        "milestones-0-deliverable": "工程样机",
        "milestones-1-name": "小批量试产",
        "milestones-1-month": "9",
        "milestones-1-deliverable": "试产报告",
        "quote_yuan": "850000",
        "duration_months": "10",
        "prior_results": "发明专利 ZL2023XXXX；论文 2 篇",
        "submit_bid": "提交方案",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def setup(app, db, time_machine):
    time_machine.move_to(NOW, tick=False)
    owner = create_user("enterprise")
    challenge = create_challenge(owner, state=ChallengeState.open, bid_deadline=DEADLINE)
    bidder = create_user("institute")
    return challenge, bidder


def test_submit_a_bid_with_milestones_and_a_file(app, setup):
    challenge, bidder = setup
    client = client_for(app, bidder)
    response = client.post(f"/challenges/{challenge.id}/bid",
                           data=bid_form(attachments=[upload("技术方案.pdf", PDF)]),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    bid = services.own_bid(challenge, bidder)
    assert response.location.endswith(f"/bids/{bid.id}")
    assert bid.state == BidState.submitted and bid.submitted_at == NOW
    assert bid.quote_yuan == 850_000 and bid.duration_months == 10
    assert [(m.name, m.month) for m in bid.milestones] == [("样机研制", 4), ("小批量试产", 9)]
    assert [a.original_name for a in bid.attachments] == ["技术方案.pdf"]
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "样机研制" in page and "技术方案.pdf" in page and "撤回方案" in page


def test_save_draft_then_submit(app, setup):
    challenge, bidder = setup
    client = client_for(app, bidder)
    draft = bid_form(submit_bid=None, save_draft="保存草稿")
    assert client.post(f"/challenges/{challenge.id}/bid", data=draft).status_code == 302
    bid = services.own_bid(challenge, bidder)
    assert bid.state == BidState.draft and bid.submitted_at is None
    page = client.get(f"/challenges/{challenge.id}/bid").get_data(as_text=True)
    assert "温州大学：低功耗蓝牙模组方案" in page and 'value="小批量试产"' in page
    client.post(f"/challenges/{challenge.id}/bid", data=bid_form(quote_yuan="800000"))
    assert _count(Bid) == 1
    assert bid.state == BidState.submitted and bid.quote_yuan == 800_000


def test_add_and_remove_milestone_rows_without_javascript(app, setup):
    challenge, bidder = setup
    client = client_for(app, bidder)
    url = f"/challenges/{challenge.id}/bid"
    added = client.post(url, data=bid_form(add_milestone="1", quote_yuan="八十万"))
    page = added.get_data(as_text=True)
    assert added.status_code == 200 and 'name="milestones-2-name"' in page
    assert 'value="小批量试产"' in page and 'value="八十万"' in page  # typed text kept, raw
    removed = client.post(url, data=bid_form(remove_milestone="0"))
    page = removed.get_data(as_text=True)
    assert 'id="milestones-0-name"' in page and 'value="小批量试产"' in page
    assert "样机研制" not in page and 'name="milestones-1-name"' not in page
    assert _count(Bid) == 0  # reshaping rows saves nothing


BAD_INPUTS = [
    ({"quote_yuan": "0"}, "报价须为正数"),
    ({"quote_yuan": "-5000"}, "报价须为正数"),
    ({"quote_yuan": ""}, "请填写报价"),
    ({"approach": ""}, "请填写技术路线"),
    ({"duration_months": "0"}, "实施周期须在 1 至 120 个月之间"),
    ({"milestones-1-month": "0"}, "月份须在 1 至 120 之间"),
    ({"milestones-1-month": "130"}, "月份须在 1 至 120 之间"),
    ({"milestones-1-month": ""}, "请填写月份"),
    ({"milestones-1-month": "12"}, "里程碑月份不能晚于实施周期"),  # rule kept in the service
    ({"milestones-1-name": ""}, "请填写里程碑名称"),
    ({"milestones-1-month": "九"}, "不是有效的整数"),
    ({"quote_yuan": "八十万"}, "不是有效的整数"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS)
def test_invalid_bid_rerenders_keeps_text_writes_nothing(app, setup, overrides, message):
    challenge, bidder = setup
    response = client_for(app, bidder).post(f"/challenges/{challenge.id}/bid",
                                            data=bid_form(**overrides))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert "温州大学：低功耗蓝牙模组方案" in page and "林博士" in page  # what was typed
    for value in overrides.values():
        assert f'value="{value}"' in page or value == ""
    assert _count(Bid) == 0


@pytest.mark.parametrize("name", ["报价单.pdf", "团队.docx", "照片.jpg"])
def test_disguised_attachment_is_refused_and_nothing_is_written(app, setup, name):
    challenge, bidder = setup
    response = client_for(app, bidder).post(
        f"/challenges/{challenge.id}/bid",
        data=bid_form(attachments=[upload("附录.png"), upload(name, b"MZ\x90\x00 not really")]),
        content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "内容与扩展名不符" in page and "温州大学：低功耗蓝牙模组方案" in page
    assert _count(Bid) == 0 and _count(Attachment) == 0
    assert stored_names() == []
    assert "附录.png" in page  # the good file is kept for the next try


def test_a_failing_save_leaves_no_attachment_row(app, setup, monkeypatch):
    """Files are stored in the bid's transaction: when it rolls back, no row remains."""
    challenge, bidder = setup
    services.save_bid(challenge, bidder, _data(), submit=True)
    monkeypatch.setattr(services, "own_bid", lambda *_: None)  # a racing tab's stale read
    response = client_for(app, bidder).post(
        f"/challenges/{challenge.id}/bid", data=bid_form(attachments=[upload()]),
        content_type="multipart/form-data")
    assert response.status_code == 422
    assert "贵单位已对该榜单提交过方案" in response.get_data(as_text=True)
    assert _count(Bid) == 1 and _count(Attachment) == 0


# --------------------------------------------------------------------------- double submission


def test_the_same_post_twice_leaves_one_bid(app, setup):
    challenge, bidder = setup
    client = client_for(app, bidder)
    for _ in range(2):
        assert client.post(f"/challenges/{challenge.id}/bid", data=bid_form()).status_code == 302
    assert _count(Bid) == 1


def test_two_tabs_of_two_colleagues_leave_one_bid(app, setup):
    challenge, bidder = setup
    colleague = create_user("institute", organization=bidder.organization)
    first, second = client_for(app, bidder), client_for(app, colleague)
    # Both opened an empty form before either saved.
    assert "name=\"title\"" in first.get(f"/challenges/{challenge.id}/bid").get_data(as_text=True)
    assert second.get(f"/challenges/{challenge.id}/bid").status_code == 200
    first.post(f"/challenges/{challenge.id}/bid", data=bid_form(title="甲版本"))
    second.post(f"/challenges/{challenge.id}/bid", data=bid_form(title="乙版本"))
    bids = Bid.query.all()
    assert len(bids) == 1
    assert bids[0].title == "乙版本" and bids[0].created_by_id == bidder.id


def test_unique_constraint_holds_under_a_direct_second_insert(app, setup, db):
    challenge, bidder = setup
    bid = services.save_bid(challenge, bidder, _data(), submit=True)
    db.session.add(Bid(challenge_id=challenge.id, organization_id=bid.organization_id,
                       created_by_id=bidder.id, title="重复", approach="x", team_lead="x",
                       quote_yuan=1, duration_months=1))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert _count(Bid) == 1


def test_a_racing_insert_becomes_a_concurrent_update_message(app, setup, monkeypatch):
    challenge, bidder = setup
    services.save_bid(challenge, bidder, _data(), submit=True)
    monkeypatch.setattr(services, "own_bid", lambda *_: None)  # the other tab read before us
    with pytest.raises(ConcurrentUpdate) as refused:
        services.save_bid(challenge, bidder, _data(), submit=True)
    assert "贵单位已对该榜单提交过方案" in refused.value.message
    assert _count(Bid) == 1


def _data(**fields) -> services.BidData:
    values = dict(title="方案", approach="技术路线", team_lead="负责人", quote_yuan=500_000,
                  duration_months=6,
                  milestones=[services.MilestoneData(name="样机", month=3, deliverable="样机")])
    values.update(fields)
    return services.BidData(**values)


# --------------------------------------------------------------------------- withdraw and deadline


def test_withdraw_before_deadline_then_resubmit(app, setup):
    challenge, bidder = setup
    bid = services.save_bid(challenge, bidder, _data(), submit=True)
    client = client_for(app, bidder)
    assert client.post(f"/bids/{bid.id}/withdraw").status_code == 302
    assert bid.state == BidState.withdrawn
    assert services.public_bid_count(challenge) == 0
    # Editing again brings it back as a draft; submitting seals it in again.
    client.post(f"/challenges/{challenge.id}/bid", data=bid_form(submit_bid=None, save_draft="1"))
    assert bid.state == BidState.draft
    client.post(f"/challenges/{challenge.id}/bid", data=bid_form())
    assert bid.state == BidState.submitted and _count(Bid) == 1


def test_withdraw_and_edit_refused_after_deadline(app, setup, time_machine):
    challenge, bidder = setup
    bid = services.save_bid(challenge, bidder, _data(), submit=True)
    time_machine.move_to(AFTER, tick=False)
    with pytest.raises(TransitionRefused):
        services.withdraw_bid(bid, bidder)
    client = client_for(app, bidder)
    response = client.post(f"/bids/{bid.id}/withdraw", follow_redirects=True)
    assert "揭榜已截止，方案不能再撤回" in response.get_data(as_text=True)
    assert bid.state == BidState.submitted
    # The form turns read-only: GET and POST both land on the bid page, nothing changes.
    edit = client.get(f"/challenges/{challenge.id}/bid")
    assert edit.status_code == 302 and edit.location.endswith(f"/bids/{bid.id}")
    client.post(f"/challenges/{challenge.id}/bid", data=bid_form(title="截止后修改"))
    assert bid.title == "方案"
    page = client.get(f"/bids/{bid.id}").get_data(as_text=True)
    assert "方案只读" in page and "撤回方案" not in page and "修改方案" not in page


def test_no_new_bid_after_deadline(app, setup, time_machine):
    challenge, bidder = setup
    time_machine.move_to(AFTER, tick=False)
    response = client_for(app, bidder).post(f"/challenges/{challenge.id}/bid", data=bid_form())
    assert response.status_code in (302, 409)
    assert _count(Bid) == 0


@pytest.mark.parametrize("role", ["enterprise", "reviewer", "admin"])
def test_only_institutes_get_the_bid_form(app, setup, role):
    challenge, _ = setup
    client = client_for(app, create_user(role))
    assert client.get(f"/challenges/{challenge.id}/bid").status_code == 403
    assert client.post(f"/challenges/{challenge.id}/bid", data=bid_form()).status_code == 403
    assert _count(Bid) == 0


def test_unverified_institute_may_draft_but_not_submit(app, setup):
    challenge, _ = setup
    from bounty.accounts.models import OrgKind

    member = create_user("institute", organization=create_org(OrgKind.institute, verified=False))
    client = client_for(app, member)
    response = client.post(f"/challenges/{challenge.id}/bid", data=bid_form())
    assert response.status_code == 422 and "尚未通过平台认证" in response.get_data(as_text=True)
    assert _count(Bid) == 0
    client.post(f"/challenges/{challenge.id}/bid", data=bid_form(submit_bid=None, save_draft="1"))
    assert services.own_bid(challenge, member).state == BidState.draft


def test_bid_form_with_csrf_on(csrf_app, setup):
    challenge, bidder = setup
    client = client_for(csrf_app, bidder)
    url = f"/challenges/{challenge.id}/bid"
    response = client.post(url, data=bid_form())
    assert response.status_code == 400 and _count(Bid) == 0
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    assert client.post(url, data=bid_form(csrf_token=token)).status_code == 302
    assert _count(Bid) == 1
