"""Reviewer queues and decision pages (审题, 揭榜结果审核, 验收)."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..challenges.models import Challenge
from ..challenges.services import can_view_challenge, visible_bids
from ..errors import DomainError
from ..extensions import db
from . import services
from .forms import DecisionForm
from .models import Outcome, Stage

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.app_template_global("can_view_decisions")
def _can_view_decisions(challenge: Challenge, user) -> bool:
    return services.can_view_decisions(challenge, user)


@bp.app_template_global("review_decisions")
def _review_decisions(challenge: Challenge):
    return services.decisions_for(challenge)


@bp.app_template_global("review_stage_for")
def _review_stage_for(challenge: Challenge, user) -> Stage | None:
    """The stage at which this user may decide on the challenge now, if any."""
    return services.stage_of(challenge) if services.can_decide(user) else None


def reviewer_required(view):
    """Anonymous users go to the login page; everyone but reviewers gets 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not services.can_decide(current_user):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def get_stage(value: str) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        abort(404)


def get_review_challenge(challenge_id: int) -> Challenge:
    """Load a challenge a reviewer may see (never a draft); 404 otherwise."""
    challenge = db.session.get(Challenge, challenge_id)
    if challenge is None or not can_view_challenge(challenge, current_user):
        abort(404)
    return challenge


@bp.route("/")
@reviewer_required
def index():
    """Counts per stage, each linking to its queue."""
    return render_template("review/index.html", counts=services.queue_counts())


@bp.route("/queue/<stage>")
@reviewer_required
def queue(stage: str):
    """Challenges waiting at one stage, oldest first."""
    stage_ = get_stage(stage)
    return render_template("review/queue.html", stage=stage_, challenges=services.queue(stage_),
                           counts=services.queue_counts())


@bp.route("/challenges/<int:challenge_id>", methods=["GET", "POST"])
@reviewer_required
def decision(challenge_id: int):
    """Everything a reviewer needs to decide, and the decision form."""
    challenge = get_review_challenge(challenge_id)
    stage = services.stage_of(challenge)
    form = DecisionForm()
    if form.is_submitted():
        if not form.validate():
            return _render_decision(challenge, stage, form), 422
        posted_stage = Stage(form.stage.data)
        try:
            services.decide(challenge, posted_stage, Outcome(form.outcome.data),
                            current_user._get_current_object(), form.comment.data or "")
        except DomainError as exc:
            # A stale page, a repeated POST or a lost race: nothing was written.
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for(".decision", challenge_id=challenge.id))
        flash(_("已提交审核结论：%(stage)s — %(outcome)s。", stage=posted_stage.label,
                outcome=Outcome(form.outcome.data).label), "success")
        return redirect(url_for(".queue", stage=posted_stage.value))
    if stage is not None:
        form.stage.data = stage.value
    return _render_decision(challenge, stage, form)


def _render_decision(challenge: Challenge, stage: Stage | None, form: DecisionForm) -> str:
    bids = visible_bids(challenge, current_user) if stage is not None else []
    return render_template(
        "review/decision.html",
        challenge=challenge,
        stage=stage,
        form=form,
        bids=bids,
        winning_bid=challenge.winning_bid,
        Stage=Stage,
    )
