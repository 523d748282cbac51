"""UPLOAD_STORE=database: files in stored_files / file_chunks, the same rules and headers
as the folder store, and any server process serves a file any other one received."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bounty.challenges import attachments
from bounty.challenges.models import Attachment, Challenge
from bounty.extensions import db
from bounty.timeutil import utcnow
from bounty.transactions import atomic
from bounty.uploadstore import CHUNK_BYTES, FileChunk, StoredFile, upload_store

from .challenges.helpers import PDF, client_for, form_data, upload
from .conftest import signed_in
from .factories import create_challenge, create_user

# A PDF of two chunks (content sniffing reads only its start), under the 500 KB past which
# the test client spools a request body into a temporary file it leaves open.
BIG_PDF = PDF + bytes(range(256)) * (CHUNK_BYTES // 256 + 700) + b"tail"
HEADERS = ("Content-Type", "Content-Disposition", "Content-Length", "X-Content-Type-Options",
           "Cache-Control")


def _instance(tmp_path: Path, name: str) -> dict:
    """An instance folder of its own (the search index, not the subject here, is shared)."""
    folder = tmp_path / name
    return {"BOUNTY_INSTANCE": str(folder), "UPLOAD_FOLDER": str(folder / "uploads"),
            "UPLOAD_STORE": "database"}


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_a_file_uploaded_through_one_app_downloads_byte_identical_from_the_other(
        app, make_app, tmp_path):
    first, second = make_app(**_instance(tmp_path, "a")), make_app(**_instance(tmp_path, "b"))
    user = create_user("enterprise")
    db.session.commit()
    response = client_for(first, user).post(
        "/challenges/new", content_type="multipart/form-data",
        data=form_data(attachments=[upload(BIG_PDF, "需求说明.pdf")]))
    assert response.status_code == 302, response.text
    attachment = db.session.execute(sa.select(Attachment)).scalar_one()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FileChunk)) == 2
    downloaded = signed_in(second, user).get(f"/attachments/{attachment.id}")
    assert downloaded.status_code == 200
    assert downloaded.data == BIG_PDF
    assert downloaded.headers["Content-Length"] == str(len(BIG_PDF))
    assert "attachment;" in downloaded.headers["Content-Disposition"]
    for other in (first, second):
        assert _files_under(Path(other.config["UPLOAD_FOLDER"])) == []


def _stored_and_sent(app, store_kind: str):
    app.config["UPLOAD_STORE"] = store_kind
    user = create_user("enterprise")
    challenge = create_challenge(user)
    checked = attachments.CheckedUpload(BIG_PDF, "说明.pdf", "pdf", "application/pdf")
    with atomic():
        attachment = attachments.add_attachment(checked, user=user, challenge=challenge)
    with app.test_request_context():
        response = attachments.send_attachment(attachment)
        response.direct_passthrough = False
        response.get_data()  # read while the request lasts
        response.close()
        return response


def test_both_stores_send_the_same_bytes_and_headers(app):
    by_folder = _stored_and_sent(app, "folder")
    by_database = _stored_and_sent(app, "database")
    assert by_database.get_data() == by_folder.get_data() == BIG_PDF
    for header in HEADERS:
        assert by_database.headers[header] == by_folder.headers[header], header


def test_a_rolled_back_upload_leaves_no_file_in_the_database(app):
    app.config["UPLOAD_STORE"] = "database"
    user = create_user("enterprise")
    challenge = create_challenge(user)
    checked = attachments.CheckedUpload(PDF, "说明.pdf", "pdf", "application/pdf")
    with pytest.raises(RuntimeError), atomic():
        attachments.add_attachment(checked, user=user, challenge=challenge)
        raise RuntimeError("a later rule refused the save")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FileChunk)) == 0
    assert db.session.scalar(sa.select(sa.func.count(Challenge.id))) == 1


def test_pending_uploads_and_the_sweep_in_the_database(app):
    app.config["UPLOAD_STORE"] = "database"
    user = create_user("enterprise")
    db.session.commit()
    checked = attachments.CheckedUpload(BIG_PDF, "旧.pdf", "pdf", "application/pdf")
    kept = attachments.stash_pending(checked, user)
    db.session.rollback()  # the failed form's request ends: the pending file stays
    again = attachments.load_pending(kept.token, user)
    assert again is not None and again.read().data == BIG_PDF
    store = upload_store()
    store.write("", "0123.pdf", PDF, commit=True)  # an orphan, as a crash would leave
    assert attachments.discard_orphans() == 0  # too young, both
    db.session.execute(sa.update(StoredFile).values(created_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    assert attachments.discard_orphans() == 2
    assert attachments.load_pending(kept.token, user) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FileChunk)) == 0


def test_dropped_pending_uploads_leave_the_database(app):
    app.config["UPLOAD_STORE"] = "database"
    user = create_user("enterprise")
    db.session.commit()
    kept = attachments.stash_pending(
        attachments.CheckedUpload(PDF, "旧.pdf", "pdf", "application/pdf"), user)
    attachments.drop_pending([kept])
    assert attachments.load_pending(kept.token, user) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 0
