"""Rendering emails from templates, in the recipient's language, with absolute links."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from flask_babel import force_locale, get_locale
from markupsafe import Markup

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


class ItemCache:
    """Digest items rendered once per challenge and language, then shared by every
    digest that lists them: most of a digest run's rendering time otherwise."""

    def __init__(self, links: dict[int, str]) -> None:
        self.links = links
        self._items: dict[tuple[str, int], dict] = {}

    def item(self, card) -> dict:
        """{"text", "html"} for a challenge, in the current locale."""
        key = (str(get_locale()), card.id)
        item = self._items.get(key)
        if item is None:
            env = current_app.jinja_env
            context = {"c": card, "url": self.links[card.id]}
            item = self._items[key] = {
                "text": env.get_template("digests/email/_item.txt").render(**context),
                "html": Markup(env.get_template("digests/email/_item.html").render(**context)),
            }
        return item
