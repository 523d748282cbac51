"""Start a server for a benchmark and wait until it answers; run client threads against it
for a while (login_load, pages_bench)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command: Callable[[int], Sequence[str]], log: Path, *, probe: str = "/",
                 timeout: float = 30, env: dict[str, str] | None = None,
                 started: Callable[[subprocess.Popen], None] | None = None,
                 ) -> tuple[subprocess.Popen, str]:
    """Run ``command(port)`` on a free port of 127.0.0.1, its output appended to ``log``
    (a file: a pipe nobody reads would fill and block it), and wait until ``probe``
    answers; ``started(server)`` runs before the wait (e.g. to pin it to a CPU).

    Returns the server process and its base URL; exits with the log's tail if it does not
    answer within ``timeout`` seconds.
    """
    port = free_port()
    with log.open("ab") as out:
        server = subprocess.Popen(list(command(port)), env=env, stdout=out, stderr=out)
    if started is not None:
        started(server)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + probe, timeout=5).read()
            return server, base
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start: " + log.read_text(errors="replace")[-2000:])


def run_for(seconds: float, clients: list[tuple], sink) -> None:  # noqa: ANN001
    """Run each ``(function, args)`` in a thread with ``(stop, sink)`` appended, stop
    them after ``seconds`` and wait for them."""
    stop = threading.Event()
    threads = [threading.Thread(target=f, args=(*args, stop, sink)) for f, args in clients]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
