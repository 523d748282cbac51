"""Small helpers shared by the account tests."""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import urlsplit

import sqlalchemy as sa

from bounty.accounts.models import Organization, User
from bounty.audit import AuditEvent

STRONG = "Ouhai-lock-2024-strong"


def row_counts(db) -> tuple[int, int, int]:
    """Users, organisations and audit events: what a refused form must not change."""
    return tuple(
        db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
        for model in (User, Organization, AuditEvent)
    )


def field_block(page: str, field: str) -> str:
    """The .field block holding the named input, with the errors shown next to it."""
    block = r'<div class="field[^"]*">(?:(?!<div class="field).)*?name="{name}"' \
        r'(?:(?!<div class="field).)*'
    match = re.search(block.format(name=re.escape(field)), page, re.S)
    assert match, f"no field {field} on the page"
    return match.group(0)


def error_texts(page: str) -> list[str]:
    """Every error message on a page, in order."""
    return [html_lib.unescape(m) for m in
            re.findall(r'<p class="error[^"]*"[^>]*>(.*?)</p>', page, re.S)]


def audit_actions(db) -> list[str]:
    return list(db.session.execute(
        sa.select(AuditEvent.action).order_by(AuditEvent.seq)).scalars())


def mailed_link(db, recipient: str) -> str:
    """The link in the last account mail to ``recipient`` (the outbox, as sent)."""
    from bounty.digests.models import OutboxBody, OutboxEmail

    body = db.session.execute(
        sa.select(OutboxBody.text_body).join(OutboxEmail, OutboxEmail.id == OutboxBody.email_id)
        .where(OutboxEmail.recipient == recipient, OutboxEmail.kind == "account")
        .order_by(OutboxEmail.id.desc())).scalars().first()
    assert body is not None, f"no mail to {recipient}"
    match = re.search(r"https?://\S+", body)
    return match.group(0) if match else ""


def register(client, db, data: dict):
    """Post the registration form, then follow the link mailed to its address."""
    response = client.post("/accounts/register", data=data)
    if response.status_code != 302:
        return response
    return client.get(urlsplit(mailed_link(db, data["email"].strip().lower())).path)
