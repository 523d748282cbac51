"""The files of one form field across a failed submission: every form with uploads keeps
what was chosen (as pending uploads, see attachments.stash_pending) and shows it again
with a remove box, instead of asking for every file once more."""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO

from flask import request
from werkzeug.datastructures import FileStorage

from ..errors import DomainError
from . import attachments


def csrf_failed(form) -> bool:
    """A request without its form's CSRF token: its files are not kept."""
    token = getattr(form, "csrf_token", None)
    return bool(token is not None and token.errors)


def pending_name(form_field) -> str:
    """The hidden input that carries the field's kept files back."""
    return f"{form_field.name}-pending"


def remove_name(form_field) -> str:
    """The checkbox that drops one kept file."""
    return f"{form_field.name}-pending-remove"


@dataclass
class FieldUploads:
    """What one file field brought: files checked now, and files kept from the last try."""

    form_field: object
    user: object
    new: list[attachments.CheckedUpload] = field(default_factory=list)
    kept: list[attachments.PendingUpload] = field(default_factory=list)
    dropped: list[attachments.PendingUpload] = field(default_factory=list)

    @property
    def checked(self) -> list[attachments.CheckedUpload]:
        """Every file to save, for services that take checked uploads."""
        return [*(p.read() for p in self.kept), *self.new]

    @property
    def files(self) -> list[FileStorage]:
        """The same as uploads, for services that check files themselves."""
        return [FileStorage(stream=BytesIO(c.data), filename=c.original_name,
                            content_type=c.mime_type) for c in self.checked]

    @property
    def file(self) -> FileStorage | None:
        """A single-file field's file, or None."""
        files = self.files
        return files[-1] if files else None

    def keep(self) -> list[attachments.PendingUpload]:
        """The form failed: keep the new files as pending, for the page shown again."""
        self.kept += [attachments.stash_pending(c, self.user) for c in self.new]
        self.new = []
        attachments.drop_pending(self.dropped)
        self.dropped = []
        self.form_field.kept = self.kept
        return self.kept

    def finish(self) -> None:
        """The form succeeded: the kept files were saved with it; remove the pending copies."""
        attachments.drop_pending([*self.kept, *self.dropped])
        self.kept, self.dropped = [], []


def receive(form_field, user, *, single: bool = False) -> FieldUploads:
    """Check the files chosen in ``form_field`` (a bad one puts its reason on the field)
    and redeem the ones kept from the last try, less those whose remove box is ticked.

    :param single: a one-file field: a newly chosen file replaces a kept one.
    """
    result = FieldUploads(form_field=form_field, user=user)
    chosen = form_field.data if isinstance(form_field.data, list) else [form_field.data]
    for upload in chosen:
        if not getattr(upload, "filename", ""):
            continue  # the browser sends an empty part when no file was chosen
        try:
            result.new.append(attachments.check_upload(upload))
        except DomainError as exc:
            form_field.errors = [*form_field.errors, exc.message]
    removed = set(request.form.getlist(remove_name(form_field)))
    for token in dict.fromkeys(request.form.getlist(pending_name(form_field))):
        pending = attachments.load_pending(token, user)
        if pending is None:
            continue
        (result.dropped if token in removed else result.kept).append(pending)
    if single and result.new:
        result.dropped += result.kept
        result.kept, result.new = [], result.new[-1:]
    form_field.kept = result.kept
    return result
