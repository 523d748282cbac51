"""Accounts: passwords, login throttling, users created by admins or the CLI."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit import record_event
from ..errors import DomainError, InvalidField, NotFound, PermissionDenied
from ..extensions import db
from ..signals import (
    organization_saved,
    registration_repeated,
    registration_requested,
    user_registered,
)
from ..timeutil import utcnow
from ..transactions import atomic
from .memberships import end_membership, record_membership
from .models import MembershipStatus, Organization, OrgKind, Role, User
from .passwords import check_password_strength
from .uscc import (
    REASON_CHARACTER,
    REASON_CHECK,
    REASON_LENGTH,
    REASON_PREFIX,
    USCCError,
    clean_uscc,
    validate_uscc,
)

# scrypt with werkzeug's defaults (n=2**15, r=8, p=1): a slow, memory-hard KDF.
PASSWORD_METHOD = "scrypt"


def _password_method() -> str:
    # Tests set a cheaper scrypt cost (PASSWORD_HASH_METHOD); production keeps the default.
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", PASSWORD_METHOD)
    return PASSWORD_METHOD


_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    """Compared against when the email is unknown, so both paths cost the same time."""
    method = _password_method()
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("not-a-real-password", method=method)
    return _DUMMY_HASHES[method]


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=_password_method())


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        sa.select(User).where(sa.func.lower(User.email) == normalize_email(email))
    ).scalar_one_or_none()


class AccountNotActive(DomainError):
    """The password was right but the account may not log in (pending, refused, disabled)."""

    status_code = 403


def authenticate(email: str, password: str) -> User | None:
    """Return the user for a correct email and password, else None.

    An unknown email and a wrong password look the same to the caller (and cost
    the same time). Failures are throttled per client address by the view
    (throttling.py), never by a lock on the account. A right password for an
    account that may not log in raises :class:`AccountNotActive`: only someone who
    knows the password learns why.
    """
    user = find_user_by_email(email)
    valid = check_password_hash(user.password_hash if user else _dummy_hash(), password or "")
    if user is not None and valid:
        if not user.is_active:
            raise AccountNotActive(inactive_reason(user))
        return user
    return None


def inactive_reason(user: User) -> str:
    """Why a user whose password was right may not log in."""
    if user.is_disabled:
        return str(_l("该账号已被停用，如有疑问请联系平台管理员。"))
    if user.membership == MembershipStatus.pending:
        return str(_l("您的加入申请正在等待本单位已有成员审核，审核通过后即可登录。"))
    return str(_l("您的加入申请未获本单位通过，无法登录。"))


def _rotate_session_token(user: User) -> None:
    user.session_token = secrets.token_hex(16)


def end_session(user: User) -> None:
    """Rotate the session token so every cookie issued before is refused from now on."""
    with atomic():
        _rotate_session_token(user)


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


def check_email(email: str, field: str = "email", *, must_be_free: bool = True) -> str:
    """The normalised email, or InvalidField when it is malformed or (``must_be_free``)
    already registered."""
    email = normalize_email(email)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidField(str(_l("邮箱格式不正确。")), field) from exc
    if must_be_free and find_user_by_email(email) is not None:
        raise InvalidField(str(_l("该邮箱已注册。")), field)
    return email


def check_password(password: str, field: str = "password") -> None:
    problem = check_password_strength(password)
    if problem:
        raise InvalidField(problem, field)


STAFF_ORG_KINDS = {Role.reviewer: OrgKind.government, Role.admin: OrgKind.platform}


def _check_staff_org(role: Role, organization: Organization | None) -> None:
    expected = STAFF_ORG_KINDS.get(role)
    if expected is not None and organization is not None and organization.kind != expected:
        if role == Role.reviewer:
            raise InvalidField(str(_l("审核员须属于政府部门。")), "organization")
        raise InvalidField(str(_l("管理员须属于平台运营方。")), "organization")


def _add_user(*, email: str, name: str, password: str, role: Role,
              organization: Organization | None, actor: User | None,
              membership: MembershipStatus) -> User:
    user = User(email=email, name=name.strip(), password_hash=hash_password(password),
                role=role, organization=organization, membership=membership)
    db.session.add(user)
    db.session.flush()
    record_event(actor=actor, action="create_user", subject=user, to_state=role.value)
    if organization is not None:
        record_membership(user, organization.id)
    return user


def create_user(*, email: str, name: str, password: str, role: Role,
                organization: Organization | None = None, actor: User | None = None,
                membership: MembershipStatus = MembershipStatus.active) -> User:
    """Create a user after checking the email is free and the password is strong enough.

    Reviewers belong to a government body and admins to the platform operator
    (when an organisation is given). Raises InvalidField naming the field at fault.
    """
    email = check_email(email)
    if not (name or "").strip():
        raise InvalidField(str(_l("请填写姓名。")), "name")
    check_password(password)
    _check_staff_org(role, organization)
    with atomic(str(_l("该邮箱已注册。"))):
        user = _add_user(email=email, name=name, password=password, role=role,
                         organization=organization, actor=actor, membership=membership)
    return user


# --------------------------------------------------------------------------- USCC


KIND_LABELS = {
    OrgKind.enterprise: _l("企业"),
    OrgKind.institute: _l("高校 / 科研院所"),
    OrgKind.government: _l("政府部门"),
    OrgKind.platform: _l("平台运营方"),
}


ROLE_LABELS = {
    Role.enterprise: _l("企业用户"),
    Role.institute: _l("高校 / 科研院所用户"),
    Role.reviewer: _l("审核员"),
    Role.admin: _l("管理员"),
}


def uscc_problem(code: str, kind: OrgKind | str | None = None) -> str | None:
    """None for a valid USCC whose prefix agrees with ``kind``, else the reason in Chinese.

    The check itself is validate_uscc's; this only words its reasons for people.
    """
    try:
        implied = validate_uscc(code or "")
    except USCCError as exc:
        if exc.reason == REASON_LENGTH:
            return str(_l("统一社会信用代码应为 18 位，您输入了 %(n)d 位。",
                          n=exc.details["length"]))
        if exc.reason == REASON_CHARACTER:
            return str(_l("第 %(pos)d 位“%(char)s”不是合法字符（只能是数字和除 I、O、S、V、Z "
                          "以外的大写字母）。", pos=exc.details["position"],
                          char=exc.details["char"]))
        if exc.reason == REASON_CHECK:
            return str(_l("校验位不正确，请核对统一社会信用代码是否输入有误。"))
        if exc.reason == REASON_PREFIX:
            return str(_l("前两位“%(prefix)s”不是已知的登记管理部门和机构类别代码。",
                          prefix=exc.details["prefix"]))
        return str(_l("统一社会信用代码无效。"))
    if kind is not None and OrgKind(kind) != OrgKind(implied):
        return str(_l("该代码属于%(implied)s，与所选单位类型“%(kind)s”不符（企业以 91/92/93 开头，"
                      "高校和科研院所以 12、52 等开头）。",
                      implied=KIND_LABELS[OrgKind(implied)], kind=KIND_LABELS[OrgKind(kind)]))
    return None


def normalize_uscc(code: str) -> str:
    return clean_uscc(code)


def find_organization_by_uscc(code: str) -> Organization | None:
    return db.session.execute(
        sa.select(Organization).where(Organization.uscc == normalize_uscc(code))
    ).scalar_one_or_none()


# --------------------------------------------------------------------------- registration

SELF_REGISTERED_KINDS = (OrgKind.enterprise, OrgKind.institute)


@dataclass
class RegistrationData:
    """What the registration form collects: the person and their organisation."""

    name: str
    email: str
    password: str
    org_name: str
    kind: OrgKind | str
    uscc: str
    region: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    expertise: str = ""
    keywords: str = ""


def _check_registration(data: RegistrationData, *, email_free: bool = True,
                        password_checked: bool = False) -> tuple[OrgKind, str, str,
                                                                 Organization | None]:
    """(kind, email, USCC, the organisation it names if known), or InvalidField."""
    try:
        kind = OrgKind(data.kind)
    except ValueError:
        kind = None
    if kind not in SELF_REGISTERED_KINDS:
        raise InvalidField(str(_l("只能注册为企业或高校 / 科研院所用户。")), "kind")
    if not (data.name or "").strip():
        raise InvalidField(str(_l("请填写姓名。")), "name")
    email = check_email(data.email, must_be_free=email_free)
    if not password_checked:
        check_password(data.password)
    problem = uscc_problem(data.uscc, kind)
    if problem:
        raise InvalidField(problem, "uscc")
    code = normalize_uscc(data.uscc)
    organization = find_organization_by_uscc(code)
    if organization is not None and organization.kind != kind:
        raise InvalidField(str(_l("该统一社会信用代码已登记，但单位类型与所选不符。")), "uscc")
    if organization is None and not (data.org_name or "").strip():
        raise InvalidField(str(_l("请填写单位名称。")), "org_name")
    return kind, email, code, organization


REGISTRATION_SALT = "bounty-registration"


def request_registration(data: RegistrationData, *, secret_key: str,
                         locale: str = "zh_CN") -> None:
    """Check a registration, then mail its address, whether or not it has an account.

    A free address is sent a link that completes the registration (``token``,
    signed with ``secret_key``, carrying the form and the password's hash); an
    address with an account has its owner told that someone tried. The caller
    answers the same in both cases, so the form never tells who has an account.
    Raises InvalidField for anything else at fault, as :func:`register`.
    """
    _kind, email, _code, _organization = _check_registration(data, email_free=False)
    existing = find_user_by_email(email)
    if existing is not None:
        registration_repeated.send(existing, locale=locale)
        return
    fields = {k: v for k, v in vars(data).items() if k != "password"}
    fields.update(email=email, password_hash=hash_password(data.password),
                  kind=OrgKind(data.kind).value)
    token = URLSafeTimedSerializer(secret_key, salt=REGISTRATION_SALT).dumps(fields)
    registration_requested.send(email, token=token, locale=locale)


def complete_registration(token: str, *, secret_key: str, max_age: int) -> User:
    """Register from a mailed ``token`` (see :func:`request_registration`)."""
    try:
        fields = URLSafeTimedSerializer(secret_key, salt=REGISTRATION_SALT).loads(
            token, max_age=max_age)
    except SignatureExpired as exc:
        raise DomainError(str(_l("注册链接已过期，请重新注册。"))) from exc
    except BadSignature as exc:
        raise DomainError(str(_l("注册链接无效。"))) from exc
    password_hash = fields.pop("password_hash")
    return register(RegistrationData(password="", **fields), password_hash=password_hash)


def register(data: RegistrationData, *, password_hash: str | None = None) -> User:
    """Register an enterprise or institute user together with their organisation.

    A new USCC creates an unverified organisation whose first user is an active
    member. A known USCC makes the user a *pending* member, who may log in only
    after an active member approves. ``password_hash`` is the password already
    checked and hashed (a mailed registration). Raises InvalidField naming the field
    at fault.
    """
    kind, email, code, organization = _check_registration(
        data, password_checked=password_hash is not None)
    role = Role(kind.value)
    conflict = str(_l("该邮箱或单位刚刚被注册，请检查后重试。"))
    with atomic(conflict):
        created = organization is None
        if created:
            organization = Organization(
                name=data.org_name.strip(), kind=kind, uscc=code, region=data.region.strip(),
                contact_name=data.contact_name.strip(),
                contact_phone=data.contact_phone.strip(),
                expertise=data.expertise.strip() if kind == OrgKind.institute else "",
                keywords=data.keywords.strip() if kind == OrgKind.institute else "",
            )
            db.session.add(organization)
            db.session.flush()
        membership = MembershipStatus.active if created else MembershipStatus.pending
        user = User(email=email, name=data.name.strip(),
                    password_hash=password_hash or hash_password(data.password),
                    role=role, organization=organization, membership=membership)
        db.session.add(user)
        db.session.flush()
        if created:
            record_event(actor=user, action="register_organization", subject=organization,
                         to_state="unverified", comment=organization.uscc)
            organization_saved.send(organization, actor=user)
        record_event(actor=user, action="register", subject=user, to_state=membership.value,
                     comment=organization.uscc)
        record_membership(user, organization.id)
        user_registered.send(user)
    return user


# --------------------------------------------------------------------------- members


def can_manage_members(actor: User | None, organization: Organization | None) -> bool:
    return bool(actor is not None and organization is not None and actor.is_active
                and actor.belongs_to(organization.id))


def members_of(organization: Organization) -> list[User]:
    return list(db.session.execute(
        sa.select(User).where(User.organization_id == organization.id).order_by(User.id)
    ).scalars())


def decide_membership(member: User, actor: User, approve: bool) -> User:
    """An active member of the same organisation approves or refuses a pending member.

    :param member: the pending user.
    :param actor: the deciding user.
    :param approve: True to approve, False to refuse.
    """
    if not can_manage_members(actor, member.organization):
        raise PermissionDenied(str(_l("只有本单位的成员可以审核加入申请。")))
    if member.membership != MembershipStatus.pending:
        raise DomainError(str(_l("该申请已处理，无需重复操作。")))
    target = MembershipStatus.active if approve else MembershipStatus.refused
    with atomic():
        previous = member.membership
        member.membership = target
        _rotate_session_token(member)
        record_event(actor=actor, action="approve_member" if approve else "refuse_member",
                     subject=member, from_state=previous.value, to_state=target.value)
        if not approve:
            end_membership(member, member.organization_id)
    return member


# --------------------------------------------------------------------------- profile


def update_profile(user: User, *, name: str, locale: str) -> User:
    """Change the user's display name and interface language."""
    if not (name or "").strip():
        raise InvalidField(str(_l("请填写姓名。")), "name")
    if locale not in ("zh_CN", "en"):
        raise InvalidField(str(_l("不支持该语言。")), "locale")
    with atomic():
        user.name = name.strip()
        user.locale = locale
    return user


def change_password(user: User, current: str, new: str) -> User:
    """Set a new password after checking the current one; every other session ends."""
    if not check_password_hash(user.password_hash, current or ""):
        raise InvalidField(str(_l("当前密码不正确。")), "current_password")
    check_password(new, field="new_password")
    if check_password_hash(user.password_hash, new):
        raise InvalidField(str(_l("新密码不能与当前密码相同。")), "new_password")
    with atomic():
        user.password_hash = hash_password(new)
        _rotate_session_token(user)
        record_event(actor=user, action="change_password", subject=user)
    return user


def update_expertise(organization: Organization, actor: User, *, expertise: str,
                     keywords: str) -> Organization:
    """An institute member edits the organisation's expertise profile (feeds matching)."""
    if organization.kind != OrgKind.institute or not can_manage_members(actor, organization):
        raise PermissionDenied(str(_l("只有高校 / 科研院所的成员可以修改本单位的研究专长。")))
    with atomic():
        organization.expertise = (expertise or "").strip()
        organization.keywords = " ".join((keywords or "").replace("，", " ").replace(",", " ")
                                         .split())
        record_event(actor=actor, action="edit_organization", subject=organization)
        organization_saved.send(organization, actor=actor)
    return organization


# --------------------------------------------------------------------------- administration


def _require_admin(actor: User | None) -> None:
    if actor is None or not actor.is_admin:
        raise PermissionDenied(str(_l("只有平台管理员可以执行此操作。")))


def verify_organization(organization: Organization, actor: User,
                        now: datetime | None = None) -> Organization:
    """An admin verifies an organisation; from then on its members may submit."""
    _require_admin(actor)
    if organization.is_verified:
        raise DomainError(str(_l("该单位已通过认证。")))
    with atomic():
        organization.verified_at = now or utcnow()
        record_event(actor=actor, action="verify_organization", subject=organization,
                     from_state="unverified", to_state="verified")
        organization_saved.send(organization, actor=actor)
    return organization


@dataclass
class GovernmentOrgData:
    name: str
    uscc: str
    region: str = ""


def create_staff_user(actor: User, *, email: str, name: str, password: str, role: Role,
                      organization: Organization | None = None,
                      new_org: GovernmentOrgData | None = None) -> User:
    """An admin creates a reviewer (in a government body) or an admin (in the platform).

    :param organization: an existing government (reviewer) or platform (admin) organisation.
    :param new_org: for a reviewer, a government body to create instead (verified at once).
    """
    _require_admin(actor)
    role = Role(role)
    if role not in STAFF_ORG_KINDS:
        raise InvalidField(str(_l("这里只能创建审核员或管理员。")), "role")
    email = check_email(email)
    if not (name or "").strip():
        raise InvalidField(str(_l("请填写姓名。")), "name")
    check_password(password)
    if new_org is not None:
        if role != Role.reviewer:
            raise InvalidField(str(_l("只能为审核员新建政府部门。")), "organization")
        if not new_org.name.strip():
            raise InvalidField(str(_l("请填写政府部门名称。")), "new_org_name")
        problem = uscc_problem(new_org.uscc, OrgKind.government)
        if problem:
            raise InvalidField(problem, "new_org_uscc")
        if find_organization_by_uscc(new_org.uscc) is not None:
            raise InvalidField(str(_l("该统一社会信用代码已登记。")), "new_org_uscc")
    elif organization is None:
        raise InvalidField(str(_l("请选择所属单位。")), "organization")
    else:
        _check_staff_org(role, organization)
    with atomic(str(_l("该邮箱或单位刚刚被注册，请检查后重试。"))):
        if new_org is not None:
            organization = Organization(name=new_org.name.strip(), kind=OrgKind.government,
                                        uscc=normalize_uscc(new_org.uscc),
                                        region=new_org.region.strip(), verified_at=utcnow())
            db.session.add(organization)
            db.session.flush()
            record_event(actor=actor, action="create_organization", subject=organization,
                         to_state="verified", comment=organization.uscc)
        user = _add_user(email=email, name=name, password=password, role=role,
                         organization=organization, actor=actor,
                         membership=MembershipStatus.active)
    return user


def set_user_disabled(user: User, actor: User, disabled: bool = True) -> User:
    """An admin disables (or re-enables) a user; disabling ends all their sessions."""
    _require_admin(actor)
    if user.id == actor.id:
        raise DomainError(str(_l("不能停用自己的账号。")))
    if user.is_disabled == disabled:
        raise DomainError(str(_l("该账号已是此状态。")))
    with atomic():
        user.is_disabled = disabled
        _rotate_session_token(user)
        record_event(actor=actor, action="disable_user" if disabled else "enable_user",
                     subject=user, from_state="enabled" if disabled else "disabled",
                     to_state="disabled" if disabled else "enabled")
    return user


def staff_organizations() -> list[Organization]:
    """Government bodies and platform organisations, for the admin's user form."""
    return list(db.session.execute(
        sa.select(Organization)
        .where(Organization.kind.in_((OrgKind.government, OrgKind.platform)))
        .order_by(Organization.kind, Organization.name)
    ).scalars())


# The admin lists, newest first: their keyset pages seek on these columns (indexed).
ORGANIZATION_ORDER = (Organization.created_at, Organization.id)
USER_ORDER = (User.created_at, User.id)


def organizations_query(unverified_only: bool = False) -> sa.Select:
    """Every organisation (or the unverified ones), unsorted: pages sort by ORGANIZATION_ORDER."""
    query = sa.select(Organization)
    if unverified_only:
        query = query.where(Organization.verified_at.is_(None))
    return query


def users_query() -> sa.Select:
    """Every user with their organisation, unsorted: pages sort by USER_ORDER."""
    return sa.select(User).options(selectinload(User.organization))


def get_organization(organization_id: int) -> Organization:
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(str(_l("单位不存在。")))
    return organization


# --------------------------------------------------------------------------- public page


def public_challenges_of(organization: Organization) -> list:
    """What an organisation's public page lists, never bids.

    An enterprise: its published challenges. An institute: the challenges whose
    award to it a reviewer has confirmed.
    """
    from ..challenges.models import PUBLIC_STATES, Bid, Challenge, ChallengeState

    if organization.kind == OrgKind.enterprise:
        query = sa.select(Challenge).where(Challenge.organization_id == organization.id,
                                           Challenge.state.in_(PUBLIC_STATES))
    elif organization.kind == OrgKind.institute:
        awarded = (ChallengeState.in_progress, ChallengeState.acceptance_review,
                   ChallengeState.completed)
        query = (sa.select(Challenge)
                 .join(Bid, Bid.id == Challenge.winning_bid_id)
                 .where(Bid.organization_id == organization.id, Challenge.state.in_(awarded)))
    else:
        return []
    return list(db.session.execute(
        query.order_by(Challenge.published_at.desc(), Challenge.id.desc())
    ).scalars())
