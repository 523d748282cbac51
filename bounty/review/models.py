"""Review stages and reviewer decisions; a decision is recorded once and never edited."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..enums import LabelledEnum
from ..extensions import db
from ..limits import bounded_text
from ..timeutil import UTCDateTime, utcnow


class StageKey(LabelledEnum):
    vetting = "vetting", _l("审题")
    award = "award", _l("揭榜结果审核")
    acceptance = "acceptance", _l("验收")
    certification = "certification", _l("首台套认定")
    listing = "listing", _l("科技大市场挂牌")


class Outcome(LabelledEnum):
    approve = "approve", _l("通过")
    return_ = "return", _l("退回修改")
    reject = "reject", _l("不予通过")


class ReviewDecision(db.Model):
    """One reviewer's decision on one item at one stage: a challenge (审题, 揭榜结果审核,
    验收), a certification application or a market listing (then also pointed at by
    ``certification_id`` or ``listing_id``, as review tasks are)."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        sa.CheckConstraint(
            "outcome = 'approve' OR length(comment) > 0", name="comment_required"
        ),
        sa.CheckConstraint("certification_id IS NULL OR listing_id IS NULL",
                           name="one_subject"),
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
    stage: Mapped[StageKey] = mapped_column(sa.Enum(StageKey, native_enum=False, length=20))
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
