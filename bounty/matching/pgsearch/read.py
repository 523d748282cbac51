"""Reading the index: a few candidates scored from their stored terms, more over a view.

Scoring is the Whoosh engine's (ranking.py): the same query terms (weights, synonyms,
bigram backoff, ``max_terms`` by IDF), the same BM25F (per-field length
normalisation, field weights, one saturation), the same fusion with the dense side, the
same ties (the lower document number first) and the same matched terms. Up to
``VECTOR_SCORING_MAX`` documents passing the filters (a challenge's bids) are read with
their terms and scored here; more go through the Whoosh engine's own search code over a
``PgView`` (view.py: each query term's postings decoded into numpy arrays, the
documents' columns resident in the process). Computing BM25F in SQL instead, joining
every posting to its document, took 226-312 ms a search at 20,000 challenges.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..analyzer import Analyzer
from ..engine import FACET_FIELDS, FILTER_FIELDS, Doc, Filters, Hit, SearchResult, SortKey
from ..fusion import DOCUMENT, SEARCH, fuse_arrays
from ..ranking import (
    MAX_QUERY_TERMS,
    DocVector,
    QueryTerm,
    Scorer,
    bm25_idf,
    query_terms,
)
from ..whoosh import search as whoosh_search
from ..whoosh.arrays import first
from ..whoosh.search import COLUMN_SORTS, SEARCH_MAX_TERMS, VECTOR_SCORING_MAX
from .columns import Resident
from .filters import where
from .tables import FIELDS
from .view import PgView

META = ("doc_id", *FILTER_FIELDS, "bounty", "deadline", "published_at")


class Stats:
    """One kind's collection statistics, read at the start of a query."""

    def __init__(self, conn: Connection, kind: str) -> None:
        self.conn = conn
        self.kind = kind
        row = conn.execute(sa.text(
            "SELECT docs, " + ", ".join(f"len_{f}" for f in FIELDS)
            + " FROM search_stats WHERE kind = :k"), {"k": kind}).first()
        self.docs = int(row[0]) if row else 0
        self.avg = {f: (row[1 + i] / self.docs if row and self.docs else 1.0)
                    for i, f in enumerate(FIELDS)}
        self._idf: dict[str, float] = {}

    def fetch(self, terms: set[str]) -> None:
        """Read the document frequencies of ``terms`` not read yet (one statement)."""
        missing = sorted(t for t in terms if t not in self._idf)
        if not missing:
            return
        found = dict.fromkeys(missing, 0)
        for term, *dfs in self.conn.execute(sa.text(
                "SELECT term, " + ", ".join(f"df_{f}" for f in FIELDS)
                + " FROM search_terms WHERE kind = :k AND term = ANY(:t)"),
                {"k": self.kind, "t": missing}):
            found[term] = max(dfs)
        for term, df in found.items():
            self._idf[term] = bm25_idf(self.docs, df)

    def idf(self, term: str) -> float:
        if term not in self._idf:
            self.fetch({term})
        return self._idf[term]

    def scorer(self) -> Scorer:
        return Scorer(self.idf, self.avg)

    def terms(self, analyzer: Analyzer, query: Doc | str, max_terms: int) -> list[QueryTerm]:
        """``query_terms`` with this kind's IDF (every candidate's read in one statement)."""
        seen: set[str] = set()

        def note(term: str) -> float:
            seen.add(term)
            return 1.0

        query_terms(analyzer, query, note, max_terms=10**6)
        self.fetch(seen)
        return query_terms(analyzer, query, self.idf, max_terms=max_terms)


class Matches:
    """Matching documents: numbers (ascending), scores, ids and columns."""

    def __init__(self, rows: list[Any], scores: list[float] | None = None) -> None:
        rows = sorted(rows, key=lambda r: r[0])
        self.docs = np.array([r[0] for r in rows], np.int64)
        self.scores = np.array([r[1] for r in rows] if scores is None else scores, np.float64)
        self.meta = [dict(zip(META, r[2:], strict=True)) for r in rows]

    def __len__(self) -> int:
        return len(self.docs)


def _few(conn: Connection, kind: str, filters: Filters | None) -> list[Any] | None:
    """The documents passing ``filters`` with their terms, if at most VECTOR_SCORING_MAX
    (a challenge's bids): they are scored one by one, as the Whoosh engine does."""
    if filters is None:
        return None
    params: dict[str, Any] = {"kind": kind}
    cond = where(filters, params)
    # counted first: the terms of 65 open challenges cost 10 ms to read and decode
    n = conn.execute(sa.text(
        f"SELECT count(*) FROM (SELECT 1 FROM search_docs d WHERE d.kind = :kind AND {cond} "
        f"LIMIT {VECTOR_SCORING_MAX + 1}) x"), params).scalar_one()
    if n > VECTOR_SCORING_MAX:
        return None
    return conn.execute(sa.text(
        f"SELECT d.docnum, d.terms, {', '.join(f'd.{c}' for c in META)} FROM search_docs d "
        f"WHERE d.kind = :kind AND {cond} ORDER BY d.docnum"), params).all()


def _few_matches(stats: Stats, terms: list[QueryTerm], few: list[Any],
                 dense: Mapping[str, float] | None, fusion: Mapping[str, float]) -> Matches:
    """A few candidates (see ``_few``) scored one by one, fused with the dense side."""
    rows: dict[int, list[Any]] = {}
    scorer = stats.scorer()
    near: dict[int, float] = {}
    for docnum, doc_terms, *meta in few:
        score = scorer.score(terms, DocVector.from_stored(doc_terms))[0] if terms else 0.0
        if score > 0:
            rows[docnum] = [docnum, score, *meta]
        if dense and meta[0] in dense:
            near[docnum] = dense[meta[0]]
            rows.setdefault(docnum, [docnum, 0.0, *meta])
    return _fused(list(rows.values()), near, fusion)


def _fused(rows: list[Any], near: Mapping[int, float], fusion: Mapping[str, float]
           ) -> Matches:
    """``rows`` as matches, their scores fused with the similarities ``near`` (if any)."""
    m = Matches(rows)
    if near:
        sims = np.array([near.get(d, np.nan) for d in m.docs.tolist()], np.float64)
        m.scores = fuse_arrays(m.scores, sims, **fusion)
    return m


def _order(m: Matches, sort: str, n: int) -> list[int]:
    """Positions in ``m`` of its first ``n`` results (as the Whoosh engine orders them)."""
    if sort == "relevance":
        return first(-m.scores, m.docs, n).tolist()
    name, reverse = COLUMN_SORTS.get(sort, COLUMN_SORTS["newest"])
    keys = np.array([_key(x[name]) for x in m.meta], np.float64)
    ties = m.docs
    if reverse:
        keys, ties = -keys, -ties
    return first(np.where(np.isnan(keys), np.inf, keys), ties, n).tolist()


def _key(value: Any) -> float:
    if value is None:
        return math.nan
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return float(value)


def _facets(meta: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts of each facet's non-empty values, most first; ties: the earlier document's."""
    out = {}
    for name in FACET_FIELDS:
        counts = Counter(x[name] for x in meta if x[name])
        firsts: dict[str, int] = {}
        for i, x in enumerate(meta):
            firsts.setdefault(x[name], i)
        out[name] = {v: counts[v] for v in sorted(counts, key=lambda v: (-counts[v], firsts[v]))}
    return out


def _hits(conn: Connection, stats: Stats, kind: str, docnums: list[int],
          scores: list[float] | None, terms: list[QueryTerm]) -> list[Hit]:
    """The hits of ``docnums``: stored fields, matched terms, and the score (``None``:
    each document's own BM25F, for pages sorted by a column)."""
    if not docnums:
        return []
    rows = {r["docnum"]: r for r in conn.execute(sa.text(
        "SELECT docnum, title, terms, " + ", ".join(META)
        + " FROM search_docs WHERE docnum = ANY(:d)"), {"d": docnums}).mappings()}
    scorer = stats.scorer()
    hits = []
    for i, d in enumerate(docnums):
        row = rows[d]
        exact, matched = (scorer.score(terms, DocVector.from_stored(row["terms"])) if terms
                          else (0.0, []))
        fields: dict[str, Any] = {"id": row["doc_id"]}
        for name in META[1:]:
            if row[name] is not None:
                fields[name] = row[name].astimezone(UTC) if name in (
                    "deadline", "published_at") else row[name]
        fields["title"] = row["title"]
        score = exact if scores is None else scores[i]
        hits.append(Hit(kind=kind, id=row["doc_id"], score=round(score or 0.0, 4),
                        fields=fields, matched=matched))
    return hits


def view(conn: Connection, resident: Resident, kind: str) -> PgView:
    """The kind's index as ``conn``'s snapshot sees it, over the resident columns."""
    stats = Stats(conn, kind)
    return PgView(conn, kind, resident.current(conn, kind, stats.docs), stats.docs,
                  stats.avg)


def search(conn: Connection, resident: Resident, analyzer: Analyzer, text: str, *,
           kind: str, filters: Filters | None, sort: SortKey, page: int, pagesize: int,
           facets: bool, dense: Mapping[str, float] | None) -> SearchResult:
    """``PgEngine.search`` in ``conn``: a few candidates (a challenge's bids) scored
    here from their stored terms, more by the shared search code over a ``PgView``."""
    typed = bool(text and text.strip())
    few = _few(conn, kind, filters)
    if few is None:
        v = view(conn, resident, kind)
        if typed:
            v.prefetch_terms(analyzer, text)
        return whoosh_search.search(analyzer, v, text, kind=kind, filters=filters,
                                    sort=sort, page=page, pagesize=pagesize,
                                    facets=facets, dense=dense)
    page = max(1, int(page))
    pagesize = max(1, min(int(pagesize), 100))
    stats = Stats(conn, kind)
    terms = stats.terms(analyzer, text, SEARCH_MAX_TERMS) if typed else []
    names = [t.text for t in terms]
    if typed and not terms and not dense:
        return SearchResult([], 0, page, pagesize, _facets([]) if facets else {}, names)
    if typed:
        m = _few_matches(stats, terms, few, dense, SEARCH)
    else:  # every candidate, by a column
        m = Matches([[docnum, 0.0, *meta] for docnum, _terms, *meta in few])
        sort = "newest" if sort == "relevance" else sort
    unscored = sort != "relevance"
    start = (page - 1) * pagesize
    ordered = _order(m, sort, start + pagesize)[start:]
    hits = _hits(conn, stats, kind, [int(m.docs[i]) for i in ordered],
                 None if unscored and typed else [float(m.scores[i]) for i in ordered],
                 terms)
    return SearchResult(hits, len(m), page, pagesize, _facets(m.meta) if facets else {},
                        names)


def rank(conn: Connection, resident: Resident, analyzer: Analyzer, query: Doc | str, *,
         kind: str, filters: Filters | None, limit: int, max_terms: int | None,
         dense: Mapping[str, float] | None, fusion: Mapping[str, float] | None
         ) -> list[Hit]:
    """``PgEngine.rank`` in ``conn`` (a few candidates here, more over a ``PgView``)."""
    few = _few(conn, kind, filters)
    if few is None:
        v = view(conn, resident, kind)
        v.prefetch_terms(analyzer, query)
        return whoosh_search.rank(analyzer, v, query, kind=kind, filters=filters,
                                  limit=limit, max_terms=max_terms, dense=dense,
                                  fusion=fusion)
    stats = Stats(conn, kind)
    terms = stats.terms(analyzer, query, max_terms or MAX_QUERY_TERMS)
    if not terms and not dense:
        return []
    m = _few_matches(stats, terms, few, dense, fusion or DOCUMENT)
    best = _order(m, "relevance", limit)
    return _hits(conn, stats, kind, [int(m.docs[i]) for i in best],
                 [float(m.scores[i]) for i in best], terms)
