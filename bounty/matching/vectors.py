"""Document vectors: what text each document embeds, how vectors are stored and read.

Vectors live in the ``doc_vectors`` table (float16 bytes); they are derived data,
written by the embedding worker and ``bounty embed`` (embedding.py), never on a
request. Readers get them through a :class:`VectorStore`:

* ``vectors(kind, ids, role)`` reads a few documents' vectors (a challenge's bids);
* ``similarities(kind, query, ids=None, k=...)`` scores a query vector against the
  given documents, or against every document of the kind (exact: one matrix product
  over an in-memory float32 matrix, refreshed from the table incrementally).

* ``terms(kind, ids)`` reads documents' latent terms (terms.py), ``current_terms`` a
  query document's while its text is the one they were computed from.

Only challenges and institutes are searched across the whole kind, so only their
matrices (and the institutes' profile vectors) are kept in memory; bids are only ever
compared within one challenge and are read by id. A document without a current vector
simply has no dense score: it is ranked lexically (nothing fails).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from .claims import SENTENCE_END, claimed
from .terms import Terms, unpack_terms

log = logging.getLogger(__name__)

PASSAGE, QUERY, TERMS = "passage", "query", "terms"
# Which vectors each kind keeps: challenges are found (search, recommendations) and look
# for bids and similar challenges; bids are found; institutes are found (推荐揭榜单位) and
# look for challenges (为您推荐, digests). A challenge ranks its bids with the latent
# terms of both (terms.py), kept when the model has a sparse head.
ROLES: dict[str, tuple[str, ...]] = {
    "challenge": (PASSAGE, QUERY, TERMS),
    "bid": (PASSAGE, TERMS),
    "institute": (PASSAGE, QUERY),
}


def roles(kind: str, embedder: Any) -> tuple[str, ...]:
    """The roles ``embedder`` stores for ``kind`` (``terms`` only if it has a sparse head)."""
    keep = getattr(embedder, "terms_dim", 0)
    return tuple(r for r in ROLES.get(kind, ()) if r != TERMS or keep)
# Held in memory: the vectors searched across a whole kind (challenges, institutes) and
# the institutes' profile vectors (为您推荐 and every subscriber's digest ask for them).
RESIDENT = {("challenge", PASSAGE), ("institute", PASSAGE), ("institute", QUERY)}
SENTENCE_KINDS = ("bid",)  # explanations and copied-passage checks work on sentences
ANSWER_KINDS = ("bid",)  # embedded from what they claim, without disclaimers (claims.py)
MAX_SENTENCES = 24
MAX_SENTENCE_CHARS = 160
MIN_SENTENCE_CHARS = 8
REFRESH_SECONDS = 2.0
# rows committed out of id order (PostgreSQL sequences) are caught by re-reading a
# window of recent updates on every refresh
REFRESH_OVERLAP_SECONDS = 120


def embed_text(doc: Mapping[str, Any]) -> str:
    """The text a document dict (indexing.challenge_doc and co.) is embedded from: title,
    keywords and body; an answer's body without its scope disclaimers (claims.py)."""
    keywords = doc.get("keywords") or ""
    if isinstance(keywords, list | tuple):
        keywords = " ".join(map(str, keywords))
    parts = [str(doc.get("title") or ""), str(keywords), body_text(doc)]
    return "\n".join(p.strip() for p in parts if p and p.strip())


def body_text(doc: Mapping[str, Any]) -> str:
    """A document's body as it is embedded (an answer's: what it claims)."""
    body = str(doc.get("body") or "")
    return claimed(body) if doc.get("kind") in ANSWER_KINDS else body


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` worth comparing (long ones cut), at most MAX_SENTENCES."""
    out: list[str] = []
    for piece in SENTENCE_END.split(text or ""):
        piece = piece.strip()
        while len(piece) > MAX_SENTENCE_CHARS:
            out.append(piece[:MAX_SENTENCE_CHARS])
            piece = piece[MAX_SENTENCE_CHARS:]
        if len(piece) >= MIN_SENTENCE_CHARS:
            out.append(piece)
    return out[:MAX_SENTENCES]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pack(vectors: np.ndarray) -> bytes:
    return np.asarray(vectors, dtype="<f2").tobytes()


def unpack(data: bytes | None, dim: int) -> np.ndarray | None:
    """float32 rows from stored bytes; ``None`` for a missing or corrupt value."""
    if not data or dim <= 0 or len(data) % (2 * dim):
        return None
    rows = np.frombuffer(data, dtype="<f2").astype(np.float32).reshape(-1, dim)
    if not np.isfinite(rows).all():
        return None
    return rows


@dataclass(slots=True)
class Sentences:
    """A document's sentences and their vectors (row i belongs to sentence i)."""

    texts: list[str]
    vectors: np.ndarray


class VectorStore(Protocol):
    """Read access to stored vectors of one model."""

    model: str

    def vectors(self, kind: str, ids: Iterable[str], role: str = PASSAGE) -> dict[str, np.ndarray]:
        """The current vectors of these documents (missing ones left out)."""

    def similarities(self, kind: str, query: np.ndarray, *, ids: Iterable[str] | None = None,
                     k: int = 200) -> dict[str, float]:
        """Cosine similarity of ``query`` to ``ids``, or to the ``k`` nearest of ``kind``."""

    def sentences(self, kind: str, ids: Iterable[str]) -> dict[str, Sentences]:
        """Sentence vectors of these documents (for kinds in SENTENCE_KINDS)."""

    def current(self, kind: str, doc_id: str, role: str, digest: str) -> np.ndarray | None:
        """The stored vector of one document if it was computed from text hashing to
        ``digest``."""

    def terms(self, kind: str, ids: Iterable[str]) -> dict[str, Terms]:
        """The stored latent terms of these documents (missing ones left out)."""

    def current_terms(self, kind: str, doc_id: str, digest: str) -> Terms | None:
        """One document's latent terms if computed from text hashing to ``digest``."""


@dataclass(slots=True)
class _Matrix:
    ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    data: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    size: int = 0
    synced_at: float = 0.0  # time.time() of the last successful refresh's start
    checked: float = 0.0  # time.monotonic() of the last refresh's end
    due: float = 0.0  # time.monotonic() when the next refresh is due
    refreshing: bool = False
    # the overlap window's rows as last read (doc id -> stored updated_at): a row read
    # again unchanged is not fetched again
    recent: dict[str, object] = field(default_factory=dict)
    loading: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, rows: int, dim: int | None) -> None:
        """Room for ``rows`` vectors of ``dim`` (the first load sizes the matrix exactly)."""
        if dim and rows > len(self.data) and not self.size:
            self.data = np.zeros((rows, dim), np.float32)

    def put(self, doc_id: str, vector: np.ndarray) -> None:
        row = self.rows.get(doc_id)
        if row is None:
            if self.size == len(self.data) or self.data.shape[1] != vector.shape[0]:
                # an eighth more room: resident memory stays within 1/8 of the vectors
                grown = np.zeros((max(64, self.size + self.size // 8), vector.shape[0]),
                                 np.float32)
                if self.size:
                    grown[: self.size] = self.data[: self.size]
                self.data = grown
            row = self.size
            self.size += 1
            self.rows[doc_id] = row
            self.ids.append(doc_id)
        self.data[row] = vector


def _top(ids: Sequence[str], sims: np.ndarray, k: int) -> dict[str, float]:
    if len(sims) > k:
        best = np.argpartition(-sims, k)[:k]
    else:
        best = np.arange(len(sims))
    return {ids[i]: float(sims[i]) for i in best}


class MemoryVectorStore:
    """Vectors held in a dict: the evaluation's store, and the tests'."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._vectors: dict[tuple[str, str, str], np.ndarray] = {}
        self._sentences: dict[tuple[str, str], Sentences] = {}
        self._hashes: dict[tuple[str, str, str], str] = {}
        self._terms: dict[tuple[str, str], tuple[Terms, str]] = {}

    def put_terms(self, kind: str, doc_id: str, terms: Terms, digest: str = "") -> None:
        self._terms[(kind, str(doc_id))] = (terms, digest)

    def terms(self, kind: str, ids: Iterable[str]) -> dict[str, Terms]:
        return {i: t[0] for i in map(str, ids) if (t := self._terms.get((kind, i)))}

    def current_terms(self, kind: str, doc_id: str, digest: str) -> Terms | None:
        found = self._terms.get((kind, str(doc_id)))
        return found[0] if found is not None and found[1] == digest else None

    def put(self, kind: str, doc_id: str, role: str, vector: np.ndarray,
            sents: Sentences | None = None, digest: str = "") -> None:
        self._vectors[(kind, str(doc_id), role)] = np.asarray(vector, np.float32)
        self._hashes[(kind, str(doc_id), role)] = digest
        if sents is not None:
            self._sentences[(kind, str(doc_id))] = sents

    def current(self, kind: str, doc_id: str, role: str, digest: str) -> np.ndarray | None:
        if self._hashes.get((kind, doc_id, role)) != digest:
            return None
        return self._vectors.get((kind, doc_id, role))

    def vectors(self, kind: str, ids: Iterable[str], role: str = PASSAGE) -> dict[str, np.ndarray]:
        out = {}
        for i in map(str, ids):
            v = self._vectors.get((kind, i, role))
            if v is not None:
                out[i] = v
        return out

    def similarities(self, kind: str, query: np.ndarray, *, ids: Iterable[str] | None = None,
                     k: int = 200) -> dict[str, float]:
        if ids is None:
            found = {d: v for (kd, d, r), v in self._vectors.items() if kd == kind and r == PASSAGE}
        else:
            found = self.vectors(kind, ids)
        if not found:
            return {}
        keys = list(found)
        sims = np.stack([found[d] for d in keys]) @ query
        return _top(keys, sims, len(keys) if ids is not None else k)

    def sentences(self, kind: str, ids: Iterable[str]) -> dict[str, Sentences]:
        return {i: s for i in map(str, ids) if (s := self._sentences.get((kind, i)))}


class DbVectorStore:
    """Vectors from the ``doc_vectors`` table of one model.

    Whole-kind searches read an in-memory float32 matrix per resident kind, loaded on
    first use and refreshed in a background thread (only rows updated since the last
    look) at most every ``REFRESH_SECONDS``, so vectors the worker stores — in this
    process or another — are searched within seconds and no request waits for them. A
    row that cannot be decoded is skipped with a log line. ``connect`` gives a
    SQLAlchemy connection context (the app's engine).
    """

    def __init__(self, connect, model: str) -> None:  # noqa: ANN001
        self.connect = connect
        self.model = model
        self._matrices: dict[tuple[str, str], _Matrix] = {}
        self._lock = threading.Lock()

    def _select(self):  # noqa: ANN202
        from .models import DocVector

        t = DocVector.__table__
        return t, t.c.model == self.model

    def vectors(self, kind: str, ids: Iterable[str], role: str = PASSAGE) -> dict[str, np.ndarray]:
        import sqlalchemy as sa

        wanted = list(dict.fromkeys(map(str, ids)))
        if not wanted:
            return {}
        if (kind, role) in RESIDENT:
            matrix = self._matrix(kind, role)
            return {i: matrix.data[matrix.rows[i]] for i in wanted if i in matrix.rows}
        t, of_model = self._select()
        out: dict[str, np.ndarray] = {}
        with self.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(sa.select(t.c.doc_id, t.c.dim, t.c.vector).where(
                    of_model, t.c.kind == kind, t.c.role == role,
                    t.c.doc_id.in_(wanted[start:start + 500])))
                for doc_id, dim, data in rows:
                    v = unpack(data, dim)
                    if v is None or len(v) != 1:
                        log.warning("doc_vectors: unreadable %s %s %s vector", kind, doc_id, role)
                        continue
                    out[doc_id] = v[0]
        return out

    def similarities(self, kind: str, query: np.ndarray, *, ids: Iterable[str] | None = None,
                     k: int = 200) -> dict[str, float]:
        if (kind, PASSAGE) not in RESIDENT:
            found = self.vectors(kind, ids or ())
            if not found:
                return {}
            keys = list(found)
            return _top(keys, np.stack([found[d] for d in keys]) @ query, len(keys))
        matrix = self._matrix(kind, PASSAGE)
        if matrix.size == 0:
            return {}
        if ids is None:
            return _top(matrix.ids, matrix.data[: matrix.size] @ query, k)
        rows = [(i, r) for i in map(str, ids) if (r := matrix.rows.get(i)) is not None]
        if not rows:
            return {}
        sims = matrix.data[[r for _, r in rows]] @ query
        return {i: float(s) for (i, _), s in zip(rows, sims, strict=True)}

    def sentences(self, kind: str, ids: Iterable[str]) -> dict[str, Sentences]:
        import sqlalchemy as sa

        wanted = list(dict.fromkeys(map(str, ids)))
        if not wanted:
            return {}
        t, of_model = self._select()
        out: dict[str, Sentences] = {}
        with self.connect() as conn:
            rows = conn.execute(sa.select(t.c.doc_id, t.c.dim, t.c.sentences,
                                          t.c.sentence_vectors).where(
                of_model, t.c.kind == kind, t.c.role == PASSAGE, t.c.doc_id.in_(wanted)))
            for doc_id, dim, texts, data in rows:
                vectors = unpack(data, dim)
                if not texts or vectors is None or len(vectors) != len(texts):
                    continue
                out[doc_id] = Sentences(list(texts), vectors)
        return out

    def terms(self, kind: str, ids: Iterable[str]) -> dict[str, Terms]:
        import sqlalchemy as sa

        wanted = list(dict.fromkeys(map(str, ids)))
        t, of_model = self._select()
        out: dict[str, Terms] = {}
        with self.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(sa.select(t.c.doc_id, t.c.dim, t.c.vector).where(
                    of_model, t.c.kind == kind, t.c.role == TERMS,
                    t.c.doc_id.in_(wanted[start:start + 500])))
                for doc_id, dim, data in rows:
                    terms = unpack_terms(data, dim)
                    if terms is None:
                        log.warning("doc_vectors: unreadable %s %s terms", kind, doc_id)
                        continue
                    out[doc_id] = terms
        return out

    def current_terms(self, kind: str, doc_id: str, digest: str) -> Terms | None:
        import sqlalchemy as sa

        t, of_model = self._select()
        with self.connect() as conn:
            row = conn.execute(sa.select(t.c.dim, t.c.vector).where(
                of_model, t.c.kind == kind, t.c.doc_id == str(doc_id), t.c.role == TERMS,
                t.c.text_hash == digest)).first()
        return unpack_terms(row.vector, row.dim) if row is not None else None

    def current(self, kind: str, doc_id: str, role: str, digest: str) -> np.ndarray | None:
        import sqlalchemy as sa

        t, of_model = self._select()
        with self.connect() as conn:
            row = conn.execute(sa.select(t.c.dim, t.c.vector).where(
                of_model, t.c.kind == kind, t.c.doc_id == doc_id, t.c.role == role,
                t.c.text_hash == digest)).first()
        v = unpack(row.vector, row.dim) if row is not None else None
        return v[0] if v is not None and len(v) == 1 else None

    def _matrix(self, kind: str, role: str) -> _Matrix:
        """The resident matrix of ``kind``: loaded on first use (the caller waits), then
        refreshed in a background thread when due, so no request waits for a refresh
        (after a bulk ``bounty embed`` the overlap window alone holds every new row)."""
        with self._lock:
            matrix = self._matrices.setdefault((kind, role), _Matrix())
            due = not matrix.checked or time.monotonic() >= matrix.due
            if not due or matrix.refreshing:
                first = False
            else:
                matrix.refreshing = True
                first = not matrix.checked
                if first:
                    matrix.loading.acquire()
                else:
                    threading.Thread(target=self._refresh, args=(kind, role, matrix),
                                     name=f"vectors-{kind}-{role}", daemon=True).start()
        if first:
            try:
                self._refresh(kind, role, matrix)
            finally:
                matrix.loading.release()
        elif not matrix.checked:  # another request is loading it: wait for that load
            with matrix.loading:
                pass
        return matrix

    def _refresh(self, kind: str, role: str, matrix: _Matrix) -> None:
        """Read the rows updated since the last look (less the overlap window), then
        only the vectors of those that changed since they were last read."""
        import sqlalchemy as sa

        t, of_model = self._select()
        started, clock = time.time(), time.monotonic()
        try:
            with self.connect() as conn:
                if not matrix.synced_at:  # the window's stamps first: a row changed
                    # while the whole kind is read is fetched again next time
                    matrix.recent = self._window(conn, kind, role, started)
                    matrix.reserve(*conn.execute(sa.select(sa.func.count(), sa.func.max(t.c.dim))
                                                 .where(of_model, t.c.kind == kind,
                                                        t.c.role == role)).one())
                    changed = self._read(conn, sa.select(t.c.doc_id, t.c.dim, t.c.vector).where(
                        of_model, t.c.kind == kind, t.c.role == role), kind, matrix)
                else:
                    changed = self._read_recent(conn, kind, role, matrix)
        except Exception:  # never fail a search on the vectors: it goes lexical
            log.exception("doc_vectors: refresh of %s failed; ranking stays lexical", kind)
        else:
            matrix.synced_at = started
            if changed:
                log.debug("doc_vectors: %d %s vectors refreshed", changed, kind)
        finally:
            took = time.monotonic() - clock
            matrix.checked = time.monotonic()
            # a slow refresh (a large window after a bulk load) runs less often
            matrix.due = matrix.checked + max(REFRESH_SECONDS, 10 * took)
            matrix.refreshing = False

    def _window(self, conn, kind: str, role: str, now: float) -> dict[str, object]:  # noqa: ANN001
        """The rows updated within the overlap window before ``now``: doc id -> the
        stored ``updated_at``, compared as stored."""
        import sqlalchemy as sa

        t, of_model = self._select()
        since = datetime.fromtimestamp(now - REFRESH_OVERLAP_SECONDS, UTC)
        stamps = sa.type_coerce(t.c.updated_at, sa.String)
        return dict(conn.execute(sa.select(t.c.doc_id, stamps).where(
            of_model, t.c.kind == kind, t.c.role == role, t.c.updated_at >= since)).all())

    def _read_recent(self, conn, kind: str, role: str, matrix: _Matrix) -> int:  # noqa: ANN001
        import sqlalchemy as sa

        t, of_model = self._select()
        recent = self._window(conn, kind, role, matrix.synced_at)
        wanted = [d for d, stamp in recent.items() if matrix.recent.get(d) != stamp]
        matrix.recent = recent
        changed = 0
        for start in range(0, len(wanted), 500):
            changed += self._read(conn, sa.select(t.c.doc_id, t.c.dim, t.c.vector).where(
                of_model, t.c.kind == kind, t.c.role == role,
                t.c.doc_id.in_(wanted[start:start + 500])), kind, matrix)
        return changed

    @staticmethod
    def _read(conn, query, kind: str, matrix: _Matrix) -> int:  # noqa: ANN001
        count = 0
        for doc_id, dim, data in conn.execute(query):
            v = unpack(data, dim)
            if v is None or len(v) != 1:
                log.warning("doc_vectors: unreadable %s %s vector skipped", kind, doc_id)
                continue
            if matrix.size and v.shape[1] != matrix.data.shape[1]:
                continue
            matrix.put(doc_id, v[0])
            count += 1
        return count
