"""Rules for challenges, bids and milestones. Views, the CLI and jobs call these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload, selectinload

from ..accounts.models import Role, User
from ..audit import AuditEvent, record_event
from ..errors import DomainError, InvalidField, PermissionDenied, TransitionRefused
from ..extensions import db
from ..inputs import check_date
from ..signals import bid_saved, bid_withdrawn, challenge_saved, milestone_changed
from ..timeutil import to_local, utcnow
from ..transactions import atomic
from . import attachments as files
from . import workflow
from .models import (
    MAX_BOUNTY_YUAN,
    PUBLIC_STATES,
    Attachment,
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
    if challenge.is_owned_by(user) or user.is_admin:
        return True
    return user.can_review() and challenge.state != ChallengeState.draft


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
    return challenge.is_owned_by(user) or user.can_review()


def can_edit_bid(bid: Bid, user, now: datetime | None = None) -> bool:
    """Its own institute may edit (and withdraw) a bid while the challenge takes bids."""
    challenge = bid.challenge
    return bool(
        user is not None and user.is_authenticated and user.is_active
        and user.role == Role.institute and user.belongs_to(bid.organization_id)
        and challenge.state == ChallengeState.open and not challenge.bidding_closed(now)
    )


def visible_bids(challenge: Challenge, user, now: datetime | None = None) -> list[Bid]:
    """The challenge's bids this user may see, with their organisations and milestones
    (what the pages listing them show and rank by: one query each, not one per bid)."""
    bids = db.session.scalars(
        sa.select(Bid).where(Bid.challenge_id == challenge.id).order_by(Bid.id)
        .options(selectinload(Bid.organization), selectinload(Bid.milestones)))
    return [bid for bid in bids if can_view_bid(bid, user, now)]


def can_evaluate_bids(challenge: Challenge, user, now: datetime | None = None) -> bool:
    """The evaluation page: the posting enterprise and reviewers, once bidding has closed."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if challenge.state not in PUBLIC_STATES or not challenge.bidding_closed(now):
        return False
    return challenge.is_owned_by(user) or user.can_review()


DELIVERY_STATES = frozenset(
    {ChallengeState.in_progress, ChallengeState.acceptance_review, ChallengeState.completed}
)


def can_view_delivery(challenge: Challenge, user) -> bool:
    """Milestone delivery: the enterprise, the winning institute and reviewers, after the award."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if challenge.state not in DELIVERY_STATES or challenge.winning_bid is None:
        return False
    return (challenge.is_owned_by(user) or user.can_review()
            or user.belongs_to(challenge.winning_bid.organization_id))


_bid_ranker = None  # set by the matching package (register_bid_ranker); challenges never imports it


def register_bid_ranker(ranker) -> None:  # noqa: ANN001
    """Let a higher package (bounty.matching) rank the evaluation page's bids."""
    global _bid_ranker
    _bid_ranker = ranker


def rank_bids(challenge: Challenge, bids: Iterable[Bid]):
    """Order a challenge's bids for the evaluation page by the matcher's relevance.

    Returns :class:`bounty.matching.services.RankedBid` rows (``bid``, ``score``,
    ``matched``, highlighted and escaped ``title``/``snippet``), best first; ties
    by submission time. Ranks only the bids given: callers pass what the user
    may see.
    """
    if _bid_ranker is None:
        raise RuntimeError("no bid ranker registered (bounty.matching.init_app not run)")
    return _bid_ranker(challenge, bids)


def own_bid(challenge: Challenge, user) -> Bid | None:
    if user is None or not user.is_authenticated or user.organization_id is None:
        return None
    return db.session.execute(
        sa.select(Bid).where(
            Bid.challenge_id == challenge.id, Bid.organization_id == user.organization_id
        )
    ).scalar_one_or_none()


def public_bid_count(challenge: Challenge) -> int:
    """How many bids were submitted (counted, not loaded: the challenge page shows only this)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Bid).where(
        Bid.challenge_id == challenge.id, Bid.state == BidState.submitted)) or 0


def can_view_attachment(attachment: Attachment, user, now: datetime | None = None) -> bool:
    """An attachment is as visible as what it is attached to.

    Milestone files: the enterprise, the winning institute and reviewers. Bid
    files: :func:`can_view_bid` (sealed until the deadline). Challenge files:
    :func:`can_view_challenge`.
    """
    challenge = db.session.get(Challenge, attachment.challenge_id)
    if challenge is None:
        return False
    if attachment.milestone_id is not None:
        return can_view_delivery(challenge, user)
    if attachment.bid_id is not None:
        bid = db.session.get(Bid, attachment.bid_id)
        return bid is not None and can_view_bid(bid, user, now)
    return can_view_challenge(challenge, user)


def can_view_audit(challenge: Challenge, user) -> bool:
    """The audit trail is for the challenge's parties: its enterprise, institutes that bid,
    reviewers and admins."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if not can_view_challenge(challenge, user):
        return False
    if user.is_staff or challenge.is_owned_by(user):
        return True
    return user.role == Role.institute and own_bid(challenge, user) is not None


def _event_visible(event: AuditEvent, challenge: Challenge, user, now: datetime,
                   bids: dict[int, Bid], attachments: dict[int, Attachment]) -> bool:
    if event.subject_type == "bid":
        bid = bids.get(event.subject_id)
        return bid is not None and can_view_bid(bid, user, now)
    if event.subject_type == "milestone":
        return can_view_delivery(challenge, user)
    if event.subject_type == "invitation":
        # whom the enterprise invited is its own business (and the reviewers')
        return challenge.is_owned_by(user) or user.is_staff
    if event.subject_type == "attachment":
        attachment = attachments.get(event.subject_id)
        if attachment is not None:
            return can_view_attachment(attachment, user, now)
        # The file is gone: an enterprise-side event is the challenge's; any other
        # stays with the organisation that made it.
        actor_org = event.actor.organization_id if event.actor else None
        return actor_org == challenge.organization_id or user.belongs_to(actor_org)
    if event.subject_type == "challenge":
        return True
    # What follows the award (首台套 applications, market listings, deals, their review
    # votes) belongs to the challenge's two parties and the staff, not to other bidders.
    winner = challenge.winning_bid
    return (user.is_staff or challenge.is_owned_by(user)
            or (winner is not None and user.belongs_to(winner.organization_id)))


def audit_trail(challenge: Challenge, user, now: datetime | None = None) -> list[AuditEvent]:
    """The challenge's audit events this user may see, oldest first.

    Events about a bid (and its files) follow :func:`can_view_bid`, so the trail
    never reveals a sealed bid or another bidder's activity.
    """
    now = now or utcnow()
    events = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.challenge_id == challenge.id)
        # the page shows each event's actor and organisation
        .options(selectinload(AuditEvent.actor).joinedload(User.organization))
        .order_by(AuditEvent.seq)
    ).scalars().all()
    bids = {bid.id: bid for bid in challenge.bids}
    attachments = {
        a.id: a for a in db.session.execute(
            sa.select(Attachment).where(Attachment.challenge_id == challenge.id)
        ).scalars()
    }
    return [e for e in events if _event_visible(e, challenge, user, now, bids, attachments)]


# Labels for audit actions that are not transitions of the table.
COMMON_EVENT_LABELS = {
    "review_vote": _l("审核通过（等待其他审核人员）"),
}
EVENT_LABELS = {
    **workflow.ACTION_LABELS,
    "create": _l("创建榜单"),
    "edit": _l("修改榜单"),
    "save_bid": _l("保存揭榜方案"),
    "submit_bid": _l("提交揭榜方案"),
    "withdraw_bid": _l("撤回揭榜方案"),
    "report_milestone": _l("提交里程碑报告"),
    "confirm_milestone": _l("确认里程碑"),
    "add_attachment": _l("上传附件"),
    **COMMON_EVENT_LABELS,
    "remove_attachment": _l("删除附件"),
    "invite_institute": _l("邀请揭榜单位"),
}


# Events about what a higher package owns (首台套 applications, market listings, deals):
# subject type -> (its action labels, its state enum), registered by that package.
_OTHER_SUBJECTS: dict[str, tuple[dict, type | None]] = {}


def register_event_subject(subject_type: str, labels: dict, states: type | None = None) -> None:
    """Let a higher package name its own audit events (their actions reuse words such as
    "submit" that mean something else for a challenge)."""
    _OTHER_SUBJECTS[subject_type] = (labels, states)


def event_label(event: AuditEvent) -> str:
    """What an audit event did, in words, by its subject's own vocabulary."""
    if event.subject_type in _OTHER_SUBJECTS:
        labels = {**COMMON_EVENT_LABELS, **_OTHER_SUBJECTS[event.subject_type][0]}
    else:
        labels = EVENT_LABELS
    return str(labels.get(event.action, event.action))


def event_state_label(event: AuditEvent, value: str | None) -> str:
    """A from/to state of an event in words: bid states for bid events, a registered
    subject's own states, else challenge states."""
    if not value:
        return ""
    if event.subject_type in _OTHER_SUBJECTS:
        enum_cls = _OTHER_SUBJECTS[event.subject_type][1] or ChallengeState
    else:
        enum_cls = BidState if event.subject_type == "bid" else ChallengeState
    try:
        return enum_cls(value).label
    except ValueError:
        return value


def organization_challenges(user) -> list[Challenge]:
    """Every challenge of the user's enterprise, in any state, most recently changed first."""
    if user is None or not user.is_authenticated or user.organization_id is None:
        return []
    return list(db.session.execute(
        sa.select(Challenge).where(Challenge.organization_id == user.organization_id)
        .order_by(Challenge.updated_at.desc(), Challenge.id.desc())
    ).scalars())


def bounty_total(states: Iterable[ChallengeState] = PUBLIC_STATES) -> int:
    """悬赏总额: the bounties of the challenges in ``states`` added up -- by default every
    published challenge, the figure the home page and the statistics page both show."""
    return int(db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(Challenge.bounty_yuan), 0))
        .where(Challenge.state.in_(list(states)))
    ).scalar_one())


def public_counts() -> dict[str, int]:
    """Figures for the home page: open challenges, published ones and their 悬赏总额,
    completed ones."""
    open_count = db.session.execute(
        sa.select(sa.func.count(Challenge.id)).where(Challenge.state == ChallengeState.open)
    ).scalar_one()
    published = db.session.execute(
        sa.select(sa.func.count(Challenge.id)).where(Challenge.state.in_(PUBLIC_STATES))
    ).scalar_one()
    completed = db.session.execute(
        sa.select(sa.func.count(Challenge.id)).where(Challenge.state == ChallengeState.completed)
    ).scalar_one()
    return {"open": open_count, "bounty_total": bounty_total(), "published": published,
            "completed": completed}


# "我的揭榜" is sorted newest first on these columns (pages seek on them; indexed).
OWN_BIDS_ORDER = (Bid.created_at, Bid.id)


def organization_bids(user) -> sa.Select:
    """Every bid of the user's organisation (all states) with its challenge, unsorted (pages
    sort by OWN_BIDS_ORDER): "我的揭榜". None at all for a user with no active membership."""
    query = sa.select(Bid).options(selectinload(Bid.challenge))
    if (user is None or not user.is_authenticated or user.organization_id is None
            or not user.belongs_to(user.organization_id)):
        return query.where(sa.false())
    return query.where(Bid.organization_id == user.organization_id)


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


def min_bidding_days() -> float:
    """The shortest bidding window, in days (config MIN_BIDDING_DAYS)."""
    return float(current_app.config.get("MIN_BIDDING_DAYS", 7))


def _days(value: float) -> str:
    return f"{value:g}"


def bidding_window_label() -> str:
    """The rule in one line, shown next to the deadline field before anyone types."""
    return str(_l("揭榜期不少于 %(days)s 天。", days=_days(min_bidding_days())))


def bidding_window_problem(deadline: datetime, now: datetime) -> str | None:
    """Why a bid deadline leaves institutes too little time to bid, or None.

    One rule for the posting form, the submission for 审题 and the 审题 approval: the
    deadline must lie at least MIN_BIDDING_DAYS after ``now``.
    """
    days = min_bidding_days()
    earliest = now + timedelta(days=days)
    if deadline >= earliest:
        return None
    return str(_l("揭榜期不得少于 %(days)s 天：截止时间须不早于 %(earliest)s（北京时间）。",
                  days=_days(days), earliest=to_local(earliest).strftime("%Y-%m-%d %H:%M")))


def _check_challenge_data(data: ChallengeData, now: datetime) -> None:
    if not data.title.strip():
        raise InvalidField(str(_l("请填写榜单名称。")), "title")
    if not 0 < data.bounty_yuan <= MAX_BOUNTY_YUAN:
        raise InvalidField(str(_l("悬赏金额须为正数且不超过 100 亿元。")), "bounty_yuan")
    check_date(data.bid_deadline, "bid_deadline")
    problem = bidding_window_problem(data.bid_deadline, now)
    if problem is not None:
        raise InvalidField(problem, "bid_deadline")
    if not 0 < data.delivery_months <= 120:
        raise InvalidField(str(_l("交付周期须在 1 至 120 个月之间。")), "delivery_months")


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


@contextmanager
def _storing_files():
    """Collect files written during a transaction; remove them if it rolls back."""
    written: list[str] = []
    try:
        yield written
    except BaseException:
        files.unlink_stored(written)
        raise


def _attach(challenge: Challenge, user, uploads: Iterable[files.CheckedUpload],
            written: list[str], bid: Bid | None = None,
            milestone: Milestone | None = None) -> None:
    for upload in uploads:
        written.append(files.add_attachment(upload, user=user, challenge=challenge, bid=bid,
                                            milestone=milestone).stored_name)


def create_challenge(user, data: ChallengeData, now: datetime | None = None,
                     uploads: Sequence[files.CheckedUpload] = ()) -> Challenge:
    """Save a new draft for the user's enterprise, with its attachments, in one transaction.

    :param user: an active enterprise member (unverified organisations may draft).
    :param data: the parsed form.
    :param uploads: files already passed through :func:`attachments.check_upload`.
    """
    if user is None or user.role != Role.enterprise or not user.is_active:
        raise PermissionDenied(str(_l("只有企业用户可以发布榜单。")))
    _check_challenge_data(data, now or utcnow())
    with _storing_files() as written, atomic():
        challenge = Challenge(organization_id=user.organization_id, created_by_id=user.id)
        _apply_challenge_data(challenge, data)
        db.session.add(challenge)
        db.session.flush()
        record_event(actor=user, action="create", subject=challenge, challenge_id=challenge.id,
                     to_state=ChallengeState.draft.value)
        _attach(challenge, user, uploads, written)
        challenge_saved.send(challenge, actor=user)
    return challenge


def update_challenge(challenge: Challenge, user, data: ChallengeData,
                     now: datetime | None = None,
                     uploads: Sequence[files.CheckedUpload] = (),
                     remove_attachment_ids: Iterable[int] = ()) -> Challenge:
    """Edit a draft or a returned challenge; add and remove its attachments in the same save.

    :param remove_attachment_ids: ids of this challenge's own attachments to delete
        (ids of other challenges' or of bids' attachments are ignored).
    """
    if not can_edit_challenge(challenge, user):
        raise PermissionDenied(str(_l("只有发榜企业可以修改草稿或退回的榜单。")))
    _check_challenge_data(data, now or utcnow())
    wanted = set(remove_attachment_ids)
    doomed = [a for a in challenge.attachments if a.id in wanted]
    with _storing_files() as written, atomic():
        _apply_challenge_data(challenge, data)
        record_event(actor=user, action="edit", subject=challenge, challenge_id=challenge.id,
                     from_state=challenge.state.value, to_state=challenge.state.value)
        for attachment in doomed:
            files.remove_attachment(attachment, user=user)
        _attach(challenge, user, uploads, written)
        challenge_saved.send(challenge, actor=user)
    # Only once the rows are gone for good do the files go.
    files.unlink_stored([a.stored_name for a in doomed])
    db.session.expire(challenge, ["attachments"])
    return challenge


def submit_challenge(challenge: Challenge, user, now: datetime | None = None) -> Challenge:
    """Send a draft (or a returned challenge) to 审题."""
    transition = workflow.find_transition(challenge, "submit", user)
    org = user.organization
    if org is None or not org.is_verified:
        raise PermissionDenied(str(_l("贵单位尚未通过平台认证，暂不能提交榜单，可先保存草稿。")))
    problem = bidding_window_problem(challenge.bid_deadline, now or utcnow())
    if problem is not None:
        raise TransitionRefused(str(_l("%(problem)s请修改揭榜截止时间后再提交审题。",
                                       problem=problem)))
    with atomic():
        workflow.apply_transition(challenge, transition.action, user, now=now)
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
                workflow.apply_transition(challenge, action, None, now=now)
        except DomainError:
            continue  # another process closed it first
        closed.append(challenge)
    return closed


def select_bid(challenge: Challenge, bid: Bid, user, now: datetime | None = None) -> Challenge:
    """The enterprise picks the winning bid; a reviewer confirms it next."""
    transition = workflow.find_transition(challenge, "select_bid", user)
    if bid.challenge_id != challenge.id or bid.state != BidState.submitted:
        raise DomainError(str(_l("只能选定本榜单已提交的揭榜方案。")))
    with atomic():
        challenge.winning_bid_id = bid.id
        workflow.apply_transition(challenge, transition.action, user, now=now)
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
             now: datetime | None = None, uploads: Iterable[files.CheckedUpload] = ()) -> Bid:
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
    with _storing_files() as written, \
            atomic(str(_l("贵单位已对该榜单提交过方案，请刷新后修改原方案。"))):
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
        _attach(challenge, user, uploads, written, bid=bid)
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
                     uploads: Iterable[files.CheckedUpload] = (), now: datetime | None = None,
                     remove_attachment_ids: Iterable[int] = ()) -> Milestone:
    """The winning institute reports progress on one milestone (again, until confirmed).

    :param uploads: checked files stored with the report in the same transaction.
    :param remove_attachment_ids: ids of this milestone's files to delete with it (ids of
        other files are ignored).
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
    wanted = set(remove_attachment_ids)
    doomed = [a for a in milestone.attachments if a.id in wanted]
    with _storing_files() as written, atomic():
        milestone.report = report.strip()
        milestone.reported_at = now or utcnow()
        for attachment in doomed:
            files.remove_attachment(attachment, user=user)
        _attach(challenge, user, uploads, written, bid=milestone.bid, milestone=milestone)
        record_event(actor=user, action="report_milestone", subject=milestone,
                     challenge_id=challenge.id, comment=milestone.name, at=now)
        milestone_changed.send(milestone, actor=user, action="report")
    files.unlink_stored([a.stored_name for a in doomed])  # once the rows are gone for good
    db.session.expire(milestone, ["attachments"])
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
                     challenge_id=challenge.id, comment=milestone.name, at=now)
        milestone_changed.send(milestone, actor=user, action="confirm")
        if all(m.confirmed_at is not None for m in milestone.bid.milestones):
            workflow.apply_transition(challenge, "request_acceptance", user, now=now)
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
    """Published challenges, newest first, with optional filters (and each one's
    organisation, which every list of them shows)."""
    query = (sa.select(Challenge).options(joinedload(Challenge.organization))
             .where(Challenge.state.in_(PUBLIC_STATES)))
    if industries := list(industries):
        query = query.where(Challenge.industry.in_(industries))
    if categories := list(categories):
        query = query.where(Challenge.category.in_(categories))
    if states := [s for s in states if s in PUBLIC_STATES]:
        query = query.where(Challenge.state.in_(states))
    return query.order_by(Challenge.published_at.desc(), Challenge.id.desc())
