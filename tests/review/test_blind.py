"""Blind review: at a blind stage reviewers see 方案A/B/C — no bidder names, organisations,
team members or contacts on any page, in attachment names or in exports."""

from __future__ import annotations

import io
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook

from bounty.challenges.attachments import CheckedUpload, add_attachment
from bounty.extensions import db
from bounty.review.assignment import sync_tasks
from bounty.review.decisions import decide
from bounty.review.models import Outcome
from bounty.review.stages import StageKey

from ..factories import create_user
from .conftest import award_challenge
from .test_stages import set_stage

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def blind_award(app):
    """揭榜结果审核 set blind; two bids with identifying details and a named file each."""
    set_stage(StageKey.award, is_blind=True)
    challenge, owner, bids = award_challenge()
    for bid, lead in zip(bids, ("李教授", "王研究员"), strict=True):
        bid.team_lead, bid.team_members, bid.lab = lead, f"{lead}团队成员", f"{lead}实验室"
        add_attachment(CheckedUpload(PDF, f"{bid.organization.name}-技术方案.pdf", "pdf",
                                     "application/pdf"), user=bid.created_by,
                       challenge=challenge, bid=bid)
    db.session.commit()
    sync_tasks()
    return challenge, owner, bids


def _secrets(bids) -> list[str]:
    found = []
    for bid in bids:
        found += [bid.organization.name, bid.team_lead, bid.team_members, bid.lab,
                  bid.organization.contact_phone, bid.created_by.name,
                  bid.attachments[0].original_name]
    return found


def _leaks(text: str, bids) -> list[str]:
    return [secret for secret in _secrets(bids) if secret and secret in text]


def test_pages_show_aliases_to_reviewers(blind_award, sign_in):
    challenge, owner, bids = blind_award
    reviewer = sign_in(create_user("reviewer"))
    pages = {
        "decision": reviewer.get(f"/review/challenges/{challenge.id}"),
        "bid": reviewer.get(f"/bids/{bids[1].id}"),
        "evaluate": reviewer.get(f"/challenges/{challenge.id}/bids"),
        "audit": reviewer.get(f"/challenges/{challenge.id}/audit"),
        "conflicts": reviewer.get(f"/review/items/challenge/{challenge.id}/conflicts"),
        "queue": reviewer.get("/review/tasks"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = response.get_data(as_text=True)
        assert _leaks(text, bids) == [], name
    decision = pages["decision"].get_data(as_text=True)
    assert "方案A" in decision and "方案B" in decision and "匿名评审" in decision
    assert "方案A-附件1.pdf" in decision
    assert "方案B" in pages["bid"].get_data(as_text=True)
    # The enterprise is not blinded, and neither are the bidders themselves.
    owner_view = sign_in(owner).get(f"/challenges/{challenge.id}/bids").get_data(as_text=True)
    assert bids[0].organization.name in owner_view and "李教授" in owner_view
    own = sign_in(bids[1].created_by).get(f"/bids/{bids[1].id}").get_data(as_text=True)
    assert bids[1].organization.name in own


def test_attachment_download_name_is_anonymised(blind_award, sign_in):
    challenge, owner, bids = blind_award
    attachment = bids[1].attachments[0]
    response = sign_in(create_user("reviewer")).get(f"/attachments/{attachment.id}")
    assert response.status_code == 200 and response.data == PDF
    response.close()
    disposition = unquote(response.headers["Content-Disposition"])
    assert "方案B-附件1.pdf" in disposition
    assert bids[1].organization.name not in disposition
    owners = sign_in(owner).get(f"/attachments/{attachment.id}")
    owners.close()
    assert bids[1].organization.name in unquote(owners.headers["Content-Disposition"])


def test_conflict_messages_do_not_name_a_bidder(blind_award, sign_in):
    from bounty.review.conflicts import declare_conflict

    challenge, _owner, bids = blind_award
    reviewer = create_user("reviewer")
    declare_conflict(reviewer, bids[1].organization, "合作研究")
    page = sign_in(reviewer).get(f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "某揭榜单位" in page and _leaks(page, bids) == []


def test_exports_of_a_blind_stage_carry_no_identity(blind_award, sign_in):
    challenge, _owner, bids = blind_award
    reviewer = create_user("reviewer")
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.award)
    client = sign_in(reviewer)
    xlsx = client.get("/review/export?stage=award&format=xlsx")
    csv = client.get("/review/export?stage=award&format=csv")
    assert xlsx.status_code == 200 and csv.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    cells = " ".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value)
    assert _leaks(cells, bids) == [] and "方案A" in cells
    text = csv.data.decode("utf-8-sig")
    assert _leaks(text, bids) == [] and "方案A" in text


def test_after_the_blind_stage_reviewers_see_names_again(blind_award, sign_in):
    challenge, _owner, bids = blind_award
    decide(challenge, create_user("reviewer"), Outcome.approve, stage=StageKey.award)
    page = sign_in(create_user("reviewer")).get(f"/bids/{bids[0].id}").get_data(as_text=True)
    assert bids[0].organization.name in page
