"""Sealed bids: who sees what, before and after the bid deadline.

404 wherever something is hidden, never 403: an id reveals nothing.
"""

from __future__ import annotations

import pytest

from bounty.challenges import services
from bounty.challenges.models import Bid, ChallengeState

from .bids_world import AFTER, NOW, build_world, client_for

ROLES = ("anonymous", "owner", "other_enterprise", "bidder", "bidder_colleague", "other_bidder",
         "non_bidder", "reviewer", "admin")

# role -> (bid page, evaluation page, 我的揭榜 shows the bid) ; "login" = redirected to log in.
BEFORE = {
    "anonymous": (404, 404, "login"),
    "owner": (404, 404, 404),
    "other_enterprise": (404, 404, 404),
    "bidder": (200, 404, True),
    "bidder_colleague": (200, 404, True),
    "other_bidder": (404, 404, False),
    "non_bidder": (404, 404, False),
    "reviewer": (404, 404, 404),
    "admin": (404, 404, 404),
}
AFTER_DEADLINE = {
    "anonymous": (404, 404, "login"),
    "owner": (200, 200, 404),
    "other_enterprise": (404, 404, 404),
    "bidder": (200, 404, True),
    "bidder_colleague": (200, 404, True),
    "other_bidder": (404, 404, False),
    "non_bidder": (404, 404, False),
    "reviewer": (200, 200, 404),
    "admin": (404, 404, 404),
}


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("role", ROLES)
def test_sealed_bid_access(app, db, time_machine, role, phase):
    time_machine.move_to(NOW, tick=False)
    world = build_world()
    expected = BEFORE if phase == "before" else AFTER_DEADLINE
    bid_status, evaluation_status, mine = expected[role]
    if phase == "after":
        time_machine.move_to(AFTER, tick=False)
        services.close_due_challenges()
        assert world.challenge.state == ChallengeState.evaluating
    client = client_for(app, world.user(role))
    user = world.user(role)

    # The bid page, through a direct URL.
    response = client.get(f"/bids/{world.bid.id}")
    assert response.status_code == bid_status
    if bid_status == 200:
        assert world.bid.title in response.get_data(as_text=True)

    # The bid's attachment, through the predicate every download route must use.
    attached_to = db.session.get(Bid, world.attachment.bid_id)
    visible = services.can_view_bid(attached_to, user)
    assert visible is (bid_status == 200)
    download = client.get(_attachment_url(app, world.attachment.id))
    download.close()
    assert download.status_code == (200 if visible else 404)

    # The enterprise's evaluation page.
    response = client.get(f"/challenges/{world.challenge.id}/bids")
    assert response.status_code == evaluation_status
    if evaluation_status == 200:
        page = response.get_data(as_text=True)
        assert world.bid.title in page and world.other_bid.title in page

    # 我的揭榜.
    response = client.get("/bids/mine")
    if mine == "login":
        assert response.status_code == 302 and "/accounts/login" in response.location
    elif mine == 404:
        assert response.status_code == 404
    else:
        assert response.status_code == 200
        assert (world.bid.title in response.get_data(as_text=True)) is mine


def _attachment_url(app, attachment_id):
    from flask import url_for

    with app.test_request_context():
        return url_for("challenges.attachment", attachment_id=attachment_id)


@pytest.mark.parametrize("phase", ["before", "after"])
def test_other_bidders_never_see_each_other(app, db, time_machine, phase):
    time_machine.move_to(NOW, tick=False)
    world = build_world()
    if phase == "after":
        time_machine.move_to(AFTER, tick=False)
        services.close_due_challenges()
    client = client_for(app, world.other_bidder)
    assert client.get(f"/bids/{world.other_bid.id}").status_code == 200
    assert client.get(f"/bids/{world.bid.id}").status_code == 404
    mine = client.get("/bids/mine").get_data(as_text=True)
    assert world.other_bid.title in mine and world.bid.title not in mine


@pytest.mark.parametrize("role", ["owner", "reviewer"])
def test_drafts_and_withdrawn_bids_stay_sealed_after_deadline(app, db, time_machine,
                                                              role):
    time_machine.move_to(NOW, tick=False)
    world = build_world()
    time_machine.move_to(AFTER, tick=False)
    services.close_due_challenges()
    user = world.user(role)
    client = client_for(app, user)
    for hidden in (world.draft_bid, world.withdrawn_bid):
        assert not services.can_view_bid(hidden, user)
        assert client.get(f"/bids/{hidden.id}").status_code == 404
    listed = {b.id for b in services.visible_bids(world.challenge, user)}
    assert listed == {world.bid.id, world.other_bid.id}
    page = client.get(f"/challenges/{world.challenge.id}/bids").get_data(as_text=True)
    assert world.draft_bid.title not in page and world.withdrawn_bid.title not in page
    # Their own organisations still see them.
    assert services.can_view_bid(world.draft_bid, world.draft_bid.created_by)


def test_unknown_ids_are_404_like_hidden_ones(app, db, time_machine):
    time_machine.move_to(NOW, tick=False)
    world = build_world()
    client = client_for(app, world.owner)
    assert client.get("/bids/999999").status_code == 404
    assert client.get(f"/bids/{world.bid.id}").status_code == 404
    assert client.get("/challenges/999999/bids").status_code == 404


def test_evaluation_page_after_deadline_before_the_job_runs(app, db, time_machine):
    """The deadline itself unseals the bids, even before the closing job has run."""
    time_machine.move_to(NOW, tick=False)
    world = build_world()
    time_machine.move_to(AFTER, tick=False)
    assert world.challenge.state == ChallengeState.open
    page = client_for(app, world.owner).get(f"/challenges/{world.challenge.id}/bids")
    assert page.status_code == 200
    assert "选定该方案" not in page.get_data(as_text=True)  # selection waits for 评选中
