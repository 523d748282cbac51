"""首台(套)认定 and 科技大市场: application forms, reviewer decisions, public register
and market pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..challenges import uploads
from ..challenges.models import Challenge, ChallengeState
from ..challenges.services import can_view_challenge
from ..errors import DomainError, NotFound, PermissionDenied
from ..extensions import db
from ..inputs import page_arg
from . import assignment, market
from . import certification as cert
from .models import Outcome
from .registry import InvalidSubmission, RegistryDocument, is_reviewer, send_document
from .registry_forms import CertificationForm, DealForm, DecisionForm, ListingForm, WithdrawForm

bp = Blueprint("registry", __name__)

PER_PAGE = 20


# --------------------------------------------------------------------------- loaders


def get_challenge(challenge_id: int) -> Challenge:
    challenge = db.session.get(Challenge, challenge_id)
    if challenge is None or not can_view_challenge(challenge, current_user):
        abort(404)
    return challenge


def get_application(application_id: int) -> cert.CertificationApplication:
    """An application the current user may see; 404 otherwise, so ids reveal nothing."""
    application = db.session.get(cert.CertificationApplication, application_id)
    if application is None or not cert.can_view_application(application, current_user):
        abort(404)
    return application


def get_certificate(number: str) -> cert.CertificationApplication:
    application = db.session.execute(
        sa.select(cert.CertificationApplication).where(
            cert.CertificationApplication.certificate_number == number)
    ).scalar_one_or_none()
    if application is None or not application.is_public:
        abort(404)
    return application


def get_listing(listing_id: int) -> market.MarketListing:
    listing = db.session.get(market.MarketListing, listing_id)
    if listing is None or not market.can_view_listing(listing, current_user):
        abort(404)
    return listing


def _document(document_id: int, **owner) -> RegistryDocument:
    document = db.session.get(RegistryDocument, document_id)
    if document is None or any(getattr(document, k) != v for k, v in owner.items()):
        abort(404)
    return document


def _enum_arg(cls, name: str):
    """A query-string choice as an enum member, or None when absent or unknown."""
    value = request.args.get(name, "")
    return cls(value) if value in {member.value for member in cls} else None


def _reject_form(form, exc: DomainError):
    if isinstance(exc, PermissionDenied | NotFound):
        raise exc
    if isinstance(exc, InvalidSubmission):
        form.show_errors(exc.errors)
    else:
        form.show_message(exc.message)


@bp.app_template_global("registry_of")
def registry_of(challenge: Challenge, user) -> dict:
    """What the challenge page links to in the registry: the user's next steps (apply for
    certification, list the result) and the application and listings the user may see."""
    if challenge.state != ChallengeState.completed:
        return {}
    application = cert.application_for(challenge)
    listings = db.session.execute(
        sa.select(market.MarketListing).where(market.MarketListing.challenge_id == challenge.id)
        .order_by(market.MarketListing.id)
    ).scalars().all()
    return {
        "can_apply": cert.can_apply(challenge, user),
        "can_list": market.can_list(challenge, user),
        "application": (application if application is not None
                        and cert.can_view_application(application, user) else None),
        "listings": [listing for listing in listings if market.can_view_listing(listing, user)],
    }


# --------------------------------------------------------------------------- mine / queue


@bp.route("/registry/mine")
@login_required
def mine():
    """The user's organisation: completed results, certification applications, listings."""
    org_id = current_user.organization_id
    completed = db.session.execute(
        sa.select(Challenge).where(Challenge.state == ChallengeState.completed)
        .order_by(Challenge.updated_at.desc())
    ).scalars().all()
    results = [c for c in completed if market.is_result_owner(c, current_user)]
    applications = db.session.execute(
        sa.select(cert.CertificationApplication)
        .where(cert.CertificationApplication.organization_id == org_id)
        .order_by(cert.CertificationApplication.id.desc())
    ).scalars().all()
    listings = db.session.execute(
        sa.select(market.MarketListing).where(market.MarketListing.organization_id == org_id)
        .order_by(market.MarketListing.id.desc())
    ).scalars().all()
    return render_template("registry/mine.html", results=results, applications=applications,
                           listings=listings, can_apply=cert.can_apply,
                           can_list=market.can_list)


@bp.route("/registry/review")
@login_required
def review_queue():
    """Reviewers: certification applications and listings waiting for a decision."""
    if not (is_reviewer(current_user) or cert.is_staff(current_user)):
        abort(403)
    applications, listings = cert.pending_applications(), market.pending_listings()
    return render_template("registry/queue.html", applications=applications, listings=listings,
                           bars=assignment.decision_bars([*applications, *listings],
                                                         current_user._get_current_object()))


# --------------------------------------------------------------------------- certification


def _certification_data(form: CertificationForm) -> cert.CertificationData:
    return cert.CertificationData(
        product_name=form.product_name.data or "",
        equipment_category=cert.EquipmentCategory(form.equipment_category.data),
        price_yuan=form.price_yuan.data,
        description=form.description.data or "",
        indicators=[cert.ComparisonRow(**{k: (v or "") for k, v in row.data.items()})
                    for row in form.indicators],
    )


def _received(form, fields, *, single: bool = False) -> list[uploads.FieldUploads] | None:
    """The files of a submitted form's file fields, kept ones included; None for a GET
    or a request without its CSRF token (nothing of it is kept)."""
    if request.method != "POST" or uploads.csrf_failed(form):
        return None
    return [uploads.receive(f, current_user._get_current_object(), single=single)
            for f in fields]


def _keep(received: list[uploads.FieldUploads] | None) -> None:
    for field_uploads in received or ():
        field_uploads.keep()


def _files_ok(received: list[uploads.FieldUploads] | None) -> bool:
    return received is not None and not any(r.form_field.errors for r in received)


def _finish(received: list[uploads.FieldUploads]) -> None:
    for field_uploads in received:
        field_uploads.finish()


@bp.route("/challenges/<int:challenge_id>/certification", methods=["GET", "POST"])
@login_required
def certification_apply(challenge_id: int):
    """The enterprise applies for first-set certification of a completed challenge."""
    challenge = get_challenge(challenge_id)
    cert.check_can_apply(challenge, current_user)
    form = CertificationForm()
    if request.method == "GET":
        form.product_name.data = challenge.title
    valid = form.validate_on_submit()
    received = _received(form, form.evidence_fields(), single=True)
    if valid and _files_ok(received):
        try:
            application = cert.apply_for_certification(
                challenge, current_user, _certification_data(form),
                {r.form_field.name: r.file for r in received})
        except DomainError as exc:
            _reject_form(form, exc)
        else:
            _finish(received)
            flash(_("首台（套）认定申请已提交，等待审核。"), "success")
            return redirect(url_for(".certification_detail", application_id=application.id))
    _keep(received)
    status = 422 if request.method == "POST" else 200
    return render_template("registry/certification_form.html", form=form, challenge=challenge,
                           application=None, floors=cert.price_floors()), status


@bp.route("/certifications/<int:application_id>/edit", methods=["GET", "POST"])
@login_required
def certification_edit(application_id: int):
    """The enterprise revises a returned application and resubmits it."""
    application = get_application(application_id)
    cert.LIFECYCLE.find(application, "resubmit", current_user)
    form = CertificationForm(obj=application if request.method == "GET" else None)
    if request.method == "GET":
        form.equipment_category.data = application.equipment_category.value
        for row, indicator in zip(form.indicators, application.indicators, strict=False):
            row.form.process(obj=indicator)
    valid = form.validate_on_submit()
    received = _received(form, form.evidence_fields(), single=True)
    if valid and _files_ok(received):
        try:
            cert.resubmit_certification(application, current_user, _certification_data(form),
                                        {r.form_field.name: r.file for r in received})
        except DomainError as exc:
            _reject_form(form, exc)
        else:
            _finish(received)
            flash(_("申请已重新提交。"), "success")
            return redirect(url_for(".certification_detail", application_id=application.id))
    _keep(received)
    status = 422 if request.method == "POST" else 200
    return render_template("registry/certification_form.html", form=form,
                           challenge=application.challenge, application=application,
                           floors=cert.price_floors()), status


@bp.route("/certifications/<int:application_id>")
def certification_detail(application_id: int):
    """An application with its evidence and decisions; reviewers decide here."""
    application = get_application(application_id)
    return _render_certification(application, DecisionForm(version=application.version))


def _render_certification(application: cert.CertificationApplication, form: DecisionForm,
                          refusal: str | None = None) -> str:
    return render_template(
        "registry/certification_detail.html", application=application, form=form,
        refusal=refusal, actions=cert.LIFECYCLE.allowed(application, current_user),
        show_evidence=cert.can_view_evidence(application, current_user),
        evidence_labels={kind.value: kind.label for kind in cert.EvidenceKind})


def _refused(item, lifecycle, form: DecisionForm, exc: DomainError, render, detail_url: str):
    """A refused decision wrote nothing. A reviewer who may still decide sees the page as
    it stands now, why, and their comment still typed in; if the item moved on there is
    nothing left to decide: say so. Anyone else gets the plain refusal."""
    db.session.rollback()
    db.session.refresh(item)
    if not is_reviewer(current_user):
        raise exc
    if "approve" not in lifecycle.allowed(item, current_user):
        flash(exc.message, "error")
        return redirect(detail_url)
    form.version.data = item.version
    return render(item, form, exc.message), exc.status_code


@bp.route("/certifications/<int:application_id>/decide", methods=["POST"])
@login_required
def certification_decide(application_id: int):
    """A reviewer approves, returns or rejects an application."""
    application = get_application(application_id)
    return _decide(application, cert.LIFECYCLE, cert.decide_certification,
                   _render_certification,
                   url_for(".certification_detail", application_id=application.id),
                   lambda: _("认定通过，证书编号 %(number)s。",
                             number=application.certificate_number)
                   if application.certificate_number else None)


def _decide(item, lifecycle, decide, render, detail_url: str, approved):
    """The decision POST of a certification application or a listing: validate, decide,
    and say what came of it; a refusal re-renders the page with the comment kept."""
    form = DecisionForm()
    if not form.validate_on_submit():
        return render(item, form, _("请选择审核结论。")), 422
    try:
        decide(item, Outcome(form.outcome.data), current_user, form.comment.data or "",
               version=_version(form))
    except DomainError as exc:
        return _refused(item, lifecycle, form, exc, render, detail_url)
    flash(approved() or _("审核意见已记录。"), "success")
    return redirect(detail_url)


def _version(form: DecisionForm) -> int | None:
    try:
        return int(form.version.data)
    except (TypeError, ValueError):
        return None


@bp.route("/certifications/<int:application_id>/documents/<int:document_id>")
@login_required
def certification_document(application_id: int, document_id: int):
    """Download one evidence document (the applicant, reviewers and admins only)."""
    application = get_application(application_id)
    if not cert.can_view_evidence(application, current_user):
        abort(404)
    return send_document(_document(document_id, certification_id=application.id))


@bp.route("/register")
def register():
    """The public register of certified first-set equipment."""
    q = request.args.get("q", "").strip()
    chosen = _enum_arg(cert.EquipmentCategory, "category")
    page = db.paginate(cert.register_query(q, chosen), page=page_arg(), per_page=PER_PAGE,
                       error_out=False)
    return render_template("registry/register.html", page=page, q=q,
                           category=chosen.value if chosen else "",
                           categories=list(cert.EquipmentCategory))


@bp.route("/register/<number>")
def certificate(number: str):
    """A certificate's public page, printable."""
    application = get_certificate(number)
    return render_template("registry/certificate.html", application=application,
                           fallback=False)


@bp.route("/register/<number>/certificate.pdf")
def certificate_pdf(number: str):
    """The certificate as PDF; printable HTML when no CJK font is installed."""
    application = get_certificate(number)
    data = cert.certificate_pdf(application)
    if data is None:
        return render_template("registry/certificate.html", application=application,
                               fallback=True)
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{number}.pdf"'
    return response


# --------------------------------------------------------------------------- market


def _listing_data(form: ListingForm) -> market.ListingData:
    return market.ListingData(
        title=form.title.data or "", summary=form.summary.data or "",
        transaction_type=market.TransactionType(form.transaction_type.data),
        price_yuan=form.price_yuan.data, negotiable=bool(form.negotiable.data))


@bp.route("/challenges/<int:challenge_id>/listing", methods=["GET", "POST"])
@login_required
def listing_new(challenge_id: int):
    """The owner of a completed challenge's result lists it on the technology market."""
    challenge = get_challenge(challenge_id)
    market.check_can_list(challenge, current_user)
    form = ListingForm()
    if request.method == "GET":
        form.title.data = challenge.title
    valid = form.validate_on_submit()
    received = _received(form, [form.documents])
    if valid and _files_ok(received):
        try:
            listing = market.create_listing(challenge, current_user, _listing_data(form),
                                            received[0].files)
        except DomainError as exc:
            _reject_form(form, exc)
        else:
            _finish(received)
            flash(_("挂牌申请已提交，等待审核。"), "success")
            return redirect(url_for(".listing_detail", listing_id=listing.id))
    _keep(received)
    status = 422 if request.method == "POST" else 200
    return render_template("registry/listing_form.html", form=form, challenge=challenge,
                           listing=None), status


@bp.route("/market/<int:listing_id>/edit", methods=["GET", "POST"])
@login_required
def listing_edit(listing_id: int):
    """The owner revises a returned listing and resubmits it."""
    listing = get_listing(listing_id)
    market.LIFECYCLE.find(listing, "resubmit", current_user)
    form = ListingForm(obj=listing if request.method == "GET" else None)
    if request.method == "GET":
        form.transaction_type.data = listing.transaction_type.value
        form.negotiable.data = listing.is_negotiable
    valid = form.validate_on_submit()
    received = _received(form, [form.documents])
    if valid and _files_ok(received):
        try:
            market.resubmit_listing(listing, current_user, _listing_data(form),
                                    received[0].files)
        except DomainError as exc:
            _reject_form(form, exc)
        else:
            _finish(received)
            flash(_("挂牌申请已重新提交。"), "success")
            return redirect(url_for(".listing_detail", listing_id=listing.id))
    _keep(received)
    status = 422 if request.method == "POST" else 200
    return render_template("registry/listing_form.html", form=form, challenge=listing.challenge,
                           listing=listing), status


@bp.route("/market")
def market_index():
    """The public technology market: listed and traded results."""
    q = request.args.get("q", "").strip()
    chosen = _enum_arg(market.TransactionType, "type")
    chosen_state = _enum_arg(market.ListingState, "state")
    if chosen_state not in market.PUBLIC_LISTING_STATES:
        chosen_state = None
    page = db.paginate(market.market_query(q, chosen, chosen_state), page=page_arg(),
                       per_page=PER_PAGE, error_out=False)
    return render_template("registry/market.html", page=page, q=q,
                           kind=chosen.value if chosen else "",
                           state=chosen_state.value if chosen_state else "",
                           types=list(market.TransactionType))


@bp.route("/market/<int:listing_id>")
def listing_detail(listing_id: int):
    """A listing; reviewers decide here, the owner records a deal or withdraws."""
    listing = get_listing(listing_id)
    return _render_listing(listing, DecisionForm(version=listing.version))


def _render_listing(listing: market.MarketListing, form: DecisionForm,
                    refusal: str | None = None) -> str:
    return render_template(
        "registry/listing_detail.html", listing=listing, form=form, refusal=refusal,
        withdraw_form=WithdrawForm(), actions=market.LIFECYCLE.allowed(listing, current_user),
        show_private=market.can_manage_or_review(listing, current_user))


@bp.route("/market/<int:listing_id>/decide", methods=["POST"])
@login_required
def listing_decide(listing_id: int):
    """A reviewer approves, returns or rejects a listing."""
    listing = get_listing(listing_id)
    return _decide(listing, market.LIFECYCLE, market.decide_listing, _render_listing,
                   url_for(".listing_detail", listing_id=listing.id),
                   lambda: _("挂牌审核通过，挂牌编号 %(number)s。", number=listing.listing_number)
                   if listing.listing_number else None)


@bp.route("/market/<int:listing_id>/deal", methods=["GET", "POST"])
@login_required
def listing_deal(listing_id: int):
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
            _reject_form(form, exc)
        else:
            flash(_("成交信息已登记。"), "success")
            return redirect(url_for(".listing_detail", listing_id=listing.id))
    status = 422 if request.method == "POST" else 200
    return render_template("registry/deal_form.html", form=form, listing=listing), status


@bp.route("/market/<int:listing_id>/withdraw", methods=["POST"])
@login_required
def listing_withdraw(listing_id: int):
    """The owner withdraws the listing."""
    listing = get_listing(listing_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        abort(400)
    market.withdraw_listing(listing, current_user, form.comment.data or "")
    flash(_("已撤牌。"), "success")
    return redirect(url_for(".listing_detail", listing_id=listing.id))


@bp.route("/market/<int:listing_id>/documents/<int:document_id>")
@login_required
def listing_document(listing_id: int, document_id: int):
    """Download an IP document (the owner, reviewers and admins only)."""
    listing = get_listing(listing_id)
    if not market.can_manage_or_review(listing, current_user):
        abort(404)
    return send_document(_document(document_id, listing_id=listing.id))
