"""Challenges (榜单), their indicators, bids (揭榜方案), milestones and attachments."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, User
from ..enums import LabelledEnum
from ..extensions import db
from ..limits import bounded_text
from ..timeutil import UTCDateTime, utcnow

MAX_BOUNTY_YUAN = 10**10


def _enum(cls: type[enum.Enum], length: int = 30) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=length, validate_strings=True)


class Industry(LabelledEnum):
    apparel = "apparel", _l("服装")
    footwear = "footwear", _l("鞋革")
    eyewear = "eyewear", _l("眼镜")
    smart_lock = "smart_lock", _l("智能锁")
    auto_parts = "auto_parts", _l("汽摩配")
    electrical = "electrical", _l("电气机械")
    health = "health", _l("生命健康")
    smart_equipment = "smart_equipment", _l("智能装备")
    digital = "digital", _l("数字经济")
    optoelectronic = "optoelectronic", _l("光电材料")
    new_materials = "new_materials", _l("新材料")
    other = "other", _l("其他")


class Category(LabelledEnum):
    complete_equipment = "complete_equipment", _l("成套装备关键技术")
    first_set = "first_set", _l("首台(套)装备")
    first_batch_material = "first_batch_material", _l("首批次新材料")
    key_process = "key_process", _l("关键工艺")
    industrial_software = "industrial_software", _l("工业软件")
    other = "other", _l("其他")


class IPTerms(LabelledEnum):
    enterprise = "enterprise", _l("归企业")
    solver = "solver", _l("归揭榜方")
    shared = "shared", _l("共有")
    negotiable = "negotiable", _l("协商")


class ChallengeState(LabelledEnum):
    draft = "draft", _l("草稿")
    vetting = "vetting", _l("审题中")
    returned = "returned", _l("退回修改")
    rejected = "rejected", _l("不予通过")
    open = "open", _l("揭榜中")
    evaluating = "evaluating", _l("评选中")
    award_review = "award_review", _l("揭榜结果审核")
    in_progress = "in_progress", _l("攻关中")
    acceptance_review = "acceptance_review", _l("验收中")
    completed = "completed", _l("已完成")
    failed = "failed", _l("流榜")


# States in which the public may see a challenge.
PUBLIC_STATES = frozenset(
    {
        ChallengeState.open,
        ChallengeState.evaluating,
        ChallengeState.award_review,
        ChallengeState.in_progress,
        ChallengeState.acceptance_review,
        ChallengeState.completed,
        ChallengeState.failed,
    }
)


class Challenge(db.Model):
    """A bottleneck-technology challenge posted by an enterprise."""

    __tablename__ = "challenges"
    __table_args__ = (
        sa.CheckConstraint(f"bounty_yuan > 0 AND bounty_yuan <= {MAX_BOUNTY_YUAN}", name="bounty"),
        sa.CheckConstraint("delivery_months > 0 AND delivery_months <= 120", name="delivery"),
        # 我的榜单: an enterprise's challenges, most recently changed first
        sa.Index("ix_challenges_organization_updated", "organization_id", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    industry: Mapped[Industry] = mapped_column(_enum(Industry), index=True)
    category: Mapped[Category] = mapped_column(_enum(Category), index=True)
    background: Mapped[str] = bounded_text(20_000, default="")
    bottleneck: Mapped[str] = bounded_text(20_000, default="")
    expected_outcome: Mapped[str] = bounded_text(10_000, default="")
    bounty_yuan: Mapped[int] = mapped_column(sa.BigInteger)
    bid_deadline: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    delivery_months: Mapped[int]
    ip_terms: Mapped[IPTerms] = mapped_column(_enum(IPTerms))
    keywords: Mapped[str] = mapped_column(sa.String(500), default="")
    state: Mapped[ChallengeState] = mapped_column(
        _enum(ChallengeState), default=ChallengeState.draft, index=True
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    winning_bid_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bids.id", use_alter=True, name="fk_challenges_winning_bid_id_bids")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Optimistic locking: a stale writer gets StaleDataError instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User] = relationship()
    indicators: Mapped[list[ChallengeIndicator]] = relationship(
        back_populates="challenge",
        cascade="all, delete-orphan",
        order_by="ChallengeIndicator.position",
    )
    bids: Mapped[list[Bid]] = relationship(
        back_populates="challenge", foreign_keys="Bid.challenge_id", cascade="all, delete-orphan"
    )
    winning_bid: Mapped[Bid | None] = relationship(foreign_keys=[winning_bid_id], post_update=True)
    attachments: Mapped[list[Attachment]] = relationship(
        primaryjoin="and_(Attachment.challenge_id == Challenge.id, Attachment.bid_id.is_(None), "
        "Attachment.milestone_id.is_(None))",
        viewonly=True,
        order_by="Attachment.id",
    )

    @property
    def is_public(self) -> bool:
        return self.state in PUBLIC_STATES

    def bidding_closed(self, now: datetime | None = None) -> bool:
        """True once the bid deadline has passed: bids are unsealed from then on."""
        return (now or utcnow()) >= self.bid_deadline

    @property
    def submitted_bids(self) -> list[Bid]:
        return [b for b in self.bids if b.state == BidState.submitted]

    def is_owned_by(self, user) -> bool:
        return bool(user and user.is_authenticated and user.belongs_to(self.organization_id))

    def __repr__(self) -> str:
        return f"<Challenge {self.id} {self.state}>"


class ChallengeIndicator(db.Model):
    """One technical indicator of a challenge: name, target and unit."""

    __tablename__ = "challenge_indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(200))
    target: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(50), default="")

    challenge: Mapped[Challenge] = relationship(back_populates="indicators")


class BidState(LabelledEnum):
    draft = "draft", _l("草稿")
    submitted = "submitted", _l("已提交")
    withdrawn = "withdrawn", _l("已撤回")


class Bid(db.Model):
    """An institute's sealed proposal for a challenge: one per organisation."""

    __tablename__ = "bids"
    __table_args__ = (
        sa.UniqueConstraint("challenge_id", "organization_id", name="uq_bids_challenge_org"),
        sa.CheckConstraint("quote_yuan > 0 AND quote_yuan <= 10000000000", name="quote"),
        sa.CheckConstraint("duration_months > 0 AND duration_months <= 120", name="duration"),
        # 我的揭榜: an institute's bids, newest first (keyset pages seek on it)
        sa.Index("ix_bids_organization_created", "organization_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    approach: Mapped[str] = bounded_text(30_000)
    team_lead: Mapped[str] = mapped_column(sa.String(100))
    team_members: Mapped[str] = bounded_text(5_000, default="")
    lab: Mapped[str] = mapped_column(sa.String(200), default="")
    quote_yuan: Mapped[int] = mapped_column(sa.BigInteger)
    duration_months: Mapped[int]
    prior_results: Mapped[str] = bounded_text(20_000, default="")
    state: Mapped[BidState] = mapped_column(_enum(BidState), default=BidState.draft)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    challenge: Mapped[Challenge] = relationship(back_populates="bids", foreign_keys=[challenge_id])
    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User] = relationship()
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="bid", cascade="all, delete-orphan", order_by="Milestone.position"
    )
    # The bid's own files; milestone reports' files hang off their milestone.
    attachments: Mapped[list[Attachment]] = relationship(
        primaryjoin="and_(Attachment.bid_id == Bid.id, Attachment.milestone_id.is_(None))",
        viewonly=True, order_by="Attachment.id",
    )

    @property
    def is_winner(self) -> bool:
        return self.challenge.winning_bid_id == self.id

    def __repr__(self) -> str:
        return f"<Bid {self.id} c={self.challenge_id} org={self.organization_id} {self.state}>"


class Milestone(db.Model):
    """A milestone of a bid; after the award the institute reports and the enterprise confirms."""

    __tablename__ = "milestones"
    __table_args__ = (sa.CheckConstraint("month > 0 AND month <= 120", name="month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(200))
    month: Mapped[int]
    deliverable: Mapped[str] = mapped_column(sa.String(500), default="")
    report: Mapped[str] = bounded_text(20_000, default="")
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    bid: Mapped[Bid] = relationship(back_populates="milestones")
    attachments: Mapped[list[Attachment]] = relationship(
        primaryjoin="Attachment.milestone_id == Milestone.id", viewonly=True,
        order_by="Attachment.id",
    )


class Attachment(db.Model):
    """A file uploaded to a challenge, a bid or a milestone, stored outside the web root."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    bid_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bids.id", ondelete="CASCADE"), index=True
    )
    milestone_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("milestones.id", ondelete="CASCADE")
    )
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    original_name: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    mime_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
