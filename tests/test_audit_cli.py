"""`bounty audit verify`: an intact chain is ok; an altered or deleted event is named."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import current_app

from bounty.audit import AuditEvent
from bounty.audit_keys import audit_keys
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
    event.hash = event.compute_hash(audit_keys(current_app.config).get(event.key_id))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 3 " in result.output


def test_events_are_keyed_with_the_configured_key(app, chain):
    app.config["BOUNTY_AUDIT_KEY"] = "k1:" + "s" * 32
    services.create_challenge(create_user("enterprise"), _data("另一个榜单"))
    db.session.commit()
    event = db.session.execute(
        sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).scalars().first()
    assert event.key_id == "k1"
    assert event.compute_hash(b"s" * 32) == event.hash


def _rechain(hash_of, alter=lambda event: None, events=None) -> str:  # noqa: ANN001
    """Rewrite the chain consistently from its start: ``alter(event)``, then each link
    and hash recomputed with ``hash_of(event)``. Returns the last hash."""
    if events is None:
        db.session.remove()
        events = db.session.execute(
            sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    rows = events
    prev = rows[0].prev_hash
    for event in rows:
        alter(event)
        event.prev_hash = prev
        event.hash = prev = hash_of(event)
    return prev


def test_a_forger_without_the_key_is_caught(runner, chain):
    """Recomputing every hash in the chain without the key does not make it verify."""
    import hashlib
    import hmac
    import json

    def guess(event) -> str:  # noqa: ANN001
        payload = json.dumps([event.seq, event.action, event.comment, event.prev_hash])
        return hmac.new(b"guessed-key", payload.encode(), hashlib.sha256).hexdigest()

    _rechain(guess, lambda e: setattr(e, "comment", "forged") if e.seq == 2 else None)
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "event 1 " in result.output


def test_rotation_keeps_old_events_verifiable(app, runner, chain):
    old_id = db.session.scalar(sa.select(AuditEvent.key_id).where(AuditEvent.seq == 1))
    old_key = audit_keys(app.config).current
    app.config["BOUNTY_AUDIT_KEY"] = "2027:" + "n" * 32
    services.create_challenge(create_user("enterprise"), _data("轮换后的榜单"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "unknown audit key id" in result.output
    app.config["BOUNTY_AUDIT_OLD_KEYS"] = f"{old_id}:{old_key.decode()}"
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "ok: 6 events" in result.output
    assert db.session.scalar(sa.select(AuditEvent.key_id).where(AuditEvent.seq == 6)) == "2027"


def test_events_from_before_keying_still_verify(runner, chain):
    _raw("UPDATE audit_events SET key_id = NULL WHERE seq <= 2")
    # the two first rows become events from before keying (plain SHA-256), and the
    # third is relinked to the second
    rows = db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    rows[2].prev_hash = _rechain(lambda e: e.compute_hash(), events=rows[:2])
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    # the third event's keyed hash covers its old prev_hash: relinking it is caught,
    # while the two plain ones before it verify
    assert result.exit_code == 1 and "event 3 " in result.output


def test_anchor_and_verify_against_the_exported_head(runner, chain, tmp_path):
    head = runner.invoke(args=["audit", "anchor"]).output.strip()
    assert head.startswith("5:") and len(head) == 2 + 64
    (tmp_path / "head").write_text(head + "\n")
    result = runner.invoke(args=["audit", "verify", "--head-file", str(tmp_path / "head")])
    assert result.exit_code == 0 and "holds the exported head 5" in result.output
    # a chain cut back to event 4 (head row rewritten too) is caught by the head
    _raw("DELETE FROM audit_events WHERE seq = 5")
    _raw("UPDATE audit_head SET seq = 4, last_hash = "
         "(SELECT hash FROM audit_events WHERE seq = 4)")
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    result = runner.invoke(args=["audit", "verify", "--head", head])
    assert result.exit_code == 1 and "event 5 is missing" in result.output


def test_a_rewritten_event_is_caught_by_the_head_even_with_the_key(app, runner, chain):
    head = runner.invoke(args=["audit", "anchor"]).output.strip()
    key = audit_keys(app.config)
    prev = _rechain(lambda e: e.compute_hash(key.get(e.key_id)),
                    lambda e: setattr(e, "comment", "rewritten") if e.seq == 3 else None)
    db.session.execute(sa.text("UPDATE audit_head SET last_hash = :h"), {"h": prev})
    db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    result = runner.invoke(args=["audit", "verify", "--head", head])
    assert result.exit_code == 1 and "no longer holds the exported head" in result.output


def test_a_malformed_head_is_refused(runner, chain):
    result = runner.invoke(args=["audit", "verify", "--head", "nonsense"])
    assert result.exit_code == 1 and "not an audit head" in result.output
