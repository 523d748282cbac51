"""A failed write of an upload (disk full, folder not writable) answers a clear message
and leaves nothing behind, in the database or on disk; orphans are swept later."""

from __future__ import annotations

import errno
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bounty import uploadstore
from bounty.challenges import attachments
from bounty.challenges.models import Attachment, Challenge
from bounty.jobs import discard_orphan_files, start_scheduler
from bounty.schedlock import release_scheduler_lock

from ..factories import create_user
from .helpers import PDF, client_for, form_data, upload


@pytest.fixture
def disk_full(monkeypatch):
    """The disk fills up after the first bytes of the file were written."""

    def fsync(fd):  # noqa: ANN001
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploadstore.os, "fsync", fsync)


def _files(app) -> list[Path]:
    folder = Path(app.config["UPLOAD_FOLDER"])
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.parametrize("locale, message", [
    ("zh_CN", "文件未能保存（服务器存储空间不足或不可写）"),
    ("en", "The file could not be stored"),
])
def test_a_full_disk_leaves_nothing_and_says_so(app, db, disk_full, locale, message):
    client = client_for(app, create_user("enterprise", locale=locale))
    response = client.post("/challenges/new", content_type="multipart/form-data",
                           data=form_data(attachments=[upload(PDF, "需求说明.pdf")]))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Challenge.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Attachment.id))) == 0
    assert _files(app) == []


def test_an_unwritable_folder_is_a_message_too(app, db, monkeypatch):
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(uploadstore, "open", refuse, raising=False)
    client = client_for(app, create_user("enterprise"))
    response = client.post("/challenges/new", content_type="multipart/form-data",
                           data=form_data(attachments=[upload(PDF, "需求说明.pdf")]))
    assert response.status_code == 422
    assert "文件未能保存" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Challenge.id))) == 0


def test_orphans_are_swept_once_old_enough(app, db):
    folder = attachments.upload_folder()
    old, young = folder / "old-orphan.pdf", folder / "young-orphan.pdf"
    for path in (old, young):
        path.write_bytes(PDF)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert discard_orphan_files() == ["removed 1 orphaned or expired pending uploads"]
    assert not old.exists() and young.exists()
    assert attachments.discard_orphans(min_age=timedelta(0)) == 1
    assert not young.exists()


def test_the_scheduler_sweeps_orphans(app):
    scheduler = start_scheduler(app)
    try:
        assert scheduler is not None
        assert scheduler.get_job("discard_orphans") is not None
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        release_scheduler_lock(app)


def test_a_registry_document_that_cannot_be_written_leaves_nothing(app, db, disk_full):
    from bounty.market.services import MarketListing, create_listing

    from ..registry.helpers import completed_challenge, listing_data, pdf_upload

    challenge, _owner, winner = completed_challenge()
    with pytest.raises(attachments.StorageFailed):
        create_listing(challenge, winner, listing_data(), [pdf_upload()])
    assert db.session.scalar(sa.select(sa.func.count(MarketListing.id))) == 0
    assert _files(app) == []
