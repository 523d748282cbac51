"""One 首台(套) challenge walked from posting to a recorded market deal, through the web,
with the demo's users only: every stage finds a demo reviewer who may decide it."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO

import pytest
import sqlalchemy as sa

from bounty.audit import verify_chain
from bounty.certification import services as cert
from bounty.challenges.models import Challenge, ChallengeState
from bounty.demo import DEMO_PASSWORD, USERS
from bounty.extensions import db
from bounty.market import services as market
from bounty.timeutil import utcnow

from .challenges.helpers import form_data, local_input
from .registry.helpers import PDF_BYTES, cert_form

TITLE = "智能门锁锁体自动装配与检测成套装备"
REVIEWERS = [spec.email for spec in USERS if spec.role.value == "reviewer"]


def _client(app, email: str):
    client = app.test_client()
    response = client.post("/accounts/login", data={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302, email
    return client


def _decide_as_whoever_may(app, page_url: str, post_url: str, data: dict) -> tuple[str, list]:
    """Open the decision page as each demo reviewer in turn; the first who is shown the
    form (not told to leave it to others) decides. Returns who decided and the notes the
    barred ones read."""
    notes = []
    for email in REVIEWERS:
        client = _client(app, email)
        page = client.get(page_url).get_data(as_text=True)
        if 'id="decision-bar"' in page:
            assert "可以作出结论的审核人员：" in page
            notes.append((email, page))
            continue
        version = re.search(r'name="version"[^>]*value="(\d+)"', page)
        payload = dict(data, **({"version": version.group(1)} if version else {}))
        response = client.post(post_url, data=payload)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return email, notes
    raise AssertionError(f"no demo reviewer may decide at {page_url}: {notes}")


@pytest.mark.parametrize("separation", [None, "vetting+award+acceptance+certification+listing"],
                         ids=["default-separation", "every-stage-separated"])
def test_a_first_set_challenge_from_posting_to_a_market_deal(app, runner, time_machine,
                                                             separation):
    if separation:
        app.config["REVIEW_SEPARATED_STAGES"] = separation
    time_machine.move_to(utcnow(), tick=False)
    assert runner.invoke(args=["demo"]).exit_code == 0

    # The enterprise posts a first-set challenge and submits it for 审题.
    enterprise = _client(app, "ansuo@example.com")
    deadline = utcnow() + timedelta(days=20)
    posted = enterprise.post("/challenges/new", data=form_data(
        title=TITLE, industry="smart_lock", category="first_set", save_draft=None,
        submit_for_vetting="提交审题", bid_deadline=local_input(deadline)))
    assert posted.status_code == 302, posted.get_data(as_text=True)[:2000]
    challenge = db.session.execute(
        sa.select(Challenge).where(Challenge.title == TITLE)).scalar_one()
    assert challenge.state == ChallengeState.vetting
    url = f"/review/challenges/{challenge.id}"

    deciders = {}
    deciders["vetting"], _ = _decide_as_whoever_may(
        app, url, url, {"stage": "vetting", "outcome": "approve"})
    assert challenge.state == ChallengeState.open

    # An institute bids; bidding closes at the deadline.
    institute = _client(app, "zjut@example.com")
    bid = institute.post(f"/challenges/{challenge.id}/bid", data={
        "title": "锁体装配视觉引导与在线检测成套方案",
        "approach": "六轴机器人视觉引导装配，在线扭矩与气密检测。",
        "team_lead": "赵强", "quote_yuan": "2800000", "duration_months": "12",
        "milestones-0-name": "样机研制", "milestones-0-month": "6",
        "milestones-0-deliverable": "样机及测试报告",
        "milestones-1-name": "产线验证", "milestones-1-month": "12",
        "milestones-1-deliverable": "产线运行报告", "submit_bid": "提交方案"})
    assert bid.status_code == 302, bid.get_data(as_text=True)[:2000]
    time_machine.move_to(deadline + timedelta(minutes=1), tick=False)
    assert runner.invoke(args=["jobs", "run"]).exit_code == 0
    # 20 days later their sessions have long been idle: both log in again
    enterprise = _client(app, "ansuo@example.com")
    institute = _client(app, "zjut@example.com")
    db.session.expire_all()
    assert challenge.state == ChallengeState.evaluating

    winner = challenge.bids[0]
    assert enterprise.post(f"/challenges/{challenge.id}/bids/select",
                           data={"bid_id": str(winner.id)}).status_code == 302
    deciders["award"], _ = _decide_as_whoever_may(
        app, url, url, {"stage": "award", "outcome": "approve"})
    db.session.expire_all()
    assert challenge.state == ChallengeState.in_progress

    for milestone in winner.milestones:
        assert institute.post(f"/milestones/{milestone.id}/report", data={
            f"m{milestone.id}-report": f"{milestone.name}已完成。"}).status_code == 302
        assert enterprise.post(f"/milestones/{milestone.id}/confirm").status_code == 302
    db.session.expire_all()
    assert challenge.state == ChallengeState.acceptance_review
    deciders["acceptance"], barred = _decide_as_whoever_may(
        app, url, url, {"stage": "acceptance", "outcome": "approve"})
    # Whoever confirmed the award reads, before typing anything, why not and who can.
    notes = dict(barred)
    assert "按审核分离规则" in notes[deciders["award"]]
    db.session.expire_all()
    assert challenge.state == ChallengeState.completed

    # 首台(套) certification: the application with its four documents, then a reviewer.
    applied = enterprise.post(f"/challenges/{challenge.id}/certification",
                              data=cert_form(), content_type="multipart/form-data")
    assert applied.status_code == 302, applied.get_data(as_text=True)[:2000]
    application = cert.application_for(challenge)
    page = f"/certifications/{application.id}"
    # The acceptor may not certify; the registry queue says so too, before anyone types.
    acceptor = _client(app, deciders["acceptance"])
    assert "按审核分离规则" in acceptor.get(page).get_data(as_text=True)
    assert "按审核分离规则" in acceptor.get("/registry/review",
                                            follow_redirects=True).get_data(as_text=True)
    deciders["certification"], _ = _decide_as_whoever_may(
        app, page, f"{page}/decide", {"outcome": "approve"})
    assert deciders["certification"] != deciders["acceptance"]
    db.session.expire_all()
    assert application.certificate_number

    # 科技大市场: the listing, its approval and the recorded deal.
    listed = enterprise.post(f"/challenges/{challenge.id}/listing", data={
        "title": "锁体自动装配成套装备技术许可", "summary": "首台（套）认定装备的制造技术许可。",
        "transaction_type": "licence", "price_yuan": "500000",
        "documents": [(BytesIO(PDF_BYTES), "patent.pdf")]}, content_type="multipart/form-data")
    assert listed.status_code == 302, listed.get_data(as_text=True)[:2000]
    listing = db.session.execute(sa.select(market.MarketListing).where(
        market.MarketListing.challenge_id == challenge.id)).scalar_one()
    page = f"/market/{listing.id}"
    deciders["listing"], _ = _decide_as_whoever_may(
        app, page, f"{page}/decide", {"outcome": "approve"})
    deal = enterprise.post(f"{page}/deal", data={
        "counterparty": "温州某智能锁有限公司", "price_yuan": "480000",
        "contract_date": local_input(utcnow())[:10], "registration_number": "2026330301000777"})
    assert deal.status_code == 302, deal.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert listing.state == market.ListingState.traded
    assert "2026330301000777" in app.test_client().get(page).get_data(as_text=True)

    assert set(deciders.values()) <= set(REVIEWERS)
    if separation:  # every stage by someone else: five demo reviewers suffice
        assert len(set(deciders.values())) == 5
    assert verify_chain().ok
