"""A failed form keeps the files that were chosen: pending uploads, shown again with a
remove box, redeemable only by their uploader, for a bounded time."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO

import pytest
import sqlalchemy as sa

from bounty.certification import services as cert
from bounty.challenges import attachments
from bounty.challenges.models import Attachment, Challenge, ChallengeState
from bounty.extensions import db
from bounty.market import services as market
from bounty.timeutil import utcnow

from ..factories import create_challenge, create_user
from ..registry.helpers import PDF_BYTES, cert_form, completed_challenge
from ..stores import make_older, put_orphan, stored_bytes, stored_names
from .bids_world import client_for
from .helpers import PDF, PNG, form_data, upload


def _tokens(page: str, field: str) -> list[str]:
    return re.findall(rf'name="{re.escape(field)}-pending" value="([^"]+)"', page)


pytestmark = pytest.mark.usefixtures("each_store")


def _pending_files() -> list[str]:
    return stored_names(attachments.PENDING)


def _post(client, url, data):
    return client.post(url, data=data, content_type="multipart/form-data")


def test_a_failed_challenge_form_keeps_its_files_until_it_is_saved(app):
    owner = create_user("enterprise")
    client = client_for(app, owner)
    failed = _post(client, "/challenges/new", form_data(
        title="", attachments=[upload(PDF, "需求说明.pdf"), upload(PNG, "现场照片.png")]))
    assert failed.status_code == 422
    page = failed.get_data(as_text=True)
    assert "已保留您上次选择的文件，无需重新选择" in page
    assert "需求说明.pdf" in page and "现场照片.png" in page
    tokens = _tokens(page, "attachments")
    assert len(tokens) == 2 and len(_pending_files()) == 2
    assert page.count('name="attachments-pending-remove"') == 2  # a remove box for each
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0

    # Fixed, the photo removed, nothing chosen again: the kept PDF is saved with it.
    saved = _post(client, "/challenges/new", form_data(**{
        "attachments-pending": tokens, "attachments-pending-remove": [tokens[1]]}))
    assert saved.status_code == 302
    challenge = db.session.execute(sa.select(Challenge)).scalar_one()
    assert [a.original_name for a in challenge.attachments] == ["需求说明.pdf"]
    assert stored_bytes(challenge.attachments[0].stored_name) == PDF
    assert _pending_files() == []  # both pending copies are gone


def test_a_row_button_keeps_the_files_too(app):
    client = client_for(app, create_user("enterprise"))
    page = _post(client, "/challenges/new", form_data(
        add_indicator="增加一行", attachments=[upload(PDF, "需求说明.pdf")])).get_data(as_text=True)
    assert len(_tokens(page, "attachments")) == 1
    assert "重新选择" not in page.replace("无需重新选择", "")  # nobody is told to choose again


def test_someone_elses_token_is_worth_nothing(app):
    first, second = create_user("enterprise"), create_user("enterprise")
    page = _post(client_for(app, first), "/challenges/new", form_data(
        title="", attachments=[upload(PDF, "甲的文件.pdf")])).get_data(as_text=True)
    token = _tokens(page, "attachments")[0]
    saved = _post(client_for(app, second), "/challenges/new",
                  form_data(**{"attachments-pending": [token, token + "x"]}))
    assert saved.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_a_kept_file_expires(app, time_machine):
    time_machine.move_to(utcnow(), tick=False)
    client = client_for(app, create_user("enterprise"))
    page = _post(client, "/challenges/new", form_data(
        title="", attachments=[upload(PDF, "需求说明.pdf")])).get_data(as_text=True)
    token = _tokens(page, "attachments")[0]
    time_machine.move_to(utcnow() + timedelta(hours=25), tick=False)
    again = _post(client, "/challenges/new", form_data(
        title="", bid_deadline=None, **{"attachments-pending": [token]}))
    assert "需求说明.pdf" not in again.get_data(as_text=True)


def test_discard_orphans_sweeps_expired_pending_and_spares_young_files(app):
    user = create_user("enterprise")
    old = attachments.stash_pending(attachments.CheckedUpload(PDF, "旧.pdf", "pdf",
                                                              "application/pdf"), user)
    young = attachments.stash_pending(attachments.CheckedUpload(PDF, "新.pdf", "pdf",
                                                                "application/pdf"), user)
    make_older(old.stored_name, 25 * 3600, attachments.PENDING)
    put_orphan("0123.pdf", PDF)
    put_orphan("4567.pdf", PDF)  # its row may be about to commit
    make_older("0123.pdf", 25 * 3600)
    assert attachments.discard_orphans() == 2
    assert _pending_files() == [young.stored_name]
    assert stored_names() == ["4567.pdf"]


def test_the_certification_form_keeps_its_four_documents(app):
    challenge, owner, _winner = completed_challenge()
    client = client_for(app, owner)
    url = f"/challenges/{challenge.id}/certification"
    failed = _post(client, url, cert_form(price="1000"))  # under the floor
    assert failed.status_code == 422
    page = failed.get_data(as_text=True)
    tokens = {kind.value: _tokens(page, kind.value) for kind in cert.EvidenceKind}
    assert all(len(found) == 1 for found in tokens.values()), tokens
    data = cert_form()
    for kind in cert.EvidenceKind:  # nothing chosen again...
        data.pop(kind.value)
        data[f"{kind.value}-pending"] = tokens[kind.value]
    # ...but a new test report replaces the kept one.
    data["test_report"] = (BytesIO(PDF_BYTES), "新检测报告.pdf")
    assert _post(client, url, data).status_code == 302
    application = cert.application_for(challenge)
    names = {kind.value: doc.original_name for kind, doc in application.evidence.items()}
    assert names == {"invention_patent": "invention_patent.pdf",
                     "test_report": "新检测报告.pdf",
                     "novelty_search": "novelty_search.pdf", "user_report": "user_report.pdf"}
    assert _pending_files() == []


def test_the_listing_form_keeps_its_documents(app):
    challenge, owner, _winner = completed_challenge()
    client = client_for(app, owner)
    url = f"/challenges/{challenge.id}/listing"
    form = {"title": "模温控制算法专利许可", "summary": "", "transaction_type": "licence",
            "price_yuan": "300000",
            "documents": [(BytesIO(PDF_BYTES), "专利证书.pdf")]}
    page = _post(client, url, form).get_data(as_text=True)
    tokens = _tokens(page, "documents")
    assert len(tokens) == 1 and "专利证书.pdf" in page
    form.update(summary="基于模型预测控制的注塑模温控制方法。", documents=[],
                **{"documents-pending": tokens})
    assert _post(client, url, form).status_code == 302
    listing = db.session.execute(sa.select(market.MarketListing)).scalar_one()
    assert [d.original_name for d in listing.documents] == ["专利证书.pdf"]


def test_the_bid_form_keeps_its_files(app):
    owner, bidder = create_user("enterprise"), create_user("institute")
    challenge = create_challenge(owner, state=ChallengeState.open)
    client = client_for(app, bidder)
    url = f"/challenges/{challenge.id}/bid"
    page = _post(client, url, {"title": "", "attachments": [upload(PNG, "方案图.png")]}
                 ).get_data(as_text=True)
    assert "方案图.png" in page and len(_tokens(page, "attachments")) == 1
    page = _post(client, url, {"title": "方案", "add_milestone": "1",
                               "attachments": [upload(PNG, "补充图.png")]}).get_data(as_text=True)
    assert "补充图.png" in page and len(_tokens(page, "attachments")) == 1
    assert "里程碑行已更新，尚未保存。" in page
    assert "重新选择" not in page.replace("无需重新选择", "")


def test_the_milestone_report_keeps_its_files(app, time_machine):
    from bounty.challenges import services
    from bounty.review.decisions import decide
    from bounty.review.models import Outcome, StageKey

    from .bids_world import AFTER, NOW, build_world

    time_machine.move_to(NOW, tick=False)
    world = build_world()
    time_machine.move_to(AFTER, tick=False)
    services.close_due_challenges()
    services.select_bid(world.challenge, world.bid, world.owner)
    decide(world.challenge, world.reviewer, Outcome.approve, stage=StageKey.award)
    milestone = world.bid.milestones[0]
    client = client_for(app, world.bidder)
    prefix = f"m{milestone.id}"
    page = _post(client, f"/milestones/{milestone.id}/report", {
        f"{prefix}-report": "", f"{prefix}-attachments": [upload(PDF, "测试报告.pdf")]}
                 ).get_data(as_text=True)
    tokens = _tokens(page, f"{prefix}-attachments")
    assert len(tokens) == 1 and "测试报告.pdf" in page
    assert _post(client, f"/milestones/{milestone.id}/report", {
        f"{prefix}-report": "样机完成。", f"{prefix}-attachments-pending": tokens}
                 ).status_code == 302
    assert [a.original_name for a in milestone.attachments] == ["测试报告.pdf"]


def test_bounty_jobs_run_sweeps_expired_pending_uploads(app, runner):
    kept = attachments.stash_pending(attachments.CheckedUpload(PDF, "旧.pdf", "pdf",
                                                               "application/pdf"),
                                     create_user("enterprise"))
    make_older(kept.stored_name, 25 * 3600, attachments.PENDING)
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0, result.output
    assert "removed 1 orphaned or expired pending uploads" in result.output
    assert _pending_files() == []
