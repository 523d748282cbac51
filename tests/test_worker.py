"""`bounty worker` and the web-only server, as real processes on the test database and a
real SMTP server on 127.0.0.1: two workers send each digest once, the standby takes over
when the active one stops or dies, and web processes started with --no-scheduler send nothing."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.digests.models import Frequency, OutboxEmail, OutboxStatus
from bounty.digests.services import compose_digests
from bounty.extensions import db
from bounty.timeutil import utcnow

from .digests.conftest import SMTPServer, free_port, publish, subscribe
from .factories import create_user
from .processes import Process, bounty_environment, http_status, wait_until

QUIET = 3  # seconds of watching for a second email that must not come (6 drain rounds)
RUNNING = "bounty worker: running the scheduled jobs"


@pytest.fixture
def smtp():
    server = SMTPServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(app, database_url, smtp):
    """The environment of a `bounty` process on this test's database and instance folder."""
    return bounty_environment(
        DATABASE_URL=database_url, BOUNTY_INSTANCE=app.config["BOUNTY_INSTANCE"],
        BOUNTY_EMBEDDER="none", SECRET_KEY="test-secret", PUBLIC_URL="http://localhost",
        MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port),
        BOUNTY_JOB_INTERVAL_SECONDS="0.5", BOUNTY_WORKER_STANDBY_SECONDS="0.5")


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
    assert wait_until(lambda: http_status(f"http://127.0.0.1:{port}/") == 200), server.output
    assert "run `bounty worker` beside them" in server.output
    time.sleep(QUIET)
    assert smtp.received == [] and status(row) == OutboxStatus.queued
    # gunicorn's master stops its processes and exits 0; waitress has no SIGTERM handler
    assert server.stop() == (0 if workers > 1 else -signal.SIGTERM), server.output

