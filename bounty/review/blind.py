"""Blind review: at a stage marked blind, reviewers see bids as 方案 A, B, C… —
no bidder names, organisations, team members or contact details, on the pages,
in attachment file names and in exports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..challenges.models import Attachment, Bid, BidState, Challenge
from ..extensions import db
from . import items
from .stages import get_stage

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def stage_is_blind(challenge: Challenge) -> bool:
    """Is the challenge at a review stage whose settings hide bidders' identities?"""
    stage = items.CHALLENGE_STAGES.get(challenge.state)
    return stage is not None and get_stage(stage).is_blind


def is_blind_for(challenge: Challenge, user) -> bool:
    """Blind applies to reviewers (not to the enterprise, the bidders or admins)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.can_review() and stage_is_blind(challenge)


def _order_key(bid: Bid):
    return (bid.submitted_at or datetime.max.replace(tzinfo=UTC), bid.id)


def aliases(challenge: Challenge) -> dict[int, str]:
    """bid id -> "方案A": bids in the order they were submitted (stable for everyone)."""
    bids = sorted((b for b in challenge.bids if b.state != BidState.draft), key=_order_key)
    return {bid.id: alias_for_index(i) for i, bid in enumerate(bids)}


def alias_for_index(index: int) -> str:
    letter = LETTERS[index] if index < len(LETTERS) else str(index + 1)
    return str(_l("方案%(letter)s", letter=letter))


def alias(bid: Bid) -> str:
    return aliases(bid.challenge).get(bid.id) or alias_for_index(0)


def attachment_alias(attachment: Attachment) -> str | None:
    """"方案A-附件1.pdf" for a bid's (or its milestones') file; None for the challenge's own."""
    if attachment.bid_id is None:
        return None
    bid = db.session.get(Bid, attachment.bid_id)
    ids = list(db.session.execute(sa.select(Attachment.id).where(
        Attachment.bid_id == attachment.bid_id).order_by(Attachment.id)).scalars())
    number = ids.index(attachment.id) + 1 if attachment.id in ids else 1
    suffix = PurePosixPath(attachment.original_name).suffix.lower()
    return f"{alias(bid)}-{_l('附件')}{number}{suffix}"


def attachment_name(attachment: Attachment, user) -> str:
    """The name to show and download a file under, for this user."""
    if attachment.bid_id is not None:
        challenge = db.session.get(Challenge, attachment.challenge_id)
        if challenge is not None and is_blind_for(challenge, user):
            return attachment_alias(attachment) or attachment.original_name
    return attachment.original_name
