"""Posting and editing a challenge through the web form."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.challenges.models import Attachment, Challenge, ChallengeState
from bounty.timeutil import utcnow

from ..factories import DEFAULT_PASSWORD, create_challenge, create_org, create_user
from ..stores import stored_names
from .helpers import (
    EXE,
    HTML,
    PDF,
    PNG,
    TYPED_TITLE,
    attach,
    client_for,
    docx_bytes,
    field_block,
    form_data,
    local_input,
    snapshot,
    upload,
)


@pytest.fixture
def owner(app):
    return create_user("enterprise")


def post(client, url, data):
    return client.post(url, data=data, content_type="multipart/form-data")


def test_new_challenge_page_for_enterprises_only(app, owner, client):
    assert client_for(app, owner).get("/challenges/new").status_code == 200
    assert client_for(app, create_user("institute")).get("/challenges/new").status_code == 403
    assert client.get("/challenges/new").status_code == 302  # to the login page


@pytest.mark.usefixtures("each_store")  # with each UPLOAD_STORE
def test_save_draft_with_indicators_and_attachments(app, db, owner):
    client = client_for(app, owner)
    deadline = (utcnow() + timedelta(days=20)).replace(second=0, microsecond=0)
    data = form_data(**{
        "bid_deadline": local_input(deadline),
        "indicators-1-name": "体积", "indicators-1-target": "≤2", "indicators-1-unit": "L",
        "attachments": [upload(PDF, "需求说明.pdf"), upload(PNG, "结构图.png"),
                        upload(docx_bytes(), "技术要求.docx")],
    })
    response = post(client, "/challenges/new", data)
    assert response.status_code == 302
    challenge = db.session.execute(sa.select(Challenge)).scalar_one()
    assert response.headers["Location"].endswith(f"/challenges/{challenge.id}")
    assert challenge.state == ChallengeState.draft and challenge.title == TYPED_TITLE
    # Entered in Shanghai, stored in UTC.
    assert challenge.bid_deadline == deadline
    assert [(i.name, i.target, i.unit) for i in challenge.indicators] == [
        ("最高结温", "≤125", "℃"), ("体积", "≤2", "L")]
    names = sorted(a.original_name for a in challenge.attachments)
    assert names == ["技术要求.docx", "结构图.png", "需求说明.pdf"]
    assert stored_names() == sorted(a.stored_name for a in challenge.attachments)

    page = client.get(f"/challenges/{challenge.id}").get_data(as_text=True)
    assert "最高结温" in page and "需求说明.pdf" in page and "共有" in page and "10 个月" in page
    assert local_input(deadline).replace("T", " ") in page


BAD_INPUTS = [
    ("past deadline", {"bid_deadline": local_input(utcnow() - timedelta(hours=1))},
     "bid_deadline", "揭榜期不得少于 7 天"),
    ("deadline within the minimum bidding window",
     {"bid_deadline": local_input(utcnow() + timedelta(days=6))}, "bid_deadline",
     "揭榜期不得少于 7 天：截止时间须不早于"),
    ("zero bounty", {"bounty_yuan": "0"}, "bounty_yuan", "悬赏金额须为正数"),
    ("negative bounty", {"bounty_yuan": "-5000"}, "bounty_yuan", "悬赏金额须为正数"),
    ("too large bounty", {"bounty_yuan": str(10**10 + 1)}, "bounty_yuan", "不超过 100 亿元"),
    ("no bounty", {"bounty_yuan": ""}, "bounty_yuan", "请填写悬赏金额"),
    ("bad delivery", {"delivery_months": "0"}, "delivery_months", "交付周期须在"),
    ("missing deadline", {"bid_deadline": ""}, "bid_deadline", "请填写揭榜截止时间"),
    ("indicator without target", {"indicators-0-target": ""}, "indicators-0-target",
     "请填写该指标的目标值"),
    ("exe renamed pdf", {"attachments": [upload(EXE, "方案.pdf")]}, "attachments",
     "内容与扩展名不符"),
    ("html renamed pdf", {"attachments": [upload(HTML, "方案.pdf")]}, "attachments",
     "内容与扩展名不符"),
    ("png renamed docx", {"attachments": [upload(PNG, "方案.docx")]}, "attachments",
     "内容与扩展名不符"),
    ("exe", {"attachments": [upload(EXE, "setup.exe")]}, "attachments", "只接受"),
    ("one good one bad file", {"attachments": [upload(PDF, "好.pdf"), upload(HTML, "坏.png")]},
     "attachments", "坏.png"),
]


@pytest.mark.parametrize(("overrides", "field", "message"),
                         [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_invalid_input_rerenders_and_writes_nothing(app, owner, overrides, field,
                                                    message):
    client = client_for(app, owner)
    before = snapshot()
    response = post(client, "/challenges/new", form_data(**overrides))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in field_block(page, field)
    assert TYPED_TITLE in page and "功率模块结温需控制在 125℃ 以下" in page
    assert snapshot() == before


def test_missing_title(app, owner):
    client = client_for(app, owner)
    before = snapshot()
    response = post(client, "/challenges/new", form_data(title=""))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "请填写榜单名称" in field_block(page, "title")
    assert "现有控制器在高负载下温升过高" in page
    assert snapshot() == before


def test_oversize_attachment(app, owner):
    app.config["MAX_ATTACHMENT_BYTES"] = 1024
    client = client_for(app, owner)
    before = snapshot()
    big = PDF + b"%" + b"x" * 2048 + b"\n"
    response = post(client, "/challenges/new",
                    form_data(attachments=[upload(PDF, "小.pdf"), upload(big, "大.pdf")]))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "文件「大.pdf」超过" in field_block(page, "attachments")
    assert TYPED_TITLE in page
    assert snapshot() == before


def test_missing_csrf_token(csrf_app, db, owner):
    client = csrf_app.test_client()
    login = client.get("/accounts/login").get_data(as_text=True)
    token = login.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/accounts/login", data={"email": owner.email, "password": DEFAULT_PASSWORD,
                                         "csrf_token": token})
    assert client.get("/challenges/new").status_code == 200
    before = snapshot()
    response = post(client, "/challenges/new", form_data(attachments=[upload(PDF, "a.pdf")]))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "缺少安全令牌" in page and TYPED_TITLE in page
    assert snapshot() == before


def test_add_and_remove_indicator_rows_without_javascript(app, owner):
    client = client_for(app, owner)
    before = snapshot()
    data = form_data(add_indicator="增加一行", save_draft=None)
    page = post(client, "/challenges/new", data).get_data(as_text=True)
    assert 'name="indicators-1-name"' in page and 'name="indicators-2-name"' not in page
    assert TYPED_TITLE in page and 'value="最高结温"' in page

    data = form_data(**{"indicators-1-name": "体积", "indicators-1-target": "≤2",
                        "indicators-1-unit": "L", "indicators-0-remove": "删除",
                        "save_draft": None})
    response = post(client, "/challenges/new", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="indicators-1-name"' not in page
    assert 'value="体积"' in field_block(page, "indicators-0-name") or 'value="体积"' in page
    assert 'value="最高结温"' not in page
    assert snapshot() == before

    # Removing the last row leaves one empty row to type into.
    data = form_data(**{"indicators-0-remove": "删除", "save_draft": None})
    page = post(client, "/challenges/new", data).get_data(as_text=True)
    assert 'name="indicators-0-name"' in page and 'value="最高结温"' not in page


def test_save_and_submit_with_verified_org(app, db, owner):
    client = client_for(app, owner)
    response = post(client, "/challenges/new",
                    form_data(save_draft=None, submit_for_vetting="提交审题"))
    assert response.status_code == 302
    challenge = db.session.execute(sa.select(Challenge)).scalar_one()
    assert challenge.state == ChallengeState.vetting
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "榜单已提交审题" in page


def test_unverified_org_keeps_its_draft(app, db):
    user = create_user("enterprise", organization=create_org(verified=False))
    client = client_for(app, user)
    response = post(client, "/challenges/new",
                    form_data(save_draft=None, submit_for_vetting="提交审题"))
    challenge = db.session.execute(sa.select(Challenge)).scalar_one()
    assert challenge.state == ChallengeState.draft
    assert response.headers["Location"].endswith(f"/challenges/{challenge.id}/edit")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "尚未通过平台认证" in page and TYPED_TITLE in page

    # The submit button on the detail page says the same and changes nothing.
    response = client.post(f"/challenges/{challenge.id}/submit", follow_redirects=True)
    assert "尚未通过平台认证" in response.get_data(as_text=True)
    db.session.refresh(challenge)
    assert challenge.state == ChallengeState.draft


def test_submit_from_detail_page(app, db, owner):
    challenge = create_challenge(owner)
    client = client_for(app, owner)
    assert "提交审题" in client.get(f"/challenges/{challenge.id}").get_data(as_text=True)
    client.post(f"/challenges/{challenge.id}/submit")
    db.session.refresh(challenge)
    assert challenge.state == ChallengeState.vetting
    # Someone else's draft: not even there.
    other = client_for(app, create_user("enterprise"))
    assert other.post(f"/challenges/{challenge.id}/submit").status_code == 404


@pytest.mark.usefixtures("each_store")  # with each UPLOAD_STORE
def test_edit_draft_adds_and_removes_attachments(app, db, owner):
    challenge = create_challenge(owner, state=ChallengeState.returned)
    old = attach(challenge, owner, name="旧版.pdf")
    old_id, old_name = old.id, old.stored_name
    client = client_for(app, owner)
    page = client.get(f"/challenges/{challenge.id}/edit").get_data(as_text=True)
    assert challenge.title in page and "旧版.pdf" in page and 'value="控温精度"' in page

    response = post(client, f"/challenges/{challenge.id}/edit", form_data(
        title="修改后的榜单", remove_attachments=[str(old_id)],
        attachments=[upload(PDF, "新版.pdf")]))
    assert response.status_code == 302
    db.session.expire_all()
    assert challenge.title == "修改后的榜单" and challenge.state == ChallengeState.returned
    assert [a.original_name for a in challenge.attachments] == ["新版.pdf"]
    assert db.session.get(Attachment, old_id) is None and old_name not in stored_names()


def test_edit_with_bad_file_keeps_everything(app, db, owner):
    challenge = create_challenge(owner)
    kept = attach(challenge, owner, name="保留.pdf")
    client = client_for(app, owner)
    before = snapshot()
    response = post(client, f"/challenges/{challenge.id}/edit", form_data(
        remove_attachments=[str(kept.id)], attachments=[upload(EXE, "x.pdf")]))
    assert response.status_code == 422
    assert snapshot() == before
    db.session.expire_all()
    assert challenge.title != TYPED_TITLE and [a.id for a in challenge.attachments] == [kept.id]


@pytest.mark.parametrize("state", [ChallengeState.vetting, ChallengeState.open])
def test_only_drafts_and_returned_are_editable(app, owner, state):
    challenge = create_challenge(owner, state=state)
    assert client_for(app, owner).get(f"/challenges/{challenge.id}/edit").status_code == 403
