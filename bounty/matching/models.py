"""Invitations: an enterprise asks a suggested institute to bid on its challenge."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, User
from ..challenges.models import Challenge
from ..extensions import db
from ..timeutil import UTCDateTime, utcnow
from .pgsearch import tables as search_tables  # noqa: F401 - the index's tables (postgres)


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

    One queue, two consumers, told apart by ``target``: ``lexical`` rows feed the
    full-text index (the after-commit hook makes them visible in the engine's
    overlay; the flush that writes them to Whoosh deletes them, or marks them
    ``flushed_at`` while a rebuild runs, see bounty.matching.jobs; whatever a crash
    leaves is replayed at start-up), ``vector`` rows feed the embedding worker
    (bounty.matching.embedding), which claims them for ``LEASE`` and deletes them once
    the document's vectors are stored. Both re-read the row, so replay is idempotent.
    """

    __tablename__ = "index_jobs"
    __table_args__ = (sa.Index("ix_index_jobs_target_id", "target", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(sa.String(10), default="lexical",
                                        server_default="lexical")  # lexical or vector
    kind: Mapped[str] = mapped_column(sa.String(20))  # challenge, bid, institute
    doc_id: Mapped[str] = mapped_column(sa.String(40))
    op: Mapped[str] = mapped_column(sa.String(10))  # upsert or delete (replay re-reads the row)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # vector: worker lease
    # lexical: in the Whoosh files since, kept until the running rebuilds copied it
    flushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IndexRebuild(db.Model):
    """A ``bounty reindex`` running on this index: while one is registered, flushed
    lexical jobs are kept for it to copy into the new generation.

    A registration whose process is gone (same host, no such pid) is ignored and
    deleted by the next process that looks.
    """

    __tablename__ = "index_rebuilds"

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DocVector(db.Model):
    """A document's embedding under one model: derived data, rebuilt by ``bounty embed``.

    ``role`` is how the text was embedded (``passage`` to be found, ``query`` to look
    for others); ``text_hash`` is the SHA-256 of the exact text embedded, so a vector is
    recomputed only when that text or the model changes. Bids also keep their sentences
    and one vector each (``sentences`` JSON, ``sentence_vectors``), for explanations and
    for finding copied passages. Vectors are little-endian float16, ``dim`` wide.
    """

    __tablename__ = "doc_vectors"
    __table_args__ = (
        sa.UniqueConstraint("kind", "doc_id", "role", "model", name="uq_doc_vectors_key"),
        sa.Index("ix_doc_vectors_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    doc_id: Mapped[str] = mapped_column(sa.String(40))
    role: Mapped[str] = mapped_column(sa.String(10))  # passage or query
    model: Mapped[str] = mapped_column(sa.String(80))  # name@version
    text_hash: Mapped[str] = mapped_column(sa.String(64))
    dim: Mapped[int] = mapped_column()
    vector: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sentences: Mapped[list[str] | None] = mapped_column(sa.JSON)
    sentence_vectors: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
