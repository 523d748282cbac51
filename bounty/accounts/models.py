"""Organisations, users and login throttling."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import AnonymousUserMixin, UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..limits import bounded_text
from ..timeutil import UTCDateTime, utcnow


class OrgKind(enum.StrEnum):
    enterprise = "enterprise"  # 企业
    institute = "institute"  # 高校 / 科研院所 / 新型研发机构
    government = "government"  # 科技局 / 经信局
    platform = "platform"  # the operator


class Role(enum.StrEnum):
    enterprise = "enterprise"
    institute = "institute"
    reviewer = "reviewer"
    admin = "admin"


class MembershipStatus(enum.StrEnum):
    active = "active"
    pending = "pending"  # waits for a member of the organisation to approve
    refused = "refused"


class Organization(db.Model):
    """An organisation identified by its USCC."""

    __tablename__ = "organizations"
    __table_args__ = (sa.Index("ix_organizations_created", "created_at", "id"),)  # admin list

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[OrgKind] = mapped_column(sa.Enum(OrgKind, native_enum=False, length=20))
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    contact_name: Mapped[str] = mapped_column(sa.String(100), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(40), default="")
    description: Mapped[str] = bounded_text(5_000, default="")
    # Institutes: what they are good at; feeds matching and digest defaults.
    expertise: Mapped[str] = bounded_text(5_000, default="")
    keywords: Mapped[str] = mapped_column(sa.String(500), default="")
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization")

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.uscc}>"


class User(UserMixin, db.Model):
    """A person who logs in; belongs to one organisation (admins to the platform's)."""

    __tablename__ = "users"
    __table_args__ = (
        sa.Index("uq_users_email_lower", sa.func.lower(sa.text("email")), unique=True),
        sa.Index("ix_users_created", "created_at", "id"),  # the admin list, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(sa.Enum(Role, native_enum=False, length=20))
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    membership: Mapped[MembershipStatus] = mapped_column(
        sa.Enum(MembershipStatus, native_enum=False, length=20), default=MembershipStatus.active
    )
    # Rotated at logout and password change: a replayed old session cookie no longer matches.
    session_token: Mapped[str] = mapped_column(
        sa.String(64), default=lambda: secrets.token_hex(16)
    )
    locale: Mapped[str] = mapped_column(sa.String(10), default="zh_CN")
    is_disabled: Mapped[bool] = mapped_column(default=False)
    # Reviewers only: a lead reviewer (审核组长) assigns review tasks to other reviewers.
    is_lead_reviewer: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization | None] = relationship(back_populates="users")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return not self.is_disabled and self.membership == MembershipStatus.active

    # Permissions: one predicate per rule; views use the decorators of
    # bounty.accounts.permissions, services ask the user they are given.

    @property
    def is_admin(self) -> bool:
        """A platform admin (verifies organisations, manages users and review settings)."""
        return self.is_active and self.role == Role.admin

    @property
    def is_staff(self) -> bool:
        """A reviewer or an admin: the task queue, exports, any item's review pages."""
        return self.is_active and self.role in (Role.reviewer, Role.admin)

    @property
    def is_lead(self) -> bool:
        """A lead reviewer (审核组长)."""
        return self.is_active and self.role == Role.reviewer and self.is_lead_reviewer

    def can_review(self, stage=None) -> bool:
        """An active reviewer; at a stage only lead reviewers decide
        (``stage.needs_lead``, bounty.review.stages.ReviewStage), a lead reviewer."""
        if not (self.is_active and self.role == Role.reviewer):
            return False
        return stage is None or not stage.needs_lead or self.is_lead_reviewer

    @property
    def can_assign(self) -> bool:
        """Admins and lead reviewers assign review tasks."""
        return self.is_admin or self.is_lead

    def belongs_to(self, organization_id: int | None) -> bool:
        """True for an active member of the given organisation."""
        return (
            organization_id is not None
            and self.organization_id == organization_id
            and self.membership == MembershipStatus.active
        )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class AnonymousUser(AnonymousUserMixin):
    """Someone not logged in: every permission predicate of :class:`User` says no."""

    is_admin = is_staff = is_lead = can_assign = False
    role = None

    def can_review(self, stage=None) -> bool:
        return False


class OrganizationMembership(db.Model):
    """A period during which a user belonged to an organisation (``left_at`` None: still)."""

    __tablename__ = "organization_memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()
