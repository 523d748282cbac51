"""Two web nodes on one PostgreSQL database, each with its own empty instance folder: what
one does, the other serves. A file uploaded through one downloads byte-identical from the
other; a login on one holds on the other with the same cookie, and a logout on either ends
it on both (nodes keep no state of their own). PostgreSQL only (the ``two_nodes`` fixture)."""

from __future__ import annotations

import os

import sqlalchemy as sa

from bounty.audit import verify_chain
from bounty.challenges.models import Attachment, Challenge
from bounty.extensions import db
from bounty.uploadstore import CHUNK_BYTES, FileChunk, StoredFile

from .challenges.helpers import PDF, form_data
from .factories import DEFAULT_PASSWORD, create_user
from .nodes import Browser

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
    for node in two_nodes:  # nothing of the file, nor a key, in either instance folder
        index = node.instance / "index"  # the node's own search index
        assert [p for p in node.instance_files() if index not in p.parents] == []
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
