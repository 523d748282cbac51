"""The ``index_jobs`` table as the full-text engine's queue (bounty.matching.whoosh.queue).

Only ``lexical`` rows are read, settled or deleted here; ``vector`` rows belong
to the embedding worker. A row is written in the transaction that changed its
document (indexing.py) and lives until the flush that writes the document to
Whoosh settles it: deleted then, or marked ``flushed_at`` while a rebuild is
registered in ``index_rebuilds``, so the rebuild can copy it into the new
generation; the rebuild's end deletes the marked rows once no running rebuild
needs them. A crash leaves the unsettled rows for start-up replay, which
re-reads each document, as every flush does.

A registered rebuild whose process is gone is ignored (and deleted): one on this
host with no such pid. A registration from another host cannot be checked and
counts as running, so it only keeps flushed rows longer.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..timeutil import utcnow
from .indexing import LEXICAL
from .models import IndexJob, IndexRebuild
from .whoosh.queue import Job, Op

CHUNK = 500  # ids per IN (...) list

_LEXICAL = IndexJob.target == LEXICAL


class DbQueue:
    """Lexical index jobs in the database; ``session()`` opens a session (a context
    manager) usable from any thread, the background flusher's too."""

    has_documents = False

    def __init__(self, session: Callable[[], AbstractContextManager[Session]]) -> None:
        self._session = session

    def add(self, ops: list[Op]) -> list[int]:
        """Queue writes made outside a database transaction (``engine.index``/``remove``)."""
        if not ops:
            return []
        now = utcnow()
        rows = [{"target": LEXICAL, "kind": kind, "doc_id": doc_id, "created_at": now,
                 "op": "upsert" if doc is not None else "delete"} for kind, doc_id, doc in ops]
        with self._session() as session:
            ids = session.scalars(
                sa.insert(IndexJob).returning(IndexJob.id, sort_by_parameter_order=True), rows
            ).all()
            session.commit()
        return list(ids)

    def pending(self) -> list[Job]:
        return self._jobs(IndexJob.flushed_at.is_(None))

    def held(self) -> list[Job]:
        return self._jobs()

    def _jobs(self, *where: sa.ColumnElement[bool]) -> list[Job]:
        query = (sa.select(IndexJob.id, IndexJob.kind, IndexJob.doc_id)
                 .where(_LEXICAL, *where).order_by(IndexJob.id))
        with self._session() as session:
            return [Job(i, kind, doc_id, None) for i, kind, doc_id in session.execute(query)]

    def done(self, ids: Iterable[int]) -> None:
        # A job settled here was committed before this runs. A rebuild registered
        # after the check below reads the database after it, so it sees the job's
        # change without the row: deleting is safe then.
        ids = list(ids)
        if not ids:
            return
        with self._session() as session:
            keep = bool(running_rebuilds(session))
            for chunk in _chunks(ids):
                where = (_LEXICAL, IndexJob.id.in_(chunk))
                if keep:
                    session.execute(sa.update(IndexJob).where(*where).values(flushed_at=utcnow())
                                    .execution_options(synchronize_session=False))
                else:
                    session.execute(sa.delete(IndexJob).where(*where)
                                    .execution_options(synchronize_session=False))
            session.commit()

    def begin_rebuild(self) -> int:
        with self._session() as session:
            row = IndexRebuild(host=socket.gethostname(), pid=os.getpid(), started_at=utcnow())
            session.add(row)
            session.commit()
            return row.id

    def end_rebuild(self, rebuild: int) -> None:
        with self._session() as session:
            session.execute(sa.delete(IndexRebuild).where(IndexRebuild.id == rebuild))
            session.commit()
            # The flushed rows are listed before the running rebuilds are: a rebuild
            # registered after that check began after these rows' changes committed.
            flushed = session.scalars(sa.select(IndexJob.id).where(
                _LEXICAL, IndexJob.flushed_at.is_not(None))).all()
            session.commit()
            if flushed and not running_rebuilds(session):
                for chunk in _chunks(flushed):
                    session.execute(sa.delete(IndexJob).where(_LEXICAL, IndexJob.id.in_(chunk))
                                    .execution_options(synchronize_session=False))
            session.commit()


def running_rebuilds(session: Session) -> list[int]:
    """The ids of the registered rebuilds still running; a dead process's are deleted."""
    host = socket.gethostname()
    running = []
    for rid, rhost, pid in session.execute(
            sa.select(IndexRebuild.id, IndexRebuild.host, IndexRebuild.pid)):
        if rhost == host and not _alive(pid):
            session.execute(sa.delete(IndexRebuild).where(IndexRebuild.id == rid))
        else:
            running.append(rid)
    return running


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's live process
        return True
    return True


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]
