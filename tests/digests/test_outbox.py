"""Exactly once: concurrent runs, SMTP outages, crashes, leases and failures."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty import create_app
from bounty.digests.models import Frequency, OutboxEmail, OutboxStatus
from bounty.digests.outbox import claim_batch, drain_outbox, retry_email
from bounty.digests.services import compose_digests
from bounty.digests.tasks import run_digest
from bounty.errors import TransitionRefused
from bounty.extensions import db
from bounty.timeutil import utcnow

from ..factories import create_user
from .conftest import MONDAY_8AM, publish, subscribe


def _subscribers(count: int) -> list[str]:
    addresses = []
    for n in range(count):
        user = create_user("institute", email=f"sub{n}@uni.test")
        subscribe(user)
        addresses.append(user.email)
    return addresses


def _statuses() -> dict[str, str]:
    return {row.recipient: row.status.value for row in
            db.session.execute(sa.select(OutboxEmail)).scalars()}


def test_two_scheduler_processes_at_once_send_each_digest_once(mail_app, smtp_server,
                                                               at_monday_8am):
    addresses = _subscribers(12)
    publish(1, title="并发测试榜单")
    mail_app.config["OUTBOX_BATCH_SIZE"] = 3  # many small claims, to interleave the two
    # A second application instance on the same database: another `bounty serve`.
    other = create_app({**mail_app.config})
    barrier = threading.Barrier(2)
    outputs, errors = {}, []

    def process(app, name):
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                run = compose_digests(Frequency.daily, batch_size=2)
                outputs[name] = (run.queued, drain_outbox().sent)
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=process, args=(app, name))
               for app, name in ((mail_app, "a"), (other, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with other.app_context():
        db.engine.dispose()
    assert not errors, errors
    assert sum(queued for queued, _ in outputs.values()) == 12
    assert sum(sent for _, sent in outputs.values()) == 12
    assert sorted(r.envelope_to[0] for r in smtp_server.received) == sorted(addresses)
    # And a third run (the scheduler firing twice) adds nothing.
    run_digest(Frequency.daily)
    assert len(smtp_server.received) == 12


def test_smtp_down_then_up_every_email_arrives_once(mail_app, smtp_server, at_monday_8am,
                                                   time_machine):
    addresses = _subscribers(3)
    publish(1)
    smtp_server.stop()
    lines = run_digest(Frequency.daily)
    assert "outbox: sent 0, retry later 3, failed 0, reclaimed 0" in lines
    rows = db.session.execute(sa.select(OutboxEmail)).scalars().all()
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.queued, 1)}
    assert all("Connection refused" in r.last_error or "111" in r.last_error for r in rows)
    assert {r.next_attempt_at for r in rows} == {MONDAY_8AM + timedelta(seconds=60)}

    # Still down a minute later: the second attempt backs off twice as long.
    time_machine.move_to(MONDAY_8AM + timedelta(seconds=61), tick=False)
    assert drain_outbox().retried == 3
    db.session.expire_all()
    assert {r.next_attempt_at for r in db.session.execute(sa.select(OutboxEmail)).scalars()} \
        == {MONDAY_8AM + timedelta(seconds=61 + 120)}

    smtp_server.start()  # back up, same port
    time_machine.move_to(MONDAY_8AM + timedelta(seconds=62), tick=False)
    assert drain_outbox().sent == 0  # not due yet: backoff respected
    time_machine.move_to(MONDAY_8AM + timedelta(seconds=61 + 121), tick=False)
    assert drain_outbox().sent == 3
    assert drain_outbox().sent == 0
    assert sorted(r.envelope_to[0] for r in smtp_server.received) == sorted(addresses)
    assert set(_statuses().values()) == {"sent"}


def test_killed_between_recording_and_sending_then_restarted(mail_app, smtp_server,
                                                            at_monday_8am):
    _subscribers(2)
    publish(1)
    # The run recorded its digests, then the process died before sending any.
    assert compose_digests(Frequency.daily).queued == 2
    assert smtp_server.received == []
    # Restarted: the scheduler fires the same period again, and the drain runs.
    lines = run_digest(Frequency.daily)
    assert "daily:2024-05-06: 0 digests queued, 0 with nothing new, 2 already done" in lines
    assert "outbox: sent 2, retry later 0, failed 0, reclaimed 0" in lines
    assert len(smtp_server.received) == 2


def test_killed_while_sending_is_reclaimed_after_the_lease(mail_app, smtp_server,
                                                          at_monday_8am, time_machine):
    _subscribers(2)
    publish(1)
    compose_digests(Frequency.daily)
    # A process claimed both rows and died before (or while) talking to the server.
    _token, rows = claim_batch(utcnow(), 10)
    assert len(rows) == 2
    db.session.remove()
    # Restarted at once: the rows are leased to the dead process, so nobody sends them
    # (a live but slow sender must not be duplicated).
    assert drain_outbox().sent == 0 and smtp_server.received == []
    time_machine.move_to(MONDAY_8AM + timedelta(minutes=16), tick=False)
    result = drain_outbox()
    assert (result.reclaimed, result.sent) == (2, 2)
    assert len(smtp_server.received) == 2
    assert drain_outbox().sent == 0


def test_expired_lease_can_fail_instead_for_strict_at_most_once(mail_app, smtp_server,
                                                                at_monday_8am, time_machine):
    mail_app.config["OUTBOX_LEASE_EXPIRED"] = "fail"
    _subscribers(1)
    publish(1)
    compose_digests(Frequency.daily)
    claim_batch(utcnow(), 10)
    time_machine.move_to(MONDAY_8AM + timedelta(minutes=16), tick=False)
    assert drain_outbox().reclaimed == 1
    row = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    assert row.status == OutboxStatus.failed and "outcome unknown" in row.last_error
    assert smtp_server.received == []


def test_permanent_failure_is_recorded_shown_and_retried_by_an_admin(
        mail_app, smtp_server, at_monday_8am, login_as):
    good, bad = _subscribers(2)
    smtp_server.sink.refuse[bad] = "550 5.1.1 mailbox unavailable"
    publish(1)
    lines = run_digest(Frequency.daily)
    assert "outbox: sent 1, retry later 0, failed 1, reclaimed 0" in lines
    assert [r.envelope_to for r in smtp_server.received] == [[good]]
    row = db.session.execute(sa.select(OutboxEmail).where(OutboxEmail.recipient == bad)
                             ).scalar_one()
    assert row.status == OutboxStatus.failed and "550" in row.last_error

    admin = create_user("admin")
    client = login_as(admin)
    page = client.get("/digests/admin/outbox?status=failed").get_data(as_text=True)
    assert bad in page and "550 5.1.1 mailbox unavailable" in page and good not in page

    del smtp_server.sink.refuse[bad]
    response = client.post(f"/digests/admin/outbox/{row.id}/retry")
    assert response.status_code == 302
    assert drain_outbox().sent == 1
    assert [r.envelope_to for r in smtp_server.received] == [[good], [bad]]
    db.session.refresh(row)
    with pytest.raises(TransitionRefused, match="只能重发"):
        retry_email(row, admin)
    assert login_as(create_user("institute")).get("/digests/admin/outbox").status_code == 403


def test_4xx_for_an_address_is_retried_later(mail_app, smtp_server, at_monday_8am,
                                             time_machine):
    [address] = _subscribers(1)
    smtp_server.sink.refuse[address] = "451 4.7.1 greylisted, try later"
    publish(1)
    assert "outbox: sent 0, retry later 1, failed 0, reclaimed 0" in run_digest(Frequency.daily)
    del smtp_server.sink.refuse[address]
    time_machine.move_to(MONDAY_8AM + timedelta(minutes=2), tick=False)
    assert drain_outbox().sent == 1
    row = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    assert (row.status, row.attempts) == (OutboxStatus.sent, 2)
    assert len(smtp_server.received) == 1


def test_out_of_attempts_is_a_permanent_failure(mail_app, smtp_server, at_monday_8am,
                                                time_machine):
    mail_app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    _subscribers(1)
    publish(1)
    smtp_server.stop()
    run_digest(Frequency.daily)
    time_machine.move_to(MONDAY_8AM + timedelta(hours=1), tick=False)
    assert drain_outbox().failed == 1
    assert _statuses() == {"sub0@uni.test": "failed"}


def test_a_line_break_in_a_subject_cannot_inject_headers():
    import email
    import email.policy

    from bounty.digests.mail import build_message

    outgoing = build_message(sender="Bounty <noreply@bounty.test>", recipient="a@example.com",
                             subject="Hello\r\nBcc: victim@example.com", text="t", html="<p>h</p>",
                             headers={}, dedup_key="k")
    parsed = email.message_from_bytes(outgoing.wire, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Hello Bcc: victim@example.com"
    assert parsed.get_body(("plain",)).get_content() == "t"
    assert parsed.get_body(("html",)).get_content() == "<p>h</p>"


def test_the_outbox_names_every_kind_of_email_for_people(app, login_as):
    from bounty.digests.models import NotificationKind
    from bounty.digests.outbox import enqueue

    kinds = ["digest", "account", *(kind.value for kind in NotificationKind)]
    enqueue([{"kind": kind, "user_id": None, "recipient": f"{kind}@example.com",
              "subject": f"主题 {kind}", "text_body": "t", "html_body": "<p>h</p>",
              "headers": {}, "dedup_key": f"test:{kind}"} for kind in kinds])
    db.session.commit()
    page = login_as(create_user("admin")).get("/digests/admin/outbox").get_data(as_text=True)
    cells = dict(zip(kinds, (row.kind_label for row in db.session.execute(
        sa.select(OutboxEmail).order_by(OutboxEmail.id)).scalars()), strict=True))
    for kind, label in cells.items():
        assert label != kind and not label.isascii(), (kind, label)
        assert f'data-label="类型">{label}</td>' in page
        assert f'data-label="类型">{kind}</td>' not in page
    assert cells["account"] == "账号邮件" and cells["digest"] == "订阅摘要"
    # none was tried yet: each goes with the next drain, nothing to send "again"
    assert "重发" not in page
