"""Subscriptions, notification preferences and the email outbox."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..enums import LabelledEnum
from ..extensions import db
from ..timeutil import UTCDateTime, utcnow


def _enum(cls: type[enum.Enum], length: int = 30) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=length, validate_strings=True)


class Frequency(LabelledEnum):
    daily = "daily", _l("每天")
    weekly = "weekly", _l("每周")
    off = "off", _l("不接收")


class Subscription(db.Model):
    """What new challenges a user wants in the digest, and how often.

    Empty ``industries`` / ``categories`` mean "all"; ``keywords`` (separated
    by commas or spaces) must hit at least once when given.
    ``last_digest_period`` / ``last_digest_at`` record the last period
    processed: the claim that makes a (subscriber, period) digest happen once.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (sa.CheckConstraint("min_bounty_yuan >= 0", name="min_bounty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    industries: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    keywords: Mapped[str] = mapped_column(sa.String(500), default="")
    min_bounty_yuan: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency, 10), default=Frequency.weekly,
                                                 index=True)
    # e.g. "daily:2024-05-06" or "weekly:2024-W19"
    last_digest_period: Mapped[str | None] = mapped_column(sa.String(30))
    # End of the window the last digest covered; the next one starts here.
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Challenges of the last digest published shortly before it ran: the next window
    # overlaps the last one a little (late commits), and these are not repeated.
    last_digest_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<Subscription {self.id} u={self.user_id} {self.frequency}>"


class NotificationKind(LabelledEnum):
    challenge_approved = "challenge_approved", _l("榜单审题通过")
    challenge_returned = "challenge_returned", _l("榜单被退回修改")
    challenge_rejected = "challenge_rejected", _l("榜单不予通过")
    bid_received = "bid_received", _l("收到新的揭榜方案（仅数量）")
    bidding_closed = "bidding_closed", _l("揭榜截止")
    bid_selected = "bid_selected", _l("揭榜方案中选")
    bid_not_selected = "bid_not_selected", _l("揭榜方案未中选")
    item_assigned = "item_assigned", _l("有事项分配给我")
    item_overdue = "item_overdue", _l("事项逾期")
    deadline_soon = "deadline_soon", _l("揭榜截止前三天提醒")
    invited = "invited", _l("企业邀请本单位揭榜")


class NotificationPreference(db.Model):
    """A user's choice for one notification kind; no row means the kind is on."""

    __tablename__ = "notification_preferences"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "kind", name="uq_notification_preferences_user_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind, 40))
    enabled: Mapped[bool] = mapped_column(default=True)


class OutboxStatus(LabelledEnum):
    queued = "queued", _l("待发送")  # waiting for its next attempt
    sending = "sending", _l("发送中")  # claimed by one process (lease from claimed_at)
    sent = "sent", _l("已发送")
    failed = "failed", _l("发送失败")  # permanent: 5xx for the address, or out of attempts


# Kinds of outbox email that are not a NotificationKind, with their names for people.
OTHER_MAIL_KINDS = {
    "digest": _l("订阅摘要"),
    "account": _l("账号邮件"),  # registration links and notes to an address's owner
}


class OutboxEmail(db.Model):
    """One email, recorded before it is sent; ``dedup_key`` makes each logical email unique.

    Keys: ``digest:<user>:<period>``, ``notify:<kind>:<subject id>:<user>``.
    """

    __tablename__ = "outbox_emails"
    __table_args__ = (
        sa.Index("ix_outbox_emails_due", "status", "next_attempt_at"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))  # "digest" or a NotificationKind
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    headers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    dedup_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, 10),
                                                 default=OutboxStatus.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User | None] = relationship()
    body: Mapped[OutboxBody] = relationship(cascade="all, delete-orphan")

    @property
    def kind_label(self) -> str:
        """What the email is, for people: 订阅摘要, 账号邮件 or the notification's name."""
        if self.kind in OTHER_MAIL_KINDS:
            return str(OTHER_MAIL_KINDS[self.kind])
        try:
            return str(NotificationKind(self.kind).label)
        except ValueError:
            return self.kind

    @property
    def can_retry(self) -> bool:
        """An admin may send it now: it failed, or waits for another try after a failed one
        (one never tried goes out with the next drain anyway)."""
        return self.status == OutboxStatus.failed or (
            self.status == OutboxStatus.queued and self.attempts > 0)

    @property
    def text_body(self) -> str:
        return self.body.text_body

    @property
    def html_body(self) -> str:
        return self.body.html_body

    def __repr__(self) -> str:
        return f"<OutboxEmail {self.id} {self.dedup_key} {self.status}>"


class OutboxBody(db.Model):
    """The text and HTML of an outbox email, kept apart from its status row.

    Every attempt updates the status row; in SQLite an UPDATE rewrites the whole
    record, so 30 KB of body in it made each "sent" commit several times slower.
    """

    __tablename__ = "outbox_bodies"

    email_id: Mapped[int] = mapped_column(
        sa.ForeignKey("outbox_emails.id", ondelete="CASCADE"), primary_key=True)
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str] = mapped_column(sa.Text)


class ChallengeVisit(db.Model):
    """A logged-in user opened a challenge: they get its three-days-to-deadline reminder."""

    __tablename__ = "challenge_visits"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "challenge_id", name="uq_challenge_visits_user_challenge"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    first_opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
