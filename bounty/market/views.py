"""科技大市场 pages: listing, the reviewer's decision, deals, withdrawal, the public market."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..challenges.views import get_challenge
from ..errors import DomainError
from ..extensions import db
from ..inputs import page_arg, visible_or_404
from ..registry import views
from ..registry.services import send_document
from ..review.forms import DecisionForm
from . import services as market
from .forms import DealForm, ListingForm, WithdrawForm

bp = Blueprint("market", __name__)


def get_listing(listing_id: int) -> market.MarketListing:
    """A listing the current user may see; 404 otherwise."""
    return visible_or_404(market.MarketListing, listing_id, market.can_view_listing)


def _listing_data(form: ListingForm) -> market.ListingData:
    return market.ListingData(
        title=form.title.data or "", summary=form.summary.data or "",
        transaction_type=market.TransactionType(form.transaction_type.data),
        price_yuan=form.price_yuan.data, negotiable=bool(form.negotiable.data))


@bp.route("/challenges/<int:challenge_id>/listing", methods=["GET", "POST"])
@login_required
def new(challenge_id: int):
    """The owner of a completed challenge's result lists it on the technology market."""
    challenge = get_challenge(challenge_id)
    market.check_can_list(challenge, current_user)
    form = ListingForm()
    if request.method == "GET":
        form.title.data = challenge.title
    listing = views.submit_form(
        form, [form.documents], lambda files: market.create_listing(
            challenge, current_user, _listing_data(form), files[0].files))
    if listing is not None:
        flash(_("挂牌申请已提交，等待审核。"), "success")
        return redirect(url_for(".detail", listing_id=listing.id))
    status = 422 if request.method == "POST" else 200
    return render_template("market/form.html", form=form, challenge=challenge,
                           listing=None), status


@bp.route("/market/<int:listing_id>/edit", methods=["GET", "POST"])
@login_required
def edit(listing_id: int):
    """The owner revises a returned listing and resubmits it."""
    listing = get_listing(listing_id)
    market.LIFECYCLE.find(listing, "resubmit", current_user)
    form = ListingForm(obj=listing if request.method == "GET" else None)
    if request.method == "GET":
        form.transaction_type.data = listing.transaction_type.value
        form.negotiable.data = listing.is_negotiable
    done = views.submit_form(
        form, [form.documents], lambda files: market.resubmit_listing(
            listing, current_user, _listing_data(form), files[0].files))
    if done is not None:
        flash(_("挂牌申请已重新提交。"), "success")
        return redirect(url_for(".detail", listing_id=listing.id))
    status = 422 if request.method == "POST" else 200
    return render_template("market/form.html", form=form, challenge=listing.challenge,
                           listing=listing), status


@bp.route("/market")
def index():
    """The public technology market: listed and traded results."""
    q = request.args.get("q", "").strip()
    chosen = views.enum_arg(market.TransactionType, "type")
    chosen_state = views.enum_arg(market.ListingState, "state")
    if chosen_state not in market.PUBLIC_LISTING_STATES:
        chosen_state = None
    page = db.paginate(market.market_query(q, chosen, chosen_state), page=page_arg(),
                       per_page=views.PER_PAGE, error_out=False)
    return render_template("market/index.html", page=page, q=q,
                           kind=chosen.value if chosen else "",
                           state=chosen_state.value if chosen_state else "",
                           types=list(market.TransactionType))


@bp.route("/market/<int:listing_id>")
def detail(listing_id: int):
    """A listing; reviewers decide here, the owner records a deal or withdraws."""
    listing = get_listing(listing_id)
    return _render_listing(listing, DecisionForm(version=listing.version))


def _render_listing(listing: market.MarketListing, form: DecisionForm,
                    refusal: str | None = None) -> str:
    return render_template(
        "market/detail.html", listing=listing, form=form, refusal=refusal,
        withdraw_form=WithdrawForm(), actions=market.LIFECYCLE.allowed(listing, current_user),
        show_private=market.can_manage_or_review(listing, current_user))


@bp.route("/market/<int:listing_id>/decide", methods=["POST"])
@login_required
def decide(listing_id: int):
    """A reviewer approves, returns or rejects a listing."""
    listing = get_listing(listing_id)
    return views.decide(listing, market.LIFECYCLE, _render_listing,
                   url_for(".detail", listing_id=listing.id),
                   lambda: _("挂牌审核通过，挂牌编号 %(number)s。", number=listing.listing_number)
                   if listing.listing_number else None)


@bp.route("/market/<int:listing_id>/deal", methods=["GET", "POST"])
@login_required
def deal(listing_id: int):
    """The owner records the deal (counterparty, price, date, 技术合同登记号)."""
    listing = get_listing(listing_id)
    market.LIFECYCLE.find(listing, "record_deal", current_user)
    form = DealForm()
    if form.validate_on_submit():
        try:
            market.record_deal(listing, current_user, market.DealData(
                counterparty=form.counterparty.data or "", price_yuan=form.price_yuan.data,
                contract_date=form.contract_date.data,
                registration_number=form.registration_number.data or ""))
        except DomainError as exc:
            views.reject_form(form, exc)
        else:
            flash(_("成交信息已登记。"), "success")
            return redirect(url_for(".detail", listing_id=listing.id))
    status = 422 if request.method == "POST" else 200
    return render_template("market/deal_form.html", form=form, listing=listing), status


@bp.route("/market/<int:listing_id>/withdraw", methods=["POST"])
@login_required
def withdraw(listing_id: int):
    """The owner withdraws the listing."""
    listing = get_listing(listing_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        abort(400)
    market.withdraw_listing(listing, current_user, form.comment.data or "")
    flash(_("已撤牌。"), "success")
    return redirect(url_for(".detail", listing_id=listing.id))


@bp.route("/market/<int:listing_id>/documents/<int:document_id>")
@login_required
def document(listing_id: int, document_id: int):
    """Download an IP document (the owner, reviewers and admins only)."""
    listing = get_listing(listing_id)
    if not market.can_manage_or_review(listing, current_user):
        abort(404)
    return send_document(views.get_document(document_id, listing_id=listing.id))
