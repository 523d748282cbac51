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
        "BOUNTY_INDEX_DIR": os.environ.get("BOUNTY_INDEX_DIR") or str(folder / "index"),
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
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCK_SECONDS": 15 * 60,
        # the address users reach the platform at, for links in emails; `bounty serve`
        # uses the host and port it serves on when neither variable is set
        "PUBLIC_URL": public_url_from_env() or "http://127.0.0.1:5000",
        "MAIL_SERVER": os.environ.get("MAIL_SERVER"),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", "25")),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME"),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD"),
        "MAIL_USE_TLS": os.environ.get("MAIL_USE_TLS", "").lower() in {"1", "true", "yes"},
        "MAIL_USE_SSL": os.environ.get("MAIL_USE_SSL", "").lower() in {"1", "true", "yes"},
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "bounty@localhost"),
        "SCHEDULER_ENABLED": False,
        # stage groups one person may not both decide, e.g. "award+acceptance,
        # acceptance+certification" or "none"; unset: the default of bounty.review.separation
        "REVIEW_SEPARATED_STAGES": os.environ.get("BOUNTY_REVIEW_SEPARATION"),
        # the shortest bidding window: the form's deadline and what 审题 approval leaves
        "MIN_BIDDING_DAYS": float(os.environ.get("BOUNTY_MIN_BIDDING_DAYS", "7")),
        "CHALLENGES_PER_PAGE": 20,
    }
    config.update(overrides)
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or _secret_key(folder)
    return config
