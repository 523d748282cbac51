"""科技大市场 rules: listing, revising, deciding, deals, withdrawal, the public market."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage

from ..accounts.models import Organization
from ..audit import record_event
from ..challenges import workflow
from ..challenges.attachments import CheckedUpload, check_upload
from ..challenges.models import MAX_BOUNTY_YUAN, Challenge, ChallengeState
from ..errors import DomainError, InvalidField, PermissionDenied, TransitionRefused
from ..extensions import db
from ..registry.services import FileBatch, register_registry_kind
from ..review.models import StageKey
from ..timeutil import to_local, utcnow
from ..transactions import atomic
from .models import (
    ACTIVE_LISTING_STATES,
    IP_DOCUMENT,
    LIFECYCLE,
    LISTING_PREFIX,
    PUBLIC_LISTING_STATES,
    REGISTRATION_RE,
    ListingState,
    MarketDeal,
    MarketListing,
    TransactionType,
)

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
        raise InvalidField(errors=errors)
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
    :raises InvalidField: with a message per field; nothing is written.
    """
    check_can_list(challenge, user)
    checked = _validate(data, files, has_documents=False)
    with FileBatch() as batch, atomic():
        listing = MarketListing(challenge_id=challenge.id,
                                organization_id=user.organization_id,
                                created_by_id=user.id, submitted_at=utcnow())
        _apply_data(listing, data)
        LIFECYCLE.apply(listing, "submit", user)
        _store(batch, listing, user, checked)
    return listing


def resubmit_listing(listing: MarketListing, user, data: ListingData,
                     files: Iterable[FileStorage]) -> MarketListing:
    """Revise a returned listing and send it back to review; new documents are added."""
    LIFECYCLE.find(listing, "resubmit", user)
    checked = _validate(data, files, has_documents=bool(listing.documents))
    with FileBatch() as batch, atomic():
        _apply_data(listing, data)
        listing.submitted_at = utcnow()
        _store(batch, listing, user, checked)
        LIFECYCLE.apply(listing, "resubmit", user)
    return listing


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
        raise InvalidField(errors=errors)
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
    if user is not None and user.is_staff:
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


register_registry_kind(
    name="listing", model=MarketListing, submitted=ListingState.submitted,
    stage=StageKey.listing, lifecycle=LIFECYCLE, prefix=LISTING_PREFIX,
    number_attr="listing_number", at_attr="listed_at", title=lambda li: li.title,
    endpoint="market.detail", id_arg="listing_id", owner_column="listing_id",
)
