"""``PgView``: one query's view of a kind's index in PostgreSQL, for the shared search code.

The Whoosh engine's queries (``whoosh/search.py``: term-at-a-time BM25F over numpy
arrays, fusion, facets, sorts, pages) run over any ``Reading``; this one reads in one
snapshot (the caller's read-only transaction). Document numbers here are positions in
the process's resident columns (columns.py), which keep ``search_docs.docnum`` order,
so ties fall as before: the lower document number first.

Per query it reads the statistics, the query terms' document frequencies (one
statement), the terms' postings (postings.py: cached in the process, or read in one
statement), the documents passing the filters, and the page's stored fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..analyzer import Analyzer
from ..engine import FACET_FIELDS, Doc, Filters
from ..ranking import DocVector, Scorer, bm25_idf, query_terms
from ..whoosh.filters import values
from ..whoosh.view import Reading
from . import postings
from .columns import Columns
from .filters import where
from .pending import Pending
from .postings import Memory
from .tables import FIELDS

# Filters passing fewer than this share of the documents (为您推荐: the open challenges)
# restrict the postings read to their documents.
RESTRICT_SHARE = 1 / 8
STORED = ("doc_id", "title", "industry", "category", "state", "org_id", "challenge_id",
          "bounty", "deadline", "published_at")


class PgView(Reading):
    """A kind's index as one snapshot of ``conn`` sees it (with ``cols`` resident)."""

    def __init__(self, conn: Connection, kind: str, cols: Columns, docs: int,
                 avg: dict[str, float], pending: Pending, *, few: bool = False,
                 memory: Memory | None = None) -> None:
        """``pending``: the kind's pending documents in this snapshot. ``few``: ``cols``
        holds only the documents passing the query's filters (read with it), not the
        kind's resident copy. ``memory``: the process's (whose resident copy ``cols``
        is), when the snapshot shows just what ``cols`` holds: its cached postings are
        used and kept."""
        self.conn = conn
        self.pending = pending
        self.few = few
        self.memory = memory
        self.kind = kind
        self.cols = cols
        self.docs = docs  # live documents: IDF's population, as search_stats counts it
        self.doc_count = docs
        self.doc_count_all = len(cols.docnums)  # positions
        self.avg = avg
        self.generation = cols.seq
        self._init_caches()
        self._dfs: dict[str, list[int]] = {}
        self._stored: dict[int, dict[str, Any]] = {}
        self._vectors: dict[int, DocVector] = {}
        self._norms: dict[tuple[str, float], np.ndarray] = {}
        self._restrict: np.ndarray | None = None  # document numbers the postings are read for
        self._postings: dict[str, postings.Postings] = {}

    # -- statistics ---------------------------------------------------------------
    def prefetch_terms(self, analyzer: Analyzer, query: Doc | str) -> None:
        """Read the document frequencies of every term ``query`` may use, at once."""
        seen: set[str] = set()

        def note(term: str) -> float:
            seen.add(term)
            return 1.0

        query_terms(analyzer, query, note, max_terms=10**6)
        self._fetch_dfs(seen)

    def _fetch_dfs(self, terms: Iterable[str]) -> None:
        missing = sorted(t for t in terms if t not in self._dfs)
        if not missing:
            return
        folded = {t: [0] * len(FIELDS) for t in missing}
        for term, *dfs in self.conn.execute(sa.text(
                "SELECT term, " + ", ".join(f"df_{f}" for f in FIELDS)
                + " FROM search_terms WHERE kind = :k AND term = ANY(:t)"),
                {"k": self.kind, "t": missing}):
            folded[term] = dfs
        for t, dfs in folded.items():
            self._dfs[t] = (np.array(dfs, np.int64) + self.pending.df(t)).tolist() if (
                self.pending) else list(dfs)

    def field_dfs(self, term: str) -> list[int]:
        self._fetch_dfs([term])
        return self._dfs[term]

    def idf(self, term: str) -> float:
        v = self._idf.get(term)
        if v is None:
            v = self._idf[term] = bm25_idf(self.docs, self.df(term))
        return v

    # -- postings -----------------------------------------------------------------
    def prefetch_postings(self, terms: list[str]) -> None:
        """Read the postings of ``terms`` not read yet, at once: from the process's cache
        (patched with the documents written since), or restricted to the filters'
        documents when they are few."""
        missing = sorted({t for t in terms if t not in self._postings})
        if not missing:
            return
        if self._restrict is not None and self.memory is not None:
            # postings already in the process are used whole; only the others are read
            self._postings.update(self.memory.postings.peek(self.cols, self.kind, missing))
            missing = [t for t in missing if t not in self._postings]
            if not missing:
                return
        if self._restrict is not None:
            self._postings.update(postings.read(self.conn, self.pending, self.kind, missing,
                                                self._restrict))
        elif self.memory is not None:
            self._postings.update(self.memory.postings.get(
                self.conn, self.memory.resident, self.cols, self.pending, self.kind,
                missing))
        else:
            self._postings.update(postings.read(self.conn, self.pending, self.kind, missing))

    def term_tf(self, term: str, scorer: Scorer) -> tuple[np.ndarray, np.ndarray]:
        self.prefetch_postings([term])
        docnums, counts = self._postings[term]
        pos, found = self.cols.positions(docnums)
        pos = pos[found]
        tf = np.zeros(len(pos))
        for i, f in enumerate(FIELDS):
            n = counts[found, i]
            if n.any():
                tf += n * self._norm(f, scorer)[pos]
        return pos.astype(np.int64), tf

    def _norm(self, field: str, scorer: Scorer) -> np.ndarray:
        key = (field, scorer.avg[field])
        norms = self._norms.get(key)
        if norms is None:
            norms = self._norms[key] = scorer.norm(field, self.cols.lengths[field])
        return norms

    # -- columns and filters ------------------------------------------------------
    def codes(self, name: str) -> tuple[list[Any], np.ndarray]:
        return self.cols.codes[name]

    def sort_keys(self, name: str) -> np.ndarray:
        return self.cols.keys[name]

    def live_docs(self) -> np.ndarray:
        return self._np("live", lambda: np.flatnonzero(self.cols.live))

    def all_doc_ids(self) -> Iterable[int]:
        return self.live_docs().tolist()

    def allowed_docs(self, filters: Filters | None) -> np.ndarray | None:
        """Positions passing ``filters``; a query's postings are then read only for
        them if they are few (the shared search code asks this before any term)."""
        docs = None if filters is None else self._allowed(filters)
        if docs is not None and (self.few or len(docs) < RESTRICT_SHARE * len(self.cols.docnums)):
            self._restrict = self.cols.docnums[docs]
        return docs

    def allowed(self, filters: Filters | None) -> frozenset[int] | None:
        if filters is None:
            return None
        docs = self._allowed(filters, stored=filters.ids is not None)
        return None if docs is None else frozenset(docs.tolist())

    def _allowed(self, filters: Filters, *, stored: bool = False) -> np.ndarray | None:
        """Positions passing ``filters``, ascending (``None``: all live documents);
        ``stored``: also keep their stored fields (a few: a digest's, the dense side's)."""
        params: dict[str, Any] = {"kind": self.kind}
        cond = where(filters, params)
        if cond == "d.live":
            return None
        if not stored and not self.few and where(
                replace(filters, **dict.fromkeys(FACET_FIELDS)), {}) == "d.live":
            return self._by_facets(filters)
        cols = ", ".join(f"d.{c}" for c in STORED) if stored else "d.docnum"
        rows = self.conn.execute(sa.text(
            f"SELECT d.docnum{', ' + cols if stored else ''} FROM search_docs d "
            f"WHERE d.kind = :kind AND {cond}"), params).all()
        docnums = np.array([r[0] for r in rows], np.int64)
        pos, found = self.cols.positions(docnums)
        if stored:
            for p, ok, row in zip(pos.tolist(), found.tolist(), rows, strict=True):
                if ok:
                    self._stored[p] = _stored(row[1:])
        return np.sort(pos[found])

    def _by_facets(self, filters: Filters) -> np.ndarray:
        """Positions passing filters on facet columns only (industry, category, state:
        为您推荐's open challenges, the hall's filters), from the resident codes rather
        than a statement (14 ms for 5,000 open challenges of 100,000)."""
        mask = self.cols.live.copy()
        for name in FACET_FIELDS:
            wanted = set(values(getattr(filters, name)))
            if wanted:
                labels, codes = self.cols.codes[name]
                mask &= np.isin(codes, [i for i, v in enumerate(labels) if v in wanted])
        return np.flatnonzero(mask)

    # -- stored fields ------------------------------------------------------------
    def prefetch(self, docnums: list[int], *, vectors: bool) -> None:
        want = [d for d in docnums if d not in self._stored or (
            vectors and d not in self._vectors)]
        if not want:
            return
        cols = ", ".join(STORED) + (", terms" if vectors else "")
        nums = self.cols.docnums[np.array(want, np.int64)].tolist()
        back = dict(zip(nums, want, strict=True))
        for row in self.conn.execute(sa.text(
                f"SELECT docnum, {cols} FROM search_docs WHERE docnum = ANY(:d)"),
                {"d": nums}):
            p = back[row[0]]
            self._stored[p] = _stored(row[1:1 + len(STORED)])
            if vectors:
                self._vectors[p] = DocVector.from_stored(row[-1])

    def stored(self, docnum: int) -> tuple[DocVector, dict]:
        self.prefetch([docnum], vectors=True)
        return self._vectors[docnum], self._stored[docnum]

    def stored_fields(self, docnum: int) -> dict:
        self.prefetch([docnum], vectors=False)
        return self._stored[docnum]

    def values(self, name: str) -> list[Any]:  # pragma: no cover - codes/sort_keys instead
        raise NotImplementedError


def _stored(row: Any) -> dict[str, Any]:
    """Stored fields as the Whoosh engine's hits carry them (``data`` holds the title;
    dates naive UTC, as Whoosh stores them)."""
    out: dict[str, Any] = {}
    for name, value in zip(STORED, row, strict=True):
        if name == "title":
            out["data"] = {"title": value}
        elif name == "doc_id":
            out["id"] = value
        elif value is not None:
            out[name] = (value.astimezone(UTC).replace(tzinfo=None)
                         if name in ("deadline", "published_at") else value)
    return out

