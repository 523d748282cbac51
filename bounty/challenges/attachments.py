"""Attachments: type checked by content, stored outside the web root under a
generated name, sent back only as downloads to those allowed to see them."""

from __future__ import annotations

import hashlib
import logging
import secrets
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import filetype
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage

from ..audit import record_event
from ..errors import DomainError
from ..extensions import db
from ..uploadstore import upload_store
from .models import Attachment, Bid, Challenge, Milestone

# Extension -> MIME type we accept, and the content check that must agree.
ALLOWED = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
}
ALLOWED_LABEL = _l("PDF、DOCX、XLSX、PNG、JPG")
_OOXML_MARKER = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml"}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedUpload:
    data: bytes
    original_name: str
    extension: str
    mime_type: str


def _sniff(data: bytes, extension: str) -> bool:
    """Does the content really have the type the file name claims?"""
    if extension in _OOXML_MARKER:
        # DOCX and XLSX are ZIP files; look inside for the part that makes them what they are.
        if not data.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                return _OOXML_MARKER[extension] in archive.namelist()
        except zipfile.BadZipFile:
            return False
    kind = filetype.guess(data[:8192])
    return kind is not None and kind.mime == ALLOWED[extension]


def check_upload(upload: FileStorage, max_bytes: int | None = None) -> CheckedUpload:
    """Validate one uploaded file; raise DomainError with the reason in Chinese."""
    max_bytes = max_bytes or current_app.config["MAX_ATTACHMENT_BYTES"]
    name = Path((upload.filename or "").replace("\\", "/")).name.strip()
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED:
        raise DomainError(str(_l("只接受 %(types)s 文件。", types=ALLOWED_LABEL)))
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DomainError(str(_l("文件「%(name)s」超过 %(mb)d MB。", name=name,
                                 mb=max_bytes // (1024 * 1024))))
    if not data:
        raise DomainError(str(_l("文件「%(name)s」是空的。", name=name)))
    if not _sniff(data, extension):
        raise DomainError(str(_l("文件「%(name)s」的内容与扩展名不符。", name=name)))
    return CheckedUpload(data=data, original_name=name[:255], extension=extension,
                         mime_type=ALLOWED[extension])


class StorageFailed(DomainError):
    """The file could not be written (disk full, folder not writable): nothing was kept."""

    status_code = 503


# A file younger than this may belong to a transaction still under way: the periodic
# sweep leaves it alone.
ORPHAN_MIN_AGE = timedelta(hours=1)
PENDING = "pending"  # the upload store's area of pending uploads


def upload_folder() -> Path:
    """The upload folder of the folder store (UPLOAD_STORE=folder)."""
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_stored(area: str, stored_name: str, data: bytes, *, commit: bool = False) -> None:
    """Write ``data`` as ``stored_name`` in ``area`` of the upload store, whole or not at
    all (see bounty.uploadstore); ``commit``: in a transaction of its own.

    :raises StorageFailed: with a message for the user when the disk refuses; no file
        (partial or whole) is left behind.
    """
    try:
        upload_store().write(area, stored_name, data, commit=commit)
    except OSError as exc:
        log.error("could not store an uploaded file (%s): %s", stored_name, exc)
        raise StorageFailed(str(_l("文件未能保存（服务器存储空间不足或不可写），本次提交没有保存，"
                                   "请稍后重试或联系平台管理员。"))) from exc


def add_attachment(checked: CheckedUpload, *, user, challenge: Challenge, bid: Bid | None = None,
                   milestone: Milestone | None = None) -> Attachment:
    """Write the file and its row in the caller's transaction.

    The file is written first under a random name; if the transaction then
    rolls back, the database store drops it with the transaction, and for the folder
    :func:`discard_orphans` (or the caller) removes it, so no row ever points at a
    missing file.
    """
    stored_name = f"{secrets.token_hex(16)}.{checked.extension}"
    write_stored("", stored_name, checked.data)
    attachment = Attachment(
        challenge_id=challenge.id, bid_id=bid.id if bid else None,
        milestone_id=milestone.id if milestone else None, uploaded_by_id=user.id,
        original_name=checked.original_name, stored_name=stored_name,
        mime_type=checked.mime_type, size_bytes=len(checked.data),
        sha256=hashlib.sha256(checked.data).hexdigest(),
    )
    db.session.add(attachment)
    db.session.flush()
    record_event(actor=user, action="add_attachment", subject=attachment,
                 challenge_id=challenge.id, comment=checked.original_name)
    return attachment


def remove_attachment(attachment: Attachment, *, user) -> None:
    """Delete the row in the caller's transaction; unlink the file after it commits."""
    record_event(actor=user, action="remove_attachment", subject=attachment,
                 challenge_id=attachment.challenge_id, comment=attachment.original_name)
    db.session.delete(attachment)


def unlink_stored(stored_names) -> None:
    """Remove stored files by name (after their rows were deleted, or never committed)."""
    upload_store().delete("", stored_names)


def discard_orphans(min_age: timedelta = ORPHAN_MIN_AGE) -> int:
    """Remove stored files that no row refers to (left by a rolled-back upload or a crash),
    once older than ``min_age`` (so that a file of an upload still in progress stays), and
    pending uploads past their lifetime; return how many went."""
    known = set(db.session.execute(sa.select(Attachment.stored_name)).scalars())
    store = upload_store()
    removed = store.sweep("", known, min_age)
    lifetime = timedelta(seconds=pending_lifetime_seconds())
    return removed + store.sweep(PENDING, set(), lifetime)


# --------------------------------------------------------------------------- pending uploads
# A file chosen on a form that then failed (a missing field, a rule) is kept as a pending
# upload: written under a random name in uploads/pending/, named in the re-rendered form by a
# signed token that only its uploader can redeem, for PENDING_UPLOAD_HOURS (default 24);
# discard_orphans removes it after that.


@dataclass(frozen=True)
class PendingUpload:
    token: str
    original_name: str
    size_bytes: int
    stored_name: str
    extension: str
    mime_type: str

    def read(self) -> CheckedUpload:
        return CheckedUpload(data=upload_store().read(PENDING, self.stored_name),
                             original_name=self.original_name, extension=self.extension,
                             mime_type=self.mime_type)


def pending_folder() -> Path:
    """The folder of pending uploads in the folder store."""
    return Path(current_app.config["UPLOAD_FOLDER"]) / PENDING


def pending_lifetime_seconds() -> float:
    return float(current_app.config.get("PENDING_UPLOAD_HOURS", 24)) * 3600


def _pending_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pending-upload")


def stash_pending(checked: CheckedUpload, user) -> PendingUpload | None:
    """Keep a checked file for the user's next try at the same form; ``None`` when the
    disk refuses it (nothing is left behind, and the user chooses the file again)."""
    stored_name = f"{secrets.token_hex(16)}.{checked.extension}"
    try:
        write_stored(PENDING, stored_name, checked.data, commit=True)
    except StorageFailed:
        return None
    token = _pending_signer().dumps({"s": stored_name, "n": checked.original_name,
                                     "u": user.id, "z": len(checked.data)})
    return PendingUpload(token=token, original_name=checked.original_name,
                         size_bytes=len(checked.data), stored_name=stored_name,
                         extension=checked.extension, mime_type=ALLOWED[checked.extension])


def load_pending(token: str, user) -> PendingUpload | None:
    """The user's own pending upload named by ``token``; None when it is not theirs,
    forged, expired or gone."""
    try:
        data = _pending_signer().loads(token, max_age=pending_lifetime_seconds())
    except BadSignature:
        return None
    stored_name = str(data.get("s", ""))
    extension = stored_name.rpartition(".")[2]
    if (user is None or data.get("u") != user.id or extension not in ALLOWED
            or stored_name != Path(stored_name).name
            or not upload_store().exists(PENDING, stored_name)):
        return None
    return PendingUpload(token=token, original_name=str(data.get("n", "")),
                         size_bytes=int(data.get("z", 0)), stored_name=stored_name,
                         extension=extension, mime_type=ALLOWED[extension])


def drop_pending(pending) -> None:
    """Remove pending uploads (used by a successful save, or removed by their uploader)."""
    upload_store().delete(PENDING, [upload.stored_name for upload in pending])


def send_stored(area: str, stored_name: str, mime_type: str, download_name: str):
    """A stored upload, always as a download (Content-Disposition: attachment), never
    rendered inline nor cached."""
    return upload_store().send(area, stored_name, mime_type, download_name)


def send_attachment(attachment: Attachment, download_name: str | None = None):
    return send_stored("", attachment.stored_name, attachment.mime_type,
                       download_name or attachment.original_name)
