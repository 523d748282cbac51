"""Reading the index: statistics, query terms, BM25F in SQL, fusion, facets, pages.

Scoring is the Whoosh engine's (ranking.py): the same query terms (weights, synonyms,
bigram backoff, ``max_terms`` by IDF), the same BM25F (per-field length
normalisation, field weights, one saturation) computed by PostgreSQL over the postings
of the query terms, the same fusion with the dense side, the same ties (the lower
document number first) and the same matched terms.
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
from ..engine import FACET_FIELDS, FILTER_FIELDS, Doc, Filters, Hit, SearchResult
from ..fusion import DOCUMENT, SEARCH, fuse_arrays
from ..ranking import (
    DOC_FIELD_B,
    DOC_FIELD_WEIGHTS,
    K1,
    MAX_QUERY_TERMS,
    DocVector,
    QueryTerm,
    Scorer,
    bm25_idf,
    query_terms,
)
from ..whoosh.arrays import first
from ..whoosh.filters import values
from ..whoosh.search import (
    COLUMN_SORTS,
    RECOMMEND_MAX_TERMS,
    SEARCH_MAX_TERMS,
    SMALL_CANDIDATE_SET,
    VECTOR_SCORING_MAX,
)
from .tables import FIELDS
from .write import INTS, TEXTS, aware_utc, ints, texts

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


def where(filters: Filters | None, params: dict[str, Any]) -> str:
    """``filters`` as SQL over ``search_docs d`` (its parameters added to ``params``)."""
    parts = ["d.live"]
    f = filters or Filters()
    for name in FILTER_FIELDS:
        vals = values(getattr(f, name))
        if vals:
            params[f"f_{name}"] = vals
            parts.append(f"d.{name} = ANY(:f_{name})")
    if f.bounty_min is not None:
        params["f_bmin"] = int(f.bounty_min)
        parts.append("d.bounty >= :f_bmin")
    if f.bounty_max is not None:
        params["f_bmax"] = int(f.bounty_max)
        parts.append("d.bounty <= :f_bmax")
    if f.deadline_after is not None:
        params["f_dafter"] = aware_utc(f.deadline_after)
        parts.append("d.deadline >= :f_dafter")
    if f.deadline_before is not None:
        params["f_dbefore"] = aware_utc(f.deadline_before)
        parts.append("d.deadline <= :f_dbefore")
    if f.exclude_ids:
        params["f_exclude"] = [str(i) for i in f.exclude_ids]
        parts.append("NOT (d.doc_id = ANY(:f_exclude))")
    if f.ids is not None:
        params["f_ids"] = values(f.ids)
        parts.append("d.doc_id = ANY(:f_ids)")
    return " AND ".join(parts)


def _score_sql(stats: Stats, terms: list[QueryTerm], filters: Filters | None,
               params: dict[str, Any]) -> str:
    """SQL giving ``docnum, score`` of every document passing ``filters`` that holds a
    query term: ``Scorer.score`` summed by PostgreSQL."""
    params.update(q_t=[q.text for q in terms], q_w=[q.weight for q in terms],
                  q_i=[stats.idf(q.text) for q in terms], k1=K1)
    tf = []
    for f in FIELDS:
        b = DOC_FIELD_B[f]
        avg = max(stats.avg[f], 1.0)  # as Scorer
        params[f"w_{f}"], params[f"c_{f}"], params[f"e_{f}"] = (
            DOC_FIELD_WEIGHTS[f], 1.0 - b, b / avg)
        tf.append(f"p.tf_{f} * :w_{f} / (:c_{f} + :e_{f} * d.len_{f})")
    return (
        "SELECT p.docnum, sum(q.w * q.i * x.tf * (:k1 + 1.0) / (:k1 + x.tf)) AS score "
        "FROM unnest(CAST(:q_t AS text[]), CAST(:q_w AS float8[]), CAST(:q_i AS float8[])) "
        "AS q(t, w, i) JOIN search_postings p ON p.kind = :kind AND p.term = q.t "
        "JOIN search_docs d ON d.docnum = p.docnum "
        f"CROSS JOIN LATERAL (SELECT {' + '.join(tf)} AS tf) x "
        f"WHERE {where(filters, params)} GROUP BY p.docnum"
    )


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
    rows = conn.execute(sa.text(
        f"SELECT d.docnum, d.terms, {', '.join(f'd.{c}' for c in META)} FROM search_docs d "
        f"WHERE d.kind = :kind AND {where(filters, params)} "
        f"ORDER BY d.docnum LIMIT {VECTOR_SCORING_MAX + 1}"), params).all()
    return rows if len(rows) <= VECTOR_SCORING_MAX else None


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


_ORDER = {"relevance": "score DESC, docnum ASC",
          "newest": "published_at DESC NULLS LAST, docnum DESC",
          "deadline": "deadline ASC NULLS LAST, docnum ASC",
          "bounty": "bounty DESC NULLS LAST, docnum DESC"}


def _ranked(conn: Connection, stats: Stats, terms: list[QueryTerm], filters: Filters | None,
            dense: Mapping[str, float] | None, fusion: Mapping[str, float], *, sort: str,
            offset: int, limit: int, facets: bool
            ) -> tuple[list[tuple[int, float]], int, dict[str, dict[str, int]]]:
    """Many candidates: scores, fusion, order, total and facets all in one statement;
    returns the page's (document, score), the total and the facet counts."""
    params: dict[str, Any] = {"kind": stats.kind}
    scored = (_score_sql(stats, terms, filters, params) if terms else
              "SELECT NULL::bigint AS docnum, NULL::float8 AS score WHERE false")
    if dense:
        ids = list(dense)
        params.update(n_id=texts(str(i) for i in ids), n_sim=ints(dense[i] for i in ids),
                      w=fusion["lexical_weight"], span=fusion["span"])
        fused = (
            "n AS MATERIALIZED (SELECT d.docnum, x.sim FROM unnest("
            f"{TEXTS.format('n_id')}, {INTS.format('n_sim', 'float8')}) AS x(id, sim) "
            "JOIN search_docs d ON d.kind = :kind AND d.doc_id = x.id "
            f"WHERE {where(filters, params)}), "
            "u AS (SELECT coalesce(s.docnum, n.docnum) AS docnum, coalesce(s.score, 0) AS lex, "
            "n.sim FROM s FULL JOIN n ON n.docnum = s.docnum), "
            "b AS (SELECT max(lex) AS top, max(sim) AS high FROM u), "
            # fusion.fuse_arrays, when the dense side has a document passing the filters
            "f AS (SELECT u.docnum, CASE WHEN b.high IS NULL THEN u.lex ELSE "
            ":w * CASE WHEN b.top > 0 THEN u.lex / b.top ELSE 0 END + (1 - :w) * "
            "greatest(0, (coalesce(u.sim, b.high - :span) - (b.high - :span)) / :span) END "
            "AS score FROM u, b)")
    else:
        fused = "f AS (SELECT docnum, score FROM s)"
    parts = [f"(SELECT 0 AS part, docnum, score, NULL::text AS value, 0::bigint AS n "
             f"FROM fd ORDER BY {_ORDER.get(sort, _ORDER['newest'])} LIMIT :lim OFFSET :off)",
             "SELECT 1, NULL, NULL, NULL, count(*) FROM fd"]
    if facets:
        parts += [f"SELECT {2 + i}, min(docnum), NULL, {name}, count(*) FROM fd "
                  f"WHERE {name} <> '' GROUP BY {name}" for i, name in enumerate(FACET_FIELDS)]
    params.update(lim=limit, off=offset)
    rows = conn.execute(sa.text(
        f"WITH s AS MATERIALIZED ({scored}), {fused}, fd AS MATERIALIZED (SELECT f.docnum, "
        "f.score, d.industry, d.category, d.state, d.bounty, d.deadline, d.published_at "
        "FROM f JOIN search_docs d ON d.docnum = f.docnum) " + " UNION ALL ".join(parts)),
        params).all()
    page = [(r[1], r[2]) for r in rows if r[0] == 0]
    total = next(r[4] for r in rows if r[0] == 1)
    counts: dict[str, dict[str, int]] = {}
    if facets:
        for i, name in enumerate(FACET_FIELDS):
            found = sorted((r for r in rows if r[0] == 2 + i), key=lambda r: (-r[4], r[1]))
            counts[name] = {r[3]: r[4] for r in found}
    return page, int(total), counts


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


def search(conn: Connection, analyzer: Analyzer, text: str, *, kind: str,
           filters: Filters | None, sort: str, page: int, pagesize: int, facets: bool,
           dense: Mapping[str, float] | None) -> SearchResult:
    """``PgEngine.search`` in ``conn``."""
    page = max(1, int(page))
    pagesize = max(1, min(int(pagesize), 100))
    stats = Stats(conn, kind)
    typed = bool(text and text.strip())
    if not typed:
        return _browse(conn, stats, kind, filters, "newest" if sort == "relevance" else sort,
                       page, pagesize, facets)
    terms = stats.terms(analyzer, text, SEARCH_MAX_TERMS)
    unscored = sort != "relevance"
    start = (page - 1) * pagesize
    names = [t.text for t in terms]
    if not terms and not dense:
        return SearchResult([], 0, page, pagesize, _facets([]) if facets else {}, names)
    few = _few(conn, kind, filters)
    if few is not None:
        m = _few_matches(stats, terms, few, dense, SEARCH)
        ordered = _order(m, sort, start + pagesize)[start:]
        hits = _hits(conn, stats, kind, [int(m.docs[i]) for i in ordered],
                     None if unscored else [float(m.scores[i]) for i in ordered], terms)
        return SearchResult(hits, len(m), page, pagesize, _facets(m.meta) if facets else {},
                            names)
    found, total, counts = _ranked(conn, stats, terms, filters, dense, SEARCH, sort=sort,
                                   offset=start, limit=pagesize, facets=facets)
    hits = _hits(conn, stats, kind, [d for d, _ in found],
                 None if unscored else [s for _, s in found], terms)
    return SearchResult(hits, total, page, pagesize, counts, names)


_BROWSE = {"newest": "d.published_at DESC NULLS LAST, d.docnum DESC",
           "deadline": "d.deadline ASC NULLS LAST, d.docnum ASC",
           "bounty": "d.bounty DESC NULLS LAST, d.docnum DESC"}


def _browse(conn: Connection, stats: Stats, kind: str, filters: Filters | None, sort: str,
            page: int, pagesize: int, facets: bool) -> SearchResult:
    """No text: every document passing ``filters``, by a column (counted in SQL)."""
    params: dict[str, Any] = {"kind": kind}
    cond = f"d.kind = :kind AND {where(filters, params)}"
    total = conn.execute(sa.text(f"SELECT count(*) FROM search_docs d WHERE {cond}"),
                         params).scalar_one()
    rows = conn.execute(sa.text(
        f"SELECT d.docnum FROM search_docs d WHERE {cond} "
        f"ORDER BY {_BROWSE.get(sort, _BROWSE['newest'])} LIMIT :n OFFSET :o"),
        {**params, "n": pagesize, "o": (page - 1) * pagesize}).scalars().all()
    counts: dict[str, dict[str, int]] = {}
    if facets:
        for name in FACET_FIELDS:
            found = conn.execute(sa.text(
                f"SELECT d.{name}, count(*), min(d.docnum) FROM search_docs d "
                f"WHERE {cond} AND d.{name} <> '' GROUP BY d.{name}"), params).all()
            counts[name] = {v: n for v, n, _ in sorted(found, key=lambda r: (-r[1], r[2]))}
    return SearchResult(_hits(conn, stats, kind, list(rows), [0.0] * len(rows), []), total,
                        page, pagesize, counts, [])


def rank(conn: Connection, analyzer: Analyzer, query: Doc | str, *, kind: str,
         filters: Filters | None, limit: int, max_terms: int | None,
         dense: Mapping[str, float] | None, fusion: Mapping[str, float] | None
         ) -> list[Hit]:
    """``PgEngine.rank`` in ``conn``."""
    stats = Stats(conn, kind)
    if max_terms is None:
        small = False
        if filters is not None:
            params: dict[str, Any] = {"kind": kind}
            n = conn.execute(sa.text(
                f"SELECT count(*) FROM (SELECT 1 FROM search_docs d WHERE d.kind = :kind AND "
                f"{where(filters, params)} LIMIT {SMALL_CANDIDATE_SET + 1}) x"),
                params).scalar_one()
            small = n <= SMALL_CANDIDATE_SET
        max_terms = MAX_QUERY_TERMS if small else RECOMMEND_MAX_TERMS
    terms = stats.terms(analyzer, query, max_terms)
    if not terms and not dense:
        return []
    few = _few(conn, kind, filters)
    if few is not None:
        m = _few_matches(stats, terms, few, dense, fusion or DOCUMENT)
        best = _order(m, "relevance", limit)
        return _hits(conn, stats, kind, [int(m.docs[i]) for i in best],
                     [float(m.scores[i]) for i in best], terms)
    found, _total, _ = _ranked(conn, stats, terms, filters, dense, fusion or DOCUMENT,
                               sort="relevance", offset=0, limit=limit, facets=False)
    return _hits(conn, stats, kind, [d for d, _ in found], [s for _, s in found], terms)


