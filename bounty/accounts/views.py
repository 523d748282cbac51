"""Login, logout and account pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import login_manager
from . import services
from .forms import LoginForm

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


@login_manager.user_loader
def _load_user(user_id: str):
    return services.load_user(user_id)


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/"):
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with email and password."""
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data,
                form.password.data,
                max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                lock_seconds=current_app.config["LOGIN_LOCK_SECONDS"],
            )
        except services.LoginThrottled as exc:
            form.email.errors.append(exc.message)
            return render_template("accounts/login.html", form=form), 429
        if user is None:
            form.password.errors.append(_("邮箱或密码不正确。"))
            return render_template("accounts/login.html", form=form), 200
        login_user(user)
        flash(_("欢迎回来，%(name)s。", name=user.name), "success")
        return redirect(_safe_next(request.args.get("next")))
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out: the session token is rotated, so old cookies stop working."""
    services.end_session(current_user._get_current_object())
    logout_user()
    flash(_("您已退出登录。"), "success")
    return redirect(url_for("web.home"))
