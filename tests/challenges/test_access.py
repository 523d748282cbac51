"""Who may open which challenge page and file, before and after the bid deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bounty.challenges import services
from bounty.challenges.models import ChallengeState

from ..factories import create_bid, create_challenge, create_user
from .helpers import PDF, PNG, attach, client_for

pytestmark = pytest.mark.usefixtures("each_store")  # with each UPLOAD_STORE

ROLES = ["anonymous", "other_enterprise", "owner", "bidder", "other_institute", "reviewer",
         "admin"]
PAGES = ["detail", "edit", "audit", "challenge_file", "bid_file",
         "draft_detail", "draft_edit", "draft_audit", "draft_file"]

# Expected status per role, one column per page above. "302" is the login redirect
# (an anonymous visitor to a login-only page); 404 hides whether the thing exists.
_ = None
TABLE = {
    #                   detail edit audit cfile bfile  ddet dedit daud dfile
    "anonymous":        (200, 302, 404, 200, 404,   404, 302, 404, 404),
    "other_enterprise": (200, 403, 404, 200, 404,   404, 404, 404, 404),
    "owner":            (200, 403, 200, 200, "after", 200, 200, 200, 200),
    "bidder":           (200, 403, 200, 200, 200,   404, 404, 404, 404),
    "other_institute":  (200, 403, 404, 200, 404,   404, 404, 404, 404),
    "reviewer":         (200, 403, 200, 200, "after", 404, 404, 404, 404),
    "admin":            (200, 403, 200, 200, 404,   200, 403, 200, 200),
}


def expected(role: str, moment: str) -> dict[str, int]:
    """"after" in the table: the sealed bid opens to this role only after the deadline."""
    row = TABLE[role]
    return {page: (200 if moment == "after" else 404) if code == "after" else code
            for page, code in zip(PAGES, row, strict=True)}


@pytest.fixture
def world(app):
    owner = create_user("enterprise")
    users = {
        "owner": owner,
        "other_enterprise": create_user("enterprise"),
        "bidder": create_user("institute"),
        "other_institute": create_user("institute"),
        "reviewer": create_user("reviewer"),
        "admin": create_user("admin"),
    }
    challenge = create_challenge(owner, state=ChallengeState.open)
    bid = create_bid(challenge, users["bidder"])
    draft = create_challenge(owner, title="尚未提交的草稿榜单")
    ids = {
        "challenge": challenge.id,
        "draft": draft.id,
        "challenge_file": attach(challenge, owner, PDF, "榜单说明.pdf").id,
        "bid_file": attach(challenge, users["bidder"], PNG, "方案附图.png", bid=bid).id,
        "draft_file": attach(draft, owner, PDF, "草稿说明.pdf").id,
    }
    return users, ids, challenge


def urls(ids) -> dict[str, str]:
    c, d = ids["challenge"], ids["draft"]
    return {
        "detail": f"/challenges/{c}", "edit": f"/challenges/{c}/edit",
        "audit": f"/challenges/{c}/audit",
        "challenge_file": f"/attachments/{ids['challenge_file']}",
        "bid_file": f"/attachments/{ids['bid_file']}",
        "draft_detail": f"/challenges/{d}", "draft_edit": f"/challenges/{d}/edit",
        "draft_audit": f"/challenges/{d}/audit",
        "draft_file": f"/attachments/{ids['draft_file']}",
    }


@pytest.mark.parametrize("moment", ["before", "after"])
@pytest.mark.parametrize("role", ROLES)
def test_access_table(app, world, time_machine, role, moment):
    users, ids, challenge = world
    if moment == "after":
        time_machine.move_to(challenge.bid_deadline + timedelta(minutes=1))
        services.close_due_challenges()
        assert challenge.state == ChallengeState.evaluating
    client = client_for(app, users.get(role))
    got = {}
    for page, url in urls(ids).items():
        with client.get(url) as response:  # closes the file of a download
            got[page] = response.status_code
    assert got == expected(role, moment)


def test_download_is_an_attachment(app, world):
    users, ids, _challenge = world
    with client_for(app, users["bidder"]).get(f"/attachments/{ids['bid_file']}") as response:
        assert response.status_code == 200 and response.data.startswith(b"\x89PNG")
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client_for(app, None).get("/attachments/999999").status_code == 404


def test_detail_never_shows_bids_only_their_count(app, world):
    users, ids, challenge = world
    for role in ("owner", "reviewer", "other_institute"):
        page = client_for(app, users[role]).get(f"/challenges/{ids['challenge']}").get_data(
            as_text=True)
        assert "基于模型预测控制的模温系统方案" not in page and "方案附图.png" not in page
        assert '<dd class="bid-count">1</dd>' in page


def test_winner_named_once_award_confirmed(app, world):
    users, ids, challenge = world
    bid = challenge.bids[0]
    name = users["bidder"].organization.name
    challenge.winning_bid_id = bid.id
    challenge.state = ChallengeState.award_review  # fixture set-up, not the application
    from bounty.extensions import db

    db.session.commit()
    anonymous = client_for(app, None)
    assert name not in anonymous.get(f"/challenges/{challenge.id}").get_data(as_text=True)
    challenge.state = ChallengeState.in_progress
    db.session.commit()
    page = anonymous.get(f"/challenges/{challenge.id}").get_data(as_text=True)
    org_id = users["bidder"].organization_id
    assert f'<dd class="winner"><a href="/orgs/{org_id}">{name}</a></dd>' in page


@pytest.mark.parametrize(("role", "allowed"), [
    ("anonymous", False), ("other_enterprise", False), ("owner", True), ("bidder", True),
    ("other_institute", False), ("reviewer", True), ("admin", False),
])
def test_milestone_files_for_delivery_parties(app, world, role, allowed):
    from bounty.challenges import attachments
    from bounty.extensions import db
    from bounty.transactions import atomic

    users, _ids, challenge = world
    bid = challenge.bids[0]
    challenge.winning_bid_id = bid.id
    challenge.state = ChallengeState.in_progress  # fixture set-up, not the application
    db.session.commit()
    checked = attachments.CheckedUpload(data=PDF, original_name="阶段报告.pdf", extension="pdf",
                                        mime_type="application/pdf")
    with atomic():
        attachment = attachments.add_attachment(checked, user=users["bidder"], challenge=challenge,
                                                bid=bid, milestone=bid.milestones[0])
    assert attachment not in challenge.attachments
    with client_for(app, users.get(role)).get(f"/attachments/{attachment.id}") as response:
        assert response.status_code == (200 if allowed else 404)
