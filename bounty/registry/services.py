"""Numbers, retries and documents of registry items (certification, market)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import url_for

from ..challenges.attachments import (
    ORPHAN_MIN_AGE,
    CheckedUpload,
    send_stored,
    write_stored,
)
from ..extensions import db
from ..review.items import ItemKind, register_kind
from ..review.models import Outcome, StageKey
from ..timeutil import to_local, utcnow
from ..uploadstore import upload_store
from .models import RegistryCounter, RegistryDocument

OUTCOME_ACTIONS = {Outcome.approve: "approve", Outcome.return_: "return",
                   Outcome.reject: "reject"}


def next_number(prefix: str, now: datetime | None = None) -> str:
    """The next number of a per-year series, inside the caller's transaction.

    The increment is one UPDATE, which holds the counter row's write lock until
    the caller commits, so concurrent approvals queue up on it (PostgreSQL row
    lock, SQLite database lock). Two first-of-the-year inserts racing each other
    clash on the primary key; the caller retries (see :func:`retrying`).
    """
    series = f"{prefix}-{to_local(now or utcnow()).year}"
    bumped = db.session.execute(
        sa.update(RegistryCounter).where(RegistryCounter.series == series)
        .values(last=RegistryCounter.last + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount == 0:
        db.session.add(RegistryCounter(series=series, last=1))
        db.session.flush()
        return f"{series}-0001"
    last = db.session.execute(
        sa.select(RegistryCounter.last).where(RegistryCounter.series == series)
    ).scalar_one()
    return f"{series}-{last:04d}"


# The upload store's area of registry documents (in the folder store a subfolder:
# attachments.discard_orphans() sweeps only the upload folder's own files).
DOCUMENTS = "registry"


class FileBatch:
    """Files written for one unit of work; removed again if it rolls back.

    ``with FileBatch() as batch, atomic():`` — a failure anywhere inside, the commit
    included, removes the files written.
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def __enter__(self) -> FileBatch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()

    def store(self, checked: CheckedUpload, *, user, kind: str, **owner) -> RegistryDocument:
        stored_name = f"{secrets.token_hex(16)}.{checked.extension}"
        write_stored(DOCUMENTS, stored_name, checked.data)
        self.names.append(stored_name)
        document = RegistryDocument(
            kind=kind, uploaded_by_id=user.id, original_name=checked.original_name,
            stored_name=stored_name, mime_type=checked.mime_type,
            size_bytes=len(checked.data), sha256=hashlib.sha256(checked.data).hexdigest(),
            **owner,
        )
        db.session.add(document)
        return document

    def discard(self) -> None:
        upload_store().delete(DOCUMENTS, self.names)
        self.names.clear()


def discard_orphan_documents(min_age: timedelta = ORPHAN_MIN_AGE) -> int:
    """Remove registry files no row refers to, once older than ``min_age``."""
    known = set(db.session.execute(sa.select(RegistryDocument.stored_name)).scalars())
    return upload_store().sweep(DOCUMENTS, known, min_age)


def send_document(document: RegistryDocument):
    return send_stored(DOCUMENTS, document.stored_name, document.mime_type,
                       document.original_name)


def register_registry_kind(*, name: str, model: type, submitted, stage: StageKey,
                           lifecycle, prefix: str, number_attr: str, at_attr: str,
                           title: Callable[[object], str], endpoint: str, id_arg: str,
                           owner_column: str) -> ItemKind:
    """Register a kind of registry item with the review core (bounty.review.items): it
    waits at ``stage`` while ``submitted``; a reviewer's outcome is the lifecycle's
    approve, return or reject, and approval issues the next number of ``prefix``
    (stored in ``number_attr``, its time in ``at_attr``)."""

    def check(item, outcome: Outcome, user, _stage, _now):
        return lifecycle.find(item, OUTCOME_ACTIONS[outcome], user)

    def apply(item, outcome: Outcome, user, comment: str, _now) -> None:
        lifecycle.apply(item, OUTCOME_ACTIONS[outcome], user, comment)
        if outcome == Outcome.approve:
            setattr(item, number_attr, next_number(prefix))
            setattr(item, at_attr, utcnow())

    return register_kind(ItemKind(
        name=name, model=model,
        stage_of=lambda item: stage if item.state == submitted else None,
        waiting=lambda: sa.select(model).where(model.state == submitted),
        title=title,
        review_url=lambda item: url_for(endpoint, **{id_arg: item.id}),
        challenge=lambda item: item.challenge,
        organization_id=lambda item: item.organization_id,
        entered_stage_at=lambda item: item.submitted_at,
        check=check, apply=apply, owner_column=owner_column, retry=True,
    ))
