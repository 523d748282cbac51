"""Review pages at platform scale: the export, /stats, the task queue and a stage list.

    .venv/bin/python benchmarks/review_pages_bench.py [--challenges 10000] [--keep DIR]

Builds, in a scratch SQLite instance, the review history of N challenges (seeded, bulk
inserts; the schema at migration a6e2bbb22404, then `upgrade` to head, so a newer
head's data migrations -- the statistics' backfill -- run on it and are timed): 200
enterprises, 300 institutes, 20 reviewers; each challenge lives its life over the last
three years (审题, 揭榜, 评选, 揭榜结果审核, 攻关, 验收; some returned, rejected or 流榜;
recent ones still under way, so a few hundred wait at a review stage), three bids once
bidding closes, one review round per review stage with its decision (and a score sheet
at 揭榜结果审核), and about 20 audit events per challenge (transitions, bids, edits;
the hash chain is not computed: nothing here verifies it).

Then each page is measured in a fresh process (so that peak RSS is the request's own):
the exports once each (CSV of the last quarter, XLSX of the last quarter, CSV of the
whole history: seconds, peak RSS, bytes, SQL statements), the small pages 10 times
after 2 warm-ups (p50, p95, statements). Peak RSS is the process's high-water mark
from just before the measured requests (Linux: reset through /proc/self/clear_refs),
next to the RSS at that moment. Prints a table and a JSON line.

To compare with an older checkout, copy this file into its benchmarks/ and run it there
with the same interpreter: it uses nothing that the older code lacks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE_REVISION = "a6e2bbb22404"
INDUSTRIES = ["apparel", "footwear", "eyewear", "smart_lock", "auto_parts", "electrical",
              "health", "smart_equipment", "digital", "optoelectronic", "new_materials", "other"]
CATEGORIES = ["complete_equipment", "first_set", "first_batch_material", "key_process",
              "industrial_software", "other"]
WORDS = ["注塑", "模温", "精密模具", "激光焊接", "伺服电机", "视觉检测", "数控", "锂电",
         "石墨烯", "光学镀膜", "镜片", "智能锁", "鞋底发泡", "染整", "内窥镜", "数字孪生",
         "稀土永磁", "碳纤维"]
# (state, days spent there: low, high), in life order
LIFE = [("draft", 1, 10), ("vetting", 1, 8), ("open", 7, 40), ("evaluating", 2, 15),
        ("award_review", 1, 8), ("in_progress", 60, 300), ("acceptance_review", 2, 12),
        ("completed", 0, 0)]
REVIEWED = {"vetting": "vetting", "award_review": "award", "acceptance_review": "acceptance"}
ACTIONS = {("draft", "vetting"): "submit", ("vetting", "open"): "approve_vetting",
           ("open", "evaluating"): "close_bidding", ("evaluating", "award_review"): "select_bid",
           ("award_review", "in_progress"): "approve_award",
           ("in_progress", "acceptance_review"): "submit_delivery",
           ("acceptance_review", "completed"): "approve_acceptance",
           ("vetting", "returned"): "return_vetting", ("vetting", "rejected"): "reject_vetting",
           ("evaluating", "failed"): "fail"}
CRITERIA = [("技术先进性", 30), ("可行性", 30), ("团队基础", 20), ("报价合理性", 20)]


def _config(path: Path) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path / 'bench.sqlite3'}",
            "BOUNTY_INSTANCE": str(path), "SECRET_KEY": "bench", "BOUNTY_EMBEDDER": "none",
            "BOUNTY_INDEX_DIR": str(path / "index"), "UPLOAD_FOLDER": str(path / "uploads"),
            "SERVER_NAME": "localhost", "PUBLIC_URL": "http://localhost",
            "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


def _uscc(rng: random.Random, prefix: str) -> str:
    from bounty.accounts.uscc import CHARSET, check_character

    body = prefix + "".join(rng.choice(CHARSET[:10]) for _ in range(6)) + "".join(
        rng.choice(CHARSET) for _ in range(9))
    return body + check_character(body)


def _life(rng: random.Random, start: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """(state, entered at) from draft on, cut at ``now``; some end returned, rejected, 流榜."""
    fate = rng.random()
    steps: list[tuple[str, datetime]] = []
    moment = start
    for state, low, high in LIFE:
        if moment > now:
            break
        steps.append((state, moment))
        if state == "vetting" and fate < 0.06:
            moment += timedelta(days=rng.uniform(low, high))
            if moment <= now:
                steps.append(("returned" if fate < 0.03 else "rejected", moment))
            break
        if state == "evaluating" and fate > 0.85:
            moment += timedelta(days=rng.uniform(low, high))
            if moment <= now:
                steps.append(("failed", moment))
            break
        moment += timedelta(days=rng.uniform(low, high), hours=rng.uniform(0, 8))
    return steps


def build(path: Path, challenges: int, seed: int = 14) -> dict:
    """The dataset, into a fresh SQLite file under ``path``; returns its figures."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from bounty import create_app
    from bounty.accounts.models import Organization, User
    from bounty.audit import AuditEvent
    from bounty.challenges.models import Bid, Challenge
    from bounty.extensions import db
    from bounty.review.assignment import ReviewTask
    from bounty.review.models import ReviewDecision
    from bounty.review.scoring import Score, ScoreSheet
    from bounty.review.stages import all_stages

    rng = random.Random(seed)
    app = create_app(_config(path))
    figures: dict = {}
    with app.app_context():
        upgrade(revision=BASE_REVISION)
        all_stages()  # the default stage settings
        session = db.session
        now = datetime.now(UTC)
        orgs, users = [], []
        for kind, prefix, n in (("enterprise", "91", 200), ("institute", "12", 300),
                                ("government", "11", 1), ("platform", "91", 1)):
            for i in range(n):
                orgs.append({"name": f"{kind}{i}单位", "kind": kind,
                             "uscc": _uscc(rng, prefix), "region": "浙江省温州市瓯海区",
                             "verified_at": now - timedelta(days=1200)})
        session.execute(sa.insert(Organization), orgs)
        org_ids = {kind: list(session.execute(sa.select(Organization.id).where(
            Organization.kind == kind).order_by(Organization.id)).scalars())
            for kind in ("enterprise", "institute", "government", "platform")}
        for role, kind, n in (("enterprise", "enterprise", 200), ("institute", "institute", 300),
                              ("reviewer", "government", 20), ("admin", "platform", 1)):
            for i in range(n):
                users.append({"email": f"{role}{i}@bench.example", "name": f"{role}{i}",
                              "password_hash": "x", "role": role, "membership": "active",
                              "organization_id": org_ids[kind][i % len(org_ids[kind])]})
        session.execute(sa.insert(User), users)
        user_ids = {role: list(session.execute(sa.select(User.id).where(
            User.role == role).order_by(User.id)).scalars())
            for role in ("enterprise", "institute", "reviewer", "admin")}
        enterprise_user = dict(zip(org_ids["enterprise"], user_ids["enterprise"], strict=True))
        institute_user = dict(zip(org_ids["institute"], user_ids["institute"], strict=True))

        lives = []
        rows = []
        for i in range(challenges):
            start = now - timedelta(days=rng.uniform(0, 1095))
            life = _life(rng, start, now)
            org = rng.choice(org_ids["enterprise"])
            state = life[-1][0]
            reached = {s for s, _ in life}
            rows.append({
                "organization_id": org, "created_by_id": enterprise_user[org],
                "title": f"{rng.choice(WORDS)}{rng.choice(WORDS)}关键技术攻关{i}",
                "industry": rng.choice(INDUSTRIES), "category": rng.choice(CATEGORIES),
                "background": "企业现有生产线" + "良品率偏低，" * rng.randint(5, 40),
                "bottleneck": "关键指标无法满足。" * rng.randint(3, 20),
                "expected_outcome": "一套可量产的系统。",
                "bounty_yuan": rng.randint(10, 500) * 10_000,
                "bid_deadline": (dict(life).get("open", start) + timedelta(days=30)),
                "delivery_months": 12, "ip_terms": "shared", "keywords": " ".join(
                    rng.sample(WORDS, 3)), "state": state,
                "published_at": dict(life).get("open"), "created_at": start,
                "updated_at": life[-1][1]})
            lives.append((life, reached, org))
        session.execute(sa.insert(Challenge), rows)
        challenge_ids = list(session.execute(sa.select(Challenge.id).order_by(
            Challenge.id)).scalars())

        bids, events, tasks, decisions = [], [], [], []
        winners: dict[int, int] = {}
        for cid, (life, reached, _org) in zip(challenge_ids, lives, strict=True):
            if "evaluating" in reached:
                for k, inst in enumerate(rng.sample(org_ids["institute"], 3)):
                    bids.append({"challenge_id": cid, "organization_id": inst,
                                 "created_by_id": institute_user[inst],
                                 "title": f"方案{k}", "approach": "采用模型预测控制。" * 20,
                                 "team_lead": "李教授", "team_members": "王博士",
                                 "lab": "实验室", "quote_yuan": 800_000, "duration_months": 10,
                                 "prior_results": "专利", "state": "submitted",
                                 "submitted_at": dict(life)["open"] + timedelta(days=k + 1)})
        session.execute(sa.insert(Bid), bids)
        bid_rows = session.execute(sa.select(Bid.id, Bid.challenge_id, Bid.organization_id,
                                             Bid.submitted_at).order_by(Bid.id)).all()
        first_bid: dict[int, int] = {}
        for bid_id, cid, _org, _at in bid_rows:
            first_bid.setdefault(cid, bid_id)

        seq = 0

        def event(action, subject_type, subject_id, cid, at, from_state=None, to_state=None):
            nonlocal seq
            seq += 1
            events.append({"seq": seq, "actor_id": None, "action": action,
                           "subject_type": subject_type, "subject_id": subject_id,
                           "challenge_id": cid, "from_state": from_state,
                           "to_state": to_state, "comment": "", "created_at": at,
                           "prev_hash": "0" * 64, "hash": f"{seq:064x}", "key_id": None})

        for cid, (life, reached, _org) in zip(challenge_ids, lives, strict=True):
            if "award_review" in reached and cid in first_bid:
                winners[cid] = first_bid[cid]
            event("create", "challenge", cid, cid, life[0][1], None, "draft")
            for _ in range(rng.randint(2, 5)):
                event("edit", "challenge", cid, cid, life[0][1] + timedelta(hours=1),
                      "draft", "draft")
            for (before, _), (after, at) in zip(life, life[1:], strict=False):
                event(ACTIONS[(before, after)], "challenge", cid, cid, at, before, after)
            for n, (state, entered) in enumerate(life):
                stage = REVIEWED.get(state)
                if stage is None:
                    continue
                left = life[n + 1] if n + 1 < len(life) else None
                reviewer = rng.choice(user_ids["reviewer"])
                task = {"item_key": f"challenge:{cid}", "stage": stage, "round": 1,
                        "slot": 1, "challenge_id": cid, "opened_at": entered,
                        "due_at": entered + timedelta(days=14)}
                if left is None:
                    if rng.random() < 0.5:
                        task.update(assignee_id=reviewer, assigned_at=entered)
                else:
                    outcome = {"returned": "returned", "rejected": "rejected"}.get(
                        left[0], "approved")
                    task.update(assignee_id=reviewer, assigned_at=entered,
                                closed_at=left[1], result=outcome, decided_by_id=reviewer)
                    decisions.append({"challenge_id": cid, "stage": stage,
                                      "outcome": {"approved": "approve", "returned": "return",
                                                  "rejected": "reject"}[outcome],
                                      "comment": "" if outcome == "approved" else "请修改",
                                      "reviewer_id": reviewer, "created_at": left[1]})
                    event("review_vote", "challenge", cid, cid, left[1], state, state)
                tasks.append(task)
        for bid_id, cid, _org, at in bid_rows:
            event("save_bid", "bid", bid_id, cid, at - timedelta(hours=2), None, "draft")
            event("submit_bid", "bid", bid_id, cid, at, "draft", "submitted")
            for _ in range(rng.randint(1, 3)):
                event("view_bid", "bid", bid_id, cid, at + timedelta(days=1))
        for chunk in range(0, len(events), 20_000):
            session.execute(sa.insert(AuditEvent), events[chunk:chunk + 20_000])
        session.execute(sa.text("INSERT INTO audit_head (id, seq, last_hash) "
                                "VALUES (1, :seq, :hash)"), {"seq": seq, "hash": f"{seq:064x}"})
        session.execute(sa.insert(ReviewTask), tasks)
        task_ids = {(key, stage): tid for tid, key, stage in session.execute(
            sa.select(ReviewTask.id, ReviewTask.item_key, ReviewTask.stage))}
        for decision in decisions:
            decision["task_id"] = task_ids[(f"challenge:{decision['challenge_id']}",
                                            decision["stage"])]
        session.execute(sa.insert(ReviewDecision), decisions)
        for cid, bid_id in winners.items():
            session.execute(sa.update(Challenge).where(Challenge.id == cid).values(
                winning_bid_id=bid_id))
        sheets = [{"item_key": f"challenge:{d['challenge_id']}", "stage": "award", "round": 1,
                   "challenge_id": d["challenge_id"], "bid_id": winners.get(d["challenge_id"]),
                   "reviewer_id": d["reviewer_id"], "comment": "", "submitted_at": d["created_at"]}
                  for d in decisions if d["stage"] == "award"]
        session.execute(sa.insert(ScoreSheet), sheets)
        sheet_ids = list(session.execute(sa.select(ScoreSheet.id)).scalars())
        session.execute(sa.insert(Score), [
            {"sheet_id": sid, "position": p, "criterion": name, "weight": weight,
             "value": rng.randint(4, 10)}
            for sid in sheet_ids for p, (name, weight) in enumerate(CRITERIA)])
        session.commit()
        figures = {"challenges": challenges, "bids": len(bids), "audit_events": seq,
                   "review_tasks": len(tasks), "open_tasks": sum(
                       1 for t in tasks if "closed_at" not in t),
                   "decisions": len(decisions), "score_sheets": len(sheets)}
        started = time.perf_counter()
        upgrade()  # a newer head's data migrations run on the history just built
        figures["upgrade_to_head_s"] = round(time.perf_counter() - started, 2)
        db.engine.dispose()
    return figures


def _rss_mb() -> float:
    """Peak RSS since the last :func:`_reset_peak` (Linux's VmHWM), else of the process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Start the peak RSS afresh from the current RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def measure(path: Path, name: str, url: str, runs: int, role: str) -> dict:
    """One page, in this (fresh) process: seconds, statements, bytes, peak RSS."""
    import sqlalchemy as sa

    from bounty import create_app
    from bounty.accounts.models import User
    from bounty.extensions import db

    app = create_app(_config(path))
    statements: list[int] = []
    with app.app_context():
        user = db.session.execute(sa.select(User).where(User.role == role)
                                  .order_by(User.id)).scalars().first()
        client = app.test_client()
        with client.session_transaction() as http_session:
            http_session["_user_id"] = user.get_id()
            http_session["_fresh"] = True
        sa.event.listen(db.engine, "before_cursor_execute",
                        lambda *args: statements.append(1))

        def once() -> tuple[float, int, int, int]:
            statements.clear()
            started = time.perf_counter()
            response = client.get(url, buffered=False)
            size = 0
            for chunk in response.response:
                size += len(chunk)
            response.close()
            return time.perf_counter() - started, len(statements), size, response.status_code

        client.get("/review/")  # the app's first request: templates, stage settings
        _reset_peak()
        rss_before = _rss_mb()
        for _ in range(2 if runs > 1 else 0):
            once()
        results = [once() for _ in range(runs)]
    times = sorted(r[0] for r in results)
    return {"name": name, "url": url, "status": results[-1][3], "runs": runs,
            "p50_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))] * 1000, 1),
            "queries": results[-1][1], "bytes": results[-1][2],
            "rss_before_mb": round(rss_before, 1), "peak_rss_mb": round(_rss_mb(), 1)}


def targets(today) -> list[tuple[str, str, int, str]]:
    quarter = f"start={(today - timedelta(days=89)).isoformat()}&end={today.isoformat()}"
    return [
        ("export csv, last quarter", f"/review/export?format=csv&{quarter}", 1, "reviewer"),
        ("export xlsx, last quarter", f"/review/export?format=xlsx&{quarter}", 1, "reviewer"),
        # older code ignores all_history: no dates means the whole history there
        ("export csv, whole history", "/review/export?format=csv&all_history=y", 1, "reviewer"),
        ("/stats (public)", "/stats", 10, "enterprise"),
        ("/stats (reviewer)", "/stats", 10, "reviewer"),
        ("/review/tasks (reviewer)", "/review/tasks", 10, "reviewer"),
        ("/review/tasks (admin)", "/review/tasks", 10, "admin"),
        ("/review/tasks?view=mine", "/review/tasks?view=mine", 10, "reviewer"),
        ("/review/queue/vetting", "/review/queue/vetting", 10, "reviewer"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--challenges", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="build into (or reuse) this directory")
    parser.add_argument("--measure", nargs=4, metavar=("DIR", "NAME", "URL", "RUNS_ROLE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        path, name, url, runs_role = args.measure
        runs, role = runs_role.split(":")
        print(json.dumps(measure(Path(path), name, url, int(runs), role), ensure_ascii=False))
        return
    path = args.keep or Path(tempfile.mkdtemp(prefix="review-bench-"))
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "bench.sqlite3").exists():
        started = time.perf_counter()
        figures = build(path, args.challenges)
        figures["build_s"] = round(time.perf_counter() - started, 1)
    else:
        figures = {"reused": str(path)}
    print("dataset:", json.dumps(figures, ensure_ascii=False), flush=True)
    from bounty.timeutil import to_local

    today = to_local(datetime.now(UTC)).date()
    results = []
    for name, url, runs, role in targets(today):
        out = subprocess.run([sys.executable, __file__, "--measure", str(path), name, url,
                              f"{runs}:{role}"], capture_output=True, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode:
            print(out.stderr[-2000:], file=sys.stderr)
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{name:28} {result['status']:>4} p50 {result['p50_ms']:>10.1f} ms  "
              f"p95 {result['p95_ms']:>10.1f} ms  {result['queries']:>6} queries  "
              f"{result['bytes'] / 1e6:>7.2f} MB  peak RSS {result['peak_rss_mb']:>7.1f} MB "
              f"(before the request {result['rss_before_mb']:.1f})", flush=True)
    print(json.dumps({"dataset": figures, "pages": results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
