"""The audit trail: an append-only, hash-chained log of every transition.

Each event's hash is an HMAC-SHA256 over its content and the previous hash, keyed
with a secret kept outside the database (``BOUNTY_AUDIT_KEY``, see
:mod:`bounty.audit_keys`), whose id is recorded on the event: someone who can write
the table but not read the key cannot rewrite the chain consistently. Keys rotate:
new events take the current key, older ones verify with the key their id names.
Events from before keying (``key_id`` empty) keep their plain SHA-256. ``anchor()``
gives the head to keep elsewhere; ``verify_chain(head=...)`` checks the chain still
holds it, which catches even a rewrite by someone holding the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .accounts.models import User
from .audit_keys import AuditKeyError, audit_keys
from .extensions import db
from .limits import bounded_text
from .timeutil import UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditEvent(db.Model):
    """Who did what to which subject, from which state to which, and why."""

    __tablename__ = "audit_events"
    # a challenge's trail, in chain order
    __table_args__ = (sa.Index("ix_audit_events_challenge_seq", "challenge_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(50))
    subject_type: Mapped[str] = mapped_column(sa.String(30))
    subject_id: Mapped[int]
    challenge_id: Mapped[int | None] = mapped_column(index=True)
    from_state: Mapped[str | None] = mapped_column(sa.String(30))
    to_state: Mapped[str | None] = mapped_column(sa.String(30))
    comment: Mapped[str] = bounded_text(5_000, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    # the id of the HMAC key (None: an event from before keying, plain SHA-256)
    key_id: Mapped[str | None] = mapped_column(sa.String(40))

    actor: Mapped[User | None] = relationship()

    def compute_hash(self, key: bytes | None = None) -> str:
        """The event's hash: HMAC-SHA256 with ``key`` when it has a ``key_id``, else the
        plain SHA-256 of events from before keying."""
        fields = [
            self.seq,
            self.actor_id,
            self.action,
            self.subject_type,
            self.subject_id,
            self.challenge_id,
            self.from_state,
            self.to_state,
            self.comment,
            self.created_at.astimezone(UTC).isoformat(timespec="microseconds")
            if self.created_at
            else None,
            self.prev_hash,
        ]
        if self.key_id is None:
            payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
            return hashlib.sha256(payload.encode()).hexdigest()
        if key is None:
            raise AuditKeyError(f"no key given for key id {self.key_id}")
        payload = json.dumps([*fields, self.key_id], ensure_ascii=False, separators=(",", ":"))
        return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


class AuditHead(db.Model):
    """A single row holding the end of the chain; locking it serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS)


def record_event(
    *,
    actor,
    action: str,
    subject,
    challenge_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str = "",
    at: datetime | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction; it commits or rolls back with the change.

    :param at: when it happened, if the service was told a time (``now=``, as the demo and
        the scheduled jobs do); the clock otherwise.
    """
    session = db.session
    if subject.id is None:
        session.flush()
    head = session.execute(
        sa.select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, last_hash=GENESIS)
        session.add(head)
    created_at = at or utcnow()
    keys = audit_keys(current_app.config)
    event = AuditEvent(
        seq=head.seq + 1,
        actor_id=getattr(actor, "id", None),
        action=action,
        subject_type=type(subject).__name__.lower(),
        subject_id=subject.id,
        challenge_id=challenge_id,
        from_state=str(from_state) if from_state is not None else None,
        to_state=str(to_state) if to_state is not None else None,
        comment=comment or "",
        created_at=created_at,
        prev_hash=head.last_hash,
        key_id=keys.current_id,
    )
    event.hash = event.compute_hash(keys.current)
    head.seq = event.seq
    head.last_hash = event.hash
    session.add(event)
    return event


@dataclass
class VerifyResult:
    checked: int
    first_bad: AuditEvent | None
    reason: str = ""
    missing_seq: int | None = None  # the first deleted event, when there is a gap

    @property
    def ok(self) -> bool:
        return self.first_bad is None and not self.reason


def anchor() -> str:
    """The chain's head as ``seq:hash``, to keep outside the database."""
    head = db.session.get(AuditHead, 1)
    return f"{head.seq}:{head.last_hash}" if head is not None else f"0:{GENESIS}"


def verify_chain(head: str | None = None) -> VerifyResult:
    """Walk the chain in order and report the first event that does not fit; with an
    exported ``head`` (``seq:hash`` from :func:`anchor`), also that the chain holds it."""
    keys = audit_keys(current_app.config)
    wanted_seq, wanted_hash = _parse_anchor(head) if head else (None, None)
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for event in db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        if event.seq != expected_seq:
            return VerifyResult(checked, event, f"sequence gap before event {event.seq}",
                                missing_seq=expected_seq)
        if event.prev_hash != prev:
            return VerifyResult(checked, event, "previous hash does not match")
        key = None
        if event.key_id is not None:
            key = keys.get(event.key_id)
            if key is None:
                return VerifyResult(checked, event, f"unknown audit key id {event.key_id!r} "
                                    "(configure it in BOUNTY_AUDIT_OLD_KEYS)")
        if not hmac.compare_digest(event.compute_hash(key), event.hash):
            return VerifyResult(checked, event, "content does not match its hash")
        if event.seq == wanted_seq and event.hash != wanted_hash:
            return VerifyResult(checked, event, "the chain no longer holds the exported head")
        prev = event.hash
        expected_seq += 1
        checked += 1
    head_row = db.session.get(AuditHead, 1)
    if head_row is not None and (head_row.seq != checked or head_row.last_hash != prev):
        return VerifyResult(checked, None, f"events after {checked} are missing",
                            missing_seq=checked + 1)
    if wanted_seq is not None and wanted_seq > checked:
        return VerifyResult(checked, None, f"the exported head is event {wanted_seq}, "
                            f"the chain ends at {checked}", missing_seq=checked + 1)
    return VerifyResult(checked, None)


def _parse_anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.strip().partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"not an audit head (seq:hash): {text.strip()!r}")
    return int(seq), digest
