"""科技大市场挂牌: a completed challenge's result offered on the technology market.

The owner of a result (the enterprise that posted the challenge, or the
winning institute) lists it; a reviewer approves, returns or rejects; an
approved listing gets a number (OH-KJSC-<year>-<seq>) and appears on the
public market page until the owner records a deal or withdraws it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.datastructures import FileStorage

from ..accounts.models import Organization, Role, User
from ..audit import record_event
from ..challenges import workflow
from ..challenges.attachments import CheckedUpload, check_upload
from ..challenges.models import MAX_BOUNTY_YUAN, Challenge, ChallengeState
from ..challenges.services import register_event_subject
from ..enums import LabelledEnum
from ..errors import DomainError, PermissionDenied, TransitionRefused
from ..extensions import db
from ..limits import bounded_text
from ..timeutil import UTCDateTime, to_local, utcnow
from ..transactions import atomic
from .certification import is_staff
from .models import Outcome
from .registry import (
    OUTCOME_ACTIONS,
    FileBatch,
    InvalidSubmission,
    Lifecycle,
    Party,
    RegistryDecision,
    RegistryDocument,
    Transition,
    check_version,
    next_number,
    retrying,
)

LISTING_PREFIX = "OH-KJSC"
IP_DOCUMENT = "ip"
REGISTRATION_RE = re.compile(r"^[0-9A-Za-z-]{6,40}$")


def _enum(cls: type[enum.Enum], length: int = 30) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=length, validate_strings=True)


class TransactionType(LabelledEnum):
    transfer = "transfer"
    licence = "licence"
    equity = "equity"
    service = "service"


TRANSACTION_LABELS = {
    TransactionType.transfer: _l("转让"),
    TransactionType.licence: _l("许可"),
    TransactionType.equity: _l("作价入股"),
    TransactionType.service: _l("技术服务"),
}
TransactionType.label_map = TRANSACTION_LABELS


class ListingState(LabelledEnum):
    submitted = "submitted"
    returned = "returned"
    rejected = "rejected"
    listed = "listed"
    traded = "traded"
    withdrawn = "withdrawn"


LISTING_STATE_LABELS = {
    ListingState.submitted: _l("待审核"),
    ListingState.returned: _l("退回修改"),
    ListingState.rejected: _l("不予通过"),
    ListingState.listed: _l("挂牌中"),
    ListingState.traded: _l("已成交"),
    ListingState.withdrawn: _l("已撤牌"),
}
ListingState.label_map = LISTING_STATE_LABELS

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
    transaction_type: Mapped[TransactionType] = mapped_column(_enum(TransactionType))
    # None: 面议 (price negotiable).
    price_yuan: Mapped[int | None] = mapped_column(sa.BigInteger)
    state: Mapped[ListingState] = mapped_column(_enum(ListingState), index=True)
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
    decisions: Mapped[list[RegistryDecision]] = relationship(
        primaryjoin="RegistryDecision.listing_id == MarketListing.id",
        viewonly=True, order_by="RegistryDecision.id",
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


# --------------------------------------------------------------------------- rules


@dataclass
class ListingData:
    """What the listing form collects; ``price_yuan`` None with ``negotiable``."""

    title: str
    summary: str
    transaction_type: TransactionType
    price_yuan: int | None
    negotiable: bool = False


@dataclass
class DealData:
    counterparty: str
    price_yuan: int | None
    contract_date: date | None
    registration_number: str


def is_result_owner(challenge: Challenge, user) -> bool:
    """The enterprise that posted the challenge, or the institute that won it."""
    return (workflow.actor_matches(challenge, workflow.Actor.owner, user)
            or workflow.actor_matches(challenge, workflow.Actor.winner, user))


def _active_listing(challenge: Challenge, organization_id: int) -> MarketListing | None:
    return db.session.execute(
        sa.select(MarketListing).where(
            MarketListing.challenge_id == challenge.id,
            MarketListing.organization_id == organization_id,
            MarketListing.state.in_(ACTIVE_LISTING_STATES),
        ).limit(1)
    ).scalar_one_or_none()


def check_can_list(challenge: Challenge, user) -> None:
    if not is_result_owner(challenge, user):
        raise PermissionDenied(str(_l("只有发榜企业或中榜单位可以将成果挂牌。")))
    if challenge.state != ChallengeState.completed:
        raise TransitionRefused(str(_l("只有验收通过（已完成）的榜单成果可以挂牌。")))
    if _active_listing(challenge, user.organization_id) is not None:
        raise TransitionRefused(str(_l("贵单位已为该成果申请挂牌，请勿重复提交。")))


def can_list(challenge: Challenge, user) -> bool:
    try:
        check_can_list(challenge, user)
    except DomainError:
        return False
    return True


def _validate(data: ListingData, files: Iterable[FileStorage], has_documents: bool
              ) -> list[CheckedUpload]:
    errors: dict[str, str] = {}
    if not data.title.strip():
        errors["title"] = str(_l("请填写成果名称。"))
    if not data.summary.strip():
        errors["summary"] = str(_l("请填写成果简介。"))
    if not data.negotiable and (data.price_yuan is None
                                or not 0 < data.price_yuan <= MAX_BOUNTY_YUAN):
        errors["price_yuan"] = str(_l("请填写挂牌价格（正整数，单位元），或选择“面议”。"))
    checked: list[CheckedUpload] = []
    for upload in files:
        if upload is None or not upload.filename:
            continue
        try:
            checked.append(check_upload(upload))
        except DomainError as exc:
            errors["documents"] = exc.message
    if not checked and not has_documents and "documents" not in errors:
        errors["documents"] = str(_l("请上传知识产权证明文件（如专利证书、软件著作权登记证书）。"))
    if errors:
        raise InvalidSubmission(errors)
    return checked


def _apply_data(listing: MarketListing, data: ListingData) -> None:
    listing.title = data.title.strip()
    listing.summary = data.summary.strip()
    listing.transaction_type = data.transaction_type
    listing.price_yuan = None if data.negotiable else data.price_yuan


def _store(batch: FileBatch, listing: MarketListing, user, checked: list[CheckedUpload]) -> None:
    for upload in checked:
        batch.store(upload, user=user, kind=IP_DOCUMENT, listing_id=listing.id)


def create_listing(challenge: Challenge, user, data: ListingData,
                   files: Iterable[FileStorage]) -> MarketListing:
    """Submit a completed challenge's result for listing.

    :param files: IP documents; at least one is required.
    :raises InvalidSubmission: with a message per field; nothing is written.
    """
    check_can_list(challenge, user)
    checked = _validate(data, files, has_documents=False)
    batch = FileBatch()
    try:
        with atomic():
            listing = MarketListing(challenge_id=challenge.id,
                                    organization_id=user.organization_id,
                                    created_by_id=user.id, submitted_at=utcnow())
            _apply_data(listing, data)
            LIFECYCLE.apply(listing, "submit", user)
            _store(batch, listing, user, checked)
    except BaseException:
        batch.discard()
        raise
    return listing


def resubmit_listing(listing: MarketListing, user, data: ListingData,
                     files: Iterable[FileStorage]) -> MarketListing:
    """Revise a returned listing and send it back to review; new documents are added."""
    LIFECYCLE.find(listing, "resubmit", user)
    checked = _validate(data, files, has_documents=bool(listing.documents))
    batch = FileBatch()
    try:
        with atomic():
            _apply_data(listing, data)
            listing.submitted_at = utcnow()
            _store(batch, listing, user, checked)
            LIFECYCLE.apply(listing, "resubmit", user)
    except BaseException:
        batch.discard()
        raise
    return listing


def decide_listing(listing: MarketListing, outcome: Outcome, user, comment: str = "", *,
                   version: int | None = None) -> RegistryDecision:
    """A reviewer approves (listing number issued, listed publicly), returns or rejects."""
    from .assignment import check_may_vote, record_partial_approval, record_vote
    from .stages import StageKey

    transition = LIFECYCLE.find(listing, OUTCOME_ACTIONS[outcome], user)
    if transition.comment_required and not (comment or "").strip():
        raise TransitionRefused(str(_l("退回或不予通过时必须填写意见。")))
    config = check_may_vote(listing, StageKey.listing, user)

    def work() -> RegistryDecision:
        with atomic():
            check_version(listing, version)
            vote = record_vote(listing, config, user, outcome)
            decision = RegistryDecision(
                challenge_id=listing.challenge_id, listing_id=listing.id, outcome=outcome,
                comment=(comment or "").strip(), reviewer_id=user.id, task_id=vote.task.id)
            db.session.add(decision)
            if not vote.final:
                record_partial_approval(listing, user, vote, comment)
                return decision
            LIFECYCLE.apply(listing, OUTCOME_ACTIONS[outcome], user, comment)
            if outcome == Outcome.approve:
                listing.listing_number = next_number(LISTING_PREFIX)
                listing.listed_at = utcnow()
        return decision

    return retrying(work)


def record_deal(listing: MarketListing, user, data: DealData) -> MarketDeal:
    """The owner records the deal that closes a listing."""
    LIFECYCLE.find(listing, "record_deal", user)
    errors: dict[str, str] = {}
    if not data.counterparty.strip():
        errors["counterparty"] = str(_l("请填写受让方（交易对方）名称。"))
    if data.price_yuan is None or not 0 < data.price_yuan <= MAX_BOUNTY_YUAN:
        errors["price_yuan"] = str(_l("请填写成交金额（正整数，单位元）。"))
    today = to_local(utcnow()).date()
    if data.contract_date is None:
        errors["contract_date"] = str(_l("请填写合同签订日期。"))
    elif data.contract_date > today:
        errors["contract_date"] = str(_l("合同签订日期不能晚于今天。"))
    if not REGISTRATION_RE.match(data.registration_number.strip()):
        errors["registration_number"] = str(_l(
            "请填写技术合同登记号（6 至 40 位字母、数字或连字符）。"))
    if errors:
        raise InvalidSubmission(errors)
    with atomic():
        deal = MarketDeal(listing_id=listing.id, counterparty=data.counterparty.strip(),
                          price_yuan=data.price_yuan, contract_date=data.contract_date,
                          registration_number=data.registration_number.strip(),
                          recorded_by_id=user.id)
        db.session.add(deal)
        listing.closed_at = utcnow()
        LIFECYCLE.apply(listing, "record_deal", user,
                        f"{deal.counterparty} {deal.registration_number}")
        db.session.flush()
        record_event(actor=user, action="record_deal", subject=deal,
                     challenge_id=listing.challenge_id, comment=deal.registration_number)
    return deal


def withdraw_listing(listing: MarketListing, user, comment: str = "") -> MarketListing:
    """The owner takes the listing off the market (or out of review)."""
    LIFECYCLE.find(listing, "withdraw", user)
    with atomic():
        listing.closed_at = utcnow()
        LIFECYCLE.apply(listing, "withdraw", user, comment)
    return listing


# --------------------------------------------------------------------------- visibility


def can_view_listing(listing: MarketListing, user) -> bool:
    """Listed or traded: public. Otherwise its organisation, reviewers and admins."""
    return listing.is_public or can_manage_or_review(listing, user)


def can_manage_or_review(listing: MarketListing, user) -> bool:
    if is_staff(user):
        return True
    return bool(user is not None and user.is_authenticated
                and user.belongs_to(listing.organization_id))


def market_query(q: str = "", transaction_type: TransactionType | None = None,
                 state: ListingState | None = None) -> sa.Select:
    """The public market: listed and traded results, newest first, optionally searched."""
    states = [state] if state in PUBLIC_LISTING_STATES else list(PUBLIC_LISTING_STATES)
    query = (sa.select(MarketListing)
             .join(Organization, Organization.id == MarketListing.organization_id)
             .where(MarketListing.state.in_(states)))
    if q := q.strip():
        pattern = f"%{q}%"
        query = query.where(sa.or_(MarketListing.title.ilike(pattern),
                                   MarketListing.summary.ilike(pattern),
                                   MarketListing.listing_number.ilike(pattern),
                                   Organization.name.ilike(pattern)))
    if transaction_type is not None:
        query = query.where(MarketListing.transaction_type == transaction_type)
    return query.order_by(MarketListing.listed_at.desc(), MarketListing.id.desc())


def pending_listings() -> list[MarketListing]:
    """Listings waiting for review, with what the review list shows (the lister; the
    challenge's bids, which say who is a party)."""
    return list(db.session.execute(
        sa.select(MarketListing).where(MarketListing.state == ListingState.submitted)
        .order_by(MarketListing.submitted_at, MarketListing.id)
        .options(sa.orm.joinedload(MarketListing.organization),
                 sa.orm.joinedload(MarketListing.challenge).selectinload(Challenge.bids))
    ).unique().scalars())
