"""Subscriptions, preferences, unsubscribing and composing digests into the outbox."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from ..accounts.models import MembershipStatus, Role, User
from ..challenges.models import Category, Challenge, ChallengeState, Industry
from ..errors import DomainError, PermissionDenied
from ..extensions import db
from ..timeutil import SHANGHAI, utcnow
from ..transactions import atomic
from . import emails, outbox
from .links import DIGEST_PURPOSE, absolute_url, read_unsubscribe_token
from .models import (
    ChallengeVisit,
    Frequency,
    NotificationKind,
    NotificationPreference,
    Subscription,
)
from .ranking import matching, organization_terms, rank_for_subscriber, split_keywords

log = logging.getLogger(__name__)

PERIOD_LENGTH = {Frequency.daily: timedelta(days=1), Frequency.weekly: timedelta(days=7)}
#: a subscriber back after a long pause gets at most this much history
MAX_WINDOW = timedelta(days=31)
#: each window starts this much before the last one ended: a challenge stamped
#: ``published_at`` just before a run but committed just after it is not lost
OVERLAP = timedelta(minutes=10)
MAX_KEYWORDS_LENGTH = 500
MAX_DEFAULT_KEYWORDS = 12


# --------------------------------------------------------------------------- subscriptions


@dataclass
class SubscriptionData:
    """What the settings form collects."""

    frequency: Frequency
    industries: list[Industry] = field(default_factory=list)
    categories: list[Category] = field(default_factory=list)
    keywords: str = ""
    min_bounty_yuan: int = 0


def get_subscription(user: User) -> Subscription | None:
    return db.session.execute(
        sa.select(Subscription).where(Subscription.user_id == user.id)
    ).scalar_one_or_none()


def default_keywords(user: User) -> str:
    """The organisation's keywords, else short phrases of its expertise."""
    return " ".join(organization_terms(user.organization, MAX_DEFAULT_KEYWORDS)
                    )[:MAX_KEYWORDS_LENGTH]


def ensure_default_subscription(user: User) -> Subscription | None:
    """Give an institute member a weekly digest on its organisation's expertise.

    Runs in the caller's transaction (registration commits it); does nothing
    for other roles or when the user already has a subscription.
    """
    if user.role != Role.institute:
        return None
    existing = get_subscription(user) if user.id is not None else None
    if existing is not None:
        return existing
    subscription = Subscription(user=user, frequency=Frequency.weekly,
                                keywords=default_keywords(user), industries=[], categories=[])
    db.session.add(subscription)
    return subscription


def enabled_kinds(user: User) -> set[NotificationKind]:
    off = set(db.session.execute(
        sa.select(NotificationPreference.kind).where(
            NotificationPreference.user_id == user.id, NotificationPreference.enabled.is_(False))
    ).scalars())
    return set(NotificationKind) - off


def is_notification_enabled(user: User, kind: NotificationKind) -> bool:
    return db.session.execute(
        sa.select(NotificationPreference.id).where(
            NotificationPreference.user_id == user.id, NotificationPreference.kind == kind,
            NotificationPreference.enabled.is_(False))
    ).first() is None


def _set_preference(user: User, kind: NotificationKind, enabled: bool) -> None:
    preference = db.session.execute(
        sa.select(NotificationPreference).where(NotificationPreference.user_id == user.id,
                                                NotificationPreference.kind == kind)
    ).scalar_one_or_none()
    if preference is None:
        db.session.add(NotificationPreference(user_id=user.id, kind=kind, enabled=enabled))
    else:
        preference.enabled = enabled


def update_settings(user: User, data: SubscriptionData,
                    notifications: Iterable[NotificationKind]) -> Subscription:
    """Save the user's digest subscription and which notification kinds they receive.

    Applies from the next digest; the window of the next digest is unchanged.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        raise PermissionDenied(str(_l("请先登录。")))
    if data.min_bounty_yuan < 0:
        raise DomainError(str(_l("最低悬赏金额不能为负数。")))
    keywords = " ".join(split_keywords(data.keywords))
    if len(keywords) > MAX_KEYWORDS_LENGTH:
        raise DomainError(str(_l("关键词总长度不能超过 500 个字符。")))
    wanted = set(notifications)
    with atomic(str(_l("设置已被同时修改，请刷新后重试。"))):
        subscription = get_subscription(user)
        if subscription is None:
            subscription = Subscription(user_id=user.id)
            db.session.add(subscription)
        subscription.frequency = data.frequency
        subscription.industries = sorted({i.value for i in data.industries})
        subscription.categories = sorted({c.value for c in data.categories})
        subscription.keywords = keywords
        subscription.min_bounty_yuan = data.min_bounty_yuan
        for kind in NotificationKind:
            _set_preference(user, kind, kind in wanted)
    return subscription


def record_visit(user: User, challenge_id: int) -> None:
    """Remember that a logged-in user opened a challenge (for its deadline reminder)."""
    outbox.insert_ignore(ChallengeVisit.__table__,
                         [{"user_id": user.id, "challenge_id": challenge_id,
                           "first_opened_at": utcnow()}], ["user_id", "challenge_id"])
    db.session.commit()


# --------------------------------------------------------------------------- unsubscribe


def describe_purpose(purpose: str) -> str:
    if purpose == DIGEST_PURPOSE:
        return _("榜单订阅邮件")
    return _("「%(kind)s」通知", kind=NotificationKind(purpose).label)


def check_unsubscribe_token(token: str) -> tuple[User, str]:
    """The user and purpose a token unsubscribes; DomainError for a bad or foreign token."""
    parsed = read_unsubscribe_token(token)
    user = db.session.get(User, parsed[0]) if parsed else None
    purpose = parsed[1] if parsed else None
    if user is None or purpose not in {DIGEST_PURPOSE, *NotificationKind}:
        raise DomainError(str(_l("退订链接无效或已过期，未做任何更改。"
                                 "请登录后在「邮件订阅」页面修改设置。")))
    return user, purpose


def unsubscribe(token: str) -> tuple[User, str]:
    """Turn off what the token names (the digest, or one notification kind) for its user."""
    user, purpose = check_unsubscribe_token(token)
    with atomic():
        if purpose == DIGEST_PURPOSE:
            subscription = get_subscription(user)
            if subscription is not None:
                subscription.frequency = Frequency.off
        else:
            _set_preference(user, NotificationKind(purpose), False)
    return user, purpose


# --------------------------------------------------------------------------- digests


def period_key(period: Frequency, now: datetime) -> str:
    """The period a run belongs to, in Shanghai time: daily:2024-05-06, weekly:2024-W19."""
    local = now.astimezone(SHANGHAI).date()
    if period == Frequency.daily:
        return f"daily:{local.isoformat()}"
    year, week, _day = local.isocalendar()
    return f"weekly:{year}-W{week:02d}"


@dataclass
class DigestRun:
    period: str
    queued: int = 0
    empty: int = 0  # nothing new matched: no email
    skipped: int = 0  # already done for this period (here or by another process)
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.period}: {self.queued} digests queued, {self.empty} with nothing new, "
                f"{self.skipped} already done")


@dataclass(frozen=True)
class ChallengeCard:
    """What a digest needs of a challenge, detached from the session so that the
    per-batch commits of a run do not expire (and reload) it."""

    id: int
    version: int
    title: str
    organization_id: int
    organization_name: str
    industry: Industry
    category: Category
    bounty_yuan: int
    bid_deadline: datetime
    published_at: datetime
    keywords: str
    bottleneck: str
    background: str
    expected_outcome: str

    @classmethod
    def of(cls, challenge: Challenge) -> ChallengeCard:
        return cls(
            id=challenge.id, version=challenge.version, title=challenge.title,
            organization_id=challenge.organization_id,
            organization_name=challenge.organization.name, industry=challenge.industry,
            category=challenge.category, bounty_yuan=challenge.bounty_yuan,
            bid_deadline=challenge.bid_deadline, published_at=challenge.published_at,
            keywords=challenge.keywords, bottleneck=challenge.bottleneck,
            background=challenge.background, expected_outcome=challenge.expected_outcome)


def _candidates(now: datetime) -> list[ChallengeCard]:
    """Open challenges published in the longest window any subscriber can have."""
    return [ChallengeCard.of(c) for c in db.session.execute(
        sa.select(Challenge)
        .options(joinedload(Challenge.organization))
        .where(Challenge.state == ChallengeState.open,
               Challenge.published_at > now - MAX_WINDOW,
               Challenge.published_at <= now,
               Challenge.bid_deadline > now)
        .order_by(Challenge.published_at.desc(), Challenge.id.desc())
    ).scalars()]


def _due_subscription_ids(period: Frequency, key: str) -> list[int]:
    return list(db.session.execute(
        sa.select(Subscription.id)
        .join(User, User.id == Subscription.user_id)
        .where(Subscription.frequency == period,
               sa.or_(Subscription.last_digest_period.is_(None),
                      Subscription.last_digest_period != key),
               User.is_disabled.is_(False),
               User.membership == MembershipStatus.active)
        .order_by(Subscription.id)
    ).scalars())


def _claim(subscription: Subscription, key: str, now: datetime,
           ranked: list[ChallengeCard]) -> bool:
    """Take this (subscriber, period) for this process: one UPDATE, one winner."""
    table = Subscription.__table__
    recent = sorted(c.id for c in ranked if c.published_at > now - OVERLAP)
    return db.session.execute(
        sa.update(table)
        .where(table.c.id == subscription.id,
               sa.or_(table.c.last_digest_period.is_(None), table.c.last_digest_period != key))
        .values(last_digest_period=key, last_digest_at=now, last_digest_ids=recent)
    ).rowcount == 1


def digest_for(subscription: Subscription, candidates: list[ChallengeCard], period: Frequency,
               now: datetime) -> list[ChallengeCard]:
    """The challenges of this subscriber's next digest, ranked; [] for none.

    Window: since the last digest (less a small overlap, without repeating what
    the last digest held), or one period back for the first one.
    """
    if subscription.last_digest_at is None:
        start = now - PERIOD_LENGTH[period]
    else:
        start = subscription.last_digest_at - OVERLAP
    start = max(start, now - MAX_WINDOW)
    chosen = matching(candidates, subscription, since=start,
                      exclude=frozenset(subscription.last_digest_ids or ()))
    if not chosen:
        return []
    from flask import current_app

    # a digest shows the first DIGEST_MAX_ITEMS: only those need the engine's order
    return rank_for_subscriber(chosen, subscription,
                               limit=current_app.config["DIGEST_MAX_ITEMS"])


def render_digest(user: User, ranked: list[ChallengeCard], period: Frequency, key: str,
                  items: emails.ItemCache, now: datetime) -> dict:
    """One outbox row for a digest, rendered in the current locale (the caller sets the
    user's, see :func:`emails.recipient_locale`)."""
    from flask import current_app

    limit = current_app.config["DIGEST_MAX_ITEMS"]
    unsubscribe, headers = emails.list_headers(user.id, DIGEST_PURPOSE)
    shown = [items.item(c) for c in ranked[:limit]]
    if period == Frequency.daily:
        subject = _("今日新榜单：%(count)d 项与您的订阅相关", count=len(ranked))
    else:
        subject = _("本周新榜单：%(count)d 项与您的订阅相关", count=len(ranked))
    text, html = emails.render_pair(
        "digest", user=user, items=shown, total=len(ranked), more=len(ranked) - len(shown),
        period=period.value, subject=subject, unsubscribe_url=unsubscribe,
        settings_url=emails.settings_url(), browse_url=absolute_url("web.home"))
    return {"kind": "digest", "user_id": user.id, "recipient": user.email, "subject": subject,
            "text_body": text, "html_body": html, "headers": headers,
            "dedup_key": f"digest:{user.id}:{key}", "next_attempt_at": now, "created_at": now}


def compose_digests(period: Frequency, now: datetime | None = None, *, dry_run: bool = False,
                    batch_size: int = 500) -> DigestRun:
    """Record this period's digest of every due subscriber in the outbox (sending is separate).

    Each subscriber is claimed for the period before composing, in the same
    transaction as its outbox row, so the period is done once even when two
    processes run it at once or a run is killed and started again.

    :param dry_run: compute and report, write nothing.
    """
    if period not in PERIOD_LENGTH:
        raise DomainError(str(_l("未知的推送周期。")))
    now = now or utcnow()
    key = period_key(period, now)
    run = DigestRun(period=key)
    candidates = _candidates(now)
    items = emails.ItemCache(
        {c.id: absolute_url("challenges.detail", challenge_id=c.id) for c in candidates})
    ids = _due_subscription_ids(period, key)
    run.skipped = db.session.scalar(
        sa.select(sa.func.count(Subscription.id)).where(Subscription.frequency == period,
                                                        Subscription.last_digest_period == key))
    db.session.commit()
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        for attempt in itertools.count(1):
            try:
                _compose_batch(batch, candidates, items, period, key, now, run, dry_run)
                break
            except OperationalError:
                # SQLite "database is locked" while another process writes: try again.
                db.session.rollback()
                if attempt >= 3:
                    raise
    return run


def _compose_batch(batch: list[int], candidates: list[ChallengeCard], items: emails.ItemCache,
                   period: Frequency, key: str, now: datetime, run: DigestRun,
                   dry_run: bool) -> None:
    subscriptions = db.session.execute(
        sa.select(Subscription)
        .options(joinedload(Subscription.user).joinedload(User.organization))
        .where(Subscription.id.in_(batch))
        .order_by(Subscription.id)
    ).scalars().all()
    pending: list[tuple[User, list[ChallengeCard]]] = []
    queued, empty, skipped, lines = 0, 0, 0, []
    for subscription in subscriptions:
        ranked = digest_for(subscription, candidates, period, now)
        if dry_run:
            if subscription.last_digest_period == key:
                skipped += 1
            elif ranked:
                queued += 1
                lines.append(f"{subscription.user.email}: "
                             + ", ".join(str(c.id) for c in ranked))
            else:
                empty += 1
            continue
        if not _claim(subscription, key, now, ranked):
            skipped += 1
        elif not ranked:
            empty += 1
        else:
            pending.append((subscription.user, ranked))
    if not dry_run:
        rows = []
        # One language switch per group, not per digest: switching reloads the catalog.
        by_locale = sorted(pending, key=lambda p: p[0].locale or "")
        for locale, group in itertools.groupby(by_locale, key=lambda p: p[0].locale):
            with emails.recipient_locale(locale):
                rows += [render_digest(user, ranked, period, key, items, now)
                         for user, ranked in group]
        outbox.enqueue(rows)
        db.session.commit()
        queued = len(rows)
    run.queued += queued
    run.empty += empty
    run.skipped += skipped
    run.lines += lines
