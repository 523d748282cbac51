"""Requests/s and latency of 1, 2 and 4 web processes on PostgreSQL: a read mix and a write mix.

    .venv/bin/python benchmarks/load_bench.py [--workers 1,2,4] [--threads 8] [--clients 8]
                                              [--writers 8] [--seconds 20] [--warmup 5]
                                              [--pool 12] [--no-worker]

Runs on the instance that BOUNTY_INSTANCE / DATABASE_URL name (PostgreSQL: the demo data,
``bounty db upgrade && bounty demo``, or a dataset from benchmarks/scale_data.py). For each
number of web processes it starts a real ``bounty serve --workers N --threads T
--no-scheduler`` on a free port of 127.0.0.1 (N = 1 is one waitress process, N > 1 gunicorn),
beside one ``bounty worker`` started once for the whole run (the scheduled jobs and the
embedding of saved bids, as in production), and measures two phases of ``--seconds`` each
(at most 60), after ``--warmup`` seconds of the read mix that are not counted; every
number's read phase comes first, then every number's write phase (a server started for
each), so the worker's backlog of embeddings from the writes runs under no read phase:

- read: ``--clients`` anonymous clients cycle through home, the hall, a search and a
  challenge (pages_bench.py's mix);
- write: ``--writers`` institute users (created with their organisations through the
  account services on the first run, then reused: loadbench1@example.com ..., verified by
  the demo admin, the demo password) each fetch the bid form of one of the ``--pool``
  newest open challenges (its CSRF token), and post it, alternately saving a draft and
  submitting: the first post on a challenge creates the organisation's bid, every later
  one edits it. A post answered with anything but the redirect to the bid is an error.

Then it counts rows: every bid written must hold the title of the last save the server
acknowledged, with its two milestones, and the audit chain must have gained exactly one
save_bid / submit_bid event per acknowledged save (zero lost, zero doubled writes).

Beside requests/s and p50 / p95 / p99 it reports, per phase, the CPU the web processes,
the PostgreSQL server (every process of the postmaster serving this database), the worker
and this client process used, in cores (CPU seconds per second), the whole machine's busy
cores (other users' work included), and what PostgreSQL's sessions were doing, sampled every
0.1 s: active sessions, sessions waiting for a lock, connections. Prints a table (progress on
stderr) and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pages_bench  # noqa: E402
import serving  # noqa: E402
from login_load import BOUNTY, CSRF  # noqa: E402

MAX_SECONDS = 60.0  # one load step, at most
WRITERS_EMAIL = "loadbench{}@example.com"
ADMIN_EMAIL = "admin@example.com"
WRITE_NAMES = ("form", "save")
LOG = Path(os.environ.get("BENCH_SERVER_LOG", "/tmp/load_bench_server.log"))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- set-up


def make_app():  # noqa: ANN201
    from bounty import create_app

    return create_app({"BOUNTY_EMBEDDER": "none"})  # this process embeds nothing


def writer_uscc(n: int) -> str:
    """A valid USCC of a public institute (prefix 12), one per benchmark writer."""
    from bounty.accounts.uscc import check_character

    body = f"12330304LB{n:07d}"
    return body + check_character(body)


def ensure_writers(app, count: int) -> list[tuple[int, int, str]]:  # noqa: ANN001
    """(user id, organisation id, email) of ``count`` institute users who may submit bids,
    registered with their organisations and verified through the account services when
    missing."""
    from bounty.accounts import services as accounts
    from bounty.extensions import db

    writers = []
    with app.app_context():
        admin = accounts.find_user_by_email(ADMIN_EMAIL)
        if admin is None:
            raise SystemExit(f"no {ADMIN_EMAIL}: load the demo first (bounty demo)")
        for n in range(1, count + 1):
            email = WRITERS_EMAIL.format(n)
            user = accounts.find_user_by_email(email)
            if user is None:
                user = accounts.register(accounts.RegistrationData(
                    name=f"压测用户{n}", email=email, password=pages_bench.PASSWORD,
                    org_name=f"压测研究院{n}", kind="institute", uscc=writer_uscc(n),
                    region="330304", expertise="负载测试", keywords="压测"))
                db.session.commit()
            if not user.organization.is_verified:
                accounts.verify_organization(user.organization, admin)
                db.session.commit()
            writers.append((user.id, user.organization_id, email))
        db.session.remove()
    return writers


def open_challenges(app, count: int) -> list[int]:  # noqa: ANN001
    """The ids of the ``count`` newest open challenges still taking bids for a day."""
    from datetime import timedelta

    import sqlalchemy as sa

    from bounty.challenges.models import Challenge, ChallengeState
    from bounty.extensions import db
    from bounty.timeutil import utcnow

    with app.app_context():
        ids = list(db.session.scalars(sa.select(Challenge.id).where(
            Challenge.state == ChallengeState.open,
            Challenge.bid_deadline > utcnow() + timedelta(days=1))
            .order_by(Challenge.id.desc()).limit(count)))
        db.session.remove()
    if not ids:
        raise SystemExit("no open challenge takes bids: load the demo or scale_data.py first")
    return ids


# --------------------------------------------------------------------------- what it used


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used) of every process this user can see."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(")") + 2:].split()
        out[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return out


def tree(root: int | None, table: dict[int, tuple[int, float]]) -> dict[int, float]:
    """pid -> CPU seconds of ``root`` and its descendants that are alive now."""
    if root is None:
        return {}
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found[pid] = table[pid][1]
        todo.extend(children.get(pid, ()))
    return found


def used_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU seconds used between two readings of a process tree: by each process alive at
    the second (from zero for one started meanwhile); one that exited meanwhile is left
    out (its last moments are lost, but never counted negative)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


def postmaster_pid(engine) -> int | None:  # noqa: ANN001
    """The PostgreSQL server's main process, when it runs on this machine."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        backend = connection.scalar(sa.text("SELECT pg_backend_pid()"))
    try:
        stat = Path(f"/proc/{backend}/stat").read_text()
    except OSError:
        return None  # another machine (or another PID namespace)
    return int(stat[stat.rfind(")") + 2:].split()[1])


class Meter:
    """CPU of each party and PostgreSQL's sessions over one phase."""

    SAMPLE_SECONDS = 0.1

    def __init__(self, engine, web: int, worker: int | None, postmaster: int | None) -> None:  # noqa: ANN001
        self.engine, self.pids = engine, {"web": web, "worker": worker, "pg": postmaster}
        self.samples: list[tuple[int, int, int]] = []
        self.waiting: Counter[str] = Counter()  # statements seen waiting for a lock
        self.holders: Counter[str] = Counter()  # states of the sessions holding them
        self.audit_busy: list[bool] = []  # per sample: someone holds the audit head
        self.stop = threading.Event()

    def _cpu(self) -> dict[str, dict[int, float]]:
        table = _processes()
        own = os.times()
        # the PostgreSQL server: the postmaster and its backends, WAL writer, checkpointer...
        return {**{party: tree(pid, table) for party, pid in self.pids.items()},
                "client": {os.getpid(): own.user + own.system}}

    def _sample(self) -> None:
        import sqlalchemy as sa

        query = sa.text(
            "SELECT count(*) FILTER (WHERE state = 'active'),"
            " count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*)"
            " FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
        waiting = sa.text(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'")
        # what the sessions others wait for are doing: "idle in transaction" is the web
        # process working in Python with the lock held, "active" PostgreSQL (COMMIT: WAL)
        holders = sa.text(
            "SELECT DISTINCT b.pid, b.state || coalesce('/' || b.wait_event, '')"
            " FROM pg_stat_activity w CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) bp"
            " JOIN pg_stat_activity b ON b.pid = bp"
            " WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'")
        # transactions inside the audit chain's append: from its SELECT ... FOR UPDATE of
        # the one audit_head row (a RowShareLock on the table, granted at once, kept to
        # the end of the transaction) to their commit; the holder of the row and those
        # queued behind it
        in_audit = sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND granted"
            " AND relation = to_regclass('audit_head') AND mode = 'RowShareLock'")
        with self.engine.connect() as connection:
            while not self.stop.wait(self.SAMPLE_SECONDS):
                self.samples.append(tuple(connection.execute(query).one()))
                self.audit_busy.append(connection.execute(in_audit).scalar() > 0)
                self.waiting.update(connection.execute(waiting).scalars())
                self.holders.update(state for _pid, state in connection.execute(holders))
                connection.rollback()

    def __enter__(self) -> Meter:
        self.t0, self.cpu0, self.ticks0 = time.monotonic(), self._cpu(), machine_ticks()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:  # noqa: ANN002
        cpu1, ticks1 = self._cpu(), machine_ticks()
        self.stop.set()
        self.thread.join()
        wall = time.monotonic() - self.t0
        busy = (ticks1[0] - self.ticks0[0]) / max(1, ticks1[1] - self.ticks0[1])
        self.result = {f"{k}_cores": round(used_since(self.cpu0[k], cpu1[k]) / wall, 2)
                       for k in cpu1}
        self.result["machine_busy_cores"] = round(busy * (os.cpu_count() or 1), 2)
        n = max(1, len(self.samples))
        self.result.update(
            pg_active=round(sum(s[0] for s in self.samples) / n, 2),
            pg_lock_waits=round(sum(s[1] for s in self.samples) / n, 2),
            pg_lock_waits_max=max((s[1] for s in self.samples), default=0),
            pg_connections_max=max((s[2] for s in self.samples), default=0),
            audit_lock_busy=round(sum(self.audit_busy) / max(1, len(self.audit_busy)), 2),
            pg_waiting_statements={q: round(c / n, 2) for q, c in self.waiting.most_common(3)},
            pg_lock_holders={state: round(c / n, 2) for state, c in self.holders.most_common(4)})


# --------------------------------------------------------------------------- the write mix


class _NoRedirect(urllib.request.BaseHandler):
    """Hand a redirect back as the answer: a saved bid's 302 is the write's success."""

    handler_order = 400  # before urllib's HTTPRedirectHandler (500)

    def http_error_302(self, _req, fp, _code, _msg, _headers):  # noqa: ANN001, ANN201
        return fp

    http_error_303 = http_error_302


def bid_form(token: str, title: str, serial: int, submit: bool) -> bytes:
    fields = {
        "csrf_token": token, "title": title,
        "approach": "采用模块化设计与闭环温控，样机验证后小批量试产。压测写入。",
        "team_lead": "压测负责人", "team_members": "张工\n王工", "lab": "压测联合实验室",
        "milestones-0-name": "样机研制", "milestones-0-month": "4",
        "milestones-0-deliverable": "工程样机",
        "milestones-1-name": "小批量试产", "milestones-1-month": "9",
        "milestones-1-deliverable": "试产报告",
        "quote_yuan": str(500_000 + serial), "duration_months": "10",
        "prior_results": "发明专利 2 项",
        ("submit_bid" if submit else "save_draft"): "提交方案" if submit else "保存草稿",
    }
    return urllib.parse.urlencode(fields).encode()


class Writes:
    """What the writers saved, as the server acknowledged it, across the whole run."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.last_title: dict[tuple[int, int], str] = {}  # (organisation, challenge) -> title
        self.acknowledged = 0
        self.lock = threading.Lock()


def write_mix(base: str, writers: list[tuple[int, int, str]], pool: list[int],
              seconds: float, writes: Writes) -> dict:
    """Each writer fetches a bid form and posts it, again and again, over the pool of
    challenges (writer k starts at the k-th); returns the summary of both kinds."""
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()
    clients = []
    for _user_id, _org_id, email in writers:
        client = pages_bench.login(base, email)
        client.add_handler(_NoRedirect())
        clients.append(client)

    def writer(k: int, stop: threading.Event, _sink) -> None:  # noqa: ANN001
        _user_id, org_id, _email = writers[k]
        client, serial = clients[k], 0
        while not stop.is_set():
            challenge = pool[(k + serial) % len(pool)]
            url = f"{base}/challenges/{challenge}/bid"
            t0 = time.perf_counter()
            status, html, _ = pages_bench.get(client, url)
            with lock:
                results.append(("form", (time.perf_counter() - t0) * 1000, status))
            match = CSRF.search(html.decode(errors="replace")) if status == 200 else None
            if match is None:
                serial += 1
                continue
            title = f"压测方案 {writes.run_id} 用户{k + 1} 第{serial}次"
            t0 = time.perf_counter()
            status, _, headers = pages_bench.get(
                client, url, bid_form(match.group(1), title, serial, submit=serial % 2 == 1))
            saved = status == 302 and "/bids/" in headers.get("Location", "")
            with lock:
                results.append(("save", (time.perf_counter() - t0) * 1000,
                                200 if saved else status))
            if saved:
                with writes.lock:
                    writes.last_title[(org_id, challenge)] = title
                    writes.acknowledged += 1
            serial += 1

    serving.run_for(seconds, [(writer, (k,)) for k in range(len(writers))], None)
    return pages_bench.summarize(results, WRITE_NAMES, seconds)


def audit_seq(app) -> int:  # noqa: ANN001
    import sqlalchemy as sa

    from bounty.audit import AuditEvent
    from bounty.extensions import db

    with app.app_context():
        seq = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0)))
        db.session.remove()
    return seq


def queued_embeddings(app) -> int:  # noqa: ANN001
    """Embedding jobs waiting for the worker (saved bids whose vectors are not made yet)."""
    import sqlalchemy as sa

    from bounty.extensions import db
    from bounty.matching.indexing import VECTOR
    from bounty.matching.models import IndexJob

    with app.app_context():
        n = db.session.scalar(sa.select(sa.func.count()).select_from(IndexJob).where(
            IndexJob.target == VECTOR))
        db.session.remove()
    return n


def count_writes(app, writers: list[tuple[int, int, str]], writes: Writes,  # noqa: ANN001
                 seq_before: int, acknowledged_before: int) -> dict:
    """Compare the rows with what the server acknowledged: bids missing or holding an older
    title (lost), milestones not two per bid, audit events not one per save."""
    import sqlalchemy as sa

    from bounty.audit import AuditEvent
    from bounty.challenges.models import Bid, Milestone
    from bounty.extensions import db

    expected = dict(writes.last_title)
    with app.app_context():
        rows = {(org, challenge): (bid_id, title) for bid_id, org, challenge, title in
                db.session.execute(sa.select(Bid.id, Bid.organization_id, Bid.challenge_id,
                                             Bid.title).where(
                    Bid.organization_id.in_([w[1] for w in writers])))}
        lost = sum(1 for key, title in expected.items() if rows.get(key, (0, ""))[1] != title)
        bid_ids = [rows[key][0] for key in expected if key in rows]
        milestones = dict(db.session.execute(
            sa.select(Milestone.bid_id, sa.func.count()).where(Milestone.bid_id.in_(bid_ids))
            .group_by(Milestone.bid_id)).all())
        events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.seq > seq_before, AuditEvent.actor_id.in_([w[0] for w in writers]),
            AuditEvent.action.in_(["save_bid", "submit_bid"])))
        db.session.remove()
    acknowledged = writes.acknowledged - acknowledged_before
    return {"bids": len(expected), "acknowledged_saves": acknowledged, "audit_events": events,
            "lost_writes": lost + abs(events - acknowledged),
            "bad_milestones": sum(1 for b in bid_ids if milestones.get(b, 0) != 2)}


# --------------------------------------------------------------------------- the run


def start_web(workers: int, threads: int, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    return serving.start_server(
        lambda port: [str(BOUNTY), "serve", "--host", "127.0.0.1", "--port", str(port),
                      "--workers", str(workers), "--threads", str(threads), "--no-scheduler",
                      "--demo"],
        LOG, probe="/accounts/login", timeout=300, env=env)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()  # gunicorn's master stops its processes; waitress just exits
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


ROW = "{:>5} {:<6}{:>8}{:>8}{:>8}{:>8}{:>7}{:>6}{:>6}{:>6}{:>6}{:>8}{:>7}{:>7}{:>6}"


def derived(mix: dict, used: dict) -> dict:
    """The figures that hold whatever else runs on the machine: the web processes' CPU per
    request, and (Little's law) how long a save waited for a lock on average."""
    out = {"web_cpu_ms_per_request": round(1000 * used["web_cores"]
                                           / max(mix["all"]["req_per_s"], 0.1), 1)}
    if "save" in mix:
        saves = max(mix["save"]["req_per_s"], 0.1)
        out["lock_wait_ms_per_save"] = round(1000 * used["pg_lock_waits"] / saves, 1)
        # the audit head is held by one transaction at a time: the share of time it is
        # held, per save, is how long one save holds it; its inverse bounds saves/s
        held = 1000 * used["audit_lock_busy"] / saves
        out["audit_lock_ms_per_save"] = round(held, 1)
        out["saves_per_s_bound"] = round(1000 / held, 1) if held else None
    return out


def print_row(workers: int, phase: str, mix: dict, used: dict) -> None:
    a = mix["all"]
    print(ROW.format(workers, phase, a["req_per_s"], a["p50_ms"], a["p95_ms"], a["p99_ms"],
                     a["errors"], used["web_cores"], used["pg_cores"], used["worker_cores"],
                     used["client_cores"], used["machine_busy_cores"], used["pg_active"],
                     used["pg_lock_waits"], used["pg_connections_max"]), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2,4", help="numbers of web processes, in order")
    ap.add_argument("--threads", type=int, default=8, help="threads per web process")
    ap.add_argument("--clients", type=int, default=8, help="readers of the read mix")
    ap.add_argument("--writers", type=int, default=8, help="institute users of the write mix")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase (≤ 60)")
    ap.add_argument("--warmup", type=float, default=5.0, help="uncounted read mix first")
    ap.add_argument("--pool", type=int, default=12, help="open challenges the writers bid on")
    ap.add_argument("--no-worker", action="store_true", help="start no `bounty worker`")
    args = ap.parse_args()
    steps = [int(n) for n in args.workers.split(",") if n.strip()]
    seconds, warmup = min(args.seconds, MAX_SECONDS), min(args.warmup, MAX_SECONDS)
    if not steps or min(steps) < 1 or len(steps) > 6:
        raise SystemExit("--workers: one to six numbers of processes, each at least 1")

    app = make_app()
    with app.app_context():
        from bounty.extensions import db

        engine = db.engine
        if engine.dialect.name != "postgresql":
            raise SystemExit("load_bench.py measures PostgreSQL: set DATABASE_URL")
        postmaster = postmaster_pid(engine)
    writers = ensure_writers(app, args.writers)
    pool = open_challenges(app, args.pool)
    paths = pages_bench.mix_paths()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    writes = Writes(time.strftime("%H%M%S"))
    report: dict = {"settings": {
        "threads": args.threads, "clients": args.clients, "writers": args.writers,
        "seconds": seconds, "pool": len(pool), "cpus": os.cpu_count(),
        "embedder": os.environ.get("BOUNTY_EMBEDDER", "e5-small"),
        "worker": not args.no_worker, "load_before": [round(x, 2) for x in os.getloadavg()]},
        "steps": {}}
    worker = None
    if not args.no_worker:
        with LOG.open("ab") as out:
            worker = subprocess.Popen([str(BOUNTY), "worker"], env=env, stdout=out, stderr=out)
    print(ROW.format("procs", "mix", "req/s", "p50", "p95", "p99", "errors", "web", "pg",
                     "wrkr", "clnt", "machine", "active", "locks", "conns"))
    print(ROW.format("", "", "", "ms", "ms", "ms", "", "cores", "cores", "cores", "cores",
                     "cores", "pg", "pg", "pg"), flush=True)
    try:
        # every read phase first: the worker's embedding of the saved bids (a backlog it
        # works through for minutes) would otherwise run under the next step's reads
        for phase in ("read", "write"):
            for n in steps:
                say(f"-- {n} web process(es), {phase} mix: starting")
                server, base = start_web(n, args.threads, env)
                try:
                    pages_bench.read_mix(base, paths, args.clients, warmup)
                    step = report["steps"].setdefault(str(n), {})
                    step[f"load_at_{phase}"] = [round(x, 2) for x in os.getloadavg()]
                    step[f"embedding_jobs_at_{phase}"] = queued_embeddings(app)
                    say(f"   {seconds:g} s (load {step[f'load_at_{phase}']}, "
                        f"{step[f'embedding_jobs_at_{phase}']} embedding jobs queued)")
                    meter = Meter(engine, server.pid, worker.pid if worker else None,
                                  postmaster)
                    if phase == "read":
                        with meter:
                            mix = pages_bench.read_mix(base, paths, args.clients, seconds)
                        step["read"] = {"mix": mix, "used": meter.result}
                    else:
                        seq0, ack0 = audit_seq(app), writes.acknowledged
                        with meter:
                            mix = write_mix(base, writers, pool, seconds, writes)
                        step["write"] = {"mix": mix, "used": meter.result, "rows": count_writes(
                            app, writers, writes, seq0, ack0)}
                    step[phase]["derived"] = derived(mix, meter.result)
                    print_row(n, phase, mix, meter.result)
                finally:
                    stop(server)
        for n, step in report["steps"].items():
            rows, w = step["write"]["rows"], step["write"]["mix"]
            print(f"{n} process(es): saves {w.get('save', {}).get('req_per_s', 0)}/s, "
                  f"{rows['acknowledged_saves']} acknowledged, {rows['audit_events']} audit "
                  f"events, {rows['bids']} bids checked, lost {rows['lost_writes']}, "
                  f"bad milestones {rows['bad_milestones']}; web CPU per request "
                  f"{step['read']['derived']['web_cpu_ms_per_request']} ms (read), "
                  f"{step['write']['derived']['web_cpu_ms_per_request']} ms (write); a save "
                  f"waited {step['write']['derived']['lock_wait_ms_per_save']} ms for locks "
                  f"and held the audit chain's head "
                  f"{step['write']['derived']['audit_lock_ms_per_save']} ms (the head "
                  f"busy {step['write']['used']['audit_lock_busy']:.0%} of the time: at most "
                  f"{step['write']['derived']['saves_per_s_bound']} saves/s); "
                  f"read p95 by page: "
                  + ", ".join(f"{k} {v['p95_ms']}" for k, v in step["read"]["mix"].items()
                              if k != "all"), flush=True)
            for phase in ("read", "write"):
                for statement, n in step[phase]["used"]["pg_waiting_statements"].items():
                    print(f"   {phase}: {n} sessions on average waiting for a lock in "
                          f"{statement!r}", flush=True)
                holders = step[phase]["used"]["pg_lock_holders"]
                if holders:
                    print(f"   {phase}: the sessions holding those locks, on average: "
                          + ", ".join(f"{v} {k}" for k, v in holders.items()), flush=True)
    finally:
        stop(worker)
    report["settings"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before {report['settings']['load_before']}, after "
          f"{report['settings']['load_after']} ({os.cpu_count()} CPUs, shared)", flush=True)
    print(json.dumps(report, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
