"""Demo subscriptions, so that a fresh demo's daily digest sends real emails."""

from __future__ import annotations

import sqlalchemy as sa

from ..accounts.models import Role, User
from ..challenges.models import Challenge
from ..extensions import db
from .models import Frequency, Subscription
from .services import default_keywords


def load_demo_subscriptions() -> list[str]:
    """Give every demo institute and enterprise user a daily digest (idempotent).

    Institutes follow all industries, ranked by their organisation's keywords;
    enterprises follow the industries of their own challenges (all when none).
    Re-running resets these users' digest settings to the demo values.
    """
    lines = []
    users = db.session.execute(
        sa.select(User).where(User.role.in_([Role.institute, Role.enterprise]))
        .order_by(User.id)
    ).scalars().all()
    for user in users:
        subscription = db.session.execute(
            sa.select(Subscription).where(Subscription.user_id == user.id)
        ).scalar_one_or_none()
        if subscription is None:
            subscription = Subscription(user_id=user.id)
            db.session.add(subscription)
        industries: list[str] = []
        if user.role == Role.enterprise and user.organization_id is not None:
            industries = sorted({i.value for i in db.session.execute(
                sa.select(Challenge.industry).where(
                    Challenge.organization_id == user.organization_id)).scalars()})
        subscription.frequency = Frequency.daily
        subscription.industries = industries
        subscription.categories = []
        subscription.keywords = ""
        subscription.min_bounty_yuan = 0
        profile = default_keywords(user) if user.role == Role.institute else ""
        lines.append(f"digest subscription: {user.email} daily, "
                     f"industries {','.join(industries) or 'all'}"
                     + (f", ranked by {profile}" if profile else ""))
    db.session.commit()
    return lines
