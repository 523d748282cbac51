"""Rules for challenges, bids and milestones. Views, the CLI and jobs call these."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..accounts.models import Role
from ..audit import record_event
from ..errors import DomainError, PermissionDenied, TransitionRefused
from ..extensions import db
from ..signals import bid_saved, bid_withdrawn, challenge_saved, milestone_changed
from ..timeutil import utcnow
from ..transactions import atomic
from . import workflow
from .attachments import CheckedUpload, add_attachment
from .models import (
    MAX_BOUNTY_YUAN,
    PUBLIC_STATES,
    Bid,
    BidState,
    Category,
    Challenge,
    ChallengeIndicator,
    ChallengeState,
    Industry,
    IPTerms,
    Milestone,
)

EDITABLE_STATES = frozenset({ChallengeState.draft, ChallengeState.returned})


# --------------------------------------------------------------------------- visibility


def can_view_challenge(challenge: Challenge, user) -> bool:
    """Public once published; before that, its enterprise, reviewers (after drafting), admins."""
    if challenge.state in PUBLIC_STATES:
        return True
    if user is None or not user.is_authenticated:
        return False
    if challenge.is_owned_by(user) or user.role == Role.admin:
        return True
    return user.role == Role.reviewer and challenge.state != ChallengeState.draft


def can_edit_challenge(challenge: Challenge, user) -> bool:
    return challenge.state in EDITABLE_STATES and workflow.actor_matches(
        challenge, workflow.Actor.owner, user
    )


def can_view_bid(bid: Bid, user, now: datetime | None = None) -> bool:
    """Sealed until the deadline: only the bidder's own organisation sees a bid before it.

    After the deadline the enterprise and reviewers see submitted bids; other
    bidders never do. Drafts and withdrawn bids stay with their organisation.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.belongs_to(bid.organization_id):
        return True
    if bid.state != BidState.submitted:
        return False
    challenge = bid.challenge
    if not challenge.bidding_closed(now):
        return False
    return challenge.is_owned_by(user) or user.role == Role.reviewer


def can_edit_bid(bid: Bid, user, now: datetime | None = None) -> bool:
    """Its own institute may edit (and withdraw) a bid while the challenge takes bids."""
    challenge = bid.challenge
    return bool(
        user is not None and user.is_authenticated and user.is_active
        and user.role == Role.institute and user.belongs_to(bid.organization_id)
        and challenge.state == ChallengeState.open and not challenge.bidding_closed(now)
    )


def visible_bids(challenge: Challenge, user, now: datetime | None = None) -> list[Bid]:
    return [bid for bid in challenge.bids if can_view_bid(bid, user, now)]


def can_evaluate_bids(challenge: Challenge, user, now: datetime | None = None) -> bool:
    """The evaluation page: the posting enterprise and reviewers, once bidding has closed."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if challenge.state not in PUBLIC_STATES or not challenge.bidding_closed(now):
        return False
    return challenge.is_owned_by(user) or user.role == Role.reviewer


DELIVERY_STATES = frozenset(
    {ChallengeState.in_progress, ChallengeState.acceptance_review, ChallengeState.completed}
)


def can_view_delivery(challenge: Challenge, user) -> bool:
    """Milestone delivery: the enterprise, the winning institute and reviewers, after the award."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if challenge.state not in DELIVERY_STATES or challenge.winning_bid is None:
        return False
    return (challenge.is_owned_by(user) or user.role == Role.reviewer
            or user.belongs_to(challenge.winning_bid.organization_id))


def rank_bids(challenge: Challenge, bids: Iterable[Bid]) -> list[Bid]:
    """Order a challenge's bids for the evaluation page.

    PLACEHOLDER for the matcher: for now bids are ordered by the time they were
    submitted (earliest first, then by id). The matching engine replaces this
    body with its relevance ranking of the bids against the challenge; callers
    (the evaluation page) already go through this one function.
    """
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(bids, key=lambda bid: (bid.submitted_at or far_future, bid.id))


def own_bid(challenge: Challenge, user) -> Bid | None:
    if user is None or not user.is_authenticated or user.organization_id is None:
        return None
    return db.session.execute(
        sa.select(Bid).where(
            Bid.challenge_id == challenge.id, Bid.organization_id == user.organization_id
        )
    ).scalar_one_or_none()


def public_bid_count(challenge: Challenge) -> int:
    return sum(1 for bid in challenge.bids if bid.state == BidState.submitted)


def organization_bids(user) -> list[Bid]:
    """Every bid of the user's organisation (all states), newest first: "我的揭榜"."""
    if user is None or not user.is_authenticated or user.organization_id is None:
        return []
    if not user.belongs_to(user.organization_id):
        return []
    return list(db.session.execute(
        sa.select(Bid).where(Bid.organization_id == user.organization_id)
        .order_by(Bid.created_at.desc(), Bid.id.desc())
    ).scalars())


# --------------------------------------------------------------------------- challenges


@dataclass
class IndicatorData:
    name: str
    target: str
    unit: str = ""


@dataclass
class ChallengeData:
    """What the posting form collects, already parsed (times aware, money in yuan)."""

    title: str
    industry: Industry
    category: Category
    background: str
    bottleneck: str
    expected_outcome: str
    bounty_yuan: int
    bid_deadline: datetime
    delivery_months: int
    ip_terms: IPTerms
    keywords: str = ""
    indicators: list[IndicatorData] = field(default_factory=list)


def _check_challenge_data(data: ChallengeData, now: datetime) -> None:
    if not data.title.strip():
        raise DomainError(str(_l("请填写榜单名称。")))
    if not 0 < data.bounty_yuan <= MAX_BOUNTY_YUAN:
        raise DomainError(str(_l("悬赏金额须为正数且不超过 100 亿元。")))
    if data.bid_deadline <= now:
        raise DomainError(str(_l("揭榜截止时间须晚于当前时间。")))
    if not 0 < data.delivery_months <= 120:
        raise DomainError(str(_l("交付周期须在 1 至 120 个月之间。")))


def _apply_challenge_data(challenge: Challenge, data: ChallengeData) -> None:
    challenge.title = data.title.strip()
    challenge.industry = data.industry
    challenge.category = data.category
    challenge.background = data.background
    challenge.bottleneck = data.bottleneck
    challenge.expected_outcome = data.expected_outcome
    challenge.bounty_yuan = data.bounty_yuan
    challenge.bid_deadline = data.bid_deadline
    challenge.delivery_months = data.delivery_months
    challenge.ip_terms = data.ip_terms
    challenge.keywords = data.keywords.strip()
    challenge.indicators = [
        ChallengeIndicator(position=i, name=row.name.strip(), target=row.target.strip(),
                           unit=row.unit.strip())
        for i, row in enumerate(data.indicators)
        if row.name.strip()
    ]


def create_challenge(user, data: ChallengeData, now: datetime | None = None) -> Challenge:
    """Save a new draft for the user's enterprise.

    :param user: an active enterprise member (unverified organisations may draft).
    :param data: the parsed form.
    """
    if user is None or user.role != Role.enterprise or not user.is_active:
        raise PermissionDenied(str(_l("只有企业用户可以发布榜单。")))
    _check_challenge_data(data, now or utcnow())
    with atomic():
        challenge = Challenge(organization_id=user.organization_id, created_by_id=user.id)
        _apply_challenge_data(challenge, data)
        db.session.add(challenge)
        db.session.flush()
        record_event(actor=user, action="create", subject=challenge, challenge_id=challenge.id,
                     to_state=ChallengeState.draft.value)
        challenge_saved.send(challenge, actor=user)
    return challenge


def update_challenge(challenge: Challenge, user, data: ChallengeData,
                     now: datetime | None = None) -> Challenge:
    """Edit a draft or a returned challenge."""
    if not can_edit_challenge(challenge, user):
        raise PermissionDenied(str(_l("只有发榜企业可以修改草稿或退回的榜单。")))
    _check_challenge_data(data, now or utcnow())
    with atomic():
        _apply_challenge_data(challenge, data)
        record_event(actor=user, action="edit", subject=challenge, challenge_id=challenge.id,
                     from_state=challenge.state.value, to_state=challenge.state.value)
        challenge_saved.send(challenge, actor=user)
    return challenge


def submit_challenge(challenge: Challenge, user, now: datetime | None = None) -> Challenge:
    """Send a draft (or a returned challenge) to 审题."""
    transition = workflow.find_transition(challenge, "submit", user)
    org = user.organization
    if org is None or not org.is_verified:
        raise PermissionDenied(str(_l("贵单位尚未通过平台认证，暂不能提交榜单，可先保存草稿。")))
    if challenge.bid_deadline <= (now or utcnow()):
        raise TransitionRefused(str(_l("揭榜截止时间已过，请修改后再提交。")))
    with atomic():
        workflow.apply_transition(challenge, transition.action, user)
    return challenge


def close_due_challenges(now: datetime | None = None) -> list[Challenge]:
    """Close bidding on every open challenge past its deadline: 流榜 when nobody bid."""
    now = now or utcnow()
    due = db.session.execute(
        sa.select(Challenge.id).where(
            Challenge.state == ChallengeState.open, Challenge.bid_deadline <= now
        )
    ).scalars().all()
    closed = []
    for challenge_id in due:
        challenge = db.session.get(Challenge, challenge_id)
        action = "close_bidding" if challenge.submitted_bids else "close_unbid"
        try:
            with atomic():
                workflow.apply_transition(challenge, action, None)
        except DomainError:
            continue  # another process closed it first
        closed.append(challenge)
    return closed


def select_bid(challenge: Challenge, bid: Bid, user) -> Challenge:
    """The enterprise picks the winning bid; a reviewer confirms it next."""
    transition = workflow.find_transition(challenge, "select_bid", user)
    if bid.challenge_id != challenge.id or bid.state != BidState.submitted:
        raise DomainError(str(_l("只能选定本榜单已提交的揭榜方案。")))
    with atomic():
        challenge.winning_bid_id = bid.id
        workflow.apply_transition(challenge, transition.action, user)
    return challenge


def declare_failed(challenge: Challenge, user, comment: str) -> Challenge:
    """The enterprise closes the evaluation without a winner (流榜); a comment is required."""
    with atomic():
        workflow.apply_transition(challenge, "declare_failed", user, comment)
    return challenge


# --------------------------------------------------------------------------- bids


@dataclass
class MilestoneData:
    name: str
    month: int
    deliverable: str = ""


@dataclass
class BidData:
    title: str
    approach: str
    team_lead: str
    quote_yuan: int
    duration_months: int
    team_members: str = ""
    lab: str = ""
    prior_results: str = ""
    milestones: list[MilestoneData] = field(default_factory=list)


def check_can_bid(challenge: Challenge, user, now: datetime | None = None) -> None:
    """Raise unless this user may create or edit a bid on the challenge now."""
    now = now or utcnow()
    if user is None or user.role != Role.institute or not user.is_active:
        raise PermissionDenied(str(_l("只有高校、科研院所等揭榜单位可以提交揭榜方案。")))
    if challenge.state != ChallengeState.open or challenge.bidding_closed(now):
        raise TransitionRefused(str(_l("该榜单当前不接受揭榜方案。")))


def _check_bid_data(data: BidData) -> None:
    if not data.title.strip() or not data.approach.strip() or not data.team_lead.strip():
        raise DomainError(str(_l("请填写方案名称、技术路线和项目负责人。")))
    if not 0 < data.quote_yuan <= MAX_BOUNTY_YUAN:
        raise DomainError(str(_l("报价须为正数且不超过 100 亿元。")))
    if not 0 < data.duration_months <= 120:
        raise DomainError(str(_l("实施周期须在 1 至 120 个月之间。")))
    for row in data.milestones:
        if not 0 < row.month <= 120:
            raise DomainError(str(_l("里程碑月份须在 1 至 120 之间。")))
        if row.month > data.duration_months:
            raise DomainError(str(_l("里程碑月份不能晚于实施周期（%(months)d 个月）。",
                                     months=data.duration_months)))


def save_bid(challenge: Challenge, user, data: BidData, submit: bool,
             now: datetime | None = None, uploads: Iterable[CheckedUpload] = ()) -> Bid:
    """Create or update the user's organisation's bid; ``submit`` seals it in.

    One bid per organisation per challenge: a second save edits the first, and
    a racing insert loses on the unique constraint.

    :param submit: hand the bid in (an unverified organisation may only save a draft).
    :param now: the current time (tests pass a fixed one).
    :param uploads: files already checked by :func:`attachments.check_upload`; they are
        stored with the bid in the same transaction, so a refused save writes none.
    """
    now = now or utcnow()
    check_can_bid(challenge, user, now)
    _check_bid_data(data)
    if submit and (user.organization is None or not user.organization.is_verified):
        raise PermissionDenied(
            str(_l("贵单位尚未通过平台认证，暂不能提交揭榜方案，可先保存草稿。")))
    bid = own_bid(challenge, user)
    with atomic(str(_l("贵单位已对该榜单提交过方案，请刷新后修改原方案。"))):
        created = bid is None
        if created:
            bid = Bid(challenge_id=challenge.id, organization_id=user.organization_id,
                      created_by_id=user.id)
            db.session.add(bid)
        bid.title = data.title.strip()
        bid.approach = data.approach
        bid.team_lead = data.team_lead.strip()
        bid.team_members = data.team_members
        bid.lab = data.lab
        bid.quote_yuan = data.quote_yuan
        bid.duration_months = data.duration_months
        bid.prior_results = data.prior_results
        bid.milestones = [
            Milestone(position=i, name=m.name.strip(), month=m.month, deliverable=m.deliverable)
            for i, m in enumerate(data.milestones)
            if m.name.strip()
        ]
        source = None if created else bid.state.value
        if submit:
            bid.state = BidState.submitted
            bid.submitted_at = now
        elif created or bid.state == BidState.withdrawn:
            # Editing a withdrawn bid brings it back as a draft, never straight to submitted.
            bid.state = BidState.draft
        db.session.flush()
        for upload in uploads:
            add_attachment(upload, user=user, challenge=challenge, bid=bid)
        record_event(actor=user, action="submit_bid" if submit else "save_bid", subject=bid,
                     challenge_id=challenge.id, from_state=source, to_state=bid.state.value)
        bid_saved.send(bid, actor=user, submitted=submit, created=created)
    return bid


def withdraw_bid(bid: Bid, user, now: datetime | None = None) -> Bid:
    """Withdraw before the deadline; the bid then appears nowhere but with its owner."""
    if not (user and user.is_authenticated and user.belongs_to(bid.organization_id)):
        raise PermissionDenied(str(_l("只能撤回本单位的揭榜方案。")))
    if bid.challenge.bidding_closed(now) or bid.challenge.state != ChallengeState.open:
        raise TransitionRefused(str(_l("揭榜已截止，方案不能再撤回。")))
    if bid.state == BidState.withdrawn:
        raise TransitionRefused(str(_l("该方案已撤回。")))
    with atomic():
        source = bid.state.value
        bid.state = BidState.withdrawn
        record_event(actor=user, action="withdraw_bid", subject=bid,
                     challenge_id=bid.challenge_id, from_state=source,
                     to_state=BidState.withdrawn.value)
        bid_withdrawn.send(bid, actor=user)
    return bid


# --------------------------------------------------------------------------- milestones


def report_milestone(milestone: Milestone, user, report: str,
                     uploads: Iterable[CheckedUpload] = (), now: datetime | None = None
                     ) -> Milestone:
    """The winning institute reports progress on one milestone (again, until confirmed).

    :param uploads: checked files stored with the report in the same transaction.
    """
    challenge = milestone.bid.challenge
    if challenge.state != ChallengeState.in_progress or not milestone.bid.is_winner:
        raise TransitionRefused(str(_l("当前不在攻关阶段，不能提交里程碑报告。")))
    if not workflow.actor_matches(challenge, workflow.Actor.winner, user):
        raise PermissionDenied(str(_l("只有中榜单位可以提交里程碑报告。")))
    if not report.strip():
        raise DomainError(str(_l("请填写里程碑报告。")))
    if milestone.confirmed_at is not None:
        raise TransitionRefused(str(_l("该里程碑已确认，不能再修改。")))
    with atomic():
        milestone.report = report.strip()
        milestone.reported_at = now or utcnow()
        for upload in uploads:
            add_attachment(upload, user=user, challenge=challenge, bid=milestone.bid,
                           milestone=milestone)
        record_event(actor=user, action="report_milestone", subject=milestone,
                     challenge_id=challenge.id, comment=milestone.name)
        milestone_changed.send(milestone, actor=user, action="report")
    return milestone


def confirm_milestone(milestone: Milestone, user, now: datetime | None = None) -> Milestone:
    """The enterprise confirms a reported milestone; the last one opens 验收."""
    challenge = milestone.bid.challenge
    if challenge.state != ChallengeState.in_progress or not milestone.bid.is_winner:
        raise TransitionRefused(str(_l("当前不在攻关阶段。")))
    if not workflow.actor_matches(challenge, workflow.Actor.owner, user):
        raise PermissionDenied(str(_l("只有发榜企业可以确认里程碑。")))
    if milestone.reported_at is None:
        raise TransitionRefused(str(_l("揭榜方尚未提交该里程碑报告。")))
    if milestone.confirmed_at is not None:
        raise TransitionRefused(str(_l("该里程碑已确认。")))
    with atomic():
        milestone.confirmed_at = now or utcnow()
        record_event(actor=user, action="confirm_milestone", subject=milestone,
                     challenge_id=challenge.id, comment=milestone.name)
        milestone_changed.send(milestone, actor=user, action="confirm")
        if all(m.confirmed_at is not None for m in milestone.bid.milestones):
            workflow.apply_transition(challenge, "request_acceptance", user)
    return milestone


def request_acceptance(challenge: Challenge, user) -> Challenge:
    """Open 验收 by hand (a bid without milestones, or after a return)."""
    bid = challenge.winning_bid
    if bid is not None and any(m.confirmed_at is None for m in bid.milestones):
        raise TransitionRefused(str(_l("尚有里程碑未确认，不能申请验收。")))
    with atomic():
        workflow.apply_transition(challenge, "request_acceptance", user)
    return challenge


def public_challenges_query(
    industries: Iterable[Industry] = (),
    categories: Iterable[Category] = (),
    states: Iterable[ChallengeState] = (),
) -> sa.Select:
    """Published challenges, newest first, with optional filters."""
    query = sa.select(Challenge).where(Challenge.state.in_(PUBLIC_STATES))
    if industries := list(industries):
        query = query.where(Challenge.industry.in_(industries))
    if categories := list(categories):
        query = query.where(Challenge.category.in_(categories))
    if states := [s for s in states if s in PUBLIC_STATES]:
        query = query.where(Challenge.state.in_(states))
    return query.order_by(Challenge.published_at.desc(), Challenge.id.desc())
