"""Bid pages: the bid form, a sealed bid, "我的揭榜", the enterprise's evaluation, delivery."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.models import Role
from ..errors import DomainError
from ..extensions import db
from ..inputs import visible_or_404
from ..keyset import keyset_page
from . import services, uploads, workflow
from .bid_forms import (
    BidForm,
    DeclareFailedForm,
    MilestoneReportForm,
    SelectBidForm,
    edit_rows,
)
from .models import Bid, BidState, Challenge, ChallengeState, Milestone
from .views import get_challenge

bp = Blueprint("bids", __name__)


def _user():
    return current_user._get_current_object()


def get_bid(bid_id: int) -> Bid:
    """A bid the current user may see (sealed bids reveal nothing)."""
    return visible_or_404(Bid, bid_id, services.can_view_bid)


def get_evaluated_challenge(challenge_id: int) -> Challenge:
    """A challenge whose bids the current user may evaluate now."""
    return visible_or_404(Challenge, challenge_id, services.can_evaluate_bids)


def get_delivered_challenge(challenge_id: int) -> Challenge:
    """A challenge in delivery that the current user is a party to."""
    return visible_or_404(Challenge, challenge_id, services.can_view_delivery)


def get_delivered_milestone(milestone_id: int) -> Milestone:
    """A milestone of the winning bid of a challenge the user may see in delivery."""
    milestone = db.session.get(Milestone, milestone_id)
    if milestone is None or not milestone.bid.is_winner:
        abort(404)
    get_delivered_challenge(milestone.bid.challenge_id)
    return milestone


# --------------------------------------------------------------------------- the bid form


@bp.route("/challenges/<int:challenge_id>/bid", methods=["GET", "POST"])
@login_required
def edit(challenge_id: int):
    """Write, edit and submit the organisation's bid on an open challenge."""
    challenge = get_challenge(challenge_id)
    user = _user()
    bid = services.own_bid(challenge, user)
    if bid is not None and not services.can_edit_bid(bid, user):
        flash(_("揭榜已截止，方案只能查看。"), "info")
        return redirect(url_for("bids.detail", bid_id=bid.id))
    services.check_can_bid(challenge, user)  # refused: the error page says why

    if request.method == "POST" and ("add_milestone" in request.form
                                     or "remove_milestone" in request.form):
        # Row buttons only reshape the form; nothing is validated or saved.
        formdata = edit_rows(request.form, add="add_milestone" in request.form,
                             remove=request.form.get("remove_milestone", type=int))
        form = BidForm(formdata=formdata)
        form.attachments.process(request.files)
        uploads.receive(form.attachments, user).keep()
        return _render_bid_form(challenge, bid, form, rows_changed=True)

    form = BidForm()
    if form.validate_on_submit():
        files = uploads.receive(form.attachments, user)
        if not form.attachments.errors:
            try:
                bid = services.save_bid(challenge, user, form.to_data(),
                                        submit=bool(form.submit_bid.data), uploads=files.checked)
            except DomainError as exc:
                form.form_errors.append(exc.message)
            else:
                files.finish()
                if bid.state == BidState.submitted:
                    flash(_("揭榜方案已提交。截止前您仍可修改或撤回。"), "success")
                else:
                    flash(_("草稿已保存。"), "success")
                return redirect(url_for("bids.detail", bid_id=bid.id))
        files.keep()
        return _render_bid_form(challenge, bid, form), 422
    if request.method == "POST":
        if not uploads.csrf_failed(form):
            uploads.receive(form.attachments, user).keep()
        return _render_bid_form(challenge, bid, form), 422
    if bid is not None:
        form.fill_from(bid)
    return _render_bid_form(challenge, bid, form)


def _render_bid_form(challenge: Challenge, bid: Bid | None, form: BidForm,
                     rows_changed: bool = False):
    return render_template("bids/form.html", challenge=challenge, bid=bid, form=form,
                           rows_changed=rows_changed)


@bp.post("/bids/<int:bid_id>/withdraw")
@login_required
def withdraw(bid_id: int):
    """Withdraw the organisation's bid before the deadline."""
    bid = get_bid(bid_id)
    try:
        services.withdraw_bid(bid, _user())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("揭榜方案已撤回。截止前可重新编辑并提交。"), "success")
    return redirect(url_for("bids.detail", bid_id=bid.id))


# --------------------------------------------------------------------------- reading bids


@bp.get("/bids/<int:bid_id>")
def detail(bid_id: int):
    """One sealed bid, for those allowed to see it."""
    bid = get_bid(bid_id)
    user = _user()
    return render_template(
        "bids/detail.html", bid=bid, challenge=bid.challenge,
        can_edit=services.can_edit_bid(bid, user),
        can_evaluate=services.can_evaluate_bids(bid.challenge, user),
        can_view_delivery=bid.is_winner and services.can_view_delivery(bid.challenge, user),
    )


OWN_BIDS_PER_PAGE = 30


@bp.get("/bids/mine")
@login_required
def mine():
    """我的揭榜: every bid of the user's institute, with the challenge's state."""
    user = _user()
    if user.role != Role.institute:
        abort(404)
    page = keyset_page(services.organization_bids(user), services.OWN_BIDS_ORDER,
                       OWN_BIDS_PER_PAGE)
    return render_template("bids/mine.html", page=page, bids=page.items)


# --------------------------------------------------------------------------- evaluation


@bp.get("/challenges/<int:challenge_id>/bids")
def evaluate(challenge_id: int):
    """The enterprise's and reviewers' view of all submitted bids after the deadline."""
    challenge = get_evaluated_challenge(challenge_id)
    return _render_evaluation(challenge)


def _render_evaluation(challenge: Challenge, select_form: SelectBidForm | None = None,
                       fail_form: DeclareFailedForm | None = None):
    user = _user()
    ranked = services.rank_bids(
        challenge, [b for b in services.visible_bids(challenge, user)
                    if b.state == BidState.submitted])
    bids = [r.bid for r in ranked]
    actions = workflow.allowed_actions(challenge, user)
    select_form = select_form or SelectBidForm()
    select_form.bid_id.choices = [(b.id, b.title) for b in bids]
    return render_template(
        "bids/evaluate.html", challenge=challenge, bids=bids, ranked=ranked,
        can_select="select_bid" in actions and bool(bids),
        can_fail="declare_failed" in actions,
        select_form=select_form, fail_form=fail_form or DeclareFailedForm(),
        can_view_delivery=services.can_view_delivery(challenge, user),
    )


@bp.post("/challenges/<int:challenge_id>/bids/select")
def select(challenge_id: int):
    """The owner picks the winning bid (then a reviewer confirms it)."""
    challenge = get_evaluated_challenge(challenge_id)
    form = SelectBidForm()
    form.bid_id.choices = [(b.id, b.title) for b in challenge.submitted_bids]
    if form.validate_on_submit():
        bid = db.session.get(Bid, form.bid_id.data)
        try:
            services.select_bid(challenge, bid, _user())
        except DomainError as exc:
            form.bid_id.errors = [*form.bid_id.errors, exc.message]
        else:
            flash(_("已选定揭榜方案「%(title)s」，等待揭榜结果审核。", title=bid.title), "success")
            return redirect(url_for("bids.evaluate", challenge_id=challenge.id))
    return _render_evaluation(challenge, select_form=form), 422


@bp.post("/challenges/<int:challenge_id>/bids/fail")
def declare_failed(challenge_id: int):
    """The owner closes the challenge without a winner (流榜), with a comment."""
    challenge = get_evaluated_challenge(challenge_id)
    form = DeclareFailedForm()
    if form.validate_on_submit():
        try:
            services.declare_failed(challenge, _user(), form.comment.data)
        except DomainError as exc:
            form.comment.errors = [*form.comment.errors, exc.message]
        else:
            flash(_("该榜单已流榜。"), "success")
            return redirect(url_for("bids.evaluate", challenge_id=challenge.id))
    return _render_evaluation(challenge, fail_form=form), 422


# --------------------------------------------------------------------------- delivery


@bp.get("/challenges/<int:challenge_id>/delivery")
def delivery(challenge_id: int):
    """Milestones of the winning bid: the institute reports, the enterprise confirms."""
    challenge = get_delivered_challenge(challenge_id)
    return _render_delivery(challenge)


def _render_delivery(challenge: Challenge, failed: Milestone | None = None,
                     failed_form: MilestoneReportForm | None = None):
    user = _user()
    bid = challenge.winning_bid
    in_progress = challenge.state == ChallengeState.in_progress
    is_winner = workflow.actor_matches(challenge, workflow.Actor.winner, user)
    is_owner = workflow.actor_matches(challenge, workflow.Actor.owner, user)
    report_forms = {}
    if in_progress and is_winner:
        for milestone in bid.milestones:
            if milestone.confirmed_at is None:
                form = (failed_form if failed is not None and failed.id == milestone.id
                        else MilestoneReportForm(prefix=f"m{milestone.id}", formdata=None))
                if form is not failed_form and milestone.report:
                    form.report.data = milestone.report
                report_forms[milestone.id] = form
    return render_template(
        "bids/delivery.html", challenge=challenge, bid=bid, report_forms=report_forms,
        can_confirm=in_progress and is_owner,
        can_request_acceptance=in_progress and is_owner
        and all(m.confirmed_at is not None for m in bid.milestones),
    )


@bp.post("/milestones/<int:milestone_id>/report")
def report_milestone(milestone_id: int):
    """The winning institute reports one milestone, with files."""
    milestone = get_delivered_milestone(milestone_id)
    challenge = milestone.bid.challenge
    form = MilestoneReportForm(prefix=f"m{milestone.id}")
    valid = form.validate_on_submit()
    if uploads.csrf_failed(form):  # files from a request without its token are not kept
        return _render_delivery(challenge, failed=milestone, failed_form=form), 422
    files = uploads.receive(form.attachments, _user())
    if valid and not form.attachments.errors:
        try:
            services.report_milestone(milestone, _user(), form.report.data,
                                      uploads=files.checked,
                                      remove_attachment_ids=form.remove_attachments.data or ())
        except DomainError as exc:
            form.report.errors = [*form.report.errors, exc.message]
        else:
            files.finish()
            flash(_("里程碑「%(name)s」报告已提交，等待发榜企业确认。", name=milestone.name),
                  "success")
            return redirect(url_for("bids.delivery", challenge_id=challenge.id))
    files.keep()
    return _render_delivery(challenge, failed=milestone, failed_form=form), 422


@bp.post("/milestones/<int:milestone_id>/confirm")
def confirm_milestone(milestone_id: int):
    """The enterprise confirms one reported milestone; the last one opens 验收."""
    milestone = get_delivered_milestone(milestone_id)
    challenge = milestone.bid.challenge
    try:
        services.confirm_milestone(milestone, _user())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("里程碑「%(name)s」已确认。", name=milestone.name), "success")
        if challenge.state == ChallengeState.acceptance_review:
            flash(_("全部里程碑已确认，榜单已进入验收。"), "success")
    return redirect(url_for("bids.delivery", challenge_id=challenge.id))


@bp.post("/challenges/<int:challenge_id>/acceptance")
def request_acceptance(challenge_id: int):
    """The enterprise opens 验收 by hand (a bid without milestones, or after a return)."""
    challenge = get_delivered_challenge(challenge_id)
    try:
        services.request_acceptance(challenge, _user())
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(_("已申请验收。"), "success")
    return redirect(url_for("bids.delivery", challenge_id=challenge.id))
