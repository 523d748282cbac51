"""Writing vectors: the embedding worker and ``bounty embed``.

The index hooks (indexing.py) queue a ``vector`` IndexJob in the transaction that
changed a document. The worker — a thread of ``bounty serve``, or ``bounty jobs run``
— claims queued jobs for a lease, embeds each document's current text and stores the
vectors with the job's deletion in one transaction, so a crash loses nothing: the
claim runs out and another pass takes the job again. Nothing here runs on a request.

A vector is recomputed only when the text it was computed from (``text_hash``) or the
model changed; ``bounty embed --missing`` fills what is absent or stale (and so
resumes an interrupted run), ``--all`` recomputes everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..timeutil import utcnow
from . import indexing
from .embedder import Embedder
from .engine import Doc
from .models import DocVector, IndexJob
from .terms import pack_terms
from .vectors import (
    PASSAGE,
    QUERY,
    SENTENCE_KINDS,
    TERMS,
    body_text,
    embed_text,
    pack,
    roles,
    sentences,
    text_hash,
)

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
BATCH = 20
POLL_SECONDS = 5.0


@dataclass(slots=True)
class Counts:
    embedded: int = 0  # vectors computed
    current: int = 0  # vectors already up to date
    skipped: int = 0  # documents not indexable (drafts, withdrawn bids, gone)


def _existing(session: Session, model: str, keys: list[tuple[str, str]]) -> dict:
    """``(kind, id, role) -> DocVector`` for these documents under ``model``."""
    out = {}
    by_kind: dict[str, list[str]] = {}
    for kind, doc_id in keys:
        by_kind.setdefault(kind, []).append(doc_id)
    for kind, ids in by_kind.items():
        for start in range(0, len(ids), 500):
            for row in session.scalars(sa.select(DocVector).where(
                    DocVector.model == model, DocVector.kind == kind,
                    DocVector.doc_id.in_(ids[start:start + 500]))):
                out[(row.kind, row.doc_id, row.role)] = row
    return out


def embed_doc(session: Session, embedder: Embedder, doc: Doc, existing: dict,
              *, force: bool = False) -> Counts:
    """Store ``doc``'s vectors for every role its kind keeps, unless already current.

    The caller commits. ``existing`` maps ``(kind, id, role)`` to stored rows.
    """
    counts = Counts()
    kind, doc_id = doc["kind"], str(doc["id"])
    text = embed_text(doc)
    digest = text_hash(text)
    for role in roles(kind, embedder):
        row = existing.get((kind, doc_id, role))
        if row is not None and row.text_hash == digest and not force:
            counts.current += 1
            continue
        sents, sent_vectors = None, None
        if role == TERMS:
            dim, data = embedder.terms_dim, pack_terms(embedder.embed_terms([text])[0])
        else:
            embed = embedder.embed_queries if role == QUERY else embedder.embed_passages
            dim, data = embedder.dim, pack(embed([text])[0][None, :])
            if role == PASSAGE and kind in SENTENCE_KINDS:
                sents = sentences(body_text(doc))
                sent_vectors = pack(embedder.embed_passages(sents)) if sents else None
        if row is None:
            row = DocVector(kind=kind, doc_id=doc_id, role=role, model=embedder.key)
            session.add(row)
            existing[(kind, doc_id, role)] = row
        row.text_hash = digest
        row.dim = dim
        row.vector = data
        row.sentences = sents
        row.sentence_vectors = sent_vectors
        row.updated_at = utcnow()
        counts.embedded += 1
    return counts


def embed_keys(session: Session, embedder: Embedder, keys: Iterable[tuple[str, str]],
               *, force: bool = False) -> Counts:
    """Embed the current text of these documents (not committed)."""
    keys = list(dict.fromkeys((k, str(i)) for k, i in keys))
    existing = _existing(session, embedder.key, keys)
    total = Counts()
    for kind, doc_id in keys:
        doc = (indexing.load(session, kind, doc_id, embedding=True)
               if kind in indexing.MODELS else None)
        if doc is None:
            total.skipped += 1
            continue
        c = embed_doc(session, embedder, doc, existing, force=force)
        total.embedded += c.embedded
        total.current += c.current
    return total


def _claim(session: Session, limit: int) -> list[IndexJob]:
    now = utcnow()
    free = sa.or_(IndexJob.claimed_at.is_(None), IndexJob.claimed_at < now - LEASE)
    ids = session.scalars(sa.select(IndexJob.id).where(IndexJob.target == indexing.VECTOR, free)
                          .order_by(IndexJob.id).limit(limit)).all()
    if not ids:
        return []
    # the WHERE is checked again by the UPDATE: of two workers, one gets each row
    claimed = session.scalars(sa.update(IndexJob).where(IndexJob.id.in_(ids), free)
                              .values(claimed_at=now).returning(IndexJob.id)).all()
    session.commit()
    if not claimed:
        return []
    return list(session.scalars(sa.select(IndexJob).where(IndexJob.id.in_(claimed))
                                .order_by(IndexJob.id)))


def run_jobs(bind, embedder: Embedder, *, batch: int = BATCH,  # noqa: ANN001
             stop: Callable[[], bool] = lambda: False) -> int:
    """Embed the documents of queued vector jobs until none is left; returns how many jobs.

    Each document's vectors commit together with the deletion of its jobs.
    """
    done = 0
    with Session(bind) as session:
        while not stop():
            jobs = _claim(session, batch)
            if not jobs:
                break
            by_key: dict[tuple[str, str], list[int]] = {}
            for job in jobs:
                by_key.setdefault((job.kind, job.doc_id), []).append(job.id)
            for key, ids in by_key.items():
                try:
                    embed_keys(session, embedder, [key])
                    session.execute(sa.delete(IndexJob).where(IndexJob.id.in_(ids)))
                    session.commit()
                    done += len(ids)
                except Exception:
                    session.rollback()
                    log.exception("embedding %s %s failed; retried after the lease", *key)
    return done


class Worker:
    """A daemon thread that runs vector jobs when a commit queues some, or every few seconds."""

    def __init__(self, bind, embedder: Embedder, poll: float = POLL_SECONDS) -> None:  # noqa: ANN001
        self.bind = bind
        self.embedder = embedder
        self.poll = poll
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="bounty-embed", daemon=True)
        indexing.vector_jobs_committed.connect(self._on_commit, weak=False)

    def _on_commit(self, _sender, **_kw) -> None:  # noqa: ANN001
        self.wake.set()

    def start(self) -> Worker:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.wake.set()
        indexing.vector_jobs_committed.disconnect(self._on_commit)
        self.thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                run_jobs(self.bind, self.embedder, stop=self.stopping.is_set)
            except Exception:
                log.exception("embedding worker pass failed; next pass in %.0fs", self.poll)
            self.wake.wait(self.poll)
            self.wake.clear()


def prune(session: Session, model: str) -> int:
    """Delete vectors of other models and of rows that no longer exist; returns how many."""
    t = DocVector.__table__
    n = session.execute(sa.delete(t).where(t.c.model != model)).rowcount or 0
    for kind, cls in indexing.MODELS.items():
        gone = sa.select(cls.id).where(sa.cast(cls.id, sa.String) == t.c.doc_id)
        n += session.execute(sa.delete(t).where(t.c.kind == kind, ~sa.exists(gone))).rowcount or 0
    return n


def queue_stale(session: Session, embedder: Embedder,
                hashes: Iterable[tuple[str, str, str]]) -> int:
    """Queue vector jobs for documents whose vectors are missing (also one role of
    several: the latent terms after an upgrade) or were computed from other text;
    ``hashes`` gives ``(kind, id, text_hash)`` of the current documents. Returns how
    many were queued (the caller commits)."""
    stored: dict[tuple[str, str], set[tuple[str, str]]] = {}
    t = DocVector.__table__
    for kind, doc_id, role, digest in session.execute(
            sa.select(t.c.kind, t.c.doc_id, t.c.role, t.c.text_hash)
            .where(t.c.model == embedder.key)):
        stored.setdefault((kind, doc_id), set()).add((role, digest))
    now = utcnow()
    rows = [{"target": indexing.VECTOR, "kind": kind, "doc_id": doc_id, "op": "upsert",
             "created_at": now}
            for kind, doc_id, digest in hashes
            if not {(r, digest) for r in roles(kind, embedder)}
            <= stored.get((kind, doc_id), set())]
    for start in range(0, len(rows), 1000):
        session.execute(sa.insert(IndexJob), rows[start:start + 1000])
    return len(rows)
