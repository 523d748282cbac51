"""Login, registration, profile, organisation members, administration, organisation pages."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..errors import DomainError
from ..extensions import csrf, db, login_manager
from ..form_errors import show_error
from ..inputs import safe_redirect_target
from ..keyset import keyset_page
from . import services
from .forms import (
    NEW_GOVERNMENT_ORG,
    ExpertiseForm,
    LoginForm,
    PasswordChangeForm,
    ProfileForm,
    RegistrationForm,
    StaffUserForm,
)
from .models import MembershipStatus, Organization, OrgKind, Role, User
from .permissions import admin_required
from .throttling import login_limits, password_limit, register_limit

# No url_prefix: account pages live under /accounts, organisation pages under /orgs.
bp = Blueprint("accounts", __name__)

INVALID_FORM = 422


@login_manager.user_loader
def _load_user(user_id: str):
    return services.load_user(user_id)


def _safe_next(target: str | None) -> str:
    """A local path to go to after login; anything that could leave the site goes home."""
    return safe_redirect_target(target, url_for("web.home"))


def get_organization(organization_id: int) -> Organization:
    """Load an organisation or answer 404."""
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        abort(404)
    return organization


def get_user(user_id: int) -> User:
    """Load a user (for admins) or answer 404."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def get_pending_member(user_id: int) -> User:
    """A member of the current user's organisation; 404 for anyone else's, so ids reveal nothing."""
    member = db.session.get(User, user_id)
    if member is None or member.organization_id is None or \
            member.organization_id != current_user.organization_id:
        abort(404)
    return member


# --------------------------------------------------------------------------- login


@bp.route("/accounts/login", methods=["GET", "POST"])
@login_limits
def login():
    """Log in with email and password (failures throttled per address: throttling.py)."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except services.AccountNotActive as exc:
            form.form_errors.append(exc.message)
            return render_template("accounts/login.html", form=form), 403
        if user is None:
            form.password.errors.append(_("邮箱或密码不正确。"))
            return render_template("accounts/login.html", form=form), 200
        login_user(user)
        flash(_("欢迎回来，%(name)s。", name=user.name), "success")
        return redirect(_safe_next(request.args.get("next")))
    return render_template("accounts/login.html", form=form)


@bp.route("/accounts/logout", methods=["POST"])
@login_required
def logout():
    """Log out: the session token is rotated, so old cookies stop working."""
    services.end_session(current_user._get_current_object())
    logout_user()
    flash(_("您已退出登录。"), "success")
    return redirect(url_for("web.home"))


# --------------------------------------------------------------------------- registration


# The form checks its own CSRF token, so a stale or missing one re-renders the
# form with everything typed instead of the bare 400 page.
@csrf.exempt
@bp.route("/accounts/register", methods=["GET", "POST"])
@register_limit
def register():
    """Self-registration of an enterprise or institute user with their organisation."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.profile"))
    form = RegistrationForm()
    if form.validate_on_submit():
        data = services.RegistrationData(
            name=form.name.data, email=form.email.data, password=form.password.data,
            org_name=form.org_name.data, kind=form.kind.data, uscc=form.uscc.data,
            region=form.region.data or "", contact_name=form.contact_name.data or "",
            contact_phone=form.contact_phone.data or "", expertise=form.expertise.data or "",
            keywords=form.keywords.data or "",
        )
        try:
            services.request_registration(data, secret_key=current_app.secret_key,
                                          locale=str(get_locale() or "zh_CN"))
        except DomainError as exc:
            show_error(form, exc)
        else:
            # the same answer whether or not the address has an account
            flash(_("请查收邮件：我们已向 %(email)s 发送一封邮件，点击其中的链接即可完成注册"
                    "（24 小时内有效）。", email=services.normalize_email(data.email)), "info")
            return redirect(url_for("accounts.login"))
    status = INVALID_FORM if request.method == "POST" else 200
    return render_template("accounts/register.html", form=form), status


@bp.route("/accounts/register/confirm/<token>")
def confirm_registration(token: str):
    """The mailed link: the registration is made now, as the form asked."""
    try:
        user = services.complete_registration(
            token, secret_key=current_app.secret_key,
            max_age=current_app.config["BOUNTY_REGISTRATION_LINK_SECONDS"])
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("accounts.register"))
    if user.membership == MembershipStatus.pending:
        flash(_("注册已提交。该统一社会信用代码对应的单位已在平台登记，您的加入申请需由"
                "本单位已有成员审核；审核通过前暂不能登录。"), "info")
        return redirect(url_for("accounts.login"))
    login_user(user)
    if user.organization.kind == OrgKind.enterprise:
        flash(_("注册成功。贵单位尚待平台管理员认证：认证前可以保存榜单草稿，"
                "但不能提交审核。"), "success")
    else:
        flash(_("注册成功。贵单位尚待平台管理员认证：认证前可以浏览榜单、保存揭榜方案草稿，"
                "但不能提交揭榜方案。"), "success")
    return redirect(url_for("accounts.profile"))


# --------------------------------------------------------------------------- profile


def _render_profile(status: int = 200, **forms):
    user = current_user
    organization = user.organization
    forms.setdefault("profile_form", ProfileForm(prefix="profile", formdata=None, obj=user))
    forms.setdefault("password_form", PasswordChangeForm(prefix="pw", formdata=None))
    if organization is not None and organization.kind == OrgKind.institute:
        forms.setdefault("expertise_form",
                         ExpertiseForm(prefix="exp", formdata=None, obj=organization))
    else:
        forms["expertise_form"] = None
    return render_template("accounts/profile.html", user=user, organization=organization,
                           **forms), status


@bp.route("/accounts/profile", methods=["GET", "POST"])
@login_required
def profile():
    """The logged-in user's profile: name and language."""
    if request.method == "GET":
        return _render_profile()
    form = ProfileForm(prefix="profile")
    if form.validate_on_submit():
        try:
            services.update_profile(current_user._get_current_object(), name=form.name.data,
                                    locale=form.locale.data)
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("资料已保存。"), "success")
            return redirect(url_for("accounts.profile"))
    return _render_profile(INVALID_FORM, profile_form=form)


@bp.route("/accounts/profile/password", methods=["POST"])
@login_required
@password_limit
def change_password():
    """Change the password; every other session of this user ends."""
    form = PasswordChangeForm(prefix="pw")
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_password(user, form.current_password.data, form.new_password.data)
        except DomainError as exc:
            show_error(form, exc)
        else:
            # The token changed, so this session must be issued again too.
            login_user(user)
            flash(_("密码已修改，其他设备上的登录已失效。"), "success")
            return redirect(url_for("accounts.profile"))
    return _render_profile(INVALID_FORM, password_form=form)


@bp.route("/accounts/profile/expertise", methods=["POST"])
@login_required
def edit_expertise():
    """An institute member edits the organisation's expertise and keywords."""
    organization = current_user.organization
    if organization is None or organization.kind != OrgKind.institute:
        abort(403)
    form = ExpertiseForm(prefix="exp")
    if form.validate_on_submit():
        try:
            services.update_expertise(organization, current_user._get_current_object(),
                                      expertise=form.expertise.data or "",
                                      keywords=form.keywords.data or "")
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("研究专长已保存。"), "success")
            return redirect(url_for("accounts.profile"))
    return _render_profile(INVALID_FORM, expertise_form=form)


# --------------------------------------------------------------------------- members


@bp.route("/accounts/members")
@login_required
def members():
    """单位成员: the organisation's members; pending ones can be approved or refused."""
    organization = current_user.organization
    if organization is None:
        abort(404)
    people = services.members_of(organization)
    return render_template(
        "accounts/members.html", organization=organization,
        pending=[u for u in people if u.membership == MembershipStatus.pending],
        people=[u for u in people if u.membership != MembershipStatus.pending],
    )


@bp.route("/accounts/members/<int:user_id>/approve", methods=["POST"])
@login_required
def approve_member(user_id: int):
    """Approve a pending member."""
    member = get_pending_member(user_id)
    services.decide_membership(member, current_user._get_current_object(), approve=True)
    flash(_("已同意 %(name)s 加入本单位。", name=member.name), "success")
    return redirect(url_for("accounts.members"))


@bp.route("/accounts/members/<int:user_id>/refuse", methods=["POST"])
@login_required
def refuse_member(user_id: int):
    """Refuse a pending member."""
    member = get_pending_member(user_id)
    services.decide_membership(member, current_user._get_current_object(), approve=False)
    flash(_("已拒绝 %(name)s 的加入申请。", name=member.name), "success")
    return redirect(url_for("accounts.members"))


# --------------------------------------------------------------------------- administration


ADMIN_PER_PAGE = 30


@bp.route("/accounts/admin/organizations")
@admin_required
def admin_organizations():
    """单位认证: every organisation, optionally only the unverified ones."""
    unverified = request.args.get("filter") == "unverified"
    page = keyset_page(services.organizations_query(unverified_only=unverified),
                       services.ORGANIZATION_ORDER, ADMIN_PER_PAGE)
    return render_template("accounts/admin_organizations.html", page=page,
                           unverified=unverified, kind_labels=services.KIND_LABELS)


@bp.route("/accounts/admin/organizations/<int:organization_id>/verify", methods=["POST"])
@admin_required
def verify_organization(organization_id: int):
    """Verify an organisation."""
    organization = get_organization(organization_id)
    services.verify_organization(organization, current_user._get_current_object())
    flash(_("已认证 %(name)s。", name=organization.name), "success")
    return redirect(url_for("accounts.admin_organizations",
                            filter=request.form.get("filter") or None))


@bp.route("/accounts/admin/users")
@admin_required
def admin_users():
    """用户管理: every user, newest first."""
    page = keyset_page(services.users_query(), services.USER_ORDER, ADMIN_PER_PAGE)
    return render_template("accounts/admin_users.html", page=page,
                           role_labels=services.ROLE_LABELS)


@bp.route("/accounts/admin/users/new", methods=["GET", "POST"])
@admin_required
def admin_create_user():
    """Create a reviewer (in a government body) or an admin (in the platform)."""
    form = StaffUserForm()
    form.set_organizations(services.staff_organizations())
    if form.validate_on_submit():
        new_org = organization = None
        if form.organization.data == NEW_GOVERNMENT_ORG:
            new_org = services.GovernmentOrgData(name=form.new_org_name.data or "",
                                                 uscc=form.new_org_uscc.data or "",
                                                 region=form.new_org_region.data or "")
        else:
            organization = get_organization(form.organization.data)
        try:
            user = services.create_staff_user(
                current_user._get_current_object(), email=form.email.data, name=form.name.data,
                password=form.password.data, role=Role(form.role.data),
                organization=organization, new_org=new_org)
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("已创建用户 %(email)s。", email=user.email), "success")
            return redirect(url_for("accounts.admin_users"))
    status = INVALID_FORM if request.method == "POST" else 200
    return render_template("accounts/admin_user_new.html", form=form), status


@bp.route("/accounts/admin/users/<int:user_id>/disable", methods=["POST"])
@admin_required
def disable_user(user_id: int):
    """Disable a user: they cannot log in and their sessions end."""
    user = get_user(user_id)
    services.set_user_disabled(user, current_user._get_current_object(), disabled=True)
    flash(_("已停用 %(email)s。", email=user.email), "success")
    return redirect(url_for("accounts.admin_users"))


@bp.route("/accounts/admin/users/<int:user_id>/enable", methods=["POST"])
@admin_required
def enable_user(user_id: int):
    """Re-enable a disabled user."""
    user = get_user(user_id)
    services.set_user_disabled(user, current_user._get_current_object(), disabled=False)
    flash(_("已启用 %(email)s。", email=user.email), "success")
    return redirect(url_for("accounts.admin_users"))


# --------------------------------------------------------------------------- public pages


@bp.route("/orgs/<int:organization_id>")
def organization(organization_id: int):
    """An organisation's public page: who it is and its public challenges (never bids)."""
    org = get_organization(organization_id)
    return render_template("accounts/organization.html", organization=org,
                           challenges=services.public_challenges_of(org),
                           kind_label=services.KIND_LABELS[org.kind])
