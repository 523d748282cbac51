"""The rows certification applications and market listings share: per-year numbers and
the documents behind each item (their decisions are the review core's ReviewDecision)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow


class RegistryCounter(db.Model):
    """The last number issued per series and year (e.g. OH-STT-2026)."""

    __tablename__ = "registry_counters"

    series: Mapped[str] = mapped_column(sa.String(30), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


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
