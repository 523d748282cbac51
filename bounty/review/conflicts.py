"""Conflicts of interest: declared conflicts, the organisation membership history
(bounty.accounts.memberships) and the admin overrides that let a conflicted reviewer
act on one item anyway.

A reviewer who belongs, or in the last three years belonged, to a party of an
item (its enterprise, a bidder, the lister), or who declared a conflict with
one of them, may neither be assigned the item nor decide on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, OrganizationMembership, Role, User
from ..audit import record_event
from ..errors import InvalidField, PermissionDenied
from ..extensions import db
from ..limits import bounded_text
from ..timeutil import UTCDateTime, utcnow
from ..transactions import atomic
from . import items
from .blind import stage_is_blind

COOLING_OFF = timedelta(days=3 * 365 + 1)  # three years, a leap day included


class ConflictDeclaration(db.Model):
    """A reviewer's own declaration of a conflict with an organisation."""

    __tablename__ = "conflict_declarations"
    __table_args__ = (sa.UniqueConstraint("reviewer_id", "organization_id",
                                          name="uq_conflict_declarations_reviewer_org"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                             index=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    reason: Mapped[str] = bounded_text(2_000)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organization: Mapped[Organization] = relationship()


class ConflictOverride(db.Model):
    """An admin's decision that a conflicted reviewer may still act on one item, and why."""

    __tablename__ = "conflict_overrides"
    __table_args__ = (sa.UniqueConstraint("reviewer_id", "item_key",
                                          name="uq_conflict_overrides_reviewer_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(sa.String(40))
    challenge_id: Mapped[int] = mapped_column(
        sa.ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = bounded_text(2_000)
    admin_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    admin: Mapped[User] = relationship(foreign_keys=[admin_id])


# --------------------------------------------------------------------------- history


def conflicted_org_ids(user, now: datetime | None = None) -> dict[int, str]:
    """Organisations this user may not review: org id -> why (in Chinese)."""
    return conflicted_org_ids_of([user], now)[user.id]


def conflicted_org_ids_of(users, now: datetime | None = None) -> dict[int, dict[int, str]]:
    """:func:`conflicted_org_ids` of many users (user id -> org id -> why), in two queries."""
    now = now or utcnow()
    reasons: dict[int, dict[int, str]] = {user.id: {} for user in users}
    if not reasons:
        return reasons
    for reviewer_id, organization_id in db.session.execute(
            sa.select(ConflictDeclaration.reviewer_id, ConflictDeclaration.organization_id)
            .where(ConflictDeclaration.reviewer_id.in_(reasons))):
        reasons[reviewer_id][organization_id] = str(_l("已申报利益冲突"))
    for user_id, organization_id, left_at in db.session.execute(
            sa.select(OrganizationMembership.user_id, OrganizationMembership.organization_id,
                      OrganizationMembership.left_at).where(
            OrganizationMembership.user_id.in_(reasons),
            sa.or_(OrganizationMembership.left_at.is_(None),
                   OrganizationMembership.left_at >= now - COOLING_OFF))):
        reasons[user_id][organization_id] = (str(_l("现任职于该单位")) if left_at is None
                                             else str(_l("近三年内曾任职于该单位")))
    for user in users:
        if user.organization_id is not None:
            reasons[user.id][user.organization_id] = str(_l("现任职于该单位"))
    return reasons


def conflict_with(user, item, now: datetime | None = None, *, reveal: bool = False,
                  reasons: dict[int, str] | None = None,
                  parties: set[int] | None = None) -> str | None:
    """Why this user has a conflict with the item, or None.

    At a blind stage a bidder is not named (the message would reveal who bid),
    unless ``reveal`` (for admins).

    :param reasons: :func:`conflicted_org_ids` of the user, when the caller has it.
    :param parties: ``items.party_org_ids(item)``, when the caller has it.
    """
    if reasons is None:
        reasons = conflicted_org_ids(user, now)
    for org_id in sorted(items.party_org_ids(item) if parties is None else parties):
        if org_id in reasons:
            challenge = items.challenge_of(item)
            if (not reveal and org_id != challenge.organization_id
                    and items.kind_of(item) == "challenge" and stage_is_blind(challenge)):
                name = str(_l("某揭榜单位"))
            else:
                name = db.session.get(Organization, org_id).name
            return str(_l("与「%(org)s」存在利益冲突（%(why)s）", org=name,
                          why=reasons[org_id]))
    return None


def override_for(user, item) -> ConflictOverride | None:
    return db.session.execute(sa.select(ConflictOverride).where(
        ConflictOverride.reviewer_id == user.id,
        ConflictOverride.item_key == items.item_key(item))).scalar_one_or_none()


def overrides_among(item_keys: set[str]) -> set[tuple[int, str]]:
    """(reviewer id, item key) of every override on these items, in one query."""
    if not item_keys:
        return set()
    return set(db.session.execute(sa.select(
        ConflictOverride.reviewer_id, ConflictOverride.item_key).where(
        ConflictOverride.item_key.in_(item_keys))).tuples())


def blocking_conflict(user, item, now: datetime | None = None, *,
                      reasons: dict[int, str] | None = None,
                      overridden: set[tuple[int, str]] | None = None,
                      parties: set[int] | None = None) -> str | None:
    """The conflict that bars this user from the item, unless an admin overrode it.

    :param reasons: :func:`conflicted_org_ids` of the user, when the caller has it.
    :param overridden: :func:`overrides_among` the caller's items, when it has them.
    :param parties: ``items.party_org_ids(item)``, when the caller has it.
    """
    reason = conflict_with(user, item, now, reasons=reasons, parties=parties)
    if reason is None:
        return None
    if overridden is not None:
        return None if (user.id, items.item_key(item)) in overridden else reason
    return None if override_for(user, item) is not None else reason


def check_no_conflict(user, item, now: datetime | None = None, *, assigning: bool = False
                      ) -> None:
    reason = blocking_conflict(user, item, now)
    if reason is None:
        return
    if assigning:
        raise PermissionDenied(str(_l("不能分配给%(name)s：%(reason)s。", name=user.name,
                                      reason=reason)))
    raise PermissionDenied(str(_l(
        "您%(reason)s，不能审核该事项（如确需审核，请联系管理员登记例外）。", reason=reason)))


# --------------------------------------------------------------------------- declarations


def declare_conflict(reviewer, organization: Organization | None, reason: str
                     ) -> ConflictDeclaration:
    """A reviewer declares a conflict with an organisation (on the profile page)."""
    if reviewer is None or not reviewer.can_review():
        raise PermissionDenied(str(_l("只有审核员需要申报利益冲突。")))
    if organization is None:
        raise InvalidField(str(_l("未找到该统一社会信用代码对应的单位。")), "uscc")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidField(str(_l("请说明利益冲突的原因。")), "reason")
    with atomic(str(_l("您已申报过与该单位的利益冲突。"))):
        declaration = ConflictDeclaration(reviewer_id=reviewer.id,
                                          organization_id=organization.id, reason=reason)
        db.session.add(declaration)
        db.session.flush()
        record_event(actor=reviewer, action="declare_conflict", subject=declaration,
                     comment=f"{organization.uscc} {reason}")
    return declaration


def declarations_of(reviewer) -> list[ConflictDeclaration]:
    return list(db.session.execute(sa.select(ConflictDeclaration).where(
        ConflictDeclaration.reviewer_id == reviewer.id).order_by(ConflictDeclaration.id)
    ).scalars())


def override_conflict(item, reviewer, admin, reason: str) -> ConflictOverride:
    """An admin lets a conflicted reviewer be assigned and decide on one item; audited."""
    if admin is None or not admin.is_admin:
        raise PermissionDenied(str(_l("只有平台管理员可以登记利益冲突例外。")))
    if reviewer is None or reviewer.role != Role.reviewer:
        raise InvalidField(str(_l("请选择审核员。")), "reviewer")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidField(str(_l("登记例外必须说明理由。")), "reason")
    conflict = conflict_with(reviewer, item, reveal=True)
    if conflict is None:
        raise InvalidField(str(_l("%(name)s与该事项没有利益冲突，无需登记例外。",
                                  name=reviewer.name)), "reviewer")
    with atomic(str(_l("已为该审核员登记过例外。"))):
        override = ConflictOverride(reviewer_id=reviewer.id, item_key=items.item_key(item),
                                    challenge_id=items.challenge_of(item).id, reason=reason,
                                    admin_id=admin.id)
        db.session.add(override)
        db.session.flush()
        # Not on the challenge's public trail (challenge_id None): the parties see decisions,
        # not the government's internal staffing.
        record_event(actor=admin, action="override_conflict", subject=override,
                     comment=f"{items.item_key(item)} {reviewer.email}: {conflict}; {reason}")
    return override


def overrides_for(item) -> list[ConflictOverride]:
    return list(db.session.execute(sa.select(ConflictOverride).where(
        ConflictOverride.item_key == items.item_key(item)).order_by(ConflictOverride.id)
    ).scalars())
