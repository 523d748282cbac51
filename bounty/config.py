"""Configuration: defaults, environment overrides and the instance folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def instance_path() -> Path:
    """The folder that holds all local state (SQLite file, index, uploads, secret key)."""
    return Path(os.environ.get("BOUNTY_INSTANCE", "instance")).resolve()


def _secret_key(folder: Path) -> str:
    # Generated once per instance so sessions survive restarts without a hand-made secret.
    key_file = folder / "secret_key"
    if not key_file.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def public_url_from_env() -> str | None:
    """PUBLIC_URL (or its older name BOUNTY_PUBLIC_URL) when set in the environment."""
    return os.environ.get("PUBLIC_URL") or os.environ.get("BOUNTY_PUBLIC_URL") or None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def build_config(overrides: dict | None = None) -> dict:
    """Merge defaults, environment and explicit overrides into one mapping."""
    overrides = dict(overrides or {})
    folder = Path(overrides.get("BOUNTY_INSTANCE") or instance_path()).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config: dict = {
        "BOUNTY_INSTANCE": str(folder),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or f"sqlite:///{folder / 'bounty.sqlite3'}",
        "UPLOAD_FOLDER": str(folder / "uploads"),
        # where uploaded files live: "folder" (UPLOAD_FOLDER, the default) or "database"
        # (every node of a platform on several machines serves every file)
        "UPLOAD_STORE": os.environ.get("UPLOAD_STORE", "folder").strip().lower() or "folder",
        "BOUNTY_INDEX_DIR": os.environ.get("BOUNTY_INDEX_DIR") or str(folder / "index"),
        # where the search index lives: "whoosh" (files in BOUNTY_INDEX_DIR, the default)
        # or "postgres" (tables beside the data, written in the data's transactions)
        "SEARCH_BACKEND": os.environ.get("SEARCH_BACKEND", "whoosh").strip().lower() or "whoosh",
        # seconds between index flushes (None: 1 s, or no background flusher when testing)
        "BOUNTY_INDEX_REFRESH": os.environ.get("BOUNTY_INDEX_REFRESH"),
        # the sentence-embedding model for semantic matching ("none": lexical only)
        "BOUNTY_EMBEDDER": os.environ.get("BOUNTY_EMBEDDER", "e5-small"),
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "MAX_ATTACHMENT_BYTES": 20 * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": ["zh_CN", "en"],
        "BOUNTY_TIMEZONE": "Asia/Shanghai",
        "SESSION_COOKIE_HTTPONLY": True,
        # Secure cookies: always when set, else whenever a request arrives over TLS
        "SESSION_COOKIE_SECURE": _flag("BOUNTY_SECURE_COOKIES"),
        "REMEMBER_COOKIE_SECURE": _flag("BOUNTY_SECURE_COOKIES"),
        # a session ends after this many minutes without a request
        "BOUNTY_SESSION_IDLE_MINUTES": int(os.environ.get("BOUNTY_SESSION_IDLE_MINUTES", "120")),
        # how many reverse proxies set X-Forwarded-* in front of the server (0: none trusted)
        "BOUNTY_PROXY_COUNT": int(os.environ.get("BOUNTY_PROXY_COUNT", "0")),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        # Throttling per client address (Flask-Limiter; README "Throttling"): only failed
        # logins and password changes count; every registration does.
        "RATELIMIT_STORAGE_URI": os.environ.get("BOUNTY_RATELIMIT_STORAGE", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "BOUNTY_LOGIN_LIMIT": os.environ.get("BOUNTY_LOGIN_LIMIT", "20 per 10 minutes"),
        "BOUNTY_LOGIN_ACCOUNT_LIMIT": os.environ.get("BOUNTY_LOGIN_ACCOUNT_LIMIT",
                                                     "5 per 15 minutes"),
        "BOUNTY_REGISTER_LIMIT": os.environ.get("BOUNTY_REGISTER_LIMIT", "10 per hour"),
        # how long the link that completes a registration stays valid
        "BOUNTY_REGISTRATION_LINK_SECONDS": 24 * 3600,
        "BOUNTY_PASSWORD_LIMIT": os.environ.get("BOUNTY_PASSWORD_LIMIT", "10 per 10 minutes"),
        # the address users reach the platform at, for links in emails; `bounty serve`
        # uses the host and port it serves on when neither variable is set
        "PUBLIC_URL": public_url_from_env() or "http://127.0.0.1:5000",
        "MAIL_SERVER": os.environ.get("MAIL_SERVER"),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", "25")),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME"),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD"),
        "MAIL_USE_TLS": _flag("MAIL_USE_TLS"),
        "MAIL_USE_SSL": _flag("MAIL_USE_SSL"),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "bounty@localhost"),
        # the audit chain's HMAC keys, id:secret (bounty/audit_keys.py)
        "BOUNTY_AUDIT_KEY": os.environ.get("BOUNTY_AUDIT_KEY"),
        "BOUNTY_AUDIT_OLD_KEYS": os.environ.get("BOUNTY_AUDIT_OLD_KEYS", ""),
        "SCHEDULER_ENABLED": False,
        # stage groups one person may not both decide, e.g. "award+acceptance,
        # acceptance+certification" or "none"; unset: the default of bounty.review.separation
        "REVIEW_SEPARATED_STAGES": os.environ.get("BOUNTY_REVIEW_SEPARATION"),
        # the shortest bidding window: the form's deadline and what 审题 approval leaves
        "MIN_BIDDING_DAYS": float(os.environ.get("BOUNTY_MIN_BIDDING_DAYS", "7")),
        # "production": refuse a generated secret key and a missing audit key (production.py)
        "BOUNTY_ENV": os.environ.get("BOUNTY_ENV", "development"),
        "CHALLENGES_PER_PAGE": 20,
        # digests and the outbox (bounty/digests)
        # how often the scheduler closes deadlines, flags overdue reviews and drains the
        # outbox; how often a standby `bounty worker` tries to take over (seconds)
        "BOUNTY_JOB_INTERVAL_SECONDS": float(os.environ.get("BOUNTY_JOB_INTERVAL_SECONDS", "60")),
        "BOUNTY_WORKER_STANDBY_SECONDS": float(
            os.environ.get("BOUNTY_WORKER_STANDBY_SECONDS", "5")),
        "DIGEST_DAILY_HOUR": 8,
        "DIGEST_DAILY_MINUTE": 0,
        "DIGEST_WEEKLY_DAY": "mon",
        "DIGEST_MAX_ITEMS": 20,
        "MAIL_TIMEOUT": 30,
        "OUTBOX_BATCH_SIZE": 100,
        "OUTBOX_WORKERS": 2,  # parallel SMTP connections of one drain
        "OUTBOX_MAX_ATTEMPTS": 12,
        "OUTBOX_BACKOFF_SECONDS": 60,
        "OUTBOX_BACKOFF_MAX": 3600,
        "OUTBOX_LEASE_SECONDS": 15 * 60,
        "OUTBOX_LEASE_EXPIRED": "requeue",  # or "fail": see bounty/digests/outbox.py
        "UNSUBSCRIBE_MAX_AGE": 366 * 24 * 3600,
    }
    config.update(overrides)
    if "SECRET_KEY" in config:
        config.setdefault("BOUNTY_SECRET_KEY_SOURCE", "given")
    elif os.environ.get("SECRET_KEY"):
        config["SECRET_KEY"] = os.environ["SECRET_KEY"]
        config["BOUNTY_SECRET_KEY_SOURCE"] = "environment"
    else:
        config["SECRET_KEY"] = _secret_key(folder)
        config["BOUNTY_SECRET_KEY_SOURCE"] = "instance file"
    return config
