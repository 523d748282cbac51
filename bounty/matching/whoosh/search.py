"""Queries over a read view: free-text search and ranking by a document.

Scoring is ours (ranking.py): term-at-a-time over Whoosh postings when many
documents may match, document-at-a-time over stored term vectors when the
candidates are few (a challenge's bids).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from ..analyzer import Analyzer
from ..engine import Doc, Filters, Hit, SearchResult, SortKey
from ..fusion import SEARCH, fuse
from ..ranking import MAX_QUERY_TERMS, QueryTerm, query_terms
from .view import Reading

SEARCH_MAX_TERMS = 8
RECOMMEND_MAX_TERMS = 16
SMALL_CANDIDATE_SET = 3000
# Candidate sets up to this size are scored from stored vectors, larger ones from postings.
VECTOR_SCORING_MAX = 64


def _terms(analyzer: Analyzer, view: Reading, q: Doc | str, max_terms: int) -> list[QueryTerm]:
    return query_terms(analyzer, q, view.idf, max_terms=max_terms)


def _score_postings(
    view: Reading, terms: list[QueryTerm], allowed: frozenset[int] | None
) -> dict[int, float]:
    """Term-at-a-time BM25F over the (cached, per-term) postings of the bounded terms."""
    scores: dict[int, float] = {}
    for q in terms:
        units = view.term_units(q.text)
        w = q.weight  # Scorer.saturate(q, tf) == q.weight * Scorer.unit(q.text, tf)
        if allowed is None:
            pairs: Iterable[tuple[int, float]] = units.items()
        elif len(allowed) < len(units):
            pairs = ((d, units[d]) for d in allowed if d in units)
        else:
            pairs = ((d, c) for d, c in units.items() if d in allowed)
        for d, c in pairs:
            scores[d] = scores.get(d, 0.0) + w * c
    return scores


def _matches(view: Reading, terms: list[QueryTerm], allowed: frozenset[int] | None) -> set[int]:
    """The documents any term occurs in (what scoring would return), unscored."""
    if allowed is not None and len(allowed) <= SMALL_CANDIDATE_SET:
        return set(_score_vectors(view, terms, allowed))
    out = view.match_docs(terms)
    if allowed is not None:
        out &= allowed
    return out


def _score_vectors(view: Reading, terms: list[QueryTerm], docnums: Iterable[int]
                   ) -> dict[int, float]:
    scorer = view.scorer()
    out = {}
    for d in docnums:
        s, _ = scorer.score(terms, view.stored(d)[0])
        if s > 0:
            out[d] = s
    return out


def _scores(
    view: Reading, terms: list[QueryTerm], allowed: frozenset[int] | None
) -> dict[int, float]:
    # A few candidates (a challenge's bids): score their stored vectors. More (digest
    # candidates, open challenges): per-term cached postings, shared by later queries.
    if allowed is not None and len(allowed) <= VECTOR_SCORING_MAX:
        return _score_vectors(view, terms, allowed)
    return _score_postings(view, terms, allowed)


def _hit(
    view: Reading, kind: str, docnum: int, score: float | None, terms: list[QueryTerm]
) -> Hit:
    """A hit; ``score`` ``None`` means score it here (results sorted by a column)."""
    vec, stored = view.stored(docnum)
    if terms:
        exact, matched = view.scorer().score(terms, vec)
        score = exact if score is None else score
    else:
        matched = []
    score = score or 0.0
    meta = {k: v for k, v in stored.items() if k not in ("data", "key")}
    meta["title"] = stored["data"]["title"]
    for name in ("deadline", "published_at"):
        if isinstance(meta.get(name), datetime):
            meta[name] = meta[name].replace(tzinfo=UTC)
    return Hit(kind=kind, id=stored["id"], score=round(score, 4), fields=meta, matched=matched)


def search(
    analyzer: Analyzer,
    view: Reading | None,
    text: str,
    *,
    kind: str,
    filters: Filters | None,
    sort: SortKey,
    page: int,
    pagesize: int,
    facets: bool,
    dense: Mapping[str, float] | None = None,
) -> SearchResult:
    """``WhooshEngine.search`` over ``view`` (``None``: the kind has no index)."""
    page = max(1, int(page))
    pagesize = max(1, min(int(pagesize), 100))
    if view is None:
        return SearchResult([], 0, page, pagesize)
    allowed = view.allowed(filters)
    terms = _terms(analyzer, view, text or "", SEARCH_MAX_TERMS) if text and text.strip() else []
    unscored = False
    if terms and sort != "relevance":
        # sorted by a column: which documents match is all that matters; the
        # page's hits are scored one by one
        scores = dict.fromkeys(_matches(view, terms, allowed), 0.0)
        unscored = True
    elif terms:
        scores = _scores(view, terms, allowed)
    elif text and text.strip():
        scores = {}  # only unknown words: nothing can match
    else:
        docs = allowed if allowed is not None else view.all_doc_ids()
        scores = dict.fromkeys(docs, 0.0)
        if sort == "relevance":
            sort = "newest"
        dense = None
    if dense:
        near = _dense(view, dense, filters)
        scores = (dict.fromkeys(scores.keys() | near.keys(), 0.0) if unscored
                  else fuse(scores, near, **SEARCH))
    total = len(scores)
    start = (page - 1) * pagesize
    ordered = _order(view, scores, sort, start + pagesize)
    hits = [_hit(view, kind, d, None if unscored else scores[d], terms)
            for d in ordered[start:]]
    counts: dict[str, dict[str, int]] = {}
    if facets:
        key = (tuple(t.text for t in terms), bool(text and text.strip()), repr(filters))
        counts = view.facet_counts(key, scores)
    return SearchResult(hits, total, page, pagesize, counts, [t.text for t in terms])


def _order(view: Reading, scores: dict[int, float], sort: str, n: int) -> list[int]:
    if sort == "relevance":
        return heapq.nlargest(n, scores, key=lambda d: (scores[d], -d))
    name, reverse = {
        "newest": ("published_at", True),
        "deadline": ("deadline", False),
        "bounty": ("bounty", True),
    }.get(sort, ("published_at", True))
    col = view.values(name)
    keyed = ((col[d], d) for d in scores)
    if reverse:
        return [d for _, d in heapq.nlargest(n, keyed)]
    # documents without a deadline sort last
    return [d for _, d in heapq.nsmallest(n, ((v if v else float("inf"), d) for v, d in keyed))]


def rank(
    analyzer: Analyzer,
    view: Reading | None,
    query_doc: Doc | str,
    *,
    kind: str,
    filters: Filters | None,
    limit: int,
    max_terms: int | None,
    dense: Mapping[str, float] | None = None,
) -> list[Hit]:
    """``WhooshEngine.rank`` over ``view`` (``None``: the kind has no index)."""
    if view is None:
        return []
    allowed = view.allowed(filters)
    small = allowed is not None and len(allowed) <= SMALL_CANDIDATE_SET
    terms = _terms(
        analyzer, view, query_doc, max_terms or (MAX_QUERY_TERMS if small else RECOMMEND_MAX_TERMS)
    )
    if not terms and not dense:
        return []
    scores = _scores(view, terms, allowed) if terms else {}
    if dense:
        scores = fuse(scores, _dense(view, dense, filters))
    best = heapq.nlargest(limit, scores, key=lambda d: (scores[d], -d))
    return [_hit(view, kind, d, scores[d], terms) for d in best]


def _dense(view: Reading, dense: Mapping[str, float], filters: Filters | None) -> dict[int, float]:
    """Dense similarities by doc number, for the documents that pass ``filters``."""
    ids = [str(i) for i in dense]
    docs = view.allowed(dataclasses.replace(filters or Filters(), ids=ids))
    out = {}
    for d in docs or ():
        doc_id = view.stored(d)[1]["id"]
        if doc_id in dense:
            out[d] = dense[doc_id]
    return out
