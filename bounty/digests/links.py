"""Absolute links for emails (built from PUBLIC_URL, no request needed) and unsubscribe tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

UNSUBSCRIBE_SALT = "bounty.digests.unsubscribe"
#: purpose of a token: "digest" or a NotificationKind value
DIGEST_PURPOSE = "digest"


def absolute_url(endpoint: str, **values) -> str:
    """``url_for`` made absolute against the configured public URL, in or out of a request."""
    public = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(
        public.netloc, script_name=public.path.rstrip("/") or "/", url_scheme=public.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: int, purpose: str) -> str:
    """A signed token that unsubscribes one user from one purpose, and nothing else."""
    return _serializer().dumps({"u": user_id, "p": purpose})


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(user id, purpose) for a valid token, else None (tampered, foreign, or too old)."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["UNSUBSCRIBE_MAX_AGE"])
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) \
            or not isinstance(data.get("p"), str):
        return None
    return data["u"], data["p"]


def unsubscribe_url(user_id: int, purpose: str) -> str:
    return absolute_url("digests.unsubscribe", token=unsubscribe_token(user_id, purpose))
