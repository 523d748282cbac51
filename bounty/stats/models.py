"""The statistics' own tables: running counts, and the stays from which stage times come."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime


class StatsCount(db.Model):
    """How many rows of a kind are in (a, b), and the sum of their amount.

    kinds: ``challenge`` (industry, state; bounty), ``certification`` (equipment category,
    state), ``listing`` (transaction type, state), ``deal`` ("", ""; price).
    """

    __tablename__ = "stats_counts"

    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    a: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    b: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    amount: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class StageStay(db.Model):
    """One stay of an item (challenge, certification application, market listing) in one
    state, from the transition into it to the transition out (``left_at`` None: there
    now); from the audit log's transitions, as they are recorded."""

    __tablename__ = "stats_stage_stays"
    __table_args__ = (
        sa.Index("ix_stats_stage_stays_subject", "subject_type", "subject_id", "left_at"),
        # the median of a stage: the middle of its durations, read along this index
        sa.Index("ix_stats_stage_stays_days", "subject_type", "state", "days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(sa.String(30))
    subject_id: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(30))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    days: Mapped[float | None] = mapped_column(sa.Float)
