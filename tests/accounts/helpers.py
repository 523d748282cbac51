"""Small helpers shared by the account tests."""

from __future__ import annotations

import html as html_lib
import re

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
