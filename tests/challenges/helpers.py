"""Shared helpers for the challenge page tests: files of each kind, form data, snapshots."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from werkzeug.datastructures import FileStorage

from bounty.audit import AuditEvent
from bounty.challenges import attachments
from bounty.challenges.models import Attachment, Challenge
from bounty.extensions import db
from bounty.timeutil import to_local, utcnow
from bounty.transactions import atomic

from ..conftest import signed_in

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
       b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
       b"\x00\x00IEND\xaeB`\x82")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64 + b"PE\x00\x00"
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def local_input(when) -> str:
    """A UTC time as the datetime-local value a user in Shanghai would type."""
    return to_local(when).strftime("%Y-%m-%dT%H:%M")


TYPED_TITLE = "新能源汽车电机控制器散热结构优化"


def form_data(**overrides) -> dict:
    data = {
        "title": TYPED_TITLE,
        "industry": "auto_parts",
        "category": "key_process",
        "background": "现有控制器在高负载下温升过高，影响整车可靠性。",
        "bottleneck": "功率模块结温需控制在 125℃ 以下，现有风冷方案无法满足。",
        "indicators-0-name": "最高结温",
        "indicators-0-target": "≤125",
        "indicators-0-unit": "℃",
        "expected_outcome": "一套可量产的液冷散热结构及验证报告。",
        "bounty_yuan": "800000",
        "bid_deadline": local_input(utcnow() + timedelta(days=20)),
        "delivery_months": "10",
        "ip_terms": "shared",
        "keywords": "电机控制器 散热 液冷",
        "save_draft": "保存草稿",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def upload(content: bytes, name: str):
    return (io.BytesIO(content), name)


def snapshot() -> tuple:
    """Rows and stored files that a refused form must leave unchanged."""
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    # Stored attachments (files chosen on a failed form are kept apart, in pending/).
    files = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []
    count = lambda model: db.session.execute(  # noqa: E731
        sa.select(sa.func.count()).select_from(model)).scalar_one()
    return count(Challenge), count(Attachment), count(AuditEvent), files


def field_block(html: str, name: str) -> str:
    """The rendered `.field` block that holds the input named ``name``."""
    for chunk in re.split(r'<div class="field', html):
        if f'name="{name}"' in chunk:
            return chunk
    raise AssertionError(f"no field {name} in page")


def attach(challenge, user, content: bytes = PDF, name: str = "说明.pdf", *, bid=None):
    """Store an attachment directly (the way a service does) and return it."""
    checked = attachments.check_upload(FileStorage(io.BytesIO(content), filename=name))
    with atomic():
        attachment = attachments.add_attachment(checked, user=user, challenge=challenge, bid=bid)
    return attachment


def client_for(app, user):
    """A client whose session carries the user, skipping the slow password check
    (the login form itself is tested with the accounts)."""
    return signed_in(app, user)
