"""Two web nodes on one PostgreSQL database, each with its own empty instance folder: what
one does, the other serves. A file uploaded through one downloads byte-identical from the
other; a login on one holds on the other with the same cookie, and a logout on either ends
it on both; a challenge published through one is found by search on the other within a
second, and a bid saved on one ranks on the other (the search index lives in the database:
nodes keep no state of their own). PostgreSQL only (the ``two_nodes`` fixture)."""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from datetime import timedelta

import sqlalchemy as sa

from bounty.audit import verify_chain
from bounty.challenges.models import Attachment, Bid, Challenge, ChallengeState
from bounty.extensions import db
from bounty.review.assignment import sync_tasks
from bounty.timeutil import utcnow
from bounty.uploadstore import CHUNK_BYTES, FileChunk, StoredFile

from .challenges.helpers import PDF, form_data
from .challenges.test_bids_form import bid_form
from .factories import DEFAULT_PASSWORD, create_challenge, create_user
from .nodes import Browser
from .processes import wait_until

BID_WINDOW_S = 6  # a challenge open this long: a bid is saved, then its ranking is read

# Two chunks of the database store, random bytes past a PDF's start (what sniffing reads).
UPLOAD = PDF + os.urandom(CHUNK_BYTES + 12_345) + b"%%EOF\n"


def _logged_in(response) -> bool:  # noqa: ANN001
    return response.status == 200 and "/accounts/logout" in response.text


def test_a_file_uploaded_through_one_node_downloads_byte_identical_from_the_other(two_nodes):
    first, second = two_nodes
    user = create_user("enterprise")
    browser = Browser()
    assert browser.log_in(first, user.email, DEFAULT_PASSWORD).status == 302

    token = browser.csrf_token(first.url("/challenges/new"))
    saved = browser.post(first.url("/challenges/new"), {**form_data(), "csrf_token": token},
                         files={"attachments": ("spec.pdf", UPLOAD)})
    assert saved.status == 302, saved.text[:2000]
    db.session.expire_all()
    challenge = db.session.execute(sa.select(Challenge)).scalar_one()
    attachment = db.session.execute(sa.select(Attachment)).scalar_one()
    assert attachment.challenge_id == challenge.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FileChunk)) == 2

    downloaded = browser.get(second.url(f"/attachments/{attachment.id}"))
    assert downloaded.status == 200, downloaded.text[:500]
    assert downloaded.body == UPLOAD
    assert downloaded.headers["Content-Length"] == str(len(UPLOAD))
    # the challenge page of the other node lists it too, and nobody else gets the file
    assert f"/attachments/{attachment.id}" in browser.get(
        second.url(f"/challenges/{challenge.id}")).text
    assert Browser().get(second.url(f"/attachments/{attachment.id}")).status != 200
    for node in two_nodes:  # nothing of the file, a key or an index in either instance folder
        assert node.instance_files() == [], node.name
    db.session.commit()
    assert verify_chain().ok  # both nodes appended to one chain with the one audit key


def test_a_login_on_one_node_holds_on_the_other_until_a_logout_on_either(two_nodes):
    first, second = two_nodes
    user = create_user("institute")
    browser = Browser()
    assert not _logged_in(browser.get(second.url("/accounts/profile")))
    assert browser.log_in(first, user.email, DEFAULT_PASSWORD).status == 302
    cookie = browser.cookie("session")
    assert cookie

    # the same cookie, sent to the other node by a client that never spoke to the first
    other = Browser()
    profile = other.open(second.url("/accounts/profile"), headers={"Cookie": f"session={cookie}"})
    assert _logged_in(profile) and user.email in profile.text
    assert _logged_in(browser.get(first.url("/accounts/profile")))

    # a form fetched from one node posts to the other: one key signs every CSRF token
    token = browser.csrf_token(first.url("/accounts/profile"))
    assert browser.post(second.url("/accounts/logout"), {"csrf_token": token}).status == 302
    # the old cookie no longer logs in anywhere: the session token rotated in the database
    for node in two_nodes:
        again = Browser().open(node.url("/accounts/profile"),
                               headers={"Cookie": f"session={cookie}"})
        assert not _logged_in(again), node.name


def _found_within(browser: Browser, url: str, needle: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if needle in browser.get(url).text:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_a_challenge_published_through_one_node_is_found_by_search_on_the_other(two_nodes):
    first, second = two_nodes
    challenge = create_challenge(state=ChallengeState.vetting, title="钛合金镜架微束等离子焊接攻关",
                                 keywords="微束等离子 钛合金 镜架")
    sync_tasks()  # the worker opens the review round of an item set up directly
    search = second.url("/challenges/?q=" + urllib.parse.quote("微束等离子焊接"))
    visitor = Browser()
    link = f'href="/challenges/{challenge.id}"'  # the title itself comes back marked up
    assert link not in visitor.get(search).text  # under review: not public yet

    reviewer = Browser()
    assert reviewer.log_in(first, create_user("reviewer").email, DEFAULT_PASSWORD).status == 302
    url = first.url(f"/review/challenges/{challenge.id}")
    decided = reviewer.post(url, {"stage": "vetting", "outcome": "approve", "comment": "",
                                  "csrf_token": reviewer.csrf_token(url)})
    assert decided.status == 302, decided.text[:2000]
    # the index rows were committed with the decision: the other node finds it at once
    assert _found_within(visitor, search, link, 1.0)
    for node in two_nodes:  # and neither node keeps an index of its own
        assert node.instance_files() == [], node.name


def test_a_bid_saved_on_one_node_ranks_on_the_other(two_nodes):
    first, second = two_nodes
    owner = create_user("enterprise")
    challenge = create_challenge(owner, state=ChallengeState.open,
                                 deadline_in=timedelta(seconds=BID_WINDOW_S),
                                 title="智能门锁低功耗蓝牙模组待机电流优化",
                                 keywords="低功耗 蓝牙 智能锁")
    bidder = Browser()
    assert bidder.log_in(first, create_user("institute").email, DEFAULT_PASSWORD).status == 302
    url = first.url(f"/challenges/{challenge.id}/bid")
    saved = bidder.post(url, {**bid_form(), "csrf_token": bidder.csrf_token(url)})
    assert saved.status == 302, saved.text[:2000]
    bid = db.session.execute(sa.select(Bid).where(Bid.challenge_id == challenge.id)).scalar_one()

    wait_until(lambda: challenge.bidding_closed(utcnow()), BID_WINDOW_S + 5)
    enterprise = Browser()
    assert enterprise.log_in(second, owner.email, DEFAULT_PASSWORD).status == 302
    page = enterprise.get(second.url(f"/challenges/{challenge.id}/bids"))
    assert page.status == 200, page.text[:2000]
    assert bid.title in page.text
    # ranked by the index the other node wrote: its matched terms are marked
    matched = re.search(r'class="matched">(.*?)</p>', page.text, re.S)
    assert matched and re.search("低功耗|蓝牙", matched.group(1)), page.text[:3000]
