"""Rendering emails from templates, in the recipient's language, with absolute links."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from flask_babel import force_locale

from .links import absolute_url, unsubscribe_url


@contextmanager
def recipient_locale(locale: str | None) -> Iterator[None]:
    """Render in the recipient's language (Chinese unless they chose another)."""
    chosen = locale if locale in current_app.config["LANGUAGES"] else "zh_CN"
    with force_locale(chosen):
        yield


def render_pair(name: str, **context) -> tuple[str, str]:
    """(text, html) from templates/digests/email/<name>.txt and .html.

    Straight through the Jinja environment: no request, no context processors.
    """
    env = current_app.jinja_env
    context.setdefault("public_url", current_app.config["PUBLIC_URL"].rstrip("/"))
    text = env.get_template(f"digests/email/{name}.txt").render(**context)
    html = env.get_template(f"digests/email/{name}.html").render(**context)
    return text, html


def list_headers(user_id: int, purpose: str) -> tuple[str, dict]:
    """(unsubscribe url, the RFC 8058 headers that carry it)."""
    url = unsubscribe_url(user_id, purpose)
    return url, {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }


def settings_url() -> str:
    return absolute_url("digests.settings")
