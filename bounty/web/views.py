"""Home page and site-wide pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, make_response, redirect, render_template, request, url_for

from ..challenges.models import Challenge, ChallengeState
from ..extensions import db

bp = Blueprint("web", __name__)


@bp.route("/")
def home():
    """Home: the newest open challenges."""
    open_challenges = db.session.execute(
        sa.select(Challenge)
        .where(Challenge.state == ChallengeState.open)
        .order_by(Challenge.published_at.desc())
        .limit(10)
    ).scalars().all()
    return render_template("web/home.html", challenges=open_challenges)


@bp.route("/lang/<code>")
def set_language(code: str):
    """Switch the interface language (stored in a cookie, and on the user if logged in)."""
    from flask_login import current_user

    if code not in ("zh_CN", "en"):
        code = "zh_CN"
    if current_user.is_authenticated:
        current_user.locale = code
        db.session.commit()
    target = request.referrer if request.referrer and request.referrer.startswith(
        request.host_url) else url_for("web.home")
    response = make_response(redirect(target))
    response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
