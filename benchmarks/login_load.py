"""Login hammering from one address does not slow the other pages.

    .venv/bin/python benchmarks/login_load.py [--seconds 40] [--hammers 8] [--readers 2]

Sets up a throw-away instance (SQLite, the demo data, no embedding model), starts a
real `bounty serve --demo` (waitress, 8 threads) on a free port of 127.0.0.1, and
times the other pages (home, the challenge hall, a search, a challenge) as ``readers``
clients see them, in alternating slices: quiet, then with ``hammers`` clients posting
wrong passwords to /accounts/login as fast as they can (each with its own session and
CSRF token, all from 127.0.0.1, each for a different account). The load lasts
``--seconds`` in all (at most 60). Prints p50/p95 of the other pages in both states,
their ratio, and what the hammers got (200: a checked wrong password, 429: throttled).
``--unthrottled`` runs the same with the login limits lifted, to show what the
throttling saves.
"""

from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BOUNTY = Path(sys.executable).with_name("bounty")
PAGES = ["/", "/challenges/", "/challenges/?q=%E6%B3%A8%E5%A1%91", "/challenges/1"]
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(0.95 * len(s)))]


def opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def fetch(client: urllib.request.OpenerDirector, url: str, data: bytes | None = None) -> int:
    try:
        with client.open(url, data=data, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except OSError:  # refused, reset or timed out (30 s): counted, not fatal
        return 0


def start_server(instance: Path, env: dict[str, str], pin: bool,
                 threads: int) -> tuple[subprocess.Popen, str]:
    def pinned(server: subprocess.Popen) -> None:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(server.pid, cpus[:1])
        os.sched_setaffinity(0, cpus[1:])  # this process and the hammers it starts

    return serving.start_server(
        lambda port: [str(BOUNTY), "serve", "--demo", "--no-scheduler", "--host",
                      "127.0.0.1", "--port", str(port), "--threads", str(threads)],
        instance / "server.log", env=env, started=pinned if pin else None)


def hammer(base: str, n: int, stop: threading.Event, answers: Counter) -> None:
    """Post a wrong password again and again on one kept-alive connection, as a
    flooding client would (cheaper for it and for the server than a connection each)."""
    client = opener()
    html = client.open(base + "/accounts/login", timeout=30).read().decode()
    token = CSRF.search(html).group(1)
    cookie = ""
    for handler in client.handlers:
        if isinstance(handler, urllib.request.HTTPCookieProcessor):
            cookie = "; ".join(f"{c.name}={c.value}" for c in handler.cookiejar)
    body = urllib.parse.urlencode({"email": f"nobody{n}@example.com",
                                   "password": "Wrong-password-42",
                                   "csrf_token": token}).encode()
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    while not stop.is_set():
        try:
            connection.request("POST", "/accounts/login", body, headers)
            response = connection.getresponse()
            response.read()
            answers[response.status] += 1
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.close()


def read_pages(base: str, stop: threading.Event, times: list[float]) -> None:
    """Times of the other pages in ms; a failed request is recorded as ``-ms``."""
    client = opener()
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        ok = fetch(client, base + PAGES[i % len(PAGES)]) == 200
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms if ok else -ms)
        i += 1


def hammer_process(base: str, first: int, hammers: int, seconds: float, out) -> None:  # noqa: ANN001
    """``hammers`` clients in their own process, so that their Python does not share the
    readers' interpreter lock: what is measured is the server."""
    answers: Counter = Counter()
    serving.run_for(seconds, [(hammer, (base, first + h)) for h in range(hammers)], answers)
    out.put(dict(answers))


def run(base: str, seconds: float, hammers: int, readers: int) -> dict:
    """Alternate quiet and hammered slices (4 of each), so drift on a shared machine
    falls on both alike."""
    quiet: list[float] = []
    loud: list[float] = []
    answers: Counter = Counter()
    slice_s = seconds / 8
    for n in range(8):
        process = None
        if n % 2:
            out = multiprocessing.Queue()
            process = multiprocessing.Process(
                target=hammer_process, args=(base, n * 100, hammers, slice_s + 0.5, out))
            process.start()
            time.sleep(0.5)  # the hammers are at it before the readers start
        serving.run_for(slice_s, [(read_pages, (base,))] * readers, loud if n % 2 else quiet)
        if process is not None:
            answers.update(out.get(timeout=60))
            process.join()
    return {"quiet": quiet, "loud": loud, "answers": answers, "hammer_seconds": seconds / 2}


def report(label: str, result: dict) -> None:
    failed = {k: [-t for t in result[k] if t < 0] for k in ("quiet", "loud")}
    quiet, loud = ([abs(t) for t in result[k]] for k in ("quiet", "loud"))
    q95, l95 = p95(quiet), p95(loud)
    answers = result["answers"]
    total = sum(answers.values())
    print(f"{label}:")
    print(f"  other pages, quiet:     {len(quiet):5d} requests"
          f"  p50 {statistics.median(quiet):7.1f} ms"
          f"  p95 {q95:7.1f} ms")
    print(f"  other pages, hammered:  {len(loud):5d} requests"
          f"  p50 {statistics.median(loud):7.1f} ms"
          f"  p95 {l95:7.1f} ms")
    print(f"  p95 ratio hammered/quiet: {l95 / q95:.2f}; slowest {max(quiet):.0f} ms quiet, "
          f"{max(loud):.0f} ms hammered; failed (counted in the times): "
          f"{len(failed['quiet'])} quiet, {len(failed['loud'])} hammered")
    print(f"  login posts: {total} ({total / result['hammer_seconds']:.0f}/s), answers "
          + ", ".join(f"{code}: {n}" for code, n in sorted(answers.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--hammers", type=int, default=8)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8,
                        help="The server's threads (`bounty serve --threads`, default 8).")
    parser.add_argument("--pin", action="store_true",
                        help="Run the server on CPU 0 and the clients on the others, as an "
                             "attacker's machine is not the server's (needs 2 CPUs or more).")
    parser.add_argument("--unthrottled", action="store_true",
                        help="Also run with the login limits lifted (same length again).")
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0 / (2 if args.unthrottled else 1))
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("--pin needs 2 CPUs or more")
    with tempfile.TemporaryDirectory(prefix="bounty-login-load-") as tmp:
        instance = Path(tmp) / "instance"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MAIL_SERVER")}
        env.update(BOUNTY_INSTANCE=str(instance), BOUNTY_EMBEDDER="none",
                   BOUNTY_INDEX_REFRESH="1")
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run([str(BOUNTY), *command], env=env, check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs = [("throttled (BOUNTY_LOGIN_LIMIT default)", env)]
        if args.unthrottled:
            runs.append(("unthrottled (limits lifted)",
                         {**env, "BOUNTY_LOGIN_LIMIT": "1000000 per minute",
                          "BOUNTY_LOGIN_ACCOUNT_LIMIT": "1000000 per minute"}))
        print(f"{args.hammers} login hammers and {args.readers} page readers from 127.0.0.1, "
              f"{seconds:.0f} s per run (alternating quiet / hammered slices)")
        for label, run_env in runs:
            server, base = start_server(instance, run_env, args.pin, args.threads)
            try:
                for path in PAGES:  # warm up: templates, the index, caches
                    fetch(opener(), base + path)
                report(label, run(base, seconds, args.hammers, args.readers))
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
