"""Oversized-document benchmark: public search p95 with one 3 MB challenge in the database.

    .venv/bin/python benchmarks/oversized_bench.py [--challenges 300] [--requests 200]
    BENCH_DATABASE_URL=postgresql+psycopg://... .venv/bin/python benchmarks/oversized_bench.py

Builds two throw-away instances (SQLite files, or BENCH_DATABASE_URL and a sibling
database it creates), each with ``--challenges`` open challenges in the platform's
genre, indexed as ``bounty reindex`` does; in the second, one challenge's 需求背景 is
overwritten *directly in the database* with 3 MB of text that matches every query (as
a row from before the input limits, or an import, would be) before indexing. Then it
times public searches (``GET /challenges/?q=...``, the hall through the app, queries from a
fixed list) on both in turn, request by request, so that the load of a shared machine
weighs on both alike; every other search sorts newest first, where the big (newest)
challenge always shows.
Prints p50/p95 of both and the ratio of the p95s (goal: at most 1.2).

``--unbounded`` turns the highlighter's window off, to show what the bound buys.
The semantic side is off unless ``BOUNTY_EMBEDDER`` is set: the typed query's
embedding would add the same cost to both runs and hide the difference.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from matching_bench import pct  # noqa: E402  (the benchmarks share one percentile rule)

VOCAB = ["注塑", "模温", "精密模具", "激光", "焊接", "伺服", "电机", "绕组", "传感器", "视觉检测",
         "机器人", "数控", "锂电", "石墨烯", "光学镀膜", "镜片", "智能锁", "指纹识别", "鞋底",
         "耐磨", "轻量化", "钛合金", "压铸", "气孔", "涂层", "PLC", "NB-IoT", "低功耗", "温控",
         "良品率", "自动化", "检测", "工艺", "材料", "装备"]
QUERIES = ["注塑 模温", "激光焊接", "伺服电机", "视觉检测", "锂电 涂层", "智能锁 低功耗",
           "钛合金 镜片", "压铸 气孔", "数控 自动化", "材料 工艺", "PLC 温控", "良品率"]
BIG_CHARS = 3 * 1024 * 1024


def sentence(rng: random.Random) -> str:
    words = rng.sample(VOCAB, 4)
    return f"针对{words[0]}与{words[1]}的关键问题，需要在{words[2]}方面突破{words[3]}瓶颈。"


def text(rng: random.Random, sentences: int) -> str:
    return "".join(sentence(rng) for _ in range(sentences))


def seed(n: int, rng: random.Random) -> int:
    """``n`` open challenges of one verified enterprise; returns the id of the first."""
    from bounty.accounts.models import Organization, OrgKind, Role, User
    from bounty.challenges.models import Category, Challenge, ChallengeState, Industry, IPTerms
    from bounty.demo import demo_uscc
    from bounty.extensions import db

    now = datetime.now(UTC)
    org = Organization(name="温州基准测试制造有限公司", kind=OrgKind.enterprise,
                       uscc=demo_uscc("91", "330304", 1), verified_at=now)
    db.session.add(org)
    db.session.flush()
    user = User(email="bench@example.cn", name="基准", password_hash="x", role=Role.enterprise,
                organization_id=org.id)
    db.session.add(user)
    db.session.flush()
    industries, categories = list(Industry), list(Category)
    for i in range(n):
        words = rng.sample(VOCAB, 3)
        db.session.add(Challenge(
            organization_id=org.id, created_by_id=user.id,
            title=f"{words[0]}{words[1]}关键技术攻关（{i}）",
            industry=industries[i % len(industries)], category=categories[i % len(categories)],
            background=text(rng, rng.randint(5, 30)), bottleneck=text(rng, rng.randint(2, 8)),
            expected_outcome=text(rng, 2), bounty_yuan=rng.randint(10, 500) * 10_000,
            bid_deadline=now + timedelta(days=rng.randint(5, 90)), delivery_months=12,
            ip_terms=IPTerms.shared, keywords=" ".join(words), state=ChallengeState.open,
            published_at=now - timedelta(minutes=i)))
    db.session.commit()
    return db.session.execute(db.select(Challenge.id).order_by(Challenge.id)).scalars().first()


def reindex() -> int:
    from sqlalchemy.orm import Session

    from bounty.extensions import db
    from bounty.matching import get_engine, indexing

    with Session(db.engine) as session:
        return get_engine().rebuild(indexing.all_docs(session))


def search_args(i: int) -> dict[str, str]:
    # relevance and newest first alternately: the big document is the newest
    return {"q": QUERIES[i % len(QUERIES)], "sort": ("relevance", "newest")[i % 2]}


def measure(clients: dict, requests: int) -> tuple[dict[str, dict[str, float]], int]:
    """Time the same searches on each app, interleaved (the order alternating), so that
    the load of a shared machine weighs on both alike."""
    times: dict[str, list[float]] = {name: [] for name in clients}
    for i in range(4):  # warm up caches and the index readers
        for client in clients.values():
            client.get("/challenges/", query_string=search_args(i))
    big_hits = 0
    names = list(clients)
    for i in range(requests):
        for name in (names if i % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            response = clients[name].get("/challenges/", query_string=search_args(i))
            times[name].append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                sys.exit(f"search answered {response.status_code}")
            if name == "with":
                big_hits += "超长文档" in response.get_data(as_text=True)
    return {name: {"p50_ms": pct(t, 0.5), "p95_ms": pct(t, 0.95)}
            for name, t in times.items()}, big_hits


def database_urls(folder: str) -> tuple[str, str, object]:
    """Two empty databases (SQLite files, or BENCH_DATABASE_URL and a sibling database
    created next to it) and a function that drops what was created."""
    import sqlalchemy as sa

    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        return (f"sqlite:///{folder}/without.sqlite3", f"sqlite:///{folder}/with.sqlite3",
                lambda: None)
    base = sa.engine.make_url(url)
    sibling = f"{base.database}_big"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{sibling}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{sibling}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{sibling}" WITH (FORCE)'))
        admin.dispose()

    return url, base.set(database=sibling).render_as_string(hide_password=False), drop


def build(url: str, folder: str, n: int, seed_value: int, big: bool):  # noqa: ANN201
    """An app over a freshly seeded database; with ``big``, one challenge's 需求背景 is
    3 MB, written past the ORM (whose flush check would refuse it) as a row from
    before the limits would be, then indexed like any other."""
    import sqlalchemy as sa

    from bounty import create_app
    from bounty.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "BOUNTY_INSTANCE": folder,
                      "SECRET_KEY": "bench", "BOUNTY_INDEX_REFRESH": 0.2})
    rng = random.Random(seed_value)
    with app.app_context():
        db.drop_all()
        db.create_all()
        big_id = seed(n, rng)
        if big:
            filler = text(rng, 200)
            body = ("超长文档。" + filler * (BIG_CHARS // len(filler) + 1))[:BIG_CHARS]
            db.session.execute(sa.text("UPDATE challenges SET background = :big, title = :title"
                                       " WHERE id = :id"),
                               {"big": body, "id": big_id,
                                "title": "超长文档：" + "、".join(VOCAB[:6])})
            db.session.commit()
        indexed = reindex()
        db.session.remove()
    return app, indexed


def teardown(app) -> None:  # noqa: ANN001
    from bounty.extensions import db

    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--challenges", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--unbounded", action="store_true",
                        help="tokenise the whole text when highlighting (as before the fix)")
    args = parser.parse_args()
    os.environ.setdefault("BOUNTY_EMBEDDER", "none")

    from bounty.matching import highlight, services

    if args.unbounded:  # the whole text read and tokenised, as before the bound
        highlight.WINDOW_CHARS = highlight.SCAN_CHARS = services.SCAN_CHARS = 10**9

    with tempfile.TemporaryDirectory() as folder:
        url_without, url_with, drop = database_urls(folder)
        Path(folder, "without").mkdir()
        Path(folder, "with").mkdir()
        try:
            without_app, indexed = build(url_without, f"{folder}/without", args.challenges,
                                         args.seed, big=False)
            with_app, _ = build(url_with, f"{folder}/with", args.challenges, args.seed,
                                big=True)
            figures, big_hits = measure({"without": without_app.test_client(),
                                         "with": with_app.test_client()}, args.requests)
            teardown(without_app)
            teardown(with_app)
        finally:
            drop()

    without, with_big = figures["without"], figures["with"]
    ratio = with_big["p95_ms"] / without["p95_ms"]
    print(f"database           {url_without.split(':', 1)[0]}")
    print(f"corpus             {indexed} documents, {args.challenges} open challenges; "
          f"{args.requests} searches on each, interleaved; highlighter "
          f"{'unbounded' if args.unbounded else 'bounded window'}")
    print(f"without 3 MB doc   p50 {without['p50_ms']:.1f} ms  p95 {without['p95_ms']:.1f} ms")
    print(f"with 3 MB doc      p50 {with_big['p50_ms']:.1f} ms  p95 {with_big['p95_ms']:.1f} ms"
          f"  (the big document was on {big_hits} of {args.requests} result pages)")
    print(f"p95 ratio          {ratio:.2f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
