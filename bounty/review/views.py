"""Reviewer queues and decision pages (审题, 揭榜结果审核, 验收)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.permissions import reviewer_required
from ..challenges.models import Challenge
from ..challenges.services import visible_bids
from ..challenges.views import get_challenge
from ..errors import DomainError
from ..extensions import db
from ..matching import similarity
from . import assignment, blind, decisions, items, scoring, separation, services, stages
from .forms import DecisionForm
from .models import Outcome, StageKey

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.record_once
def _check_separation(state) -> None:
    # A mistyped stage in REVIEW_SEPARATED_STAGES stops the start, not the first decision.
    separation.parse_groups(state.app.config.get("REVIEW_SEPARATED_STAGES"))


@bp.app_template_global("decision_bar")
def _decision_bar(item):
    """Why the current reviewer cannot decide this item now, and who can (None: they can)."""
    return assignment.decision_bar(item, current_user._get_current_object())


@bp.app_template_global("can_view_decisions")
def _can_view_decisions(challenge: Challenge, user) -> bool:
    return services.can_view_decisions(challenge, user)


@bp.app_template_global("review_decisions")
def _review_decisions(challenge: Challenge):
    return decisions.decisions_for(challenge)


@bp.app_template_global("review_stage_for")
def _review_stage_for(challenge: Challenge, user) -> StageKey | None:
    """The stage at which this user may decide on the challenge now, if any."""
    return services.stage_of(challenge) if user.can_review() else None


@bp.app_template_global("blind_review")
def _blind_review(challenge: Challenge) -> bool:
    """Does the current user see this challenge's bids anonymised (方案 A/B/C)?"""
    return blind.is_blind_for(challenge, current_user)


@bp.app_template_global("bidder_name")
def _bidder_name(bid) -> str:
    """The bidder's organisation, or "方案A" for a reviewer at a blind stage."""
    if blind.is_blind_for(bid.challenge, current_user):
        return blind.alias(bid)
    return bid.organization.name


@bp.app_template_global("attachment_label")
def _attachment_label(attachment) -> str:
    return blind.attachment_name(attachment, current_user)


def get_stage(value: str) -> StageKey:
    try:
        return StageKey(value)
    except ValueError:
        abort(404)


@bp.route("/")
@reviewer_required
def index():
    """Counts per stage, each linking to the task queue at that stage."""
    return render_template("review/index.html", counts=items.waiting_counts())


@bp.route("/queue/<stage>")
@reviewer_required
def queue(stage: str):
    """The old per-stage queue: the task queue, at that stage."""
    return redirect(url_for("workbench.tasks", stage=get_stage(stage).value))


@bp.route("/challenges/<int:challenge_id>", methods=["GET", "POST"])
@reviewer_required
def decision(challenge_id: int):
    """Everything a reviewer needs to decide, and the decision form."""
    challenge = get_challenge(challenge_id)
    stage = services.stage_of(challenge)
    form = DecisionForm()
    if form.is_submitted():
        if not form.validate() or not form.stage.data:
            return _render_decision(challenge, stage, form), 422
        posted_stage = form.posted_stage()
        try:
            decisions.decide(challenge, current_user._get_current_object(),
                             Outcome(form.outcome.data), form.comment.data or "",
                             form.version_number(), stage=posted_stage)
        except DomainError as exc:
            # Refused: nothing was written. If the challenge moved on (a stale page, a
            # repeated POST, a lost race), there is nothing left to decide here: say so.
            db.session.rollback()
            db.session.refresh(challenge)
            if services.stage_of(challenge) != posted_stage:
                flash(exc.message, "error")
                return redirect(url_for(".decision", challenge_id=challenge.id))
            # Still at this stage (a rule refused it): the page says why, with the
            # reviewer's comment still typed in.
            form.version.data = str(challenge.version)
            return _render_decision(challenge, stage, form, refusal=form.refusal(exc)), \
                exc.status_code
        flash(_("已提交审核结论：%(stage)s — %(outcome)s。", stage=posted_stage.label,
                outcome=Outcome(form.outcome.data).label), "success")
        return redirect(url_for(".queue", stage=posted_stage.value))
    if stage is not None:
        form.stage.data = stage.value
        form.version.data = str(challenge.version)
    return _render_decision(challenge, stage, form)


def _render_decision(challenge: Challenge, stage: StageKey | None, form: DecisionForm,
                     refusal: str | None = None) -> str:
    user = current_user._get_current_object()
    bids = visible_bids(challenge, user) if stage is not None else []
    workbench = {}
    if stage is not None:
        key = stage
        config = stages.get_stage(key)
        round_no = scoring.current_round(challenge, key)
        sheets = scoring.sheets_of(challenge, key, round_no)
        can_see = scoring.can_see_scores(challenge, key, round_no, user)
        workbench = {
            "config": config,
            "progress": assignment.approvals_progress(challenge),
            "tasks": [t for t in assignment.round_tasks(challenge, key) if t.round == round_no],
            # who may decide here may score here (bounty.review.scoring.submit_scores)
            "score_problem": assignment.decision_problem(challenge, key, user),
            "bar": assignment.decision_bar(challenge, user),
            "own_sheet": scoring.own_sheet(challenge, key, round_no, user),
            "sheet_count": len(sheets),
            "summary": scoring.summarize(sheets) if can_see else None,
        }
    return render_template(
        "review/decision.html",
        challenge=challenge,
        stage=stage,
        form=form,
        refusal=refusal,
        bids=bids,
        winning_bid=challenge.winning_bid,
        Stage=StageKey,
        blind=blind.is_blind_for(challenge, user),
        # 相似榜单 while vetting, 方案雷同 while confirming the award (None: no section)
        similar=(similarity.similar_challenges(challenge, user)
                 if stage == StageKey.vetting else None),
        copies=similarity.bid_copies(challenge, user) if stage == StageKey.award else None,
        **workbench,
    )
