"""Store-agnostic looks at uploaded files, for tests that run with each UPLOAD_STORE
(the ``each_store`` fixture): what an area holds, a file's bytes, a file made older."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import sqlalchemy as sa

from bounty.extensions import db
from bounty.timeutil import utcnow
from bounty.uploadstore import FolderStore, StoredFile, upload_store


def stored_names(area: str = "") -> list[str]:
    """The names of the files an area holds, sorted (the folder: its own files only)."""
    store = upload_store()
    if isinstance(store, FolderStore):
        folder = store.folder(area)
        return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return sorted(db.session.execute(
        sa.select(StoredFile.name).where(StoredFile.area == area)).scalars())


def stored_bytes(name: str, area: str = "") -> bytes:
    return upload_store().read(area, name)


def make_older(name: str, seconds: float, area: str = "") -> None:
    """Date a stored file back by ``seconds``, as time passing would."""
    store = upload_store()
    if isinstance(store, FolderStore):
        then = time.time() - seconds
        os.utime(store.folder(area) / name, (then, then))
        return
    db.session.execute(sa.update(StoredFile).where(
        StoredFile.area == area, StoredFile.name == name)
        .values(created_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def put_orphan(name: str, data: bytes, area: str = "") -> None:
    """A stored file no row names, as a crash would leave."""
    upload_store().write(area, name, data, commit=True)
