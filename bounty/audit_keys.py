"""The audit chain's HMAC keys: kept outside the database, each with an id.

``BOUNTY_AUDIT_KEY`` is the current key as ``id:secret`` (new events take it);
``BOUNTY_AUDIT_OLD_KEYS`` lists retired keys, ``id:secret`` separated by commas, so
events written with them still verify. To rotate: move the current key to the old
ones and set a new current key with a new id. Without ``BOUNTY_AUDIT_KEY`` a key is
generated once in the instance folder (``audit_key``, mode 600, id ``local-…``): out of
the database, but on the same machine; production sets its own (README "Production").
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class AuditKeyError(Exception):
    """A key is missing or malformed."""


@dataclass(frozen=True)
class AuditKeys:
    current_id: str
    current: bytes
    old: Mapping[str, bytes]

    def get(self, key_id: str) -> bytes | None:
        return self.current if key_id == self.current_id else self.old.get(key_id)


def _parse(entry: str, setting: str) -> tuple[str, bytes]:
    key_id, sep, secret = entry.strip().partition(":")
    if not sep or not key_id.strip() or len(secret.strip()) < 16 or len(key_id) > 40:
        raise AuditKeyError(f"{setting}: each key is id:secret, a secret of 16 characters "
                            "or more and an id of at most 40")
    return key_id.strip(), secret.strip().encode()


def _instance_key(folder: Path) -> str:
    key_file = folder / "audit_key"
    if not key_file.exists():
        folder.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_hex(32)
        key_id = "local-" + hashlib.sha256(secret.encode()).hexdigest()[:8]
        key_file.write_text(f"{key_id}:{secret}")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def audit_keys(config: Mapping) -> AuditKeys:
    """The keys configured for an app (``BOUNTY_AUDIT_KEY``, ``BOUNTY_AUDIT_OLD_KEYS``)."""
    return _keys(config.get("BOUNTY_AUDIT_KEY") or None,
                 config.get("BOUNTY_AUDIT_OLD_KEYS") or "", str(config["BOUNTY_INSTANCE"]))


@functools.lru_cache(maxsize=32)
def _keys(current: str | None, old: str, instance: str) -> AuditKeys:
    # cached: every audit event asks (the instance key file is read once)
    current_id, current_key = _parse(current or _instance_key(Path(instance)),
                                     "BOUNTY_AUDIT_KEY")
    retired = dict(_parse(e, "BOUNTY_AUDIT_OLD_KEYS") for e in old.split(",") if e.strip())
    return AuditKeys(current_id, current_key, retired)
