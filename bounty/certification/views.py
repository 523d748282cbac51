"""首台(套)认定 pages: the application form, the reviewer's decision, the public register
and certificates."""

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

from ..challenges.views import get_challenge
from ..extensions import db
from ..inputs import page_arg, visible_or_404
from ..registry import views
from ..registry.services import send_document
from ..review.forms import DecisionForm
from . import certificate as pdf
from . import services as cert
from .forms import CertificationForm

bp = Blueprint("certification", __name__)


def get_application(application_id: int) -> cert.CertificationApplication:
    """An application the current user may see; 404 otherwise, so ids reveal nothing."""
    return visible_or_404(cert.CertificationApplication, application_id,
                          cert.can_view_application)


def get_certificate(number: str) -> cert.CertificationApplication:
    application = db.session.execute(
        sa.select(cert.CertificationApplication).where(
            cert.CertificationApplication.certificate_number == number)
    ).scalar_one_or_none()
    if application is None or not application.is_public:
        abort(404)
    return application


def _certification_data(form: CertificationForm) -> cert.CertificationData:
    return cert.CertificationData(
        product_name=form.product_name.data or "",
        equipment_category=cert.EquipmentCategory(form.equipment_category.data),
        price_yuan=form.price_yuan.data,
        description=form.description.data or "",
        indicators=[cert.ComparisonRow(**{k: (v or "") for k, v in row.data.items()})
                    for row in form.indicators],
    )


def _evidence(files) -> dict:
    """One upload per evidence field, by the field's name (cert.EvidenceKind)."""
    return {r.form_field.name: r.file for r in files}


@bp.route("/challenges/<int:challenge_id>/certification", methods=["GET", "POST"])
@login_required
def apply(challenge_id: int):
    """The enterprise applies for first-set certification of a completed challenge."""
    challenge = get_challenge(challenge_id)
    cert.check_can_apply(challenge, current_user)
    form = CertificationForm()
    if request.method == "GET":
        form.product_name.data = challenge.title
    application = views.submit_form(
        form, form.evidence_fields(), lambda files: cert.apply_for_certification(
            challenge, current_user, _certification_data(form), _evidence(files)), single=True)
    if application is not None:
        flash(_("首台（套）认定申请已提交，等待审核。"), "success")
        return redirect(url_for(".detail", application_id=application.id))
    status = 422 if request.method == "POST" else 200
    return render_template("certification/form.html", form=form, challenge=challenge,
                           application=None, floors=cert.price_floors()), status


@bp.route("/certifications/<int:application_id>/edit", methods=["GET", "POST"])
@login_required
def edit(application_id: int):
    """The enterprise revises a returned application and resubmits it."""
    application = get_application(application_id)
    cert.LIFECYCLE.find(application, "resubmit", current_user)
    form = CertificationForm(obj=application if request.method == "GET" else None)
    if request.method == "GET":
        form.equipment_category.data = application.equipment_category.value
        for row, indicator in zip(form.indicators, application.indicators, strict=False):
            row.form.process(obj=indicator)
    done = views.submit_form(
        form, form.evidence_fields(), lambda files: cert.resubmit_certification(
            application, current_user, _certification_data(form), _evidence(files)),
        single=True)
    if done is not None:
        flash(_("申请已重新提交。"), "success")
        return redirect(url_for(".detail", application_id=application.id))
    status = 422 if request.method == "POST" else 200
    return render_template("certification/form.html", form=form,
                           challenge=application.challenge, application=application,
                           floors=cert.price_floors()), status


@bp.route("/certifications/<int:application_id>")
def detail(application_id: int):
    """An application with its evidence and decisions; reviewers decide here."""
    application = get_application(application_id)
    return _render_certification(application, DecisionForm(version=application.version))


def _render_certification(application: cert.CertificationApplication, form: DecisionForm,
                          refusal: str | None = None) -> str:
    return render_template(
        "certification/detail.html", application=application, form=form,
        refusal=refusal, actions=cert.LIFECYCLE.allowed(application, current_user),
        show_evidence=cert.can_view_evidence(application, current_user),
        evidence_labels={kind.value: kind.label for kind in cert.EvidenceKind})


@bp.route("/certifications/<int:application_id>/decide", methods=["POST"])
@login_required
def decide(application_id: int):
    """A reviewer approves, returns or rejects an application."""
    application = get_application(application_id)
    return views.decide(application, cert.LIFECYCLE, _render_certification,
                   url_for(".detail", application_id=application.id),
                   lambda: _("认定通过，证书编号 %(number)s。",
                             number=application.certificate_number)
                   if application.certificate_number else None)


@bp.route("/certifications/<int:application_id>/documents/<int:document_id>")
@login_required
def document(application_id: int, document_id: int):
    """Download one evidence document (the applicant, reviewers and admins only)."""
    application = get_application(application_id)
    if not cert.can_view_evidence(application, current_user):
        abort(404)
    return send_document(views.get_document(document_id, certification_id=application.id))


@bp.route("/register")
def register():
    """The public register of certified first-set equipment."""
    q = request.args.get("q", "").strip()
    chosen = views.enum_arg(cert.EquipmentCategory, "category")
    page = db.paginate(cert.register_query(q, chosen), page=page_arg(), per_page=views.PER_PAGE,
                       error_out=False)
    return render_template("certification/register.html", page=page, q=q,
                           category=chosen.value if chosen else "",
                           categories=list(cert.EquipmentCategory))


@bp.route("/register/<number>")
def certificate(number: str):
    """A certificate's public page, printable."""
    application = get_certificate(number)
    return render_template("certification/certificate.html", application=application,
                           fallback=False)


@bp.route("/register/<number>/certificate.pdf")
def certificate_pdf(number: str):
    """The certificate as PDF; printable HTML when no CJK font is installed."""
    application = get_certificate(number)
    data = pdf.certificate_pdf(application)
    if data is None:
        return render_template("certification/certificate.html", application=application,
                               fallback=True)
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{number}.pdf"'
    return response
