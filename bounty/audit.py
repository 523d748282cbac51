"""The audit trail: an append-only, hash-chained log of every transition."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .accounts.models import User
from .extensions import db
from .timeutil import UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditEvent(db.Model):
    """Who did what to which subject, from which state to which, and why."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(50))
    subject_type: Mapped[str] = mapped_column(sa.String(30))
    subject_id: Mapped[int]
    challenge_id: Mapped[int | None] = mapped_column(index=True)
    from_state: Mapped[str | None] = mapped_column(sa.String(30))
    to_state: Mapped[str | None] = mapped_column(sa.String(30))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    actor: Mapped[User | None] = relationship()

    def compute_hash(self) -> str:
        payload = json.dumps(
            [
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
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode()).hexdigest()


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
    )
    event.hash = event.compute_hash()
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


def verify_chain() -> VerifyResult:
    """Walk the chain in order and report the first event that does not fit."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for event in db.session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        if event.seq != expected_seq:
            return VerifyResult(checked, event, f"sequence gap before event {event.seq}",
                                missing_seq=expected_seq)
        if event.prev_hash != prev:
            return VerifyResult(checked, event, "previous hash does not match")
        if event.compute_hash() != event.hash:
            return VerifyResult(checked, event, "content does not match its hash")
        prev = event.hash
        expected_seq += 1
        checked += 1
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.seq != checked or head.last_hash != prev):
        return VerifyResult(checked, None, f"events after {checked} are missing",
                            missing_seq=checked + 1)
    return VerifyResult(checked, None)
