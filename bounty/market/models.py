"""科技大市场挂牌: a completed challenge's result offered on the technology market.

The owner of a result (the enterprise that posted the challenge, or the
winning institute) lists it; a reviewer approves, returns or rejects; an
approved listing gets a number (OH-KJSC-<year>-<seq>) and appears on the
public market page until the owner records a deal or withdraws it.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, Role, User
from ..challenges.models import MAX_BOUNTY_YUAN, Challenge
from ..challenges.services import register_event_subject
from ..enums import LabelledEnum, enum_column
from ..extensions import db
from ..limits import bounded_text
from ..registry.lifecycle import Lifecycle, Party, Transition
from ..registry.models import RegistryDocument
from ..review.models import ReviewDecision
from ..timeutil import UTCDateTime, utcnow

LISTING_PREFIX = "OH-KJSC"
IP_DOCUMENT = "ip"
REGISTRATION_RE = re.compile(r"^[0-9A-Za-z-]{6,40}$")


class TransactionType(LabelledEnum):
    transfer = "transfer", _l("转让")
    licence = "licence", _l("许可")
    equity = "equity", _l("作价入股")
    service = "service", _l("技术服务")


class ListingState(LabelledEnum):
    submitted = "submitted", _l("待审核")
    returned = "returned", _l("退回修改")
    rejected = "rejected", _l("不予通过")
    listed = "listed", _l("挂牌中")
    traded = "traded", _l("已成交")
    withdrawn = "withdrawn", _l("已撤牌")


# What the public sees on the market page.
PUBLIC_LISTING_STATES = frozenset({ListingState.listed, ListingState.traded})
# An organisation has at most one of these per challenge at a time.
ACTIVE_LISTING_STATES = frozenset({ListingState.submitted, ListingState.returned,
                                   ListingState.listed})


class MarketListing(db.Model):
    """A result offered on the technology market."""

    __tablename__ = "market_listings"
    __table_args__ = (
        sa.CheckConstraint(f"price_yuan IS NULL OR (price_yuan > 0 AND price_yuan <= "
                           f"{MAX_BOUNTY_YUAN})", name="price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = bounded_text(5_000)
    transaction_type: Mapped[TransactionType] = mapped_column(enum_column(TransactionType))
    # None: 面议 (price negotiable).
    price_yuan: Mapped[int | None] = mapped_column(sa.BigInteger)
    state: Mapped[ListingState] = mapped_column(enum_column(ListingState), index=True)
    listing_number: Mapped[str | None] = mapped_column(sa.String(30), unique=True)
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    challenge: Mapped[Challenge] = relationship()
    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User] = relationship()
    deal: Mapped[MarketDeal | None] = relationship(back_populates="listing", uselist=False)
    documents: Mapped[list[RegistryDocument]] = relationship(
        primaryjoin="RegistryDocument.listing_id == MarketListing.id",
        viewonly=True, order_by="RegistryDocument.id",
    )
    decisions: Mapped[list[ReviewDecision]] = relationship(
        primaryjoin="ReviewDecision.listing_id == MarketListing.id",
        viewonly=True, order_by="ReviewDecision.id",
    )

    @property
    def is_negotiable(self) -> bool:
        return self.price_yuan is None

    @property
    def is_public(self) -> bool:
        return self.state in PUBLIC_LISTING_STATES


class MarketDeal(db.Model):
    """The deal that closed a listing, with its 技术合同登记 number."""

    __tablename__ = "market_deals"
    __table_args__ = (
        sa.CheckConstraint(f"price_yuan > 0 AND price_yuan <= {MAX_BOUNTY_YUAN}", name="price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(
        sa.ForeignKey("market_listings.id", ondelete="CASCADE"), unique=True
    )
    counterparty: Mapped[str] = mapped_column(sa.String(200))
    price_yuan: Mapped[int] = mapped_column(sa.BigInteger)
    contract_date: Mapped[date] = mapped_column(sa.Date)
    registration_number: Mapped[str] = mapped_column(sa.String(40))
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    listing: Mapped[MarketListing] = relationship(back_populates="deal")


S = ListingState
LIFECYCLE = Lifecycle(
    (
        Transition("submit", None, S.submitted, Party.owner),
        Transition("resubmit", S.returned, S.submitted, Party.owner),
        Transition("approve", S.submitted, S.listed, Party.reviewer),
        Transition("return", S.submitted, S.returned, Party.reviewer, True),
        Transition("reject", S.submitted, S.rejected, Party.reviewer, True),
        Transition("record_deal", S.listed, S.traded, Party.owner),
        Transition("withdraw", S.submitted, S.withdrawn, Party.owner),
        Transition("withdraw", S.returned, S.withdrawn, Party.owner),
        Transition("withdraw", S.listed, S.withdrawn, Party.owner),
    ),
    labels={
        "submit": _l("申请挂牌"),
        "resubmit": _l("修改后重新提交"),
        "approve": _l("挂牌审核通过"),
        "return": _l("退回修改"),
        "reject": _l("不予通过"),
        "record_deal": _l("登记成交"),
        "withdraw": _l("撤牌"),
    },
    owner_roles={Role.enterprise, Role.institute},
)
register_event_subject("marketlisting", LIFECYCLE.labels, ListingState)
register_event_subject("marketdeal", {"record_deal": LIFECYCLE.labels["record_deal"]})
