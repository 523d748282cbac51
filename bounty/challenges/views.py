"""Challenge pages: list, detail, posting, editing; bids and milestones."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from ..extensions import db
from . import services
from .models import Challenge

bp = Blueprint("challenges", __name__, url_prefix="/challenges")


def get_challenge(challenge_id: int) -> Challenge:
    """Load a challenge the current user may see; 404 otherwise, so ids reveal nothing."""
    challenge = db.session.get(Challenge, challenge_id)
    if challenge is None or not services.can_view_challenge(challenge, current_user):
        abort(404)
    return challenge


@bp.route("/<int:challenge_id>")
def detail(challenge_id: int):
    """A challenge's public page (never its bids)."""
    challenge = get_challenge(challenge_id)
    return render_template("challenges/detail.html", challenge=challenge)
