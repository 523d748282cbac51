"""`bounty worker` and the web-only server, as real processes on the test database and a
real SMTP server on 127.0.0.1: two workers send each digest once, the standby takes over
when the active one stops or dies, and web processes started with --no-scheduler send nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bounty.digests.models import Frequency, OutboxEmail, OutboxStatus
from bounty.digests.services import compose_digests
from bounty.extensions import db
from bounty.timeutil import utcnow

from .digests.conftest import SMTPServer, free_port, publish, subscribe
from .factories import create_user

BOUNTY = str(Path(sys.executable).with_name("bounty"))
WAIT = 60  # seconds: an upper bound on waiting for a process, never a measurement
QUIET = 3  # seconds of watching for a second email that must not come (6 drain rounds)
RUNNING = "bounty worker: running the scheduled jobs"


class Process:
    """A `bounty` command in its own session, its output collected line by line."""

    def __init__(self, args: list[str], env: dict) -> None:
        self.popen = subprocess.Popen([BOUNTY, *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = WAIT) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: text in self.output, timeout)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the process (gunicorn: its master) and wait for it to exit."""
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
        try:
            return self.popen.wait(WAIT)
        finally:
            self.kill()

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(WAIT)
        self._reader.join(WAIT)
        self.popen.stdout.close()


@pytest.fixture
def smtp():
    server = SMTPServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(app, database_url, smtp):
    """The environment of a `bounty` process on this test's database and instance folder."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("BOUNTY_", "MAIL_", "DATABASE_URL", "PUBLIC_URL"))}
    environment.update(
        DATABASE_URL=database_url, BOUNTY_INSTANCE=app.config["BOUNTY_INSTANCE"],
        BOUNTY_EMBEDDER="none", SECRET_KEY="test-secret", PUBLIC_URL="http://localhost",
        MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port),
        BOUNTY_JOB_INTERVAL_SECONDS="0.5", BOUNTY_WORKER_STANDBY_SECONDS="0.5",
        PYTHONUNBUFFERED="1")
    return environment


@pytest.fixture
def processes():
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def queue_digest(hours_from_now: float = 0) -> int:
    """A daily digest of a new subscriber in the outbox, due ``hours_from_now``; its id."""
    user = create_user("institute")
    subscribe(user, keywords="注塑")
    publish(2, title="高精度注塑模温控制系统", keywords="注塑")
    run = compose_digests(Frequency.daily)
    assert run.queued == 1, run
    row = db.session.execute(sa.select(OutboxEmail).where(OutboxEmail.user_id == user.id)
                             ).scalar_one()
    row.next_attempt_at = utcnow() + timedelta(hours=hours_from_now)
    db.session.commit()
    return row.id


def status(row_id: int) -> OutboxStatus:
    db.session.expire_all()
    status = db.session.get(OutboxEmail, row_id).status
    db.session.commit()  # end the read: SQLite writers in the other processes go on
    return status


def wait_until(predicate, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_two_workers_send_a_digest_once_and_the_standby_takes_over(env, smtp, processes):
    first = queue_digest(hours_from_now=2 / 3600)  # falls due two seconds from now
    processes += [Process(["worker"], env), Process(["worker"], env)]
    assert all(p.wait_for("bounty worker: ") for p in processes), [p.output for p in processes]
    active = [p for p in processes if RUNNING in p.output]
    standby = [p for p in processes if "standing by" in p.output]
    assert len(active) == 1 and len(standby) == 1, [p.output for p in processes]

    assert wait_until(lambda: smtp.received), [p.output for p in processes]
    time.sleep(QUIET)
    assert len(smtp.received) == 1
    assert status(first) == OutboxStatus.sent

    assert active[0].stop() == 0
    assert active[0].lines[-1] == "bounty worker stopped (SIGTERM)", active[0].output
    assert standby[0].wait_for(RUNNING), standby[0].output
    second = queue_digest()
    assert wait_until(lambda: len(smtp.received) == 2), standby[0].output
    time.sleep(QUIET)
    assert len(smtp.received) == 2 and status(second) == OutboxStatus.sent
    assert standby[0].stop(signal.SIGINT) == 0  # Ctrl-C
    assert standby[0].lines[-1] == "bounty worker stopped (SIGINT)", standby[0].output


def test_a_standby_worker_stops_cleanly(env, processes):
    processes += [Process(["worker"], env)]
    assert processes[0].wait_for(RUNNING), processes[0].output
    processes += [Process(["worker"], env)]
    assert processes[1].wait_for("standing by"), processes[1].output
    assert processes[1].stop() == 0
    assert processes[1].lines[-1] == "bounty worker stopped (SIGTERM)", processes[1].output
    assert processes[0].popen.poll() is None  # the active one is untouched


def test_the_standby_takes_over_from_a_worker_that_dies(env, processes):
    processes += [Process(["worker"], env)]
    assert processes[0].wait_for(RUNNING), processes[0].output
    processes += [Process(["worker"], env)]
    assert processes[1].wait_for("standing by"), processes[1].output
    processes[0].kill()  # SIGKILL: no clean-up; the lock goes with the process
    assert processes[1].wait_for(RUNNING), processes[1].output


@pytest.mark.parametrize("workers", [1, 2])
def test_web_processes_without_the_scheduler_send_nothing(env, smtp, processes, workers):
    row = queue_digest()  # due now
    port = free_port()
    server = Process(["serve", "--port", str(port), "--no-scheduler",
                      "--workers", str(workers)], env)
    processes.append(server)
    assert wait_until(lambda: _get(f"http://127.0.0.1:{port}/") == 200), server.output
    assert "run `bounty worker` beside them" in server.output
    time.sleep(QUIET)
    assert smtp.received == [] and status(row) == OutboxStatus.queued
    # gunicorn's master stops its processes and exits 0; waitress has no SIGTERM handler
    assert server.stop() == (0 if workers > 1 else -signal.SIGTERM), server.output


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return None
