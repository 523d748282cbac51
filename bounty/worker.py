"""``bounty worker``: the platform's background work in a process of its own, serving no HTTP.

It runs the scheduler (closing bidding past deadlines, flagging overdue reviews, the
daily and weekly digests, deadline reminders, the outbox drain, the hourly upload sweep)
and the embedding worker (queued vector jobs). One process at a time does: whoever holds
the scheduler lock (schedlock.py). A worker started while another process holds it
stands by, trying the lock every ``BOUNTY_WORKER_STANDBY_SECONDS``, and takes over when
that process exits or dies (the lock goes with its process, or with its database
connection on PostgreSQL).

What stays in every process, web or worker: the search index of that process. Each
flushes its own index writes, replays the jobs a crash left at app creation, and rebuilds
a damaged index when a read finds one (healing: one rebuild at a time across processes).
The worker heals too, since digests search.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from flask import Flask

from .jobs import start_locked_scheduler
from .matching import enable_healing, start_embedding_worker
from .schedlock import acquire_scheduler_lock, release_scheduler_lock

TICK_SECONDS = 0.2  # how soon a stop signal is noticed


class _Signals:
    """Turn SIGTERM and SIGINT into a flag the main loop polls (no exception mid-work)."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict = {}

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *_exc) -> None:  # noqa: ANN002
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame) -> None:  # noqa: ANN001
        self.received = signal.Signals(signum).name

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True once a stop signal has arrived."""
        deadline = time.monotonic() + seconds
        while self.received is None and time.monotonic() < deadline:
            time.sleep(min(TICK_SECONDS, max(0.0, deadline - time.monotonic())))
        return self.received is not None


def run_worker(app: Flask, say: Callable[[str], None]) -> str:
    """Do the background work until SIGTERM or SIGINT; returns the signal's name.

    :param say: prints one line (start, standby, take-over).
    """
    standby = float(app.config["BOUNTY_WORKER_STANDBY_SECONDS"])
    scheduler = embedder = None
    with _Signals() as signals:
        try:
            enable_healing(app)
            locked = acquire_scheduler_lock(app)
            if not locked:
                say(f"bounty worker: another process runs the scheduled jobs; standing by "
                    f"(trying every {standby:g} s)")
                while not locked and not signals.wait(standby):
                    locked = acquire_scheduler_lock(app)
            if locked and signals.received is None:
                scheduler = start_locked_scheduler(app)
                embedder = start_embedding_worker(app)
                say(f"bounty worker: running the scheduled jobs"
                    f"{' and the embedding worker' if embedder else ''} "
                    f"(pid {os.getpid()}; Ctrl-C to stop)")
                while not signals.wait(3600):
                    pass
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=True)  # lets a running job finish
            if embedder is not None:
                embedder.stop()
            release_scheduler_lock(app)
        return signals.received or "SIGTERM"
