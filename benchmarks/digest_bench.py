"""Digest benchmark: N subscribers, M new challenges, a real SMTP sink on 127.0.0.1.

    .venv/bin/python benchmarks/digest_bench.py [--subscribers 10000] [--challenges 500]

Builds a throw-away SQLite database (or uses BENCH_DATABASE_URL, which it
empties), starts aiosmtpd in a separate process (so the sink does not share
the sender's interpreter lock), indexes the challenges (the digests' order is
the matcher's), then times the two halves of the daily run:
composing every digest into the outbox, and draining the outbox over SMTP.
Prints compose time, send time, emails per second and peak memory (RSS).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import free_port  # noqa: E402

VOCAB = ["注塑", "模温", "精密模具", "激光", "焊接", "伺服", "电机", "绕组", "传感器", "视觉检测",
         "机器人", "数控", "锂电", "石墨烯", "光学镀膜", "镜片", "智能锁", "指纹识别", "鞋底",
         "发泡", "纺织", "染整", "医疗器械", "内窥镜", "工业软件", "数字孪生", "边缘计算", "芯片",
         "封装", "稀土", "永磁", "轻量化", "铝合金", "碳纤维", "涂层", "热处理", "PLC", "MES"]
INDUSTRIES = ["apparel", "footwear", "eyewear", "smart_lock", "auto_parts", "electrical",
              "health", "smart_equipment", "digital", "optoelectronic", "new_materials", "other"]


def _sink(port: int, counter, ready) -> None:
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def _cpu_seconds(who=resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(n_subscribers: int, n_challenges: int, now: datetime, rng: random.Random) -> None:
    import sqlalchemy as sa

    from bounty.accounts.models import Organization, OrgKind, Role, User
    from bounty.accounts.services import hash_password
    from bounty.challenges.models import Challenge, ChallengeState
    from bounty.digests.models import Subscription
    from bounty.extensions import db

    def uscc(n: int, prefix: str) -> str:
        return f"{prefix}{n:016d}"

    password = hash_password("benchmark-password-1")
    orgs = [{"name": f"研究院{n}", "kind": OrgKind.institute, "uscc": uscc(n, "12"),
             "keywords": " ".join(rng.sample(VOCAB, 3)), "expertise": "", "created_at": now}
            for n in range(200)]
    orgs += [{"name": f"温州企业{n}有限公司", "kind": OrgKind.enterprise, "uscc": uscc(n, "91"),
              "keywords": "", "expertise": "", "created_at": now} for n in range(50)]
    db.session.execute(sa.insert(Organization), orgs)
    org_ids = dict(db.session.execute(sa.select(Organization.uscc, Organization.id)).all())
    users = [{"email": f"sub{n}@bench.test", "name": f"订阅者{n}", "password_hash": password,
              "role": Role.institute, "organization_id": org_ids[uscc(n % 200, "12")],
              "locale": "zh_CN", "created_at": now} for n in range(n_subscribers)]
    users += [{"email": f"corp{n}@bench.test", "name": f"企业用户{n}", "password_hash": password,
               "role": Role.enterprise, "organization_id": org_ids[uscc(n, "91")],
               "locale": "zh_CN", "created_at": now} for n in range(50)]
    db.session.execute(sa.insert(User), users)
    user_ids = db.session.execute(
        sa.select(User.id).where(User.role == Role.institute).order_by(User.id)).scalars().all()
    subscriptions = []
    for user_id in user_ids:
        industries = [] if rng.random() < 0.4 else sorted(rng.sample(INDUSTRIES, rng.randint(1, 3)))
        keywords = "" if rng.random() < 0.5 else " ".join(rng.sample(VOCAB, rng.randint(1, 3)))
        subscriptions.append({"user_id": user_id, "frequency": "daily", "industries": industries,
                              "categories": [], "keywords": keywords,
                              "min_bounty_yuan": rng.choice([0, 0, 0, 200_000]),
                              "last_digest_ids": [], "created_at": now, "updated_at": now})
    db.session.execute(sa.insert(Subscription), subscriptions)
    corp_users = db.session.execute(
        sa.select(User.id, User.organization_id).where(User.role == Role.enterprise)).all()
    challenges = []
    for n in range(n_challenges):
        owner_id, org_id = rng.choice(corp_users)
        words = rng.sample(VOCAB, 3)
        challenges.append({
            "organization_id": org_id, "created_by_id": owner_id,
            "title": f"{words[0]}{words[1]}关键技术攻关（第{n}号）",
            "industry": rng.choice(INDUSTRIES), "category": "complete_equipment",
            "background": f"企业在{words[2]}方面长期依赖进口。",
            "bottleneck": f"{words[1]}精度不足。",
            "expected_outcome": "形成可量产方案。", "bounty_yuan": rng.randint(10, 500) * 10_000,
            "bid_deadline": now + timedelta(days=30), "delivery_months": 12,
            "ip_terms": "shared", "keywords": " ".join(words), "state": ChallengeState.open,
            "published_at": now - timedelta(minutes=rng.randint(1, 20 * 60)),
            "created_at": now, "updated_at": now, "version": 1})
    db.session.execute(sa.insert(Challenge), challenges)
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--challenges", type=int, default=500)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel SMTP connections (default: OUTBOX_WORKERS)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    port = free_port()
    counter = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=_sink, args=(port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)

    from sqlalchemy.orm import Session

    from bounty import create_app
    from bounty.digests.models import Frequency
    from bounty.digests.outbox import drain_outbox
    from bounty.digests.services import compose_digests
    from bounty.extensions import db
    from bounty.matching import get_engine, indexing

    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.sqlite3"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "BOUNTY_INSTANCE": folder,
                          "SECRET_KEY": "bench", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                          "PUBLIC_URL": "https://bounty.example.cn"})
        with app.app_context():
            db.drop_all()
            db.create_all()
            now = datetime.now(UTC)
            started = time.perf_counter()
            seed(args.subscribers, args.challenges, now, random.Random(args.seed))
            seeded = time.perf_counter() - started
            # bulk inserts bypass the session hooks: index as `bounty reindex` would
            started = time.perf_counter()
            with Session(db.engine) as session:
                indexed = get_engine().rebuild(indexing.all_docs(session))
            indexing_time = time.perf_counter() - started
            rss_before = _peak_rss_mb()

            started, cpu = time.perf_counter(), _cpu_seconds()
            run = compose_digests(Frequency.daily, now)
            compose, compose_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
            started, cpu = time.perf_counter(), _cpu_seconds()
            result = drain_outbox(workers=args.workers)
            send, send_cpu = time.perf_counter() - started, _cpu_seconds() - cpu
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
    time.sleep(0.2)  # let the sink count the last message
    received = counter.value
    sink.terminate()
    sink.join()
    sink_cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)

    print(f"database           {url.split(':', 1)[0]}")
    print(f"subscribers        {args.subscribers:,}  new challenges {args.challenges}  "
          f"SMTP connections {args.workers or app.config['OUTBOX_WORKERS']}")
    print(f"seeding            {seeded:.1f} s, indexing {indexed} documents "
          f"{indexing_time:.1f} s (not counted)")
    print(f"compose            {compose:.1f} s wall, {compose_cpu:.1f} s CPU  ({run})")
    print(f"send               {send:.1f} s wall, {send_cpu:.1f} s CPU  ({result}); "
          f"the sink received {received:,} using {sink_cpu:.1f} s CPU")
    print(f"emails per second  {result.sent / send:,.0f}")
    print(f"whole daily run    {compose + send:.1f} s  (load average before/after: "
          f"{load_before:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"peak memory (RSS)  {_peak_rss_mb():.0f} MB (after seeding: {rss_before:.0f} MB)")
    if received != result.sent:
        sys.exit(f"mismatch: sent {result.sent}, received {received}")


if __name__ == "__main__":
    main()
