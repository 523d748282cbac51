"""What the workbench reviews, behind one small protocol.

Each kind of item registers an :class:`ItemKind` with the review core: how to find
the item, which stage it waits at, who the parties are, and what a decision does.
The challenge (审题, 揭榜结果审核, 验收) registers in bounty.review.services; features
above the core (bounty.certification, bounty.market) register theirs when imported. The
core never imports a feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from ..audit import AuditEvent
from ..challenges.models import BidState, Challenge, ChallengeState
from ..extensions import db
from ..inputs import parse_id
from .models import StageKey


@dataclass(frozen=True)
class ItemKind:
    """One kind of review item, as the review core sees it.

    :param name: the kind in item keys ("challenge:12") and URLs.
    :param model: the mapped class.
    :param stage_of: the stage an item waits at now, or None.
    :param waiting: a query of every item waiting at some stage now.
    :param title: the item's title in queues and exports.
    :param review_url: the page where a reviewer decides.
    :param challenge: the challenge the item belongs to.
    :param organization_id: an organisation party to the item besides the challenge's
        (the applicant, the lister), or None.
    :param entered_stage_at: when the item entered the stage it waits at.
    :param check: ``(item, outcome, reviewer, stage, now)``: the item's guard for a
        reviewer's outcome; returns the transition (its ``comment_required`` counts) or
        raises with the reason. ``stage`` is the one the reviewer's page showed, if any.
    :param apply: ``(item, outcome, reviewer, comment, now)``: what the decision does once
        the round completes (the transition; for approval, e.g. a certificate number).
    :param owner_column: the column of review tasks and decisions that points at the item.
    :param retry: run the decision again when it lost a unique-key race (numbers issued).
    """

    name: str
    model: type
    stage_of: Callable[[object], StageKey | None]
    waiting: Callable[[], sa.Select]
    title: Callable[[object], str]
    review_url: Callable[[object], str]
    challenge: Callable[[object], Challenge]
    organization_id: Callable[[object], int | None]
    entered_stage_at: Callable[[object], datetime]
    check: Callable[..., object]
    apply: Callable[..., None]
    owner_column: str | None = None
    retry: bool = False


_KINDS: dict[str, ItemKind] = {}


def register_kind(kind: ItemKind) -> ItemKind:
    """Make a kind of item reviewable (idempotent: a module imported twice registers once)."""
    _KINDS[kind.name] = kind
    return kind


def kinds() -> list[ItemKind]:
    return list(_KINDS.values())


def kind(item) -> ItemKind:
    for candidate in _KINDS.values():
        if isinstance(item, candidate.model):
            return candidate
    raise TypeError(f"not a review item: {item!r}")


def kind_of(item) -> str:
    return kind(item).name


def item_key(item) -> str:
    return f"{kind_of(item)}:{item.id}"


def load_item(key: str):
    name, _, raw = (key or "").partition(":")
    found = _KINDS.get(name)
    item_id = parse_id(raw)
    if found is None or item_id is None:
        return None
    return db.session.get(found.model, item_id)


def challenge_of(item) -> Challenge:
    return kind(item).challenge(item)


def current_stage(item) -> StageKey | None:
    """The stage the item waits at now, or None."""
    return kind(item).stage_of(item)


def bidder_org_ids(challenge: Challenge) -> set[int]:
    """Organisations that bid (a submitted, withdrawn or winning bid; drafts are not bids)."""
    return {bid.organization_id for bid in challenge.bids
            if bid.state != BidState.draft or bid.id == challenge.winning_bid_id}


def party_org_ids(item) -> set[int]:
    """Organisations that are a party to the item: the enterprise, every bidder, the
    applicant or lister."""
    found = kind(item)
    challenge = found.challenge(item)
    parties = {challenge.organization_id} | bidder_org_ids(challenge)
    if (own := found.organization_id(item)) is not None:
        parties.add(own)
    return parties


def title_of(item) -> str:
    return kind(item).title(item)


def entered_stage_at(item) -> datetime:
    """When the item entered the stage it waits at."""
    return kind(item).entered_stage_at(item)


def review_url(item) -> str:
    return kind(item).review_url(item)


def owner_columns(item) -> dict:
    """The columns of review tasks and decisions that point at the item (its challenge,
    and the item itself)."""
    found = kind(item)
    columns = {"challenge_id": found.challenge(item).id}
    for other in _KINDS.values():
        if other.owner_column is not None:
            columns[other.owner_column] = item.id if other is found else None
    return columns


def waiting_items() -> list:
    """Every item that waits at a review stage now."""
    found: list = []
    for each in _KINDS.values():
        found += db.session.execute(each.waiting()).scalars()
    return found


def waiting_counts() -> dict[StageKey, int]:
    """How many items wait at each stage now."""
    counts = dict.fromkeys(StageKey, 0)
    for item in waiting_items():
        counts[current_stage(item)] += 1
    return counts


# --------------------------------------------------------------------------- challenges

CHALLENGE_STAGES = {
    ChallengeState.vetting: StageKey.vetting,
    ChallengeState.award_review: StageKey.award,
    ChallengeState.acceptance_review: StageKey.acceptance,
}
STAGE_STATES = {stage: state for state, stage in CHALLENGE_STAGES.items()}


def challenge_entered_stage_at(challenge: Challenge) -> datetime:
    """Its last transition into the state it is in."""
    entered = db.session.execute(
        sa.select(sa.func.max(AuditEvent.created_at)).where(
            AuditEvent.challenge_id == challenge.id, AuditEvent.subject_type == "challenge",
            AuditEvent.subject_id == challenge.id,
            AuditEvent.to_state == challenge.state.value)
    ).scalar()
    if entered is not None and entered.tzinfo is None:  # SQLite aggregate: no type applied
        entered = entered.replace(tzinfo=UTC)
    return entered or challenge.updated_at or challenge.created_at
