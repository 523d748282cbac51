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
import os
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
CREATE TABLE IF NOT EXISTS rebuilds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    after_seq INTEGER NOT NULL,
    pid INTEGER NOT NULL
);
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
        """Settle applied entries: forgotten, or kept (marked done) while a rebuild runs.

        A rebuild in any process copies every entry after its start into the
        new generation before the swap (see :meth:`begin_rebuild`), so applied
        entries stay readable until no rebuild needs them.
        """
        seqs = [(s,) for s in seqs]
        if not seqs:
            return
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            if self._rebuilds(cur):
                cur.executemany("UPDATE pending SET done = 1 WHERE seq = ?", seqs)
            else:
                cur.executemany("DELETE FROM pending WHERE seq = ?", seqs)
            cur.execute("COMMIT")

    def _rebuilds(self, cur: sqlite3.Cursor) -> list[tuple[int, int]]:
        """Running rebuilds ``(id, after_seq)``; a dead process's are dropped (one host)."""
        rows = cur.execute("SELECT id, after_seq, pid FROM rebuilds").fetchall()
        live = []
        for rid, after, pid in rows:
            if _alive(pid):
                live.append((rid, after))
            else:
                cur.execute("DELETE FROM rebuilds WHERE id = ?", (rid,))
        return live

    def begin_rebuild(self) -> tuple[int, int]:
        """Register a rebuild; returns its id and the last sequence number written before it.

        From now on applied entries are kept, so :meth:`since` can list every
        write that reached the live generation while the rebuild read the
        database.
        """
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            row = cur.execute("SELECT seq FROM sqlite_sequence WHERE name = 'pending'").fetchone()
            after = int(row[0]) if row else 0
            cur.execute("INSERT INTO rebuilds (after_seq, pid) VALUES (?, ?)", (after, os.getpid()))
            rid = int(cur.lastrowid or 0)
            cur.execute("COMMIT")
        return rid, after

    def end_rebuild(self, rid: int) -> None:
        """Unregister a rebuild and forget the applied entries no other rebuild needs."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("DELETE FROM rebuilds WHERE id = ?", (rid,))
            others = self._rebuilds(cur)
            if others:
                oldest = min(after for _rid, after in others)
                cur.execute("DELETE FROM pending WHERE done = 1 AND seq <= ?", (oldest,))
            else:
                cur.execute("DELETE FROM pending WHERE done = 1")
            cur.execute("COMMIT")

    def since(self, after: int) -> list[tuple[str, str, dict | None]]:
        """Every entry after ``after``, applied or not: ``(kind, id, doc)``, oldest first."""
        return [(kind, doc_id, doc) for _seq, kind, doc_id, doc
                in self.pending(after, include_done=True)]

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



def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's live process
        return True
    return True
