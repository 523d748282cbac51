"""Attachments: type checked by content, stored outside the web root under a
generated name, sent back only as downloads to those allowed to see them."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import time
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import filetype
import sqlalchemy as sa
from flask import current_app, send_file
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage

from ..audit import record_event
from ..errors import DomainError
from ..extensions import db
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
PARTIAL_SUFFIX = ".part"


def upload_folder() -> Path:
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_stored(folder_of, stored_name: str, data: bytes) -> Path:  # noqa: ANN001
    """Write ``data`` as ``stored_name`` in the folder ``folder_of()`` returns, whole or not
    at all: into a partial file first, renamed once complete.

    :raises StorageFailed: with a message for the user when the disk refuses; no file
        (partial or whole) is left behind.
    """
    path = partial = None
    try:
        folder = folder_of()
        path = folder / stored_name
        partial = folder / (stored_name + PARTIAL_SUFFIX)
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        for leftover in (partial, path):
            if leftover is not None:
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
        log.error("could not store an uploaded file (%s): %s", stored_name, exc)
        raise StorageFailed(str(_l("文件未能保存（服务器存储空间不足或不可写），本次提交没有保存，"
                                   "请稍后重试或联系平台管理员。"))) from exc
    return path


def add_attachment(checked: CheckedUpload, *, user, challenge: Challenge, bid: Bid | None = None,
                   milestone: Milestone | None = None) -> Attachment:
    """Write the file and its row in the caller's transaction.

    The file is written first under a random name; if the transaction then
    rolls back, :func:`discard_orphans` (or the next call) removes it, so no
    row ever points at a missing file.
    """
    stored_name = f"{secrets.token_hex(16)}.{checked.extension}"
    write_stored(upload_folder, stored_name, checked.data)
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
    folder = upload_folder()
    for name in stored_names:
        (folder / name).unlink(missing_ok=True)


def sweep_folder(folder: Path, known: set[str], min_age: timedelta = ORPHAN_MIN_AGE) -> int:
    """Remove the folder's own files (not subfolders) that are not in ``known`` and older
    than ``min_age``; return how many."""
    cutoff = time.time() - min_age.total_seconds()
    removed = 0
    for path in folder.iterdir() if folder.is_dir() else ():
        try:
            if path.is_file() and path.name not in known and path.stat().st_mtime <= cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # removed meanwhile
    return removed


def discard_orphans(min_age: timedelta = ORPHAN_MIN_AGE) -> int:
    """Remove stored files that no row refers to (left by a rolled-back upload or a crash),
    once older than ``min_age`` (so that a file of an upload still in progress stays), and
    pending uploads past their lifetime; return how many went."""
    known = set(db.session.execute(sa.select(Attachment.stored_name)).scalars())
    removed = sweep_folder(upload_folder(), known, min_age)
    lifetime = timedelta(seconds=pending_lifetime_seconds())
    return removed + sweep_folder(pending_folder(), set(), lifetime)


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
        return CheckedUpload(data=(pending_folder() / self.stored_name).read_bytes(),
                             original_name=self.original_name, extension=self.extension,
                             mime_type=self.mime_type)


def pending_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"]) / "pending"


def pending_lifetime_seconds() -> float:
    return float(current_app.config.get("PENDING_UPLOAD_HOURS", 24)) * 3600


def _pending_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pending-upload")


def _pending_folder_made() -> Path:
    folder = pending_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stash_pending(checked: CheckedUpload, user) -> PendingUpload | None:
    """Keep a checked file for the user's next try at the same form; ``None`` when the
    disk refuses it (nothing is left behind, and the user chooses the file again)."""
    stored_name = f"{secrets.token_hex(16)}.{checked.extension}"
    try:
        write_stored(_pending_folder_made, stored_name, checked.data)
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
            or not (pending_folder() / stored_name).is_file()):
        return None
    return PendingUpload(token=token, original_name=str(data.get("n", "")),
                         size_bytes=int(data.get("z", 0)), stored_name=stored_name,
                         extension=extension, mime_type=ALLOWED[extension])


def drop_pending(pending) -> None:
    """Remove pending uploads (used by a successful save, or removed by their uploader)."""
    for upload in pending:
        (pending_folder() / upload.stored_name).unlink(missing_ok=True)


def send_stored(path: Path, mime_type: str, download_name: str):
    """A stored upload, always as a download (Content-Disposition: attachment), never
    rendered inline nor cached."""
    response = send_file(path, mimetype=mime_type, as_attachment=True,
                         download_name=download_name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def send_attachment(attachment: Attachment, download_name: str | None = None):
    return send_stored(upload_folder() / attachment.stored_name, attachment.mime_type,
                       download_name or attachment.original_name)
