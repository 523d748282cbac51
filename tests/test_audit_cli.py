"""`bounty audit verify`: an intact chain is ok; an altered or deleted event is named."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent
from bounty.challenges import services
from bounty.extensions import db

from .factories import create_user


@pytest.fixture
def chain(app):
    """Five events: create three challenges, submit two."""
    owner = create_user("enterprise")
    for n in range(3):
        challenge = services.create_challenge(owner, _data(f"眼镜钛合金镜架激光焊接{n}"))
        if n < 2:
            services.submit_challenge(challenge, owner)
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def _data(title: str) -> services.ChallengeData:
    from datetime import timedelta

    from bounty.challenges.models import Category, Industry, IPTerms
    from bounty.timeutil import utcnow

    return services.ChallengeData(
        title=title, industry=Industry.eyewear, category=Category.key_process,
        background="钛架焊点易脆断。", bottleneck="焊缝强度不足。", expected_outcome="工艺规范",
        bounty_yuan=300_000, bid_deadline=utcnow() + timedelta(days=20), delivery_months=6,
        ip_terms=IPTerms.shared, keywords="激光焊接 titanium")


def _raw(sql: str, **params) -> None:
    db.session.remove()
    with db.engine.begin() as connection:
        connection.execute(sa.text(sql), params)


def test_intact_chain_is_ok(runner, chain):
    assert chain == 5
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok: 5 events, chain intact" in result.output


def test_empty_chain_is_ok(runner, app):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "ok: 0 events" in result.output


def test_altered_comment_is_named(runner, chain):
    _raw("UPDATE audit_events SET comment = 'tampered' WHERE seq = 3")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "event 3 " in result.output and "altered" in result.output


def test_altered_state_is_named(runner, chain):
    _raw("UPDATE audit_events SET to_state = 'open' WHERE seq = 2")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 2 " in result.output


def test_deleted_middle_event_is_named(runner, chain):
    _raw("DELETE FROM audit_events WHERE seq = 3")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "event 3 is missing" in result.output


def test_deleted_last_event_is_named(runner, chain):
    _raw("DELETE FROM audit_events WHERE seq = 5")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 5 is missing" in result.output


def test_rehashed_event_breaks_the_next_link(runner, chain):
    """A forger who recomputes the altered event's own hash is caught by the next one."""
    db.session.remove()
    event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.seq == 2)).scalar_one()
    event.comment = "forged"
    event.hash = event.compute_hash()
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 3 " in result.output
