"""Queries over a read view: free-text search and ranking by a document.

Scoring is ours (ranking.py): term-at-a-time over Whoosh postings when many
documents may match, document-at-a-time over stored term vectors when the
candidates are few (a challenge's bids).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import numpy as np

from ..analyzer import GRAM_MARK, Analyzer
from ..engine import Doc, Filters, Hit, SearchResult, SortKey
from ..fusion import DOCUMENT, SEARCH, fuse_arrays
from ..ranking import MAX_QUERY_TERMS, QueryTerm, query_terms
from . import arrays
from .view import Reading

SEARCH_MAX_TERMS = 8
RECOMMEND_MAX_TERMS = 16
SMALL_CANDIDATE_SET = 3000
# Candidate sets up to this size are scored from stored vectors, larger ones from postings.
VECTOR_SCORING_MAX = 64
# sort -> (column, descending); descending sorts put the higher document number first
# on equal values, ascending ones the lower (documents without a value go last)
COLUMN_SORTS = {
    "newest": ("published_at", True),
    "deadline": ("deadline", False),
    "bounty": ("bounty", True),
}

Scored = tuple[np.ndarray, np.ndarray]  # document numbers (ascending) and their scores


def _terms(analyzer: Analyzer, view: Reading, q: Doc | str, max_terms: int) -> list[QueryTerm]:
    return query_terms(analyzer, q, view.idf, max_terms=max_terms)


def _score_postings(view: Reading, terms: list[QueryTerm], allowed: np.ndarray | None
                    ) -> Scored:
    """Term-at-a-time BM25F over the (cached, per-term) scores of the bounded terms:
    ``Scorer.saturate(q, tf) == q.weight * Scorer.unit(q.text, tf)``, added up in
    query-term order."""
    view.prefetch_postings([q.text for q in terms])
    postings = [(q.weight, *view.term_scores(q.text)) for q in terms]
    return arrays.accumulate(postings, view.doc_count_all, allowed)


def _matches(view: Reading, terms: list[QueryTerm], allowed: np.ndarray | None) -> np.ndarray:
    """The documents any term occurs in (what scoring would return), unscored."""
    view.prefetch_postings([q.text for q in terms])
    return arrays.matching((view.term_scores(q.text)[0] for q in terms), view.doc_count_all,
                           allowed)


def _score_vectors(view: Reading, terms: list[QueryTerm], docnums: Iterable[int]) -> Scored:
    scorer = view.scorer()
    docs, scores = [], []
    ordered = sorted(docnums)
    view.prefetch(ordered, vectors=True)
    for d in ordered:
        s, _ = scorer.score(terms, view.stored(d)[0])
        if s > 0:
            docs.append(d)
            scores.append(s)
    return np.array(docs, np.int64), np.array(scores, np.float64)


def _by_vectors(allowed: np.ndarray | None) -> bool:
    # A few candidates (a challenge's bids): score their stored vectors. More (digest
    # candidates, open challenges): per-term cached postings, shared by later queries.
    return allowed is not None and len(allowed) <= VECTOR_SCORING_MAX


def _scores(view: Reading, terms: list[QueryTerm], allowed: np.ndarray | None) -> Scored:
    if _by_vectors(allowed):
        assert allowed is not None
        return _score_vectors(view, terms, allowed.tolist())
    return _score_postings(view, terms, allowed)


def _hits(view: Reading, kind: str, docnums: list[int], scores: list[float] | None,
          terms: list[QueryTerm], *, by_vectors: bool) -> list[Hit]:
    """The hits of ``docnums``. ``scores`` ``None``: score each here (results sorted by
    a column); ``by_vectors``: the scores came from term vectors, so the matched terms
    come from them too (else from the per-term postings, which the scores came from)."""
    view.prefetch(docnums, vectors=bool(terms) and (scores is None or by_vectors))
    if terms and (scores is None or by_vectors):
        scorer = view.scorer()
        hits = []
        for i, d in enumerate(docnums):
            vec, stored = view.stored(d)
            exact, matched = scorer.score(terms, vec)
            hits.append(_hit(kind, stored, exact if scores is None else scores[i], matched))
        return hits
    matched = _matched(view, terms, docnums)
    return [_hit(kind, view.stored_fields(d), scores[i] if scores else 0.0, matched[i])
            for i, d in enumerate(docnums)]


def _matched(view: Reading, terms: list[QueryTerm], docnums: list[int]) -> list[list[str]]:
    """Each document's matched terms, as ``Scorer.score`` lists them: in query-term
    order, each word's origin then itself; bigrams are not listed."""
    out: list[dict[str, None]] = [{} for _ in docnums]
    page = np.array(docnums, np.int64)
    for q in terms:
        docs = view.term_scores(q.text)[0] if not q.text.startswith(GRAM_MARK) else ()
        if not len(docs) or not len(page):
            continue
        pos = np.minimum(np.searchsorted(docs, page), len(docs) - 1)
        for i in np.flatnonzero(docs[pos] == page).tolist():
            out[i][q.origin] = None
            out[i][q.text] = None
    return [list(m) for m in out]


def _hit(kind: str, stored: dict, score: float, matched: list[str]) -> Hit:
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
    allowed = view.allowed_docs(filters)
    terms = _terms(analyzer, view, text or "", SEARCH_MAX_TERMS) if text and text.strip() else []
    unscored = False
    if terms and sort != "relevance":
        # sorted by a column: which documents match is all that matters; the
        # page's hits are scored one by one
        docs = _matches(view, terms, allowed)
        scores = np.zeros(len(docs))
        unscored = True
    elif terms:
        docs, scores = _scores(view, terms, allowed)
    elif text and text.strip():
        docs, scores = arrays.EMPTY_DOCS, arrays.EMPTY_SCORES  # only unknown words
    else:
        docs = allowed if allowed is not None else view.live_docs()
        scores = np.zeros(len(docs))
        if sort == "relevance":
            sort = "newest"
        dense = None
    if dense:
        near_docs, near = _dense(view, dense, filters)
        if len(near_docs):
            docs, scores, sims = arrays.union(docs, scores, near_docs, near)
            scores = np.zeros(len(docs)) if unscored else fuse_arrays(scores, sims, **SEARCH)
    total = len(docs)
    start = (page - 1) * pagesize
    ordered = _order(view, docs, scores, sort, start + pagesize)[start:]
    hits = _hits(view, kind, docs[ordered].tolist(),
                 None if unscored else scores[ordered].tolist(), terms,
                 by_vectors=_by_vectors(allowed))
    counts: dict[str, dict[str, int]] = {}
    if facets:
        key = (tuple(t.text for t in terms), bool(text and text.strip()), repr(filters))
        counts = view.facet_counts(key, docs)
    return SearchResult(hits, total, page, pagesize, counts, [t.text for t in terms])


def _order(view: Reading, docs: np.ndarray, scores: np.ndarray, sort: str, n: int
           ) -> np.ndarray:
    """Positions in ``docs`` of the first ``n`` results."""
    if sort == "relevance":
        return arrays.best(docs, scores, n)
    name, reverse = COLUMN_SORTS.get(sort, COLUMN_SORTS["newest"])
    return arrays.by_column(docs, view.sort_keys(name), n, reverse=reverse)


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
    fusion: Mapping[str, float] | None = None,
) -> list[Hit]:
    """``WhooshEngine.rank`` over ``view`` (``None``: the kind has no index)."""
    if view is None:
        return []
    allowed = view.allowed_docs(filters)
    small = allowed is not None and len(allowed) <= SMALL_CANDIDATE_SET
    terms = _terms(
        analyzer, view, query_doc, max_terms or (MAX_QUERY_TERMS if small else RECOMMEND_MAX_TERMS)
    )
    if not terms and not dense:
        return []
    if terms:
        docs, scores = _scores(view, terms, allowed)
    else:
        docs, scores = arrays.EMPTY_DOCS, arrays.EMPTY_SCORES
    if dense:
        near_docs, near = _dense(view, dense, filters)
        if len(near_docs):
            docs, scores, sims = arrays.union(docs, scores, near_docs, near)
            scores = fuse_arrays(scores, sims, **(fusion or DOCUMENT))
    best = arrays.best(docs, scores, limit)
    return _hits(view, kind, docs[best].tolist(), scores[best].tolist(), terms,
                 by_vectors=_by_vectors(allowed))


def _dense(view: Reading, dense: Mapping[str, float], filters: Filters | None) -> Scored:
    """Dense similarities by doc number, for the documents that pass ``filters``."""
    ids = [str(i) for i in dense]
    docs = view.allowed(dataclasses.replace(filters or Filters(), ids=ids))
    out = {}
    for d in docs or ():
        doc_id = view.stored_fields(d)["id"]
        if doc_id in dense:
            out[d] = dense[doc_id]
    near = sorted(out)
    return np.array(near, np.int64), np.array([out[d] for d in near], np.float64)
