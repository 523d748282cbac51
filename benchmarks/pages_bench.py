"""Every page of every role, timed over HTTP on the instance BOUNTY_INSTANCE / DATABASE_URL name.

    python benchmarks/pages_bench.py [--requests 20] [--only hall,bids] [--skip export]
                                     [--clients 8 --seconds 20] [--budget 60]

Meant for a dataset from benchmarks/scale_data.py. The server is real: this script
starts itself as a waitress server with 8 threads (what `bounty serve` runs, without
the scheduler and the embedding worker) on a free port of 127.0.0.1, in its own process;
it adds one response header, the number of SQL statements the request ran (a SQLAlchemy
``before_cursor_execute`` listener, per thread). The clients log in as the demo users
(enterprise 陈晓燕, institute 李明, reviewer 刘审核, admin) and fetch each page twice
to warm up, then ``--requests`` times one after another (or until ``--budget``
seconds are spent on that page): p50 / p95 / max in ms, queries per request, response
size. Then ``--clients`` clients read the mix of home, hall, a search and a challenge
for ``--seconds``: requests per second, p95 and errors (any status but 200).

Prints a table (stderr shows progress) and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving  # noqa: E402
from login_load import CSRF, opener  # noqa: E402

QUERIES_HEADER = "X-Bench-Queries"
PASSWORD = "ouhai-demo-2026"
ROLES = {"enterprise": "yayun@example.com", "institute": "wzu@example.com",
         "reviewer": "reviewer@example.com", "admin": "admin@example.com"}
MIX = ("home", "hall", "search", "challenge")


# --------------------------------------------------------------------------- the server


def serve(port: int, threads: int) -> None:
    """The app with a query counter, served by waitress (run in a child process)."""
    import sqlalchemy as sa
    from waitress import serve as waitress_serve

    from bounty import create_app

    app = create_app()
    counter = threading.local()

    @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def _count(*_args) -> None:  # noqa: ANN002
        counter.n = getattr(counter, "n", 0) + 1

    @app.before_request
    def _reset() -> None:
        counter.n = 0

    @app.after_request
    def _report(response):  # noqa: ANN001, ANN202
        response.headers[QUERIES_HEADER] = str(getattr(counter, "n", 0))
        return response

    waitress_serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


def start_server(threads: int) -> tuple[subprocess.Popen, str]:
    log = Path(os.environ.get("BENCH_SERVER_LOG", "/tmp/pages_bench_server.log"))
    return serving.start_server(
        lambda port: [sys.executable, __file__, "--serve", str(port), "--threads", str(threads)],
        log, probe="/accounts/login", timeout=120)


# --------------------------------------------------------------------------- clients


def get(client, url: str, data: bytes | None = None) -> tuple[int, bytes, dict]:  # noqa: ANN001
    try:
        with client.open(url, data=data, timeout=180) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
    except OSError:
        return 0, b"", {}


def login(base: str, email: str):  # noqa: ANN201
    client = opener()
    _, html, _ = get(client, base + "/accounts/login")
    token = CSRF.search(html.decode()).group(1)
    body = urllib.parse.urlencode({"email": email, "password": PASSWORD,
                                   "csrf_token": token}).encode()
    status, page, _ = get(client, base + "/accounts/login", body)
    if status != 200 or "logout" not in page.decode():
        raise SystemExit(f"could not log in as {email} (status {status})")
    return client


def pages() -> list[tuple[str, str, str]]:
    """(role, name, path) of every page, with ids read from the database."""
    import sqlalchemy as sa

    from bounty import create_app
    from bounty.accounts.models import Organization, OrgKind, User
    from bounty.challenges.models import Bid, BidState, Challenge, ChallengeState
    from bounty.extensions import db

    app = create_app()
    with app.app_context():
        def one(query):  # noqa: ANN001, ANN202
            return db.session.scalar(query.limit(1))

        def user(email: str) -> User:
            return db.session.scalar(sa.select(User).where(User.email == email))

        ent, inst = user(ROLES["enterprise"]), user(ROLES["institute"])
        S = ChallengeState
        newest_open = one(sa.select(Challenge.id).where(Challenge.state == S.open)
                          .order_by(Challenge.id.desc()))
        completed = one(sa.select(Challenge.id).where(Challenge.state == S.completed)
                        .order_by(Challenge.id.desc()))
        own_completed = one(sa.select(Challenge.id).where(
            Challenge.state == S.completed, Challenge.organization_id == ent.organization_id)
            .order_by(Challenge.id.desc()))
        own_evaluating = one(sa.select(Challenge.id).where(
            Challenge.state == S.evaluating, Challenge.organization_id == ent.organization_id)
            .order_by(Challenge.id.desc())) or own_completed
        bid_on = sa.select(Bid.challenge_id).where(Bid.organization_id == inst.organization_id)
        open_not_bid = one(sa.select(Challenge.id).where(
            Challenge.state == S.open, Challenge.id.not_in(bid_on)).order_by(Challenge.id.desc()))
        own_bid = one(sa.select(Bid.id).where(Bid.organization_id == inst.organization_id,
                                              Bid.state == BidState.submitted)
                      .order_by(Bid.id.desc()))
        vetting = one(sa.select(Challenge.id).where(Challenge.state == S.vetting)
                      .order_by(Challenge.id.desc()))
        institute = one(sa.select(Organization.id).where(Organization.kind == OrgKind.institute)
                        .order_by(Organization.id))
        n_public = db.session.scalar(sa.select(sa.func.count()).select_from(Challenge).where(
            Challenge.state.in_([s for s in S if s not in (S.draft, S.vetting, S.returned,
                                                             S.rejected)])))
    per_page = app.config.get("CHALLENGES_PER_PAGE", 20)
    deep = max(1, min(200, n_public // per_page))
    q = urllib.parse.quote("智能锁 低功耗")
    return [
        ("public", "home", "/"),
        ("public", "hall", "/challenges/"),
        ("public", f"hall page {deep}", f"/challenges/?page={deep}"),
        ("public", "hall newest, open", "/challenges/?sort=newest&status=open"),
        ("public", "search", f"/challenges/?q={q}"),
        ("public", "search page 3", f"/challenges/?q={q}&page=3"),
        ("public", "challenge", f"/challenges/{newest_open}"),
        ("public", "challenge completed", f"/challenges/{completed}"),
        ("public", "organisation", f"/orgs/{institute}"),
        ("public", "register", "/register"),
        ("public", "market", "/market"),
        ("public", "stats", "/stats"),
        ("public", "login", "/accounts/login"),
        ("enterprise", "my challenges", "/challenges/mine"),
        ("enterprise", "bids of a challenge", f"/challenges/{own_evaluating}/bids"),
        ("enterprise", "delivery", f"/challenges/{own_completed}/delivery"),
        ("enterprise", "audit trail", f"/challenges/{own_completed}/audit"),
        ("enterprise", "new challenge", "/challenges/new"),
        ("enterprise", "profile", "/accounts/profile"),
        ("enterprise", "members", "/accounts/members"),
        ("enterprise", "digest settings", "/digests/settings"),
        ("enterprise", "my registry", "/registry/mine"),
        ("institute", "my bids", "/bids/mine"),
        ("institute", "my bids page 2", "/bids/mine?page=2"),
        ("institute", "a bid", f"/bids/{own_bid}"),
        ("institute", "bid form", f"/challenges/{open_not_bid}/bid"),
        ("institute", "for me", "/matching/for-me"),
        ("institute", "challenge", f"/challenges/{newest_open}"),
        ("reviewer", "review home", "/review/"),
        ("reviewer", "tasks", "/review/tasks"),
        ("reviewer", "tasks at vetting", "/review/tasks?stage=vetting"),
        ("reviewer", "review challenge", f"/review/challenges/{vetting}"),
        ("admin", "stages", "/review/stages"),
        ("admin", "holidays", "/review/holidays"),
        ("reviewer", "conflicts", "/review/conflicts"),
        ("reviewer", "export csv", "/review/export?format=csv"),
        ("reviewer", "export xlsx", "/review/export?format=xlsx"),
        ("admin", "organisations", "/accounts/admin/organizations"),
        ("admin", "organisations page 5", "/accounts/admin/organizations?page=5"),
        ("admin", "users", "/accounts/admin/users"),
        ("admin", "users page 5", "/accounts/admin/users?page=5"),
        ("admin", "outbox", "/digests/admin/outbox"),
    ]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def time_page(client, url: str, n: int, budget: float) -> dict:  # noqa: ANN001
    for _ in range(2):  # warm-up: templates, caches, the index's decoded terms
        get(client, url)
    times, queries, sizes, statuses = [], [], [], set()
    spent = 0.0
    while len(times) < n and spent < budget:
        t0 = time.perf_counter()
        status, body, headers = get(client, url)
        ms = (time.perf_counter() - t0) * 1000
        spent += ms / 1000
        times.append(ms)
        statuses.add(status)
        sizes.append(len(body))
        queries.append(int(headers.get(QUERIES_HEADER, -1)))
    return {"n": len(times), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(pct(times, 0.95), 1), "max_ms": round(max(times), 1),
            "queries": max(queries), "kb": round(statistics.median(sizes) / 1024, 1),
            "status": sorted(statuses)}


def read_mix(base: str, paths: dict[str, str], clients: int, seconds: float) -> dict:
    """``clients`` anonymous clients, each cycling through the mix from its own offset."""
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()

    def client(k: int, stop: threading.Event, _sink) -> None:  # noqa: ANN001
        c = opener()
        i = k
        while not stop.is_set():
            name = MIX[i % len(MIX)]
            t0 = time.perf_counter()
            status, _, _ = get(c, base + paths[name])
            with lock:
                results.append((name, (time.perf_counter() - t0) * 1000, status))
            i += 1

    serving.run_for(seconds, [(client, (k,)) for k in range(clients)], None)
    return summarize(results, MIX, seconds)


def summarize(results: list[tuple[str, float, int]], names: tuple[str, ...], seconds: float,
              ok: tuple[int, ...] = (200,)) -> dict:
    """Per name and for "all": requests/s, p50 / p95 / p99 in ms and errors (a status not
    in ``ok``), from ``(name, ms, status)`` rows collected over ``seconds``."""
    out = {}
    for name in (*names, "all"):
        rows = [r for r in results if name in ("all", r[0])]
        if not rows:
            continue
        times = [r[1] for r in rows]
        out[name] = {"req_per_s": round(len(rows) / seconds, 1),
                     "p50_ms": round(statistics.median(times), 1),
                     "p95_ms": round(pct(times, 0.95), 1),
                     "p99_ms": round(pct(times, 0.99), 1),
                     "errors": sum(1 for r in rows if r[2] not in ok)}
    return out


def mix_paths() -> dict[str, str]:
    """The read mix's paths (home, hall, search, challenge), by name."""
    return {name: path for role, name, path in pages() if role == "public" and name in MIX}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--threads", type=int, default=8, help="the server's threads")
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--budget", type=float, default=60.0,
                    help="seconds at most per page (fewer requests for a slow one)")
    ap.add_argument("--only", default="", help="comma-separated substrings of page names")
    ap.add_argument("--skip", default="", help="comma-separated substrings of page names")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the read mix")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.threads)
        return
    only = [s for s in args.only.split(",") if s]
    skip = [s for s in args.skip.split(",") if s]
    todo = [p for p in pages() if (not only or any(s in p[1] for s in only))
            and not any(s in p[1] for s in skip)]
    server, base = start_server(args.threads)
    report: dict = {"pages": {}}
    try:
        clients = {"public": opener()}
        for role, email in ROLES.items():
            clients[role] = login(base, email)
        print(f"{'role':<11}{'page':<24}{'n':>3}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
              f"{'queries':>8}{'KB':>8}  status", flush=True)
        for role, name, path in todo:
            r = time_page(clients[role], base + path, args.requests, args.budget)
            report["pages"][f"{role}: {name}"] = {"path": path, **r}
            print(f"{role:<11}{name:<24}{r['n']:>3}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
                  f"{r['max_ms']:>9.1f}{r['queries']:>8}{r['kb']:>8.1f}  "
                  f"{','.join(map(str, r['status']))}", flush=True)
        if args.clients and args.seconds:
            mix = read_mix(base, mix_paths(), args.clients, args.seconds)
            report["read_mix"] = {"clients": args.clients, "seconds": args.seconds, **mix}
            print(f"\n{args.clients} concurrent clients, {args.seconds:.0f} s: "
                  + "; ".join(f"{k} {v['req_per_s']} req/s p95 {v['p95_ms']} ms "
                              f"errors {v['errors']}" for k, v in mix.items()), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(report, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
