"""The production path: what `bounty init` sets up and what `bounty serve` refuses.

``BOUNTY_ENV=production`` says the instance is real: its secret key must come from
the environment (``SECRET_KEY``, 32 characters or more), never the key generated in
the instance folder, and the audit chain needs its own key (``BOUNTY_AUDIT_KEY``).
Whatever the environment, `bounty serve` refuses to start while a demo login with
the published password exists, unless told it is a demo (``--demo`` or
``BOUNTY_DEMO=1``; scripts/start.sh passes ``--demo``).
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from werkzeug.security import check_password_hash

from .accounts.models import Role, User
from .accounts.services import create_user
from .demo import DEMO_PASSWORD, USERS
from .extensions import db

MIN_SECRET_KEY = 32


def is_production(config: Mapping) -> bool:
    return str(config.get("BOUNTY_ENV", "")).lower() == "production"


def configuration_problems(config: Mapping) -> list[str]:
    """What keeps this configuration from running in production (empty outside it)."""
    if not is_production(config):
        return []
    problems = []
    if config.get("BOUNTY_SECRET_KEY_SOURCE") != "environment":
        problems.append("SECRET_KEY must be set in the environment (not generated in the "
                        "instance folder)")
    elif len(str(config.get("SECRET_KEY") or "")) < MIN_SECRET_KEY:
        problems.append(f"SECRET_KEY must be at least {MIN_SECRET_KEY} characters")
    if not config.get("BOUNTY_AUDIT_KEY"):
        problems.append("BOUNTY_AUDIT_KEY (id:secret) must be set: the audit chain's key is "
                        "kept outside the instance folder in production")
    return problems


def configuration_warnings(config: Mapping) -> list[str]:
    """What production usually sets and this configuration does not."""
    if not is_production(config):
        return []
    warnings = []
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        warnings.append("DATABASE_URL is not set: using SQLite (PostgreSQL is recommended)")
    if not config.get("MAIL_SERVER"):
        warnings.append("MAIL_SERVER is not set: mail is only printed on standard output")
    if "127.0.0.1" in str(config.get("PUBLIC_URL", "")):
        warnings.append("PUBLIC_URL is not set: links in mail point at 127.0.0.1")
    return warnings


def demo_logins() -> list[str]:
    """Emails of demo users that still log in with the published demo password."""
    emails = [spec.email for spec in USERS]
    users = db.session.execute(
        sa.select(User).where(User.email.in_(emails), User.is_disabled.is_(False))
    ).scalars()
    return sorted(u.email for u in users if check_password_hash(u.password_hash, DEMO_PASSWORD))


def has_admin() -> bool:
    return bool(db.session.scalar(sa.select(sa.func.count()).select_from(User)
                                  .where(User.role == Role.admin)))


def create_first_admin(email: str, name: str, password: str) -> User:
    """The first admin (``bounty init``); the password rules apply as to any user."""
    return create_user(email=email, name=name, password=password, role=Role.admin)
