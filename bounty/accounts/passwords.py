"""Password strength: a minimum length and a list of common passwords."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flask_babel import lazy_gettext as _l

MIN_LENGTH = 10
# Hashing cost grows with the input; no one types a longer passphrase.
MAX_LENGTH = 256
_COMMON_FILE = Path(__file__).resolve().parent.parent / "data" / "common_passwords.txt"


@cache
def common_passwords() -> frozenset[str]:
    return frozenset(
        line.strip().lower()
        for line in _COMMON_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )


def check_password_strength(password: str) -> str | None:
    """None when acceptable, else the reason in the user's language."""
    if len(password or "") < MIN_LENGTH:
        return str(_l("密码至少需要 %(n)d 个字符。", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        return str(_l("密码不能超过 %(n)d 个字符。", n=MAX_LENGTH))
    if password.lower() in common_passwords():
        return str(_l("该密码过于常见，请换一个。"))
    if len(set(password)) < 4:
        return str(_l("密码过于简单，请混合使用不同字符。"))
    return None
