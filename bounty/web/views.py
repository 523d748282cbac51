"""Home page and site-wide pages."""

from __future__ import annotations

from flask import (
    Blueprint,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..challenges import services
from ..challenges.models import ChallengeState, Industry
from ..extensions import db
from ..inputs import safe_redirect_target

bp = Blueprint("web", __name__)


@bp.route("/")
def home():
    """Home: the newest open challenges, figures and ways in."""
    open_challenges = db.session.execute(
        services.public_challenges_query(states=[ChallengeState.open]).limit(10)
    ).scalars().all()
    return render_template("web/home.html", challenges=open_challenges,
                           counts=services.public_counts(), industries=list(Industry))


@bp.route("/favicon.ico")
def favicon():
    """Browsers and tools that ask for /favicon.ico get the site icon (no 404 in the log)."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    """Switch the interface language (stored in a cookie, and on the user if logged in).

    A POST with the CSRF token: a link or an image elsewhere must not change an account.
    """
    if code not in ("zh_CN", "en"):
        code = "zh_CN"
    if current_user.is_authenticated:
        current_user.locale = code
        db.session.commit()
    target = safe_redirect_target(request.referrer, url_for("web.home"))
    response = make_response(redirect(target))
    response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
