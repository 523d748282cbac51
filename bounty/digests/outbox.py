"""The outbox: every email is a row before it is a message.

Life of a row: ``queued`` → (claimed) ``sending`` → ``sent``; a transient
failure puts it back to ``queued`` with exponential backoff, a permanent one
(5xx for the address, or out of attempts) to ``failed``, shown to admins.

Exactly once, and what that costs
---------------------------------
* Recording: the ``dedup_key`` is UNIQUE and rows are inserted with
  ``ON CONFLICT DO NOTHING``, so a logical email is recorded at most once,
  whoever records it and however often.
* Claiming: ``UPDATE ... SET status='sending', claim_token=:mine WHERE
  status='queued' AND id IN (...)`` is one atomic statement; two processes
  never claim the same row, so they never both send it.
* Marking: each message is marked ``sent`` in its own commit right after the
  server accepted it (``WHERE claim_token=:mine``).
* Crash recovery: a row left in ``sending`` by a killed process is reclaimed
  once its lease (``OUTBOX_LEASE_SECONDS``, default 15 min, far above a send
  that is bounded by ``MAIL_TIMEOUT``) has expired. The lease is what keeps a
  live but slow sender's rows from being sent twice. If the process died in
  the narrow window after the server accepted the message (``250``) and
  before the ``sent`` commit, nothing on our side can know it was delivered:
  ``OUTBOX_LEASE_EXPIRED = "requeue"`` (default) sends it again — nothing is
  lost, a rare duplicate is possible, and it carries the same Message-ID so
  that clients which deduplicate show it once; ``"fail"`` marks it
  ``failed`` with "outcome unknown" for an admin to retry by hand — strictly
  at most once, at the price of a possibly lost email.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..timeutil import utcnow
from . import mail
from .models import OutboxBody, OutboxEmail, OutboxStatus

log = logging.getLogger(__name__)
T = OutboxEmail.__table__


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    reclaimed: int = 0

    def __str__(self) -> str:
        return (f"sent {self.sent}, retry later {self.retried}, failed {self.failed}, "
                f"reclaimed {self.reclaimed}")


def insert_ignore(table: sa.Table, rows: list[dict], index_elements: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL), in the caller's transaction.

    Unlike catching IntegrityError, a clash never aborts the surrounding transaction.
    """
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(table).on_conflict_do_nothing(index_elements=index_elements), rows)


def enqueue(rows: list[dict]) -> None:
    """Record emails in the caller's transaction; a key already recorded is skipped.

    Each row: kind, user_id, recipient, subject, text_body, html_body, headers, dedup_key.
    Never raises on a duplicate, so a signal receiver cannot break the service's transaction.
    """
    if not rows:
        return
    bodies = [{"key": row["dedup_key"], "text": row["text_body"], "html": row["html_body"]}
              for row in rows]
    insert_ignore(T, [{k: v for k, v in row.items() if k not in ("text_body", "html_body")}
                      for row in rows], ["dedup_key"])
    # The body goes with the row this key names, unless that row already has one.
    B = OutboxBody.__table__
    db.session.execute(
        sa.insert(B).from_select(
            ["email_id", "text_body", "html_body"],
            sa.select(T.c.id, sa.bindparam("text", type_=sa.Text),
                      sa.bindparam("html", type_=sa.Text))
            .where(T.c.dedup_key == sa.bindparam("key"),
                   ~sa.exists().where(B.c.email_id == T.c.id))),
        bodies)


def exists(dedup_key: str) -> bool:
    return db.session.execute(
        sa.select(T.c.id).where(T.c.dedup_key == dedup_key)).first() is not None


def backoff(attempts: int, config) -> timedelta:
    """Delay before attempt ``attempts + 1``: base, 2×base, 4×base… capped."""
    base = config["OUTBOX_BACKOFF_SECONDS"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), config["OUTBOX_BACKOFF_MAX"]))


def reclaim_expired(now: datetime) -> int:
    """Rows left in ``sending`` past their lease: requeue (default) or fail, see module doc."""
    config = current_app.config
    cutoff = now - timedelta(seconds=config["OUTBOX_LEASE_SECONDS"])
    expired = sa.and_(T.c.status == OutboxStatus.sending, T.c.claimed_at < cutoff)
    if config["OUTBOX_LEASE_EXPIRED"] == "fail":
        values = {"status": OutboxStatus.failed, "claim_token": None,
                  "last_error": "lease expired while sending: outcome unknown, retry by hand"}
    else:
        values = {"status": OutboxStatus.queued, "claim_token": None, "next_attempt_at": now,
                  "last_error": "lease expired while sending: requeued (may duplicate)"}
    count = db.session.execute(sa.update(T).where(expired).values(**values)).rowcount
    db.session.commit()
    if count:
        log.warning("outbox: %d rows reclaimed after an expired lease", count)
    return count


def claim_batch(now: datetime, limit: int) -> tuple[str, list[OutboxEmail]]:
    """Atomically take up to ``limit`` due rows for this process; (token, rows)."""
    token = uuid.uuid4().hex
    due = (
        sa.select(T.c.id)
        .where(T.c.status == OutboxStatus.queued, T.c.next_attempt_at <= now)
        .order_by(T.c.next_attempt_at, T.c.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # status='queued' again on the outer UPDATE: a row another process claimed
    # between our sub-select and our write is re-checked and skipped.
    db.session.execute(
        sa.update(T)
        .where(T.c.id.in_(due.scalar_subquery()), T.c.status == OutboxStatus.queued)
        .values(status=OutboxStatus.sending, claimed_at=now, claim_token=token)
    )
    db.session.commit()
    rows = db.session.execute(
        sa.select(OutboxEmail).options(joinedload(OutboxEmail.body))
        .where(OutboxEmail.claim_token == token).order_by(OutboxEmail.id)
    ).scalars().all()
    return token, list(rows)


def _finish(row_id: int, token: str, **values) -> None:
    done = db.session.execute(
        sa.update(T).where(T.c.id == row_id, T.c.claim_token == token).values(**values)
    ).rowcount
    db.session.commit()
    if not done:
        log.warning("outbox row %s was reclaimed by another process while sending", row_id)


def _release(row: OutboxEmail, token: str, error: str, now: datetime, permanent: bool) -> bool:
    """Record a failed attempt; True if the row is now failed for good."""
    config = current_app.config
    attempts = row.attempts + 1
    if permanent or attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
        _finish(row.id, token, status=OutboxStatus.failed, attempts=attempts,
                last_error=error[:2000], claim_token=None)
        return True
    _finish(row.id, token, status=OutboxStatus.queued, attempts=attempts,
            last_error=error[:2000], claim_token=None,
            next_attempt_at=now + backoff(attempts, config))
    return False


def _has_due(now: datetime) -> bool:
    return db.session.execute(
        sa.select(T.c.id).where(T.c.status == OutboxStatus.queued, T.c.next_attempt_at <= now)
        .limit(1)).first() is not None


def drain_outbox(now: datetime | None = None, *, limit: int | None = None,
                 transport: mail.Transport | None = None,
                 workers: int | None = None) -> DrainResult:
    """Send every due email once; a worker stops early when the server is unreachable.

    :param now: the clock (tests move it); rows due at or before it are sent.
    :param limit: at most this many rows (None: all due rows); implies one worker.
    :param workers: SMTP connections in parallel (default ``OUTBOX_WORKERS``); each
        claims its own batches, so they never send the same row.
    """
    config = current_app.config
    now = now or utcnow()
    db.session.commit()  # start from a clean unit of work
    reclaimed = reclaim_expired(now)
    workers = workers or config["OUTBOX_WORKERS"]
    if transport is not None or limit is not None or workers <= 1:
        result = _drain(now, limit, transport)
    elif not _has_due(now):
        result = DrainResult()
    else:
        result = _drain_in_parallel(now, workers)
    result.reclaimed = reclaimed
    return result


def _drain_in_parallel(now: datetime, workers: int) -> DrainResult:
    """While one connection waits for the server's reply, another builds and sends."""
    app = current_app._get_current_object()
    results: list[DrainResult | BaseException] = [DrainResult() for _ in range(workers)]

    def work(index: int) -> None:
        with app.app_context():
            try:
                results[index] = _drain(now, None, None)
            except BaseException as exc:  # re-raised in the caller's thread below
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i,), name=f"outbox-{i}")
               for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = DrainResult()
    for result in results:
        if isinstance(result, BaseException):
            raise result
        total.sent += result.sent
        total.retried += result.retried
        total.failed += result.failed
    return total


def _drain(now: datetime, limit: int | None, transport: mail.Transport | None) -> DrainResult:
    """One worker: claim a batch, send it over one connection, repeat."""
    config = current_app.config
    result = DrainResult()
    sender = config["MAIL_DEFAULT_SENDER"]
    own_transport = transport is None
    transport = transport or mail.open_transport(config)
    batch_size = config["OUTBOX_BATCH_SIZE"]
    try:
        while limit is None or result.sent + result.retried + result.failed < limit:
            size = batch_size if limit is None else min(batch_size, limit - (
                result.sent + result.retried + result.failed))
            token, rows = claim_batch(now, size)
            if not rows:
                break
            for index, row in enumerate(rows):
                message = mail.build_message(
                    sender=sender, recipient=row.recipient, subject=row.subject,
                    text=row.text_body, html=row.html_body, headers=row.headers,
                    dedup_key=row.dedup_key)
                try:
                    transport.send(message)
                except mail.SendFailure as exc:
                    permanent = isinstance(exc, mail.PermanentFailure)
                    if _release(row, token, str(exc), now, permanent):
                        result.failed += 1
                    else:
                        result.retried += 1
                    if exc.connection_lost:
                        # The server is unreachable: give the rest of the batch back
                        # with the same backoff instead of timing out on each.
                        for rest in rows[index + 1:]:
                            if _release(rest, token, str(exc), now, False):
                                result.failed += 1
                            else:
                                result.retried += 1
                        return result
                    continue
                _finish(row.id, token, status=OutboxStatus.sent, sent_at=utcnow(),
                        attempts=row.attempts + 1, last_error="", claim_token=None)
                result.sent += 1
    finally:
        if own_transport:
            transport.close()
    return result


def retry_email(row: OutboxEmail, actor, now: datetime | None = None) -> OutboxEmail:
    """An admin sends a failed email (or one waiting to be tried again) now: back to
    ``queued``, due now."""
    from flask_babel import lazy_gettext as _l

    from ..errors import PermissionDenied, TransitionRefused
    from ..transactions import atomic

    if actor is None or not actor.is_admin:
        raise PermissionDenied(str(_l("只有管理员可以重发邮件。")))
    if not row.can_retry:
        raise TransitionRefused(str(_l("只能重发发送失败或等待重试的邮件。")))
    with atomic():
        row.status = OutboxStatus.queued
        row.attempts = 0
        row.next_attempt_at = now or utcnow()
        row.claim_token = None
        row.last_error = f"{row.last_error} (retried by {actor.email})".strip()
    return row


def outbox_counts() -> dict[OutboxStatus, int]:
    counts = dict.fromkeys(OutboxStatus, 0)
    for status, count in db.session.execute(
            sa.select(T.c.status, sa.func.count()).group_by(T.c.status)):
        counts[OutboxStatus(status)] = count
    return counts
