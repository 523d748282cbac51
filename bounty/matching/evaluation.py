"""Relevance evaluation: the production ranking against a stock baseline.

A set is a directory with ``queries.jsonl`` (``{"id", "title"?, "text"}``),
``docs.jsonl`` (``{"id", "title", "text"}``) and ``qrels.tsv`` (``query_id
doc_id grade`` with a header). Queries play challenges and docs play bids:
both go through exactly the production path (``WhooshEngine.rebuild`` and
``Matcher.rank`` as ``rank_bids`` calls it, with the docs' vectors and latent terms in
a memory store), so the figures are the product's. ``best@2`` is the share of queries
whose best-graded documents (up to two) are the top of the ranking.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .vectors import text_hash

EVAL_KIND = "bid"  # the docs play bids (vectors.ANSWER_KINDS)


@dataclass(slots=True)
class EvalSet:
    queries: list[dict[str, Any]]
    docs: list[dict[str, Any]]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_set(directory: str | Path, subset: str | None = None) -> EvalSet:
    """Read a set; ``subset`` keeps queries flagged true in ``queries_meta.jsonl``."""
    d = Path(directory)
    queries = _jsonl(d / "queries.jsonl")
    docs = _jsonl(d / "docs.jsonl")
    qrels: dict[str, dict[str, int]] = {}
    with (d / "qrels.tsv").open(encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader, None)
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    if subset:
        meta = {m["id"]: m for m in _jsonl(d / "queries_meta.jsonl")}
        queries = [q for q in queries if meta.get(q["id"], {}).get(subset)]
    queries = [q for q in queries if any(g > 0 for g in qrels.get(q["id"], {}).values())]
    return EvalSet(queries, docs, qrels)


def dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg(ranked: list[str], judged: dict[str, int], k: int) -> float:
    gains = [2 ** judged.get(d, 0) - 1 for d in ranked[:k]]
    ideal = sorted((2**g - 1 for g in judged.values() if g > 0), reverse=True)[:k]
    best = dcg(ideal)
    return dcg(gains) / best if best else 0.0


def mrr(ranked: list[str], judged: dict[str, int], k: int) -> float:
    for i, d in enumerate(ranked[:k]):
        if judged.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def best_on_top(ranked: list[str], judged: dict[str, int]) -> float:
    """1 if the best-graded documents (up to two) fill the top of the ranking, else 0."""
    top = max(judged.values(), default=0)
    best = {d for d, g in judged.items() if g == top and g > 0}
    need = min(2, len(best))
    return 1.0 if need and set(ranked[:need]) <= best else 0.0


def recall(ranked: list[str], judged: dict[str, int], k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


Ranker = Callable[[dict[str, Any]], list[tuple[str, float]]]


def score_run(
    es: EvalSet, ranker: Ranker, system: str, run_file: Path | None = None
) -> dict[str, Any]:
    """Rank every query, compute the metrics and optionally write a TREC run."""
    totals = {"ndcg@3": 0.0, "ndcg@10": 0.0, "mrr@10": 0.0, "recall@50": 0.0,
              "best@2": 0.0}
    times: list[float] = []
    lines: list[str] = []
    for q in es.queries:
        t0 = time.perf_counter()
        ranking = ranker(q)
        times.append((time.perf_counter() - t0) * 1000)
        ids = [d for d, _ in ranking]
        judged = es.qrels.get(q["id"], {})
        totals["ndcg@3"] += ndcg(ids, judged, 3)
        totals["ndcg@10"] += ndcg(ids, judged, 10)
        totals["mrr@10"] += mrr(ids, judged, 10)
        totals["recall@50"] += recall(ids, judged, 50)
        totals["best@2"] += best_on_top(ids, judged)
        for rank, (doc_id, score) in enumerate(ranking[:100], start=1):
            lines.append(f"{q['id']} Q0 {doc_id} {rank} {score:.4f} {system}")
    n = len(es.queries) or 1
    result: dict[str, Any] = {"system": system}
    result.update({k: round(v / n, 4) for k, v in totals.items()})
    result["queries"] = len(es.queries)
    result["p50_ms"] = round(statistics.median(times), 2) if times else 0.0
    result["p95_ms"] = round(_percentile(times, 0.95), 2)
    if run_file is not None:
        with Path(run_file).open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
    return result


class CachedEmbedder:
    """An embedder whose vectors are kept in a SQLite file keyed by model, role and text,
    so re-running an evaluation embeds only what changed."""

    def __init__(self, embedder: Any, path: Path) -> None:
        self.inner = embedder
        self.name, self.version, self.dim = embedder.name, embedder.version, embedder.dim
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS v (k TEXT PRIMARY KEY, vec BLOB NOT NULL)")

    @property
    def key(self) -> str:
        return self.inner.key

    @property
    def terms_dim(self) -> int:
        return getattr(self.inner, "terms_dim", 0)

    def embed_terms(self, texts: Any, *, for_query: bool = False) -> list[Any]:
        from .terms import MAX_TERMS, MAX_TERMS_CHARS, pack_terms, unpack_terms

        out = []
        for text in texts:
            k = f"{self.key}|terms{MAX_TERMS}-{MAX_TERMS_CHARS}|{text_hash(text)}"
            row = self.db.execute("SELECT vec FROM v WHERE k = ?", (k,)).fetchone()
            terms = unpack_terms(row[0], self.terms_dim) if row is not None else None
            if terms is None:
                terms = self.inner.embed_terms([text], for_query=for_query)[0]
                self.db.execute("INSERT OR REPLACE INTO v VALUES (?, ?)",
                                (k, pack_terms(terms)))
                self.db.commit()
            out.append(terms)
        return out

    def _embed(self, role: str, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            k = f"{self.key}|{role}|{text_hash(text)}"
            row = self.db.execute("SELECT vec FROM v WHERE k = ?", (k,)).fetchone()
            if row is None:
                fn = self.inner.embed_queries if role == "query" else self.inner.embed_passages
                vec = fn([text])[0]
                self.db.execute("INSERT OR REPLACE INTO v VALUES (?, ?)", (k, vec.tobytes()))
                self.db.commit()
            else:
                vec = np.frombuffer(row[0], np.float32)
            out[i] = vec
        return out

    def embed_queries(self, texts: Any) -> np.ndarray:
        return self._embed("query", list(texts))

    def embed_passages(self, texts: Any) -> np.ndarray:
        return self._embed("passage", list(texts))


def _eval_doc(d: dict[str, Any]) -> dict[str, Any]:
    return {"kind": EVAL_KIND, "id": d["id"], "title": d.get("title", ""),
            "body": d.get("text", "")}


def _eval_query(q: dict[str, Any]) -> dict[str, Any]:
    return {"title": q.get("title", ""), "body": q.get("text", "")}


def production_ranker(es: EvalSet, index_dir: Path, system: str = "hybrid",
                      embedder: Any = None, backend: str = "whoosh",
                      database_url: str | None = None) -> Ranker:
    """Index the docs as bids with the production engine; rank as for a challenge.

    ``system``: ``hybrid`` (what ships: bounty.matching.hybrid.Matcher), ``lexical``
    (the engine alone) or ``dense`` (cosine similarity alone). ``backend``: the
    engine, ``whoosh`` (files in ``index_dir``) or ``postgres`` (tables in a scratch
    schema of the PostgreSQL database at ``database_url``, dropped afterwards).
    """
    from . import scripts
    from .engine import Filters
    from .hybrid import Matcher
    from .ranking import MAX_QUERY_TERMS
    from .reference import Reference
    from .vectors import PASSAGE, MemoryVectorStore, embed_text
    from .whoosh import WhooshEngine

    if backend == "postgres":
        if not database_url:
            raise ValueError("--backend postgres needs a PostgreSQL database: set "
                             "DATABASE_URL or pass --database-url")
        from .pgsearch.scratch import scratch_engine

        engine = scratch_engine(database_url, kinds=(EVAL_KIND,), prefix="bounty_eval")
    else:
        engine = WhooshEngine(index_dir, kinds=(EVAL_KIND,))
    engine.rebuild(_eval_doc(d) for d in es.docs)
    store = None
    if system != "lexical":
        store = MemoryVectorStore(embedder.key)
        docs = [_eval_doc(d) for d in es.docs]
        texts = [embed_text(d) for d in docs]
        vectors = embedder.embed_passages(texts)
        for d, v in zip(docs, vectors, strict=True):
            store.put(EVAL_KIND, d["id"], PASSAGE, v)
        if system == "hybrid" and getattr(embedder, "terms_dim", 0):
            for d, text, terms in zip(docs, texts, embedder.embed_terms(texts), strict=True):
                store.put_terms(EVAL_KIND, d["id"], terms, text_hash(text))
    matcher = Matcher(engine, store, embedder if system != "lexical" else None)
    # As rank_bids: every document is scored (its bids), and those in another script
    # than the query are scaled against a reference of challenges: here the set's
    # queries, which play the platform's challenges (scripts.py, reference.py).
    every = Filters(ids=[str(d["id"]) for d in es.docs])
    latin_docs = {str(d["id"]) for d in es.docs if scripts.latin(embed_text(_eval_doc(d)))}
    reference = None
    if system == "hybrid" and getattr(embedder, "terms_dim", 0) and latin_docs:
        qtexts = [embed_text(_eval_query(q)) for q in es.queries]
        reference = Reference(embedder.embed_queries(qtexts),
                              embedder.embed_terms(qtexts, for_query=True))

    def rank(q: dict[str, Any]) -> list[tuple[str, float]]:
        query = _eval_query(q)
        if system == "dense":
            sims = matcher.similarities(EVAL_KIND, query)
            return sorted(sims.items(), key=lambda x: (-x[1], x[0]))[:100]
        # the term budget of ranking a challenge's bids (rank_bids), not the
        # smaller one rank() gives an unfiltered query over a whole kind
        # and, as there, the latent terms (terms.py)
        query_latin = scripts.latin(embed_text(query))
        other = {d for d in every.ids if (d in latin_docs) != query_latin}
        hits = matcher.rank(query, kind=EVAL_KIND, filters=every, limit=100,
                            max_terms=MAX_QUERY_TERMS, latent=True, other_script=other,
                            reference=reference)
        return [(h.id, h.score) for h in hits]

    rank.engine = engine  # type: ignore[attr-defined]
    return rank


def stock_chinese_analyzer() -> Any:
    """jieba's own Whoosh analyzer, imported quietly (it leaks a file handle)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import jieba

        jieba.setLogLevel(60)
        from jieba.analyse import ChineseAnalyzer

        return ChineseAnalyzer()


def baseline_ranker(es: EvalSet, index_dir: Path) -> Ranker:
    """Plain Whoosh BM25F with jieba's stock ChineseAnalyzer: the reference."""
    from whoosh import fields, index, query, scoring

    analyzer = stock_chinese_analyzer()
    schema = fields.Schema(
        id=fields.ID(stored=True, unique=True),
        title=fields.TEXT(analyzer=analyzer),
        text=fields.TEXT(analyzer=analyzer),
    )
    ix = index.create_in(str(index_dir), schema)
    with ix.writer(limitmb=128) as w:
        for d in es.docs:
            w.add_document(id=str(d["id"]), title=d.get("title", ""), text=d.get("text", ""))
    searcher = ix.searcher(weighting=scoring.BM25F())

    def rank(q: dict[str, Any]) -> list[tuple[str, float]]:
        text = f"{q.get('title', '')} {q.get('text', '')}"
        terms = dict.fromkeys(t.text for t in analyzer(text))
        clauses = [query.Term(f, t) for t in terms for f in ("title", "text")]
        if not clauses:
            return []
        results = searcher.search(query.Or(clauses), limit=100)
        return [(r["id"], round(r.score, 4)) for r in results]

    rank.searcher = searcher  # type: ignore[attr-defined]
    return rank


SYSTEMS = ("hybrid", "lexical", "dense", "baseline")
DEFAULT_CACHE = Path.home() / ".cache" / "bounty" / "eval-vectors.sqlite3"


def evaluate(
    directory: str | Path,
    *,
    systems: Iterable[str] = ("hybrid",),
    baseline: bool = False,
    run_file: str | Path | None = None,
    subset: str | None = None,
    embedder: Any = None,
    cache: Path | None = DEFAULT_CACHE,
    backends: Iterable[str] = ("whoosh",),
    database_url: str | None = None,
) -> list[dict[str, Any]]:
    """Score the chosen systems on the set in ``directory`` (``baseline`` adds stock
    Whoosh BM25F + jieba), each on every engine of ``backends`` (``postgres``: in a
    scratch schema of ``database_url``). ``embedder`` defaults to the shipped model; its
    vectors are cached in ``cache`` (``None``: no cache)."""
    es = load_set(directory, subset)
    wanted = list(dict.fromkeys([*systems, *(["baseline"] if baseline else [])]))
    unknown = [s for s in wanted if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown system {unknown[0]!r}; choose from {', '.join(SYSTEMS)}")
    if embedder is None and any(s in ("hybrid", "dense") for s in wanted):
        from .embedder import load_embedder

        embedder = load_embedder("e5-small")
        if cache is not None:
            embedder = CachedEmbedder(embedder, cache)
    run_path = Path(run_file) if run_file else None
    if run_path is not None:
        run_path.write_text("", encoding="utf-8")
    results = []
    with tempfile.TemporaryDirectory(prefix="bounty-eval-") as tmp:
        for system in wanted:
            index_dir = Path(tmp) / system
            if system == "baseline":
                index_dir.mkdir()
                base = baseline_ranker(es, index_dir)
                try:
                    results.append(score_run(es, base, "baseline", run_path))
                finally:
                    base.searcher.close()  # type: ignore[attr-defined]
                continue
            for backend in dict.fromkeys(backends):
                ours = production_ranker(es, index_dir / backend, system, embedder,
                                         backend=backend, database_url=database_url)
                try:
                    results.append({**score_run(es, ours, system, run_path),
                                    "backend": backend})
                finally:
                    ours.engine.close()  # type: ignore[attr-defined]
    return results
