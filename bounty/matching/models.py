"""Invitations: an enterprise asks a suggested institute to bid on its challenge."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, User
from ..challenges.models import Challenge
from ..extensions import db
from ..timeutil import UTCDateTime, utcnow


class Invitation(db.Model):
    """One invitation of an institute to one challenge (at most one per pair)."""

    __tablename__ = "invitations"
    __table_args__ = (
        sa.UniqueConstraint("challenge_id", "organization_id", name="uq_invitations_challenge_org"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    invited_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    challenge: Mapped[Challenge] = relationship()
    organization: Mapped[Organization] = relationship()
    invited_by: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<Invitation {self.id} c={self.challenge_id} org={self.organization_id}>"


class IndexJob(db.Model):
    """Index work pending for one document, written in the transaction that changed it.

    The after-commit hook applies and deletes it; a crash in between leaves it
    here, and start-up replays it (re-reading the row, so replay is idempotent).
    """

    __tablename__ = "index_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # challenge, bid, institute
    doc_id: Mapped[str] = mapped_column(sa.String(40))
    op: Mapped[str] = mapped_column(sa.String(10))  # upsert or delete (replay re-reads the row)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
