"""The history of who belonged to which organisation, and when: the conflict-of-interest
rules read it (bounty.review.conflicts). The accounts services write it in the same
transaction as the change they make."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..timeutil import utcnow
from .models import OrganizationMembership


def record_membership(user, organization_id: int, joined_at: datetime | None = None,
                      left_at: datetime | None = None) -> OrganizationMembership:
    """Add a membership period in the caller's transaction."""
    row = OrganizationMembership(user_id=user.id, organization_id=organization_id,
                                 joined_at=joined_at or utcnow(), left_at=left_at)
    db.session.add(row)
    return row


def end_membership(user, organization_id: int, left_at: datetime | None = None) -> None:
    """Close the user's open periods in an organisation, in the caller's transaction."""
    for row in db.session.execute(sa.select(OrganizationMembership).where(
            OrganizationMembership.user_id == user.id,
            OrganizationMembership.organization_id == organization_id,
            OrganizationMembership.left_at.is_(None))).scalars():
        row.left_at = left_at or utcnow()


def memberships_of(user) -> list[OrganizationMembership]:
    return list(db.session.execute(
        sa.select(OrganizationMembership).where(OrganizationMembership.user_id == user.id)
        .order_by(OrganizationMembership.joined_at)).scalars())
