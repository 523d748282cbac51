"""Scheduled jobs: bidding closes by itself at the deadline; one scheduler per instance."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bounty import create_app
from bounty.audit import AuditEvent, verify_chain
from bounty.challenges.models import BidState, ChallengeState
from bounty.extensions import db
from bounty.schedlock import acquire_scheduler_lock, release_scheduler_lock

from .conftest import _test_config
from .factories import create_bid, create_challenge

DEADLINE = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)  # 2026-07-01 00:00 in Shanghai


@pytest.fixture
def due(app, time_machine):
    time_machine.move_to(DEADLINE - timedelta(days=10), tick=False)
    with_bids = create_challenge(state=ChallengeState.open, bid_deadline=DEADLINE,
                                 title="汽摩配铝合金轮毂低压铸造缺陷检测")
    create_bid(with_bids)
    create_bid(with_bids, state=BidState.withdrawn)
    only_draft = create_challenge(state=ChallengeState.open, bid_deadline=DEADLINE,
                                  title="电气机械：断路器触头银氧化锡材料")
    create_bid(only_draft, state=BidState.draft)
    unbid = create_challenge(state=ChallengeState.open, bid_deadline=DEADLINE,
                             title="智能锁低功耗蓝牙模组")
    later = create_challenge(state=ChallengeState.open,
                             bid_deadline=DEADLINE + timedelta(days=5), title="稍后截止")
    return with_bids, only_draft, unbid, later


def _system_events() -> list[AuditEvent]:
    return list(db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action.in_(["close_bidding", "close_unbid"]))
        .order_by(AuditEvent.seq)).scalars())


def _states(*challenges) -> list[ChallengeState]:
    db.session.expire_all()
    return [c.state for c in challenges]


def test_before_the_deadline_nothing_happens(runner, due, time_machine):
    time_machine.move_to(DEADLINE - timedelta(seconds=1), tick=False)
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0 and "closed bidding" not in result.output
    assert _states(*due) == [ChallengeState.open] * 4
    assert _system_events() == []


def test_after_the_deadline_bidding_closes(runner, due, time_machine):
    with_bids, only_draft, unbid, later = due
    time_machine.move_to(DEADLINE, tick=False)
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0, result.output
    assert f"closed bidding on challenge {with_bids.id}: evaluating" in result.output
    assert f"closed bidding on challenge {unbid.id}: failed" in result.output
    assert _states(*due) == [ChallengeState.evaluating, ChallengeState.failed,
                             ChallengeState.failed, ChallengeState.open]
    events = _system_events()
    assert [(e.challenge_id, e.action, e.from_state, e.to_state, e.actor_id) for e in events] \
        == [(with_bids.id, "close_bidding", "open", "evaluating", None),
            (only_draft.id, "close_unbid", "open", "failed", None),
            (unbid.id, "close_unbid", "open", "failed", None)]
    assert all(e.created_at == DEADLINE for e in events)

    # Running again changes nothing more.
    again = runner.invoke(args=["jobs", "run"])
    assert again.exit_code == 0 and "nothing due" in again.output
    assert len(_system_events()) == 3
    assert verify_chain().ok

    time_machine.move_to(later.bid_deadline + timedelta(minutes=1), tick=False)
    runner.invoke(args=["jobs", "run"])
    assert _states(later) == [ChallengeState.failed]


def _second_app(database_url: str, instance):
    return create_app(_test_config(database_url, instance))


def test_only_one_app_takes_the_scheduler_lock(app, database_url, tmp_path):
    """Two apps sharing an instance folder (and database): only one runs the scheduler.

    SQLite: a flock in the instance folder; PostgreSQL: a session advisory lock."""
    other = _second_app(database_url, tmp_path)
    try:
        assert acquire_scheduler_lock(app) is True
        assert acquire_scheduler_lock(other) is False
        release_scheduler_lock(app)
        assert acquire_scheduler_lock(other) is True
        assert acquire_scheduler_lock(app) is False
    finally:
        release_scheduler_lock(app)
        release_scheduler_lock(other)
        with other.app_context():
            db.engine.dispose()


def test_lock_kind_follows_the_database(app, tmp_path):
    """SQLite: a locked file in the instance folder; PostgreSQL: an advisory lock the
    server shows in pg_locks (this test runs on both, so it is never skipped)."""
    assert acquire_scheduler_lock(app)
    try:
        lock = app.extensions["bounty_scheduler_lock"]
        if db.engine.dialect.name == "postgresql":
            assert isinstance(lock, sa.Connection)
            with db.engine.connect() as connection:
                held = connection.execute(sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                )).scalar()
            assert held >= 1
        else:
            assert (tmp_path / "scheduler.lock").read_text() == str(os.getpid())
    finally:
        release_scheduler_lock(app)
