"""Challenge pages: list, detail, posting, editing, my challenges, audit trail, downloads."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.models import Role
from ..errors import DomainError
from ..extensions import csrf, db
from ..form_errors import show_error
from ..inputs import visible_or_404
from . import attachments, services, uploads, workflow
from .forms import ChallengeForm
from .models import Attachment, Challenge, ChallengeState

bp = Blueprint("challenges", __name__, url_prefix="/challenges")


@bp.app_template_global("bidding_window_label")
def _bidding_window_label() -> str:
    """The shortest bidding window, said next to the deadline field."""
    return services.bidding_window_label()

# States whose award is confirmed: the winner's organisation may be named publicly.
AWARDED_STATES = frozenset(
    {ChallengeState.in_progress, ChallengeState.acceptance_review, ChallengeState.completed}
)


def get_challenge(challenge_id: int) -> Challenge:
    """A challenge the current user may see; 404 otherwise, so ids reveal nothing."""
    return visible_or_404(Challenge, challenge_id, services.can_view_challenge)


def get_editable_challenge(challenge_id: int) -> Challenge:
    """A challenge the current user may edit: 404 if unseen, 403 if seen but not theirs
    to edit (or no longer a draft / returned)."""
    challenge = get_challenge(challenge_id)
    if not services.can_edit_challenge(challenge, current_user):
        abort(403)
    return challenge


def _require_enterprise() -> None:
    if current_user.role != Role.enterprise:
        abort(403)


# --------------------------------------------------------------------------- public pages


# The hall, /challenges/ (endpoint challenges.index), is the search page: bounty.matching
# serves it, since it ranks with the matcher.


@bp.route("/<int:challenge_id>")
def detail(challenge_id: int):
    """A challenge's page (never its bids: only how many there are)."""
    challenge = get_challenge(challenge_id)
    files = [a for a in challenge.attachments
             if services.can_view_attachment(a, current_user)]
    winner = (challenge.winning_bid.organization
              if challenge.state in AWARDED_STATES and challenge.winning_bid else None)
    user = current_user._get_current_object()
    return render_template(
        "challenges/detail.html",
        challenge=challenge,
        attachments=files,
        bid_count=services.public_bid_count(challenge) if challenge.is_public else None,
        winner=winner,
        actions=workflow.allowed_actions(challenge, user),
        can_edit=services.can_edit_challenge(challenge, user),
        can_view_audit=services.can_view_audit(challenge, user),
        own_bid=services.own_bid(challenge, user),
        can_bid=_may_bid(challenge, user),
        can_evaluate=services.can_evaluate_bids(challenge, user),
        can_view_delivery=services.can_view_delivery(challenge, user),
    )


def _may_bid(challenge: Challenge, user) -> bool:
    """Whether the bid form is open to this user now (the detail page links to it)."""
    if not user.is_authenticated:
        return False
    try:
        services.check_can_bid(challenge, user)
    except DomainError:
        return False
    return True


@bp.route("/<int:challenge_id>/audit")
def audit(challenge_id: int):
    """The audit trail of one challenge, for its parties, reviewers and admins."""
    challenge = get_challenge(challenge_id)
    if not services.can_view_audit(challenge, current_user):
        abort(404)
    events = services.audit_trail(challenge, current_user)
    return render_template("challenges/audit.html", challenge=challenge, events=events,
                           event_label=services.event_label,
                           state_label=services.event_state_label)


def download_attachment(attachment_id: int):
    """Send a file to those who may see what it is attached to; 404 for everyone else."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or not services.can_view_attachment(attachment, current_user):
        abort(404)
    from ..review.blind import attachment_name  # a reviewer at a blind stage gets "方案A-附件1"

    return attachments.send_attachment(attachment, download_name=attachment_name(
        attachment, current_user))


@bp.record_once
def _register_download(state) -> None:
    # Attachments belong to challenges, bids and milestones alike, so their URL sits
    # outside /challenges; the endpoint still lives in this blueprint's namespace.
    state.app.add_url_rule("/attachments/<int:attachment_id>",
                           endpoint="challenges.attachment", view_func=download_attachment)


# --------------------------------------------------------------------------- enterprise pages


@bp.route("/mine")
@login_required
def mine():
    """My organisation's challenges in every state, with what each allows next."""
    _require_enterprise()
    rows = [
        {
            "challenge": challenge,
            "actions": workflow.allowed_actions(challenge, current_user),
            "can_edit": services.can_edit_challenge(challenge, current_user),
        }
        for challenge in services.organization_challenges(current_user)
    ]
    return render_template("challenges/mine.html", rows=rows,
                           action_labels=workflow.ACTION_LABELS)


def _after_save(challenge: Challenge, form: ChallengeForm):
    if not form.submit_for_vetting.data:
        flash(_("草稿已保存。"), "success")
        return redirect(url_for(".detail", challenge_id=challenge.id))
    try:
        services.submit_challenge(challenge, current_user)
    except DomainError as exc:
        flash(_("草稿已保存，但未能提交审题：%(reason)s", reason=exc.message), "error")
        return redirect(url_for(".edit", challenge_id=challenge.id))
    flash(_("榜单已提交审题，请等待审核。"), "success")
    return redirect(url_for(".detail", challenge_id=challenge.id))


def _save(form: ChallengeForm, save, challenge: Challenge | None):
    """The shared POST handling of the posting and editing pages.

    Row buttons only re-render; anything invalid re-renders with messages next to
    the fields and writes nothing; otherwise ``save(data, uploads)`` is the one
    service call.
    """
    template = "challenges/form.html"
    user = current_user._get_current_object()
    if form.row_action():
        uploads.receive(form.attachments, user).keep()
        return render_template(template, form=form, challenge=challenge)
    valid = form.validate_on_submit()
    if uploads.csrf_failed(form):  # files from a request without its token are not kept
        return render_template(template, form=form, challenge=challenge), 422
    files = uploads.receive(form.attachments, user)
    if valid and not form.attachments.errors:
        try:
            saved = save(form.to_data(), files.checked)
        except DomainError as exc:
            show_error(form, exc)
        else:
            files.finish()
            return _after_save(saved, form)
    files.keep()
    return render_template(template, form=form, challenge=challenge), 422


# The form checks its own CSRF token so that a missing one re-renders the page with
# everything typed kept, instead of the bare 400 of the global check.
@bp.route("/new", methods=["GET", "POST"])
@csrf.exempt
@login_required
def create():
    """Post a new challenge: save a draft, or save and submit it for 审题."""
    _require_enterprise()
    form = ChallengeForm()
    if request.method == "POST":
        return _save(form, lambda data, uploads: services.create_challenge(
            current_user, data, uploads=uploads), None)
    return render_template("challenges/form.html", form=form, challenge=None)


@bp.route("/<int:challenge_id>/edit", methods=["GET", "POST"])
@csrf.exempt
@login_required
def edit(challenge_id: int):
    """Edit a draft or returned challenge, its indicators and attachments."""
    challenge = get_editable_challenge(challenge_id)
    form = ChallengeForm()
    form.remove_attachments.choices = [(a.id, a.original_name) for a in challenge.attachments]
    if request.method == "POST":
        return _save(form, lambda data, uploads: services.update_challenge(
            challenge, current_user, data, uploads=uploads,
            remove_attachment_ids=form.remove_attachments.data or ()), challenge)
    form.fill_from(challenge)
    return render_template("challenges/form.html", form=form, challenge=challenge)


@bp.route("/<int:challenge_id>/submit", methods=["POST"])
@login_required
def submit(challenge_id: int):
    """Submit a draft or returned challenge for 审题."""
    challenge = get_challenge(challenge_id)
    try:
        services.submit_challenge(challenge, current_user)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("榜单已提交审题，请等待审核。"), "success")
    return redirect(url_for(".detail", challenge_id=challenge.id))
