"""Throttling of the login, registration and password endpoints, per client address.

Flask-Limiter, with its counters in this process's memory (``RATELIMIT_STORAGE_URI``,
``memory://`` by default): `bounty serve` is one process, and the ``limits`` library
has no SQL storage; a deployment on several nodes points it at a shared store (Redis,
Memcached) instead. Counters restart with the server, which only forgives.

* ``BOUNTY_LOGIN_LIMIT`` failed logins per address (20 per 10 minutes), whatever the
  accounts tried;
* ``BOUNTY_LOGIN_ACCOUNT_LIMIT`` failed logins per address *and* account (5 per 15
  minutes). No lock is kept per account alone: anyone could lock a known reviewer out
  with five requests. The owner, from their own address, is never held back by a
  stranger's failures; a guesser spread over many addresses is bounded by how many it
  has (and by the password rules and scrypt);
* ``BOUNTY_REGISTER_LIMIT`` registrations per address, and ``BOUNTY_PASSWORD_LIMIT``
  failed password changes per address.

A successful login or password change (a redirect) costs nothing. Once an address is
over its login or registration limit, its further posts there are refused by a WSGI
middleware before Flask (``Refuser``): a flood costs the server microseconds per
request, not a page, so other visitors do not slow down (benchmarks/login_load.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask, current_app, render_template, request
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address

from ..extensions import limiter

REFUSER_KEY = "bounty.accounts.refuser"
_LANG = re.compile(r"(?:^|;\s*)lang=([A-Za-z_]+)")


class Refuser:
    """WSGI middleware answering 429 at once to posts from an address that is over the
    limit of that path, until the limit resets. Inside ProxyFix: ``REMOTE_ADDR`` is the
    client's."""

    def __init__(self, wsgi_app: Callable, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.wsgi_app = wsgi_app
        self.headers = list(headers)  # what every response carries (security headers)
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str], float] = {}  # (address, path) -> reset time
        self._pages: dict[str, bytes] = {}  # the 429 page per language cookie

    def block(self, address: str, path: str, until: float, lang: str, page: bytes) -> None:
        with self._lock:
            if len(self._until) > 100_000:  # forget the expired ones
                now = time.time()
                self._until = {k: v for k, v in self._until.items() if v > now}
            self._until[(address, path)] = until
            self._pages[lang] = page

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            key = (environ.get("REMOTE_ADDR", ""), environ.get("PATH_INFO", ""))
            until = self._until.get(key)
            if until is not None:
                lang = _lang(environ.get("HTTP_COOKIE", ""))
                page = self._pages.get(lang)
                wait = until - time.time()
                if wait > 0 and page is not None:
                    start_response("429 TOO MANY REQUESTS", [
                        ("Content-Type", "text/html; charset=utf-8"),
                        ("Content-Length", str(len(page))),
                        ("Retry-After", str(int(wait) + 1)),
                        *self.headers])
                    return [page]
                if wait <= 0:
                    with self._lock:
                        self._until.pop(key, None)
        return self.wsgi_app(environ, start_response)


def _lang(cookie: str) -> str:
    found = _LANG.search(cookie)
    return found.group(1) if found else ""


def init_app(app: Flask, headers: Iterable[tuple[str, str]] = ()) -> None:
    """Put the refuser in front of the app (ProxyFix, when configured, goes before it);
    its answers carry ``headers``."""
    refuser = Refuser(app.wsgi_app, headers)
    app.wsgi_app = refuser
    app.extensions[REFUSER_KEY] = refuser


def _refuse_early(limit: RequestLimit) -> None:
    """On a breach of a per-address limit: refuse that address's next posts early."""
    refuser = current_app.extensions.get(REFUSER_KEY)
    if refuser is None:
        return
    page = render_template("throttled.html", message=_("尝试次数过多，请稍后再试。"))
    refuser.block(get_remote_address(), request.path, float(limit.reset_at),
                  _lang(request.headers.get("Cookie", "")), page.encode())


def _failed(response) -> bool:  # noqa: ANN001
    return response.status_code != 302


def _address_and_account() -> str:
    email = (request.form.get("email") or "").strip().lower()
    return f"{get_remote_address()}|{email}"


def _config(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def login_limits(view):  # noqa: ANN001, ANN201
    """Failed logins, per address and per address and account."""
    view = limiter.limit(_config("BOUNTY_LOGIN_ACCOUNT_LIMIT"), methods=["POST"],
                         key_func=_address_and_account, deduct_when=_failed,
                         scope="login-account")(view)
    return limiter.limit(_config("BOUNTY_LOGIN_LIMIT"), methods=["POST"],
                         deduct_when=_failed, scope="login", on_breach=_refuse_early)(view)


def register_limit(view):  # noqa: ANN001, ANN201
    """Every registration posted, per address."""
    return limiter.limit(_config("BOUNTY_REGISTER_LIMIT"), methods=["POST"],
                         scope="register", on_breach=_refuse_early)(view)


def password_limit(view):  # noqa: ANN001, ANN201
    """Failed password changes, per address."""
    return limiter.limit(_config("BOUNTY_PASSWORD_LIMIT"), methods=["POST"],
                         deduct_when=_failed, scope="password")(view)
