"""View helpers certification and market pages share: loading, files kept across a
failed form, a service's field errors on the form, and the reviewer's decision POST."""

from __future__ import annotations

from flask import abort, flash, redirect, request
from flask_babel import gettext as _
from flask_login import current_user

from ..challenges import uploads
from ..errors import DomainError, InvalidField, NotFound, PermissionDenied
from ..extensions import db
from ..review import decisions
from ..review.forms import DecisionForm
from ..review.models import Outcome
from .models import RegistryDocument

PER_PAGE = 20


def get_document(document_id: int, **owner) -> RegistryDocument:
    document = db.session.get(RegistryDocument, document_id)
    if document is None or any(getattr(document, k) != v for k, v in owner.items()):
        abort(404)
    return document


def enum_arg(cls, name: str):
    """A query-string choice as an enum member, or None when absent or unknown."""
    value = request.args.get(name, "")
    return cls(value) if value in {member.value for member in cls} else None


def reject_form(form, exc: DomainError):
    if isinstance(exc, PermissionDenied | NotFound):
        raise exc
    if isinstance(exc, InvalidField) and exc.errors:
        form.show_errors(exc.errors)
    else:
        form.show_message(exc.message)


def received(form, fields, *, single: bool = False) -> list[uploads.FieldUploads] | None:
    """The files of a submitted form's file fields, kept ones included; None for a GET
    or a request without its CSRF token (nothing of it is kept)."""
    if request.method != "POST" or uploads.csrf_failed(form):
        return None
    return [uploads.receive(f, current_user._get_current_object(), single=single)
            for f in fields]


def keep(files: list[uploads.FieldUploads] | None) -> None:
    for field_uploads in files or ():
        field_uploads.keep()


def files_ok(files: list[uploads.FieldUploads] | None) -> bool:
    return files is not None and not any(r.form_field.errors for r in files)


def finish(files: list[uploads.FieldUploads]) -> None:
    for field_uploads in files:
        field_uploads.finish()


def submit_form(form, file_fields, submit, *, single: bool = False):
    """Validate a form with uploads and hand its files to ``submit``; return what that
    returned, its uploads finished. None when nothing was submitted or it was refused:
    then the errors stand on the form and the files are kept for the next try."""
    valid = form.validate_on_submit()
    files = received(form, file_fields, single=single)
    if valid and files_ok(files):
        try:
            result = submit(files)
        except DomainError as exc:
            reject_form(form, exc)
        else:
            finish(files)
            return result
    keep(files)
    return None


def _refused(item, lifecycle, form: DecisionForm, exc: DomainError, render, detail_url: str):
    """A refused decision wrote nothing. A reviewer who may still decide sees the page as
    it stands now, why, and their comment still typed in; if the item moved on there is
    nothing left to decide: say so. Anyone else gets the plain refusal."""
    db.session.rollback()
    db.session.refresh(item)
    if not current_user.can_review():
        raise exc
    if "approve" not in lifecycle.allowed(item, current_user):
        flash(exc.message, "error")
        return redirect(detail_url)
    form.version.data = item.version
    return render(item, form, form.refusal(exc)), exc.status_code


def decide(item, lifecycle, render, detail_url: str, approved):
    """The decision POST of a certification application or a listing: validate, decide,
    and say what came of it; a refusal re-renders the page with the comment kept."""
    form = DecisionForm()
    if not form.validate_on_submit():
        return render(item, form, _("请选择审核结论。") if form.outcome.errors else None), 422
    try:
        decisions.decide(item, current_user._get_current_object(), Outcome(form.outcome.data),
                         form.comment.data or "", form.version_number())
    except DomainError as exc:
        return _refused(item, lifecycle, form, exc, render, detail_url)
    flash(approved() or _("审核意见已记录。"), "success")
    return redirect(detail_url)
