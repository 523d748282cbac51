"""Durable record of pending index work, replayed at start-up.

The journal is a small SQLite file next to the index generations (WAL,
``synchronous=NORMAL``), so it survives a rebuild swap and a process crash. An entry is
a *dirty key* — ``(kind, id)`` — plus an optional snapshot of the document
(``None`` for a removal). Replay asks the loader (the database) for the
current document when one is configured, so replay is idempotent and right
even if the entry was written for a transaction that then rolled back; without
a loader (eval, tests) it uses the snapshot.

Every engine write (``index``/``remove``/``apply``) records its entries here
first, then makes them visible in the engine's in-memory overlay; the flush
that applies them to Whoosh deletes them. So a write is durable when it
returns, though Whoosh only sees it at the next flush: a crash in between
leaves the entries for start-up replay. The app's own record of pending work
is the ``index_jobs`` table, written in the same database transaction as the
change (see indexing.py), which a file next to the index cannot be; its rows
are deleted once ``apply`` has journalled their operations here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    doc TEXT,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pending_done ON pending(done, seq);
"""


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return {"__dt__": value.isoformat()}
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    if set(obj) == {"__dt__"}:
        return datetime.fromisoformat(obj["__dt__"])
    return obj


def dumps_doc(doc: Mapping[str, Any] | None) -> str | None:
    return None if doc is None else json.dumps(dict(doc), default=_default, ensure_ascii=False)


def loads_doc(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text, object_hook=_hook)


class Journal:
    """Pending index operations in a SQLite file; safe across threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a committed entry survives the process crashing (the case
        # the journal exists for) without an fsync per entry
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def record(self, ops: Iterable[tuple[str, Any, Mapping[str, Any] | None]]) -> list[int]:
        """Write ``(kind, id, doc-or-None)`` entries durably; return their sequence numbers."""
        rows = [(kind, str(doc_id), dumps_doc(doc)) for kind, doc_id, doc in ops]
        if not rows:
            return []
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            seqs = []
            for row in rows:
                cur.execute("INSERT INTO pending (kind, doc_id, doc) VALUES (?, ?, ?)", row)
                seqs.append(int(cur.lastrowid or 0))
            cur.execute("COMMIT")
        return seqs

    def done(self, seqs: Iterable[int]) -> None:
        """Forget applied entries (the journal only ever holds pending work)."""
        seqs = list(seqs)
        if not seqs:
            return
        with self._lock:
            self._conn.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])

    def pending(
        self, after: int = 0, *, include_done: bool = False
    ) -> list[tuple[int, str, str, dict | None]]:
        """Entries after ``after``: ``(seq, kind, id, doc)``, oldest first."""
        sql = "SELECT seq, kind, doc_id, doc FROM pending WHERE seq > ?"
        if not include_done:
            sql += " AND done = 0"
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq", (after,)).fetchall()
        return [(seq, kind, doc_id, loads_doc(doc)) for seq, kind, doc_id, doc in rows]

    def last_seq(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM pending").fetchone()
        return int(row[0])

    def prune(self, before: int) -> None:
        """Forget applied entries older than ``before``."""
        with self._lock:
            self._conn.execute("DELETE FROM pending WHERE done = 1 AND seq < ?", (before,))
