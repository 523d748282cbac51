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

A successful login or password change (a redirect) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from flask_limiter.util import get_remote_address

from ..extensions import limiter


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
                         deduct_when=_failed, scope="login")(view)


def register_limit(view):  # noqa: ANN001, ANN201
    """Every registration posted, per address."""
    return limiter.limit(_config("BOUNTY_REGISTER_LIMIT"), methods=["POST"],
                         scope="register")(view)


def password_limit(view):  # noqa: ANN001, ANN201
    """Failed password changes, per address."""
    return limiter.limit(_config("BOUNTY_PASSWORD_LIMIT"), methods=["POST"],
                         deduct_when=_failed, scope="password")(view)
