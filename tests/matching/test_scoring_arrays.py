"""The numpy scoring path against the reference: ``ranking.Scorer`` over stored term vectors.

A random corpus in several segments, with deletions, and again with pending writes
on top (the overlay); many random queries, filters, sorts and pages. The reference
scores every live document from its stored terms, with the field lengths Whoosh keeps
(one byte each), and sorts, pages and counts facets in plain Python.
"""

from __future__ import annotations

import pickle
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bounty.matching import fusion
from bounty.matching.engine import FACET_FIELDS, Filters
from bounty.matching.fusion import fuse
from bounty.matching.ranking import DocVector, QueryTerm
from bounty.matching.whoosh import WhooshEngine, adapter, search, segments
from bounty.matching.whoosh.schema import whoosh_length
from bounty.matching.whoosh.view import Reading

WORDS = ["伺服电机", "注塑模具", "鞋底", "耐磨性", "机器视觉", "缺陷检测", "PLC", "NB-IoT",
         "SUS304", "精度0.02mm", "寿命480h", "良品率", "IP67", "碳纤维", "激光焊接", "数控机床",
         "降低", "成本", "提高", "效率", "工艺", "参数", "优化", "验证", "团队", "方案"]
NOW = datetime(2026, 11, 1, tzinfo=UTC)
INDUSTRIES = ["服装", "眼镜", "鞋革", "智能锁"]


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(WORDS) for _ in range(n)) + "。"


def _challenge(rng: random.Random, i: int) -> dict:
    return {
        "kind": "challenge", "id": i, "title": _text(rng, rng.randint(1, 3)),
        # bodies up to ~1,500 characters: lengths past Whoosh's exact one-byte range
        "body": _text(rng, rng.choice([0, 3, 20, 60, 250])),
        "keywords": rng.sample(WORDS, rng.randint(0, 3)),
        "industry": rng.choice(INDUSTRIES), "category": rng.choice(["关键工艺", "工业软件"]),
        "state": rng.choice(["open", "open", "completed"]),
        "bounty": rng.randint(1, 6) * 100_000,  # ties on purpose
        "deadline": NOW + timedelta(days=rng.randint(0, 9)),
        "published_at": NOW - timedelta(days=rng.randint(0, 9)),
    }


def _queries(rng: random.Random, n: int) -> list[str]:
    out = [" ".join(rng.sample(WORDS, rng.randint(1, 5))) for _ in range(n)]
    return [*out, "伺服电机 不存在的词", "碳纤维激光", "耐磨"]


FILTERS = [None, Filters(state="open"), Filters(industry=["服装", "鞋革"]),
           Filters(bounty_min=200_000, bounty_max=400_000, state="open"),
           Filters(ids=[str(i) for i in range(1, 400, 3)]),  # more than 64: postings
           Filters(ids=[str(i) for i in range(1, 60, 2)])]  # vectors


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """Three segments, deletions and updates in old ones, then pending writes."""
    rng = random.Random(5)
    e = WhooshEngine(tmp_path_factory.mktemp("scoring") / "index", refresh=0)
    e.index([_challenge(rng, i) for i in range(1, 301)])
    e.flush()
    e.index([_challenge(rng, i) for i in range(301, 381)])
    e.remove("challenge", range(5, 300, 7))
    e.flush()
    e.index([_challenge(rng, i) for i in range(381, 400)] + [_challenge(rng, 2)])
    e.flush()
    yield e
    e.close()


def _pending(engine: WhooshEngine) -> None:
    rng = random.Random(9)
    engine.index([_challenge(rng, i) for i in (3, 301, 400, 401, 402)])
    engine.remove("challenge", [4, 381, 401])


def _approximate(vec: DocVector) -> DocVector:
    """``vec`` with the field lengths Whoosh stores per document (one byte each)."""
    return DocVector(vec.counts, {f: whoosh_length(n) for f, n in vec.lengths.items()})


def _reference(view: Reading, terms: list[QueryTerm], filters: Filters | None,
               *, exact: bool = False) -> dict[int, float]:
    """Every matching document's score, one document at a time (``exact``: the stored
    lengths, as the engine does for a few candidates)."""
    allowed = view.allowed(filters)
    docs = sorted(view.all_doc_ids() if allowed is None else allowed)
    scorer = view.scorer()
    out = {}
    for d in docs:
        vec = view.stored(d)[0]
        s, _ = scorer.score(terms, vec if exact else _approximate(vec))
        if s > 0:
            out[d] = s
    return out


def _check_scores(view: Reading, engine: WhooshEngine, queries: list[str]) -> None:
    for text in queries:
        terms = search._terms(engine.analyzer, view, text, search.SEARCH_MAX_TERMS)
        for f in FILTERS:
            docs, scores = search._score_postings(view, terms, view.allowed_docs(f))
            expected = _reference(view, terms, f)
            assert docs.tolist() == sorted(expected), (text, f)
            # the same doubles, added in the same order
            np.testing.assert_array_equal(scores, [expected[d] for d in docs.tolist()])


def test_postings_scores_equal_the_reference_scorer(engine):
    _check_scores(engine._reader("challenge"), engine, _queries(random.Random(1), 30))


def test_postings_scores_equal_the_reference_scorer_with_pending_writes(engine):
    _pending(engine)
    try:
        view = engine._reader("challenge")
        assert type(view).__name__ == "Overlaid"
        _check_scores(view, engine, _queries(random.Random(2), 15))
    finally:
        engine.flush()


def _column_order(view: Reading, docs: list[int], sort: str) -> list[int]:
    name, reverse = search.COLUMN_SORTS[sort]
    col = view.values(name)
    if reverse:
        return sorted(docs, key=lambda d: (col[d], d), reverse=True)
    return sorted(docs, key=lambda d: (col[d], d))


def _facets(view: Reading, docs: list[int]) -> dict[str, list[tuple[str, int]]]:
    out = {}
    for name in FACET_FIELDS:
        col = view.values(name)
        counts = Counter(col[d] for d in docs)
        first = {}
        for d in docs:
            first.setdefault(col[d], d)
        out[name] = [(v, counts[v]) for v in sorted(counts, key=lambda v: (-counts[v], first[v]))
                     if v]
    return out


@pytest.mark.parametrize("pending", [False, True])
def test_search_pages_sorts_and_facets_equal_the_reference(engine, pending):
    if pending:
        _pending(engine)
    try:
        view = engine._reader("challenge")
        for text in _queries(random.Random(3), 12):
            terms = search._terms(engine.analyzer, view, text, search.SEARCH_MAX_TERMS)
            scorer = view.scorer()
            for f in FILTERS[:5]:
                scores = _reference(view, terms, f)
                for sort in ("relevance", "newest", "deadline", "bounty"):
                    if sort == "relevance":
                        order = sorted(scores, key=lambda d: (-scores[d], d))
                    else:
                        order = _column_order(view, list(scores), sort)
                    for page in (1, 3):
                        r = engine.search(text, filters=f, sort=sort, page=page, pagesize=7)
                        assert r.total == len(scores)
                        page_docs = order[(page - 1) * 7:page * 7]
                        key = (text, f, sort, page)
                        assert [h.id for h in r.hits] == [view.stored(d)[1]["id"]
                                                          for d in page_docs], key
                        for h, d in zip(r.hits, page_docs, strict=True):
                            vec = view.stored(d)[0]
                            exact, matched = scorer.score(terms, vec)
                            s = scores[d] if sort == "relevance" else exact
                            assert h.score == round(s, 4) and h.matched == matched, key
                        facets = _facets(view, sorted(scores))
                        assert {k: list(v.items()) for k, v in r.facets.items()} == facets
    finally:
        engine.flush()


def test_rank_equals_the_reference(engine):
    view = engine._reader("challenge")
    rng = random.Random(4)
    for _ in range(10):
        query = {"title": _text(rng, 2), "body": _text(rng, 30)}
        for f in FILTERS:
            hits = engine.rank(query, kind="challenge", filters=f, limit=15)
            allowed = view.allowed(f)
            small = allowed is not None and len(allowed) <= search.SMALL_CANDIDATE_SET
            terms = search._terms(engine.analyzer, view, query, search.MAX_QUERY_TERMS if small
                                  else search.RECOMMEND_MAX_TERMS)
            exact = allowed is not None and len(allowed) <= search.VECTOR_SCORING_MAX
            scores = _reference(view, terms, f, exact=exact)
            best = sorted(scores, key=lambda d: (-scores[d], d))[:15]
            assert [h.id for h in hits] == [view.stored(d)[1]["id"] for d in best]
            assert [h.score for h in hits] == [round(scores[d], 4) for d in best]


def _fuse(lexical: dict[int, float], dense: dict[int, float], lexical_weight: float,
          span: float) -> dict[int, float]:
    """The rule of bounty.matching.fusion, one document at a time."""
    top, high = max(lexical.values(), default=0.0), max(dense.values())
    low = high - span
    w = lexical_weight
    return {d: w * (lexical.get(d, 0.0) / top if top > 0 else 0.0)
            + (1.0 - w) * (max(0.0, (dense[d] - low) / span) if d in dense else 0.0)
            for d in lexical.keys() | dense.keys()}


def test_fusion_of_dicts_and_arrays_is_the_rule():
    lexical, dense = {1: 2.0, 2: 1.0, 4: 0.5}, {2: 0.8, 3: 0.75, 5: 0.55}
    for setting in (fusion.DOCUMENT, fusion.SEARCH):
        assert fuse(lexical, dense, **setting) == _fuse(lexical, dense, **setting)
    assert fuse(lexical, {}) == lexical


@pytest.mark.parametrize("text", ["伺服电机 鞋底", "不存在的词", ""])
def test_dense_similarities_fuse_as_the_rule_says(engine, text):
    view = engine._reader("challenge")
    dense = {str(i): 0.6 + (i % 13) / 50 for i in range(1, 420, 5)}
    ids = {view.stored(d)[1]["id"]: d for d in view.all_doc_ids()}
    near = {ids[i]: s for i, s in dense.items() if i in ids}
    r = engine.search(text, dense=dense, pagesize=30, facets=False)
    if not text:  # no text: the dense side is not used
        assert r.total == view.doc_count
        return
    terms = search._terms(engine.analyzer, view, text, search.SEARCH_MAX_TERMS)
    fused = _fuse(_reference(view, terms, None), near, **fusion.SEARCH)
    best = sorted(fused, key=lambda d: (-fused[d], d))[:30]
    assert r.total == len(fused)
    assert [h.id for h in r.hits] == [view.stored(d)[1]["id"] for d in best]
    assert [h.score for h in r.hits] == [round(fused[d], 4) for d in best]
    hits = engine.rank(text, kind="challenge", dense=dense, limit=30)
    terms = search._terms(engine.analyzer, view, text, search.RECOMMEND_MAX_TERMS)
    fused = _fuse(_reference(view, terms, None), near, **fusion.DOCUMENT)
    best = sorted(fused, key=lambda d: (-fused[d], d))[:30]
    assert [(h.id, h.score) for h in hits] == [(view.stored(d)[1]["id"], round(fused[d], 4))
                                              for d in best]


@pytest.mark.parametrize("parallel_blocks", [64, 2])  # 2: decompressed in two threads
def test_segment_postings_equal_whooshs_matcher(engine, monkeypatch, parallel_blocks):
    monkeypatch.setattr(adapter, "PARALLEL_BLOCKS", parallel_blocks)
    view = engine.store.view("challenge")
    assert len(view._segment_bases) > 1
    for base in view._segment_bases:
        for field in ("title", "keywords", "body", "grams"):
            for term in [*WORDS, "不存在"]:
                ids, weights = adapter.segment_postings(base, field, term)
                assert ids.dtype == np.int32 and weights.dtype == np.float32
                got = [(d, w) for d, w in zip(ids.tolist(), weights.tolist(), strict=True)
                       if not base.is_deleted(d)]
                expected = []
                if (field, term) in base:
                    m = base.postings(field, term)  # skips deleted documents
                    while m.is_active():
                        expected.append((m.id(), m.weight()))
                        m.next()
                assert got == expected, (field, term)
            lengths = adapter.segment_lengths(base, field)
            assert lengths.tolist() == [base.doc_field_length(d, field, 0) or 0
                                        for d in range(base.doc_count_all())]


def test_warming_decodes_the_frequent_terms_and_changes_no_result(tmp_path, monkeypatch):
    monkeypatch.setattr(segments, "WARM_SEGMENT_DOCS", 100)
    monkeypatch.setattr(segments, "WARM_MIN_SHARE", 0.3)
    monkeypatch.setattr(segments, "WARM_DUTY", 1.0)
    rng = random.Random(6)
    e = WhooshEngine(tmp_path / "index", refresh=0)
    try:
        e.index([_challenge(rng, i) for i in range(1, 201)])
        e.flush()
        before = [e.search(q) for q in ("伺服电机", "鞋底 良品率")]
        (base,) = e.store.view("challenge")._segment_bases
        for _ in range(200):  # the first decode started the warmer: wait for it
            if not any(t.name == "bounty-warm" for t in threading.enumerate()):
                break
            time.sleep(0.05)
        cache = adapter.segment_memo(base)["postings"]
        frequent = {(f, t.decode()) for f in ("title", "body", "grams")
                    for t, info in base.iter_field(f) if info.doc_frequency() >= 60}
        assert frequent and all(cache.get(key) is not None for key in frequent)
        assert [e.search(q) for q in ("伺服电机", "鞋底 良品率")] == before
    finally:
        e.close()
    assert adapter.segment_memo(base)["warming"].is_set()  # closing stops a warmer


def _block(ids: list[int], weights: list[float]) -> bytes:
    """A posting block's data as Whoosh's W3PostingsWriter pickles it."""
    from array import array

    deltas = tuple(b - a for a, b in zip([0, *ids], ids, strict=False))
    w = array("f", weights)
    mini = None if all(x == 1.0 for x in w) else w[0] if all(x == w[0] for x in w) else tuple(w)
    values = b"".join(int(x).to_bytes(4, "big") for x in weights)
    return pickle.dumps((deltas, mini, values), 2)


@pytest.mark.parametrize("first", [0, 200, 300, 70_000, 2**31 - 200])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 128])
@pytest.mark.parametrize("weights", ["ones", "same", "varied"])
def test_blocks_parsed_with_numpy_equal_unpickled_blocks(first, count, weights):
    rng = random.Random(first + count)
    blocks, counts = [], []
    for b in range(3):
        ids = [first + b * 1000]
        for _ in range(count - 1):
            ids.append(ids[-1] + rng.randint(1, 5))
        w = {"ones": [1.0] * count, "same": [3.0] * count,
             "varied": [float(rng.randint(1, 300)) for _ in ids]}[weights]
        blocks.append(_block(ids, w))
        counts.append(count)
    parsed = adapter._parse_blocks(blocks, counts)
    expected = adapter._unpickle_blocks(blocks, counts)
    assert parsed is not None
    assert parsed[0].tolist() == expected[0].tolist()
    assert parsed[1].tolist() == expected[1].tolist()
    assert parsed[1].dtype == np.float32


def test_blocks_with_wide_gaps_are_unpickled():
    blocks = [_block([5, 6, 400, 401, 402], [1.0, 2.0, 1.0, 1.0, 7.0])]
    assert adapter._parse_blocks(blocks, [5]) is None  # a gap of 394: BININT2


@pytest.mark.parametrize("pending", [False, True])
def test_ids_filters_find_the_live_documents(engine, pending):
    if pending:
        _pending(engine)
    try:
        view = engine._reader("challenge")
        by_id = {view.stored_fields(d)["id"]: d for d in view.all_doc_ids()}
        wanted = [str(i) for i in range(0, 420, 3)]  # some deleted, some never indexed
        expected = frozenset(by_id[i] for i in wanted if i in by_id)
        assert view.allowed(Filters(ids=wanted)) == expected
        assert view.allowed(Filters(ids=wanted, state="open")) == frozenset(
            d for d in expected if view.stored_fields(d)["state"] == "open")
    finally:
        engine.flush()
