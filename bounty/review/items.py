"""What the workbench reviews: a challenge (审题, 揭榜结果审核, 验收), a first-set
certification application or a market listing, behind one small interface."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import url_for

from ..audit import AuditEvent
from ..challenges.models import BidState, Challenge, ChallengeState
from ..extensions import db
from ..inputs import parse_id
from .stages import StageKey

CHALLENGE_STAGES = {
    ChallengeState.vetting: StageKey.vetting,
    ChallengeState.award_review: StageKey.award,
    ChallengeState.acceptance_review: StageKey.acceptance,
}
STAGE_STATES = {stage: state for state, stage in CHALLENGE_STAGES.items()}
CORE_STAGES = frozenset(CHALLENGE_STAGES.values())


def _registry():
    from . import certification, market

    return certification, market


def kind_of(item) -> str:
    cert, market = _registry()
    if isinstance(item, Challenge):
        return "challenge"
    if isinstance(item, cert.CertificationApplication):
        return "certification"
    if isinstance(item, market.MarketListing):
        return "listing"
    raise TypeError(f"not a review item: {item!r}")


def item_key(item) -> str:
    return f"{kind_of(item)}:{item.id}"


def load_item(key: str):
    cert, market = _registry()
    kind, _, raw = (key or "").partition(":")
    model = {"challenge": Challenge, "certification": cert.CertificationApplication,
             "listing": market.MarketListing}.get(kind)
    item_id = parse_id(raw)
    if model is None or item_id is None:
        return None
    return db.session.get(model, item_id)


def challenge_of(item) -> Challenge:
    return item if isinstance(item, Challenge) else item.challenge


def current_stage(item) -> StageKey | None:
    """The stage the item waits at now, or None."""
    cert, market = _registry()
    if isinstance(item, Challenge):
        return CHALLENGE_STAGES.get(item.state)
    if isinstance(item, cert.CertificationApplication):
        return StageKey.certification if item.state == cert.CertificationState.submitted else None
    if isinstance(item, market.MarketListing):
        return StageKey.listing if item.state == market.ListingState.submitted else None
    return None


def bidder_org_ids(challenge: Challenge) -> set[int]:
    """Organisations that bid (a submitted, withdrawn or winning bid; drafts are not bids)."""
    return {bid.organization_id for bid in challenge.bids
            if bid.state != BidState.draft or bid.id == challenge.winning_bid_id}


def party_org_ids(item) -> set[int]:
    """Organisations that are a party to the item: the enterprise, every bidder, the lister."""
    challenge = challenge_of(item)
    parties = {challenge.organization_id} | bidder_org_ids(challenge)
    if kind_of(item) != "challenge":
        parties.add(item.organization_id)
    return parties


def title_of(item) -> str:
    kind = kind_of(item)
    if kind == "certification":
        return item.product_name
    return item.title


def entered_stage_at(item) -> datetime:
    """When the item entered the stage it waits at (its last transition into that state)."""
    if kind_of(item) != "challenge":
        return item.submitted_at
    entered = db.session.execute(
        sa.select(sa.func.max(AuditEvent.created_at)).where(
            AuditEvent.challenge_id == item.id, AuditEvent.subject_type == "challenge",
            AuditEvent.subject_id == item.id, AuditEvent.to_state == item.state.value)
    ).scalar()
    if entered is not None and entered.tzinfo is None:  # SQLite aggregate: no type applied
        from datetime import UTC

        entered = entered.replace(tzinfo=UTC)
    return entered or item.updated_at or item.created_at


def review_url(item) -> str:
    kind = kind_of(item)
    if kind == "challenge":
        return url_for("review.decision", challenge_id=item.id)
    if kind == "certification":
        return url_for("registry.certification_detail", application_id=item.id)
    return url_for("registry.listing_detail", listing_id=item.id)


def waiting_items() -> list:
    """Every item that waits at a review stage now."""
    cert, market = _registry()
    items: list = list(db.session.execute(
        sa.select(Challenge).where(Challenge.state.in_(list(CHALLENGE_STAGES)))).scalars())
    items += db.session.execute(sa.select(cert.CertificationApplication).where(
        cert.CertificationApplication.state == cert.CertificationState.submitted)).scalars()
    items += db.session.execute(sa.select(market.MarketListing).where(
        market.MarketListing.state == market.ListingState.submitted)).scalars()
    return items
