"""What first-set certification and market listings share: a small transition
table + guard, decisions, per-year numbers, and the documents behind each item.

Both item kinds follow the challenge's pattern (bounty/challenges/workflow.py):
one table of transitions, one guard, and :meth:`Lifecycle.apply` as the only
code that assigns an item's state, writing the audit event as it does.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import send_file
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Role, User
from ..audit import record_event
from ..challenges.attachments import (
    ORPHAN_MIN_AGE,
    CheckedUpload,
    sweep_folder,
    upload_folder,
    write_stored,
)
from ..errors import ConcurrentUpdate, DomainError, PermissionDenied, TransitionRefused
from ..extensions import db
from ..limits import bounded_text
from ..signals import registry_transitioned
from ..timeutil import UTCDateTime, to_local, utcnow
from .models import Outcome

# --------------------------------------------------------------------------- life cycle


class Party(enum.StrEnum):
    owner = "owner"  # an active member of the organisation that owns the item
    reviewer = "reviewer"  # a government reviewer


@dataclass(frozen=True)
class Transition:
    action: str
    source: enum.Enum | None  # None: the item is being created
    target: enum.Enum
    party: Party
    comment_required: bool = False


def is_reviewer(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active
                and user.role == Role.reviewer)


class Lifecycle:
    """One transition table with its guard, for one kind of registry item."""

    def __init__(self, transitions: Iterable[Transition], labels: dict[str, object],
                 owner_roles: Iterable[Role]):
        self.transitions = tuple(transitions)
        self.labels = labels
        self.owner_roles = frozenset(owner_roles)
        self._by_key = {(t.action, t.source): t for t in self.transitions}

    def is_party(self, item, party: Party, user) -> bool:
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if party is Party.reviewer:
            return user.role == Role.reviewer
        return user.role in self.owner_roles and user.belongs_to(item.organization_id)

    def find(self, item, action: str, user) -> Transition:
        """The guard: return the transition, or raise with the reason it is refused."""
        if action not in self.labels:
            raise TransitionRefused(str(_l("未知的操作。")))
        state = item.state
        transition = self._by_key.get((action, state))
        if transition is None:
            raise TransitionRefused(str(_l(
                "当前状态为「%(state)s」，不能执行「%(action)s」。",
                state=state.label if state is not None else "—",
                action=self.labels[action])))
        if not self.is_party(item, transition.party, user):
            raise PermissionDenied(str(_l("您无权执行此操作。")))
        return transition

    def allowed(self, item, user) -> list[str]:
        """Actions this user may take now: for showing buttons, never for enforcing."""
        return [t.action for t in self.transitions
                if t.source == item.state and self.is_party(item, t.party, user)]

    def apply(self, item, action: str, user, comment: str = "") -> Transition:
        """Move the item along the table and audit it, in the caller's transaction."""
        transition = self.find(item, action, user)
        comment = (comment or "").strip()
        if transition.comment_required and not comment:
            raise TransitionRefused(str(_l("退回或不予通过时必须填写意见。")))
        source = item.state
        item.state = transition.target
        db.session.add(item)
        db.session.flush()
        record_event(actor=user, action=action, subject=item, challenge_id=item.challenge_id,
                     from_state=source.value if source is not None else None,
                     to_state=transition.target.value, comment=comment)
        registry_transitioned.send(item, transition=transition, actor=user, comment=comment)
        return transition


class InvalidSubmission(DomainError):
    """Refused form data; ``errors`` maps each form field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("；".join(errors.values()))
        self.errors = errors


# --------------------------------------------------------------------------- decisions


class RegistryDecision(db.Model):
    """One reviewer's decision on a certification application or a market listing."""

    __tablename__ = "registry_decisions"
    __table_args__ = (
        sa.CheckConstraint("outcome = 'approve' OR length(comment) > 0", name="comment_required"),
        sa.CheckConstraint(
            "(certification_id IS NULL) <> (listing_id IS NULL)", name="one_subject"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    certification_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("certification_applications.id", ondelete="CASCADE"), index=True
    )
    listing_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("market_listings.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[Outcome] = mapped_column(
        sa.Enum(Outcome, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])
    )
    comment: Mapped[str] = bounded_text(5_000, default="")
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The review slot this decision closed (bounty.review.assignment.ReviewTask).
    task_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("review_tasks.id", ondelete="SET NULL"), index=True)

    reviewer: Mapped[User] = relationship()


OUTCOME_ACTIONS = {Outcome.approve: "approve", Outcome.return_: "return",
                   Outcome.reject: "reject"}


# --------------------------------------------------------------------------- numbers


class RegistryCounter(db.Model):
    """The last number issued per series and year (e.g. OH-STT-2026)."""

    __tablename__ = "registry_counters"

    series: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


def next_number(prefix: str, now: datetime | None = None) -> str:
    """The next number of a per-year series, inside the caller's transaction.

    The increment is one UPDATE, which holds the counter row's write lock until
    the caller commits, so concurrent approvals queue up on it (PostgreSQL row
    lock, SQLite database lock). Two first-of-the-year inserts racing each other
    clash on the primary key; the caller retries (see :func:`retrying`).
    """
    series = f"{prefix}-{to_local(now or utcnow()).year}"
    bumped = db.session.execute(
        sa.update(RegistryCounter).where(RegistryCounter.series == series)
        .values(last=RegistryCounter.last + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount == 0:
        db.session.add(RegistryCounter(series=series, last=1))
        db.session.flush()
        return f"{series}-0001"
    last = db.session.execute(
        sa.select(RegistryCounter.last).where(RegistryCounter.series == series)
    ).scalar_one()
    return f"{series}-{last:04d}"


def check_version(item, version: int | None) -> None:
    """Refuse a decision made on a page that showed an older version of the item."""
    if version is not None and item.version != version:
        raise ConcurrentUpdate(str(_l("该事项已被他人处理，请刷新页面查看最新状态。")))


def retrying(work: Callable[[], object], attempts: int = 5):
    """Run a unit of work again when it lost a unique-key race (not a stale version)."""
    for attempt in range(attempts):
        try:
            return work()
        except ConcurrentUpdate as exc:
            if not isinstance(exc.__cause__, IntegrityError) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- documents


class RegistryDocument(db.Model):
    """A file behind an application or a listing (evidence, IP documents)."""

    __tablename__ = "registry_documents"
    __table_args__ = (
        sa.CheckConstraint(
            "(certification_id IS NULL) <> (listing_id IS NULL)", name="one_owner"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    certification_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("certification_applications.id", ondelete="CASCADE"), index=True
    )
    listing_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("market_listings.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(30))
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    original_name: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    mime_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def document_folder() -> Path:
    # A subfolder: attachments.discard_orphans() sweeps only the upload folder's own files.
    folder = upload_folder() / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class FileBatch:
    """Files written for one unit of work; removed again if it rolls back."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def store(self, checked: CheckedUpload, *, user, kind: str, **owner) -> RegistryDocument:
        stored_name = f"{secrets.token_hex(16)}.{checked.extension}"
        self.paths.append(write_stored(document_folder, stored_name, checked.data))
        document = RegistryDocument(
            kind=kind, uploaded_by_id=user.id, original_name=checked.original_name,
            stored_name=stored_name, mime_type=checked.mime_type,
            size_bytes=len(checked.data), sha256=hashlib.sha256(checked.data).hexdigest(),
            **owner,
        )
        db.session.add(document)
        return document

    def discard(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)
        self.paths.clear()


def discard_orphan_documents(min_age: timedelta = ORPHAN_MIN_AGE) -> int:
    """Remove registry files no row refers to, once older than ``min_age``."""
    known = set(db.session.execute(sa.select(RegistryDocument.stored_name)).scalars())
    return sweep_folder(document_folder(), known, min_age)


def send_document(document: RegistryDocument):
    """Always a download, never rendered inline."""
    response = send_file(document_folder() / document.stored_name, mimetype=document.mime_type,
                         as_attachment=True, download_name=document.original_name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
