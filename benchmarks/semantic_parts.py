"""The semantic parts of benchmarks/matching_bench.py (``--parts semantic,app``).

``semantic``: hybrid ranking through the production Matcher over the benchmark's
Whoosh index and a ``doc_vectors`` table in SQLite holding one vector per document and
role. Those corpus vectors are SYNTHETIC (random unit vectors, and for the latent terms
600 random features of a 16,384-feature space, about what a 300-character text lights
up: embedding 110,000 real
documents takes hours on two cores; their cost is measured separately below), while
every query is embedded for real by the bundled model, so (a) includes the query
embedding. Reports (a) search, (b) a challenge's bids, (c) recommendations, the memory
the resident vectors take, and the embedding throughput with the time ``bounty embed
--all`` would take for the corpus, extrapolated from real documents of the corpus.

``app``: a real app on a fresh SQLite instance with the demo data: what the request
that saves a bid pays for queuing its vector job, and how long until a new bid's
vector is stored by the embedding worker (freshness).
"""

from __future__ import annotations

import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from bounty.matching.embedder import load_embedder
from bounty.matching.engine import Filters
from bounty.matching.hybrid import Matcher
from bounty.matching.models import DocVector
from bounty.matching.terms import Terms, pack_terms
from bounty.matching.vectors import (
    PASSAGE,
    QUERY,
    ROLES,
    TERMS,
    DbVectorStore,
    embed_text,
    pack,
    sentences,
    text_hash,
)

TERMS_DIM = 16384
SYNTHETIC_TERMS = 600


def synthetic_vector(role: str, rng: np.random.Generator, dim: int) -> tuple[int, bytes]:
    """``(dim, bytes)`` of a random stored vector of ``role``: a unit vector, or latent
    terms (SYNTHETIC_TERMS random features with weights as the sparse head gives)."""
    if role == TERMS:
        ids = rng.choice(TERMS_DIM, SYNTHETIC_TERMS, replace=False)
        weights = rng.uniform(0.5, 1.6, SYNTHETIC_TERMS).astype(np.float32)
        return TERMS_DIM, pack_terms(Terms(ids, weights))
    v = rng.standard_normal(dim).astype(np.float32)
    v /= np.linalg.norm(v)
    return dim, pack(v[None, :])

ENGLISH = ["laser welding", "injection mold temperature", "fingerprint lock low power",
           "machine vision defect detection", "friction stir welding battery tray",
           "partial discharge monitoring", "graphene thermal film", "predictive maintenance"]


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1)


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * resource.getpagesize() / 1e6, 1)


def fill_vectors(db_path: Path, docs: Iterable[dict], model: str, dim: int,
                 seed: int = 5) -> int:
    """Synthetic unit vectors for every document and role of the corpus."""
    engine = sa.create_engine(f"sqlite:///{db_path}")
    DocVector.__table__.create(engine, checkfirst=True)
    rng = np.random.default_rng(seed)
    rows, n = [], 0
    from bounty.timeutil import utcnow

    now = utcnow()
    with engine.begin() as conn:
        for d in docs:
            text = embed_text(d)
            for role in ROLES[d["kind"]]:
                width, data = synthetic_vector(role, rng, dim)
                rows.append({"kind": d["kind"], "doc_id": str(d["id"]), "role": role,
                             "model": model, "text_hash": text_hash(text), "dim": width,
                             "vector": data, "updated_at": now})
            if len(rows) >= 5000:
                conn.execute(sa.insert(DocVector.__table__), rows)
                n += len(rows)
                rows = []
        if rows:
            conn.execute(sa.insert(DocVector.__table__), rows)
            n += len(rows)
    engine.dispose()
    return n


def semantic_part(args, engine, corpus, sample, queries, out, root: Path,  # noqa: ANN001
                  timed: Callable, section: str = "hybrid") -> None:
    """(a)-(c) through the Matcher, plus memory and embedding throughput (reported in
    ``section``)."""
    embedder = load_embedder("e5-small")
    db_path = root / f"vectors-{section}.sqlite3"  # one per engine of the run
    t0 = time.perf_counter()
    n = fill_vectors(db_path, corpus(args.challenges, args.bids), embedder.key, embedder.dim)
    out.put(section, "synthetic_vectors", n)
    out.put(section, "fill_vectors_s", round(time.perf_counter() - t0, 1))
    sql = sa.create_engine(f"sqlite:///{db_path}")
    store = DbVectorStore(sql.connect, embedder.key)
    before = current_rss_mb()
    t0 = time.perf_counter()
    matrix = store._matrix("challenge", PASSAGE)
    out.put(section, "load_challenge_matrix_s", round(time.perf_counter() - t0, 2))
    out.put(section, "resident_vectors_mb",
            round(matrix.data.nbytes / 1e6, 1))
    out.put(section, "rss_growth_loading_vectors_mb", round(current_rss_mb() - before, 1))
    matcher = Matcher(engine, store, embedder)
    rng = random.Random(3)
    typed = [q if rng.random() < 0.8 else rng.choice(ENGLISH) + f" {i}"
             for i, q in enumerate(queries)]  # unique: every query is embedded for real
    it_q = iter(typed)
    out.put(section, "a_search_with_query_embedding",
            timed(lambda: matcher.search(next(it_q), pagesize=20), args.queries))
    it_e = iter(typed)
    out.put(section, "a0_query_embedding_alone",
            timed(lambda: embedder.embed_queries([next(it_e) + " x"]), args.queries))
    # the corpus's own challenges (the same text as their stored vectors), not `sample`
    # (drawn with another sequence of the generator)
    own = [d for d in corpus(min(args.challenges, 2000), args.bids) if d["kind"] == "challenge"]
    challenges = [rng.choice(own) for _ in range(args.queries)]
    it_c = iter(challenges)

    def rank_bids() -> None:
        c = next(it_c)
        ids = [str(c["id"] * 100 + j) for j in range(args.bids)]
        matcher.rank(c, kind="bid", filters=Filters(challenge_id=str(c["id"]), ids=ids),
                     limit=50, latent=True)  # as rank_bids: with the latent terms

    out.put(section, "b_rank_bids", timed(rank_bids, args.queries))
    institute = np.asarray(rng.choices(range(1000), k=embedder.dim), np.float32)
    institute /= np.linalg.norm(institute)
    profiles = [" ".join(rng.sample(queries, 3)) for _ in range(args.queries)]
    it_p = iter(profiles)
    out.put(section, "c_recommend", timed(
        lambda: matcher.rank({"body": next(it_p)}, kind="challenge",
                             filters=Filters(state="open"), limit=20, vector=institute),
        args.queries))
    out.put(section, "peak_rss_mb", rss_mb())
    sql.dispose()

    # embedding throughput on real documents of the corpus, one at a time as the worker
    docs = list(corpus(30, 3, seed=41))
    kinds: dict[str, list[float]] = {"challenge": [], "bid": []}
    for d in docs:
        t0 = time.perf_counter()
        text = embed_text(d)
        for role in ROLES[d["kind"]]:
            if role == TERMS:
                embedder.embed_terms([text])
                continue
            fn = embedder.embed_queries if role == QUERY else embedder.embed_passages
            fn([text])
            if role == PASSAGE and d["kind"] == "bid":
                embedder.embed_passages(sentences(d["body"]))
        kinds[d["kind"]].append(time.perf_counter() - t0)
    per = {k: statistics.mean(v) for k, v in kinds.items()}
    out.put(section, "embed_s_per_challenge", round(per["challenge"], 3))
    out.put(section, "embed_s_per_bid_with_sentences", round(per["bid"], 3))
    total = args.challenges * per["challenge"] + args.challenges * args.bids * per["bid"]
    out.put(section, "embed_all_estimate_h", round(total / 3600, 1))


def app_part(args, out, timed: Callable) -> None:  # noqa: ANN001
    """The request cost of queuing vector jobs, and the worker's freshness."""
    from flask_migrate import upgrade

    from bounty import create_app
    from bounty.challenges.models import Bid, BidState
    from bounty.demo import load_demo
    from bounty.extensions import db
    from bounty.matching import get_matcher, start_embedding_worker

    with tempfile.TemporaryDirectory(prefix="bounty-bench-app-") as tmp:
        app = create_app({"BOUNTY_INSTANCE": tmp, "BOUNTY_EMBEDDER": "e5-small",
                          "SECRET_KEY": "bench", "BOUNTY_INDEX_REFRESH": "1"})
        with app.app_context():
            upgrade()
            load_demo()
            bid = db.session.scalars(sa.select(Bid).where(Bid.state == BidState.submitted)
                                     .limit(1)).one()
            base = bid.approach

            def save(i: int) -> None:
                bid.approach = f"{base} 第{i}版"
                db.session.commit()

            figures = {}
            for label, embedder in (("lexical_only", "none"), ("with_vector_job", "e5-small")):
                app.config["BOUNTY_EMBEDDER"] = embedder
                counter = iter(range(10**6))
                save(next(counter))
                figures[label] = timed(lambda c=counter: save(next(c)), args.queries)
            out.put("app", "save_bid_commit", figures)
            out.put("app", "save_bid_added_p50_ms", round(
                figures["with_vector_job"]["p50_ms"] - figures["lexical_only"]["p50_ms"], 2))
            get_matcher()  # load the model before timing freshness
            from bounty.matching.embedding import run_jobs

            run_jobs(db.engine, get_matcher().embedder)  # the demo's backlog first
            worker = start_embedding_worker(app)
            waits = []
            try:
                for i in range(5):
                    bid.approach = f"{base} 新增方案说明 {i}：采用激光焊接与视觉定位。"
                    db.session.commit()
                    digest = text_hash(embed_text(_bid_doc(bid)))
                    t0 = time.perf_counter()
                    while time.perf_counter() - t0 < 120:
                        row = db.session.scalar(sa.select(DocVector.text_hash).where(
                            DocVector.kind == "bid", DocVector.doc_id == str(bid.id),
                            DocVector.role == PASSAGE))
                        db.session.rollback()
                        if row == digest:
                            break
                        time.sleep(0.05)
                    waits.append(round(time.perf_counter() - t0, 2))
            finally:
                worker.stop()
            out.put("app", "new_bid_vector_stored_after_s", waits)


def _bid_doc(bid) -> dict:  # noqa: ANN001
    from bounty.matching.indexing import bid_doc

    return bid_doc(bid)
