"""Accounts: passwords, login throttling, users created by admins or the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit import record_event
from ..errors import DomainError
from ..extensions import db
from ..timeutil import utcnow
from ..transactions import atomic
from .models import LoginAttempt, MembershipStatus, Organization, OrgKind, Role, User
from .passwords import check_password_strength

# scrypt with werkzeug's defaults (n=2**15, r=8, p=1): a slow, memory-hard KDF.
PASSWORD_METHOD = "scrypt"
# Compared against when the email is unknown, so both paths cost the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method=PASSWORD_METHOD)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        sa.select(User).where(sa.func.lower(User.email) == normalize_email(email))
    ).scalar_one_or_none()


class LoginThrottled(DomainError):
    status_code = 429


def authenticate(email: str, password: str, *, max_failures: int = 5,
                 lock_seconds: int = 900, now: datetime | None = None) -> User | None:
    """Return the user for a correct email and password, else None.

    An unknown email and a wrong password look the same to the caller. After
    ``max_failures`` failures for one email, further tries are refused until
    ``lock_seconds`` have passed, whether the email exists or not.
    """
    now = now or utcnow()
    key = normalize_email(email)
    attempt = db.session.get(LoginAttempt, key)
    if attempt and attempt.locked_until and attempt.locked_until > now:
        raise LoginThrottled(str(_l("登录失败次数过多，请 %(minutes)d 分钟后再试。",
                                    minutes=max(1, int((attempt.locked_until - now)
                                                       .total_seconds() // 60) + 1))))
    user = find_user_by_email(key)
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    if user is not None and valid and user.is_active:
        if attempt is not None:
            db.session.delete(attempt)
            db.session.commit()
        return user
    with atomic():
        attempt = db.session.get(LoginAttempt, key)
        if attempt is None:
            attempt = LoginAttempt(email=key, failures=0)
            db.session.add(attempt)
        attempt.failures += 1
        attempt.last_failure_at = now
        if attempt.failures >= max_failures:
            attempt.locked_until = now + timedelta(seconds=lock_seconds)
            attempt.failures = 0
    return None


def end_session(user: User) -> None:
    """Rotate the session token so every cookie issued before is refused from now on."""
    import secrets

    with atomic():
        user.session_token = secrets.token_hex(16)


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the id carries the session token, which must still match."""
    try:
        raw_id, token = user_id.split(":", 1)
        user = db.session.get(User, int(raw_id))
    except (ValueError, TypeError):
        return None
    if user is None or user.session_token != token or not user.is_active:
        return None
    return user


def create_user(*, email: str, name: str, password: str, role: Role,
                organization: Organization | None = None, actor: User | None = None,
                membership: MembershipStatus = MembershipStatus.active) -> User:
    """Create a user after checking the email is free and the password is strong enough."""
    email = normalize_email(email)
    if find_user_by_email(email) is not None:
        raise DomainError(str(_l("该邮箱已注册。")))
    problem = check_password_strength(password)
    if problem:
        raise DomainError(problem)
    if role in (Role.reviewer, Role.admin) and organization is not None and \
            organization.kind not in (OrgKind.government, OrgKind.platform):
        raise DomainError(str(_l("审核员和管理员须属于政府部门或平台运营方。")))
    with atomic(str(_l("该邮箱已注册。"))):
        user = User(email=email, name=name.strip(), password_hash=hash_password(password),
                    role=role, organization=organization, membership=membership)
        db.session.add(user)
        db.session.flush()
        record_event(actor=actor, action="create_user", subject=user, to_state=role.value)
    return user
