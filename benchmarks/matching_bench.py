"""Matching benchmark: our Whoosh engine against SQLite FTS5 on a synthetic corpus.

    python benchmarks/matching_bench.py --challenges 10000          # a few minutes
    python benchmarks/matching_bench.py --challenges 100000         # by hand, long
    python benchmarks/matching_bench.py --challenges 100000 --parts build,queries \
        --index-dir /tmp/ix100k 2> progress.log                    # only some parts

Each figure goes to stderr as soon as it is measured; the JSON object with
all of them goes to stdout at the end (also after Ctrl-C, marked interrupted).

Corpus: N challenges with ``--bids`` bids each, in the platform's genre
(Chinese with English terms, codes and units, 200–1,500 characters), 5% of
challenges open. Reports build throughput, index size, rebuild (``bounty
reindex``) time, peak memory, and p50/p95 over ``--queries`` queries of each
kind: (a) search, 1–5 terms, top 20 with facets; (b) rank one challenge's
bids; (c) recommend open challenges for a 10–30 term profile; (d) index one
bid. FTS5 runs the same corpus and queries (jieba pre-segmented, bm25).

``--parts db-reindex`` (never by default) times ``bounty reindex`` itself on the
instance that BOUNTY_INSTANCE / DATABASE_URL name (e.g. benchmarks/scale_data.py's
dataset): rows read from the database, segmented, written, swapped in; it prints
docs/s, the worker processes used, the load average and whether the progress total
was the number of documents indexed. ``--procs`` sets the worker processes of the
build and reindex parts (default 1; ``bounty reindex`` uses one per core from 20,000
documents).

Hybrid ranking (``--parts semantic``: the same queries through the production Matcher
with the query embedded by the bundled model, over synthetic document vectors) and the
app-level costs of semantic matching (``--parts app``) are in semantic_parts.py.

Index writes are near-real-time: (d) is the engine's share of a write (queue +
overlay; the background flusher writes Whoosh within a second). The benchmark's
engine queues in memory; in the app the queue is the ``index_jobs`` row, written
in the request's own transaction. (d″) reports what a flush costs on its own:
1 and 100 pending bids, against FTS5 adding and committing 100 bids.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bounty.matching.analyzer import get_analyzer  # noqa: E402
from bounty.matching.engine import Filters  # noqa: E402
from bounty.matching.whoosh import WhooshEngine  # noqa: E402

INDUSTRIES = [
    "服装",
    "鞋革",
    "眼镜",
    "智能锁",
    "汽摩配",
    "电气机械",
    "生命健康",
    "智能装备",
    "数字经济",
    "光电材料",
    "新材料",
]
CATEGORIES = ["成套装备关键技术", "首台(套)装备", "首批次新材料", "关键工艺", "工业软件", "其他"]
TOPICS = [
    "注塑模具",
    "鞋底",
    "大底",
    "耐磨性",
    "轻量化",
    "智能锁",
    "指纹识别",
    "NB-IoT",
    "低功耗",
    "镜架",
    "钛合金",
    "树脂镜片",
    "压铸",
    "气孔",
    "制动卡钳",
    "断路器",
    "伺服电机",
    "操动机构",
    "机器视觉",
    "缺陷检测",
    "图像识别",
    "深度学习",
    "排版算法",
    "自动裁床",
    "面料利用率",
    "医用导管",
    "抗菌涂层",
    "生物相容性",
    "封装胶膜",
    "光伏",
    "POE",
    "碳纤维",
    "复合材料",
    "石墨烯",
    "热处理",
    "激光焊接",
    "数控机床",
    "工业机器人",
    "PLC",
    "边缘计算",
    "数字孪生",
    "预测性维护",
    "故障诊断",
    "传感器",
    "良品率",
    "能耗",
    "寿命",
    "精度",
    "电池管理",
    "永磁同步",
    "减速器",
    "不锈钢",
    "电镀",
    "喷涂",
    "聚氨酯",
    "合成革",
    "可降解",
    "物联网",
    "工业互联网",
    "知识图谱",
    "TPU",
    "SUS304",
    "IP67",
    "M8",
]
FILLER = [
    "针对",
    "现有",
    "生产线",
    "存在",
    "问题",
    "需要",
    "开发",
    "一套",
    "关键",
    "技术",
    "提高",
    "产品",
    "质量",
    "稳定",
    "工艺",
    "参数",
    "优化",
    "方案",
    "实验",
    "验证",
    "企业",
    "成本",
    "降低",
    "效率",
    "国内",
    "依赖",
    "进口",
    "自主",
    "可控",
    "团队",
    "具备",
    "经验",
    "完成",
    "测试",
    "指标",
    "达到",
]
UNITS = ["0.02mm", "480h", "≥98%", "10μA", "IP67", "85℃", "2s/件", "≤0.5ms", "10000次", "1.2MPa"]


def sentence(rng: random.Random, topics: list[str]) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(6, 14))]
    for _ in range(rng.randint(1, 3)):
        words.insert(rng.randrange(len(words)), rng.choice(topics))
    if rng.random() < 0.5:
        words.append(rng.choice(UNITS))
    return "".join(words) + "。"


def text_of(rng: random.Random, topics: list[str], lo: int, hi: int) -> str:
    target = rng.randint(lo, hi)
    parts: list[str] = []
    n = 0
    while n < target:
        s = sentence(rng, topics)
        parts.append(s)
        n += len(s)
    return "".join(parts)


def corpus(n: int, bids: int, seed: int = 7) -> Iterator[dict]:
    rng = random.Random(seed)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        topics = rng.sample(TOPICS, 4)
        yield {
            "kind": "challenge",
            "id": i,
            "title": "".join(topics[:2]) + "关键技术攻关",
            "body": text_of(rng, topics, 200, 1500),
            "keywords": topics[:3],
            "industry": rng.choice(INDUSTRIES),
            "category": rng.choice(CATEGORIES),
            "state": "open" if rng.random() < 0.05 else "completed",
            "bounty": rng.randint(1, 500) * 10_000,
            "deadline": now + timedelta(days=rng.randint(-300, 90)),
            "published_at": now - timedelta(days=rng.randint(0, 700)),
        }
        for j in range(bids):
            btopics = topics[:2] + rng.sample(TOPICS, 2)
            yield {
                "kind": "bid",
                "id": i * 100 + j,
                "title": "".join(btopics[:2]) + "解决方案",
                "body": text_of(rng, btopics, 200, 1500),
                "challenge_id": str(i),
                "org_id": str(rng.randint(1, 500)),
            }


def new_bids(
    n: int, *, first_id: int | None, seed: int, challenges: int = 0
) -> Iterator[dict]:
    """Bids in the corpus's style: new ids from ``first_id``, or (``None``) the
    ids of existing bids of random challenges among the first ``challenges``."""
    rng = random.Random(seed)
    bids = (d for d in corpus(n, 1, seed=seed) if d["kind"] == "bid")
    for k, bid in enumerate(bids):
        if first_id is None:
            c = rng.randint(1, challenges)
            bid["id"], bid["challenge_id"] = c * 100 + rng.randrange(10), str(c)
        else:
            bid["id"] = first_id + k
            bid["challenge_id"] = str(rng.randint(1, max(challenges, n)))
        yield bid


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p * len(s)))], 2)


def timed(fn: Callable[[], object], n: int) -> dict[str, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": pct(times, 0.95)}


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Fts5:
    """The same corpus in SQLite FTS5 over jieba-segmented text, bm25 ranking."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE VIRTUAL TABLE doc USING fts5(kind UNINDEXED, id UNINDEXED, "
            "challenge_id UNINDEXED, state UNINDEXED, industry UNINDEXED, title, body)"
        )
        self.analyzer = get_analyzer()

    def seg(self, text: str) -> str:
        return " ".join(self.analyzer.terms(text))

    def add(self, docs: list[dict]) -> None:
        self.db.executemany(
            "INSERT INTO doc VALUES (?,?,?,?,?,?,?)",
            [
                (
                    d["kind"],
                    str(d["id"]),
                    d.get("challenge_id"),
                    d.get("state"),
                    d.get("industry"),
                    self.seg(d["title"]),
                    self.seg(d["body"]),
                )
                for d in docs
            ],
        )
        self.db.commit()

    def match(self, terms: list[str]) -> str:
        return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms) or '""'

    def search(self, text: str) -> list:
        m = self.match(self.analyzer.query_terms(text))
        rows = self.db.execute(
            "SELECT id FROM doc WHERE doc MATCH ? AND kind='challenge' ORDER BY bm25(doc) LIMIT 20",
            (m,),
        ).fetchall()
        self.db.execute(
            "SELECT industry, count(*) FROM doc WHERE doc MATCH ? AND kind='challenge' "
            "GROUP BY industry",
            (m,),
        ).fetchall()
        return rows

    def rank(self, ch: dict) -> list:
        m = self.match(self.analyzer.query_terms(ch["title"] + ch["body"])[:32])
        return self.db.execute(
            "SELECT id FROM doc WHERE doc MATCH ? AND kind='bid' AND challenge_id=? "
            "ORDER BY bm25(doc)",
            (m, str(ch["id"])),
        ).fetchall()

    def recommend(self, profile: str) -> list:
        m = self.match(self.analyzer.query_terms(profile))
        return self.db.execute(
            "SELECT id FROM doc WHERE doc MATCH ? AND kind='challenge' AND state='open' "
            "ORDER BY bm25(doc) LIMIT 20",
            (m,),
        ).fetchall()


PARTS = ("build", "reindex", "queries", "writes", "semantic", "app", "fts5")
EXTRA_PARTS = ("db-reindex",)  # only when asked for


class Report(dict):
    """The figures so far: each is printed to stderr (flushed) as soon as it is
    measured, so a long run that is interrupted still shows what it measured;
    the whole object is printed as JSON to stdout at the end (or on Ctrl-C)."""

    def __setitem__(self, key: str, value: object) -> None:
        super().__setitem__(key, value)
        _show(key, value)

    def put(self, section: str, key: str, value: object) -> None:
        """``self[section][key] = value``, printed as ``section.key``."""
        self.setdefault(section, {})[key] = value
        _show(f"{section}.{key}", value)


def _show(name: str, value: object) -> None:
    print(f"# {name}: {json.dumps(value, ensure_ascii=False)}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    # peak resident set size of the process (kB on Linux); tracemalloc would
    # slow the build several times over
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1)


def progress_printer(label: str, every: int) -> Callable[[int], None]:
    t0 = time.perf_counter()
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % every == 0:
            rate = done / (time.perf_counter() - t0)
            print(f"# {label}: {done} docs, {rate:.0f} docs/s", file=sys.stderr, flush=True)

    return progress


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--challenges", type=int, default=10_000)
    ap.add_argument("--bids", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="comma-separated parts to run, of: " + ", ".join(PARTS)
                    + " (queries and writes need an index: build, or --index-dir)")
    ap.add_argument("--skip-rebuild", action="store_true", help="the same as leaving out reindex")
    ap.add_argument("--procs", type=int, default=1,
                    help="worker processes of the build and reindex parts (default 1)")
    ap.add_argument("--backend", default="whoosh",
                    help="comma-separated engines to measure, of: whoosh, postgres (the "
                    "index in a scratch schema of --database-url, dropped afterwards)")
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                    help="the PostgreSQL database of --backend postgres (default: DATABASE_URL)")
    ap.add_argument("--pg-schema", help="--backend postgres: keep the index in this schema "
                    "of the database (made if missing) instead of a scratch one dropped "
                    "afterwards, to measure it again with --parts queries,semantic")
    ap.add_argument("--index-dir", type=Path,
                    help="keep the index here (reused by later runs without build) "
                    "instead of a temporary directory")
    args = ap.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if unknown := parts - set(PARTS) - set(EXTRA_PARTS):
        ap.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if "db-reindex" in parts:
        db_reindex(Report())
        parts.discard("db-reindex")
        if not parts:
            return
    if args.skip_rebuild:
        parts.discard("reindex")
    out = Report(challenges=args.challenges, bids_each=args.bids)
    try:
        with tempfile.TemporaryDirectory(prefix="bounty-bench-") as tmp:
            run(args, parts, Path(tmp), out)
    except KeyboardInterrupt:
        out["interrupted"] = True
    print(json.dumps(out, ensure_ascii=False, indent=1), flush=True)


def db_reindex(out: Report) -> None:
    """``bounty reindex`` on the configured instance: docs/s, with the load it ran under."""
    import os

    from sqlalchemy.orm import Session

    from bounty import create_app
    from bounty.extensions import db
    from bounty.matching import get_engine, get_matcher, indexing
    from bounty.matching.healing import rebuild_from_database, rebuild_procs

    app = create_app()
    with app.app_context():
        with Session(db.engine) as session:
            total = indexing.count_docs(session)
        out["db_reindex_database"] = db.engine.url.get_backend_name()
        out["db_reindex_procs"] = rebuild_procs(total)
        out["db_reindex_load_before"] = [round(x, 2) for x in os.getloadavg()]
        seen = [0]

        def progress(n: int) -> None:
            seen[0] += n

        t0, c0 = time.perf_counter(), time.process_time()
        n, _queued = rebuild_from_database(get_engine(), get_matcher().embedder,
                                           progress=progress)
        wall = time.perf_counter() - t0
        out["db_reindex_docs"] = n
        out["db_reindex_s"] = round(wall, 1)
        out["db_reindex_docs_per_s"] = round(n / wall, 1)
        out["db_reindex_main_cpu_s"] = round(time.process_time() - c0, 1)
        out["db_reindex_load_after"] = [round(x, 2) for x in os.getloadavg()]
        out["db_reindex_progress_total_ok"] = total == seen[0] == n
    print(json.dumps(out, ensure_ascii=False), flush=True)


def run(args: argparse.Namespace, parts: set[str], root: Path, out: Report) -> None:
    n = args.challenges * (args.bids + 1)
    for backend in [b.strip() for b in args.backend.split(",") if b.strip()]:
        n = run_engine(args, parts, root, out, backend)
    run_fts5(args, parts, root, out, n)


def pg_size_mb(engine) -> float:  # noqa: ANN001
    """The PostgreSQL index's tables with their indexes and TOAST, in MB."""
    import sqlalchemy as sa

    from bounty.matching.pgsearch.tables import TABLES

    with engine.db.connect() as conn:
        return round(sum(conn.execute(sa.text(f"SELECT pg_total_relation_size('{t.name}')"))
                         .scalar_one() for t in TABLES) / 1e6, 1)


def run_engine(args: argparse.Namespace, parts: set[str], root: Path, out: Report,
               backend: str) -> int:
    """Build, reindex, queries, writes and semantic parts on one engine; returns the
    number of documents."""
    every = max(10_000, (args.challenges * (args.bids + 1)) // 20)
    n = args.challenges * (args.bids + 1)
    if backend == "postgres":
        from bounty.matching.pgsearch.scratch import scratch_engine

        if not args.database_url:
            raise SystemExit("--backend postgres needs --database-url or DATABASE_URL")
        engine = scratch_engine(args.database_url, prefix="bounty_bench", schema=args.pg_schema)
        section, pre = "postgres", "pg_"

        def size() -> float:
            return pg_size_mb(engine)
    elif backend == "whoosh":
        engine = WhooshEngine(args.index_dir or root / "index")
        section, pre = "ours", ""

        def size() -> float:
            return round(dir_size(engine.generation()) / 1e6, 1)
    else:
        raise SystemExit(f"unknown backend {backend!r}: whoosh or postgres")
    out["load_avg_at_" + backend] = [round(x, 2) for x in os.getloadavg()]
    try:
        if "build" in parts:
            t0 = time.perf_counter()
            n = engine.rebuild(corpus(args.challenges, args.bids), procs=args.procs,
                               progress=progress_printer(pre + "build", every))
            build = time.perf_counter() - t0
            out["docs"] = n
            out[pre + "build_s"] = round(build, 1)
            out[pre + "build_docs_per_s"] = round(n / build, 1)
            out[pre + "index_mb"] = size()
            out[pre + "peak_rss_mb_after_build"] = rss_mb()
        if "reindex" in parts:
            t0 = time.perf_counter()
            n = engine.rebuild(corpus(args.challenges, args.bids),  # reuses stored terms
                               procs=args.procs, progress=progress_printer(pre + "reindex", every))
            out[pre + "reindex_s"] = round(time.perf_counter() - t0, 1)
            out[pre + "reindex_docs_per_s"] = round(n / (time.perf_counter() - t0), 1)
            out[pre + "index_mb_after_reindex"] = size()
            out[pre + "peak_rss_mb"] = rss_mb()

        sample, queries, profiles, challenges = workload(args)
        if backend == "postgres" and parts & {"queries", "semantic"}:
            # a process's first query reads the columns; its most frequent terms' postings
            # are then read in the background (as Whoosh warms a big segment): measured
            # here, and waited for, so the queries below measure a warm process
            t0 = time.perf_counter()
            engine.search(queries[0])
            out[pre + "first_query_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            while any(t.name.startswith("pgsearch-warm") for t in threading.enumerate()):
                time.sleep(0.2)
            out[pre + "warm_s"] = round(time.perf_counter() - t0, 1)
        if "queries" in parts:
            it_q, it_c, it_p = iter(queries), iter(challenges), iter(profiles)
            out.put(section, "a_search",
                    timed(lambda: engine.search(next(it_q), pagesize=20), args.queries))
            out.put(section, "b_rank_bids", timed(
                lambda: (
                    lambda c: engine.rank(c, kind="bid",
                                          filters=Filters(challenge_id=str(c["id"])))
                )(next(it_c)),
                args.queries,
            ))
            out.put(section, "c_recommend", timed(
                lambda: engine.rank(
                    {"body": next(it_p)}, kind="challenge", filters=Filters(state="open"),
                    limit=20
                ),
                args.queries,
            ))
            out[pre + "open_challenges"] = engine.search(
                "", filters=Filters(state="open"), facets=False
            ).total
        if "writes" in parts:
            # (d) new bids: ids beyond the corpus's (i * 100 + j), so each is an insert
            # (the first version reused corpus ids, so every "new" bid was an update)
            extra = new_bids(args.queries, first_id=(args.challenges + 1) * 100, seed=99,
                             challenges=args.challenges)
            out.put(section, "d_index_one_bid",
                    timed(lambda: engine.index([next(extra)]), args.queries))
            # (d') an edited bid: an existing id, so the write also deletes from the
            # big segment
            edits = new_bids(args.queries, first_id=None, seed=97, challenges=args.challenges)
            out.put(section, "d_update_one_bid",
                    timed(lambda: engine.index([next(edits)]), args.queries))
            # (e) read after write: index one bid, then rank its challenge's bids
            # (the refresh after a write is paid by the next search)
            more = new_bids(args.queries,
                            first_id=(args.challenges + 1) * 100 + 10 * args.queries,
                            seed=96, challenges=args.challenges)

            def write_then_rank() -> None:
                bid = next(more)
                engine.index([bid])
                engine.rank({"title": bid["title"]}, kind="bid",
                            filters=Filters(challenge_id=bid["challenge_id"]))

            out.put(section, "e_index_then_rank", timed(write_then_rank, args.queries))
        if "writes" in parts and backend == "whoosh":
            # (d″) the flush the writes above left to the background flusher, measured
            # alone: 1 and 100 pending bids applied to Whoosh (one commit per flush);
            # PostgreSQL has none: each write above committed its index rows
            engine.flush()
            flushes = new_bids(25 * 100 + 20, first_id=(args.challenges + 1) * 100
                               + 20 * args.queries, seed=95, challenges=args.challenges)

            def flush_cost(n: int, rounds: int) -> dict[str, float]:
                times = []
                while len(times) < rounds:
                    engine.index([next(flushes) for _ in range(n)])
                    t0 = time.perf_counter()
                    flushed = engine.flush()
                    if flushed == n:  # not taken by the background flusher meanwhile
                        times.append((time.perf_counter() - t0) * 1000)
                return {"p50_ms": round(statistics.median(times), 2),
                        "p95_ms": pct(times, 0.95)}

            out.put(section, "d2_flush_1_bid", flush_cost(1, 20))
            out.put(section, "d2_flush_100_bids", flush_cost(100, 10))
        if "semantic" in parts:
            from semantic_parts import semantic_part

            semantic_part(args, engine, corpus, sample, queries, out, root, timed,
                          section="hybrid" if backend == "whoosh" else "pg_hybrid")
    finally:
        engine.close()
    if "app" in parts and backend == "whoosh":
        from semantic_parts import app_part

        app_part(args, out, timed)
    return n


def workload(args: argparse.Namespace) -> tuple[list, list, list, list]:
    """The same queries for every engine: sample challenges, typed queries, profiles,
    challenges whose bids are ranked."""
    rng = random.Random(11)
    sample = [d for d in corpus(min(args.challenges, 2000), 0, seed=7)]
    queries = [
        " ".join(rng.sample(TOPICS + FILLER, rng.randint(1, 5))) for _ in range(args.queries)
    ]
    profiles = [" ".join(rng.sample(TOPICS, rng.randint(10, 30))) for _ in range(args.queries)]
    challenges = [rng.choice(sample) for _ in range(args.queries)]
    return sample, queries, profiles, challenges


def run_fts5(args: argparse.Namespace, parts: set[str], root: Path, out: Report,
             n: int) -> None:
    if "fts5" not in parts:
        return
    _sample, queries, profiles, challenges = workload(args)
    fts = Fts5(root / "fts.sqlite")
    t0 = time.perf_counter()
    batch: list[dict] = []
    for d in corpus(args.challenges, args.bids):
        batch.append(d)
        if len(batch) >= 2000:
            fts.add(batch)
            batch = []
    fts.add(batch)
    out["fts5_build_docs_per_s"] = round(n / (time.perf_counter() - t0), 1)
    out["fts5_mb"] = round((root / "fts.sqlite").stat().st_size / 1e6, 1)
    it_q, it_c, it_p = iter(queries), iter(challenges), iter(profiles)
    extra = new_bids(args.queries + 1000, first_id=(args.challenges + 1) * 100, seed=98)
    out.put("fts5", "a_search", timed(lambda: fts.search(next(it_q)), args.queries))
    out.put("fts5", "b_rank_bids", timed(lambda: fts.rank(next(it_c)), args.queries))
    out.put("fts5", "c_recommend", timed(lambda: fts.recommend(next(it_p)), args.queries))
    out.put("fts5", "d_index_one_bid", timed(lambda: fts.add([next(extra)]), args.queries))
    out.put("fts5", "d2_add_100_bids",
            timed(lambda: fts.add([next(extra) for _ in range(100)]), 10))
    ours, fts5 = out.get("ours", {}), out["fts5"]
    ratios = {
        k: round(ours[k]["p95_ms"] / max(fts5[k]["p95_ms"], 0.01), 2) for k in fts5 if k in ours
    }
    if "d2_flush_100_bids" in ours:
        ratios["d2_flush_100_over_add_100"] = round(
            ours["d2_flush_100_bids"]["p95_ms"] / max(fts5["d2_add_100_bids"]["p95_ms"], 0.01), 2)
    out["p95_ratio_ours_over_fts5"] = ratios
    pg = out.get("postgres", {})
    if pg:
        out["p95_ratio_postgres_over_fts5"] = {
            k: round(pg[k]["p95_ms"] / max(fts5[k]["p95_ms"], 0.01), 2) for k in fts5 if k in pg}
    fts.db.close()


if __name__ == "__main__":
    main()
