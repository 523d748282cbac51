"""Each process's resident copy of one kind's document columns, as numpy arrays.

A query over many documents (search, 为您推荐) needs every matching document's field
lengths (BM25F), facet values and sort keys. Reading them from ``search_docs`` per
query joined each posting to its document: 226-312 ms at 20,000 challenges. Here
they are held in memory in document-number order and brought up to date at the
start of each query by the rows written since (``seq``, indexed):

* Writes to a kind are serialised by the lock on its ``search_stats`` row and take
  their sequence number under it, so they commit in ``seq`` order: the rows a
  snapshot shows above the copy's ``seq`` are all it has missed.
* A document deleted outright leaves no row to read, so the copy is read again
  whole when its count of live documents disagrees with ``search_stats.docs``
  (removals without a rebuild, and a rebuild's end).

A copy newer than a query's snapshot (another thread caught up meanwhile) is used as
it is while its count agrees: a document's lengths and columns may then be one write
newer than its postings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..engine import FACET_FIELDS
from ..whoosh import arrays
from .tables import FIELDS

SORTS = ("bounty", "deadline", "published_at")
LOG_ENTRIES = 64  # catch-ups remembered per kind (postings.py patches cached terms)
COLUMNS = ("docnum", "seq", "live", *(f"len_{f}" for f in FIELDS), *FACET_FIELDS, *SORTS)


@dataclass(frozen=True)
class Columns:
    """One kind's documents as of ``seq``: numbers ascending, and by position their
    liveness, field lengths, facet codes and sort keys. Never changed once built."""

    seq: int
    docnums: np.ndarray  # int64, ascending
    live: np.ndarray  # bool
    lengths: dict[str, np.ndarray]  # field -> int32
    codes: dict[str, tuple[list[Any], np.ndarray]]  # facet -> (labels, int32 codes)
    keys: dict[str, np.ndarray]  # sort -> float64 (NaN: no value)
    epoch: int = 0  # the resident copy's reads in full (caches keyed by it)
    live_count: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "live_count", int(self.live.sum()))

    def positions(self, docnums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where ``docnums`` are in this copy, and which of them are there and live."""
        n = len(self.docnums)
        pos = np.searchsorted(self.docnums, docnums)
        found = pos < n
        found[found] = self.docnums[pos[found]] == docnums[found]
        found[found] = self.live[pos[found]]
        return np.minimum(pos, max(n - 1, 0)), found


def from_rows(seq: int, rows: list[Any]) -> Columns:
    """Columns of ``rows`` (``COLUMNS`` each, ascending by document number)."""
    col = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    by = dict(zip(COLUMNS, col, strict=True))
    return Columns(
        seq=seq,
        docnums=np.array(by["docnum"], np.int64),
        live=np.array(by["live"], bool),
        lengths={f: np.array(by[f"len_{f}"], np.int32) for f in FIELDS},
        codes={name: arrays.column_codes([v or "" for v in by[name]]) for name in FACET_FIELDS},
        keys={name: arrays.sort_keys(by[name]) for name in SORTS})


def _merged(old: Columns, seq: int, rows: list[Any]) -> Columns:
    """``old`` with ``rows`` (newer versions of its documents, or new ones) applied."""
    new = from_rows(seq, rows)
    pos = np.searchsorted(old.docnums, new.docnums)
    known = pos < len(old.docnums)
    known[known] = old.docnums[pos[known]] == new.docnums[known]
    at, src = pos[known], np.flatnonzero(known)
    add = np.flatnonzero(~known)
    docnums = np.concatenate([old.docnums, new.docnums[add]])
    order = None if not len(add) or not len(old.docnums) or (
        new.docnums[add][0] > old.docnums[-1]) else np.argsort(docnums, kind="stable")

    def combined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a.copy()
        out[at] = b[src]
        out = np.concatenate([out, b[add]])
        return out if order is None else out[order]

    codes = {}
    for name in FACET_FIELDS:
        # the old labels keep their codes; the new rows' codes follow theirs
        labels, both = arrays.merge_codes([old.codes[name], new.codes[name]])
        n = len(old.codes[name][1])
        codes[name] = (labels, combined(both[:n], both[n:]))
    return Columns(
        seq=seq, epoch=old.epoch, docnums=docnums if order is None else docnums[order],
        live=combined(old.live, new.live),
        lengths={f: combined(old.lengths[f], new.lengths[f]) for f in FIELDS},
        codes=codes, keys={name: combined(old.keys[name], new.keys[name]) for name in SORTS})


class Resident:
    """The columns of each kind, shared by the threads of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, Columns] = {}
        self._epochs = 0
        # per kind, the documents each catch-up brought: (seq before, seq after, numbers)
        self._log: dict[str, list[tuple[int, int, np.ndarray]]] = {}

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()
            self._log.clear()

    def current(self, conn: Connection, kind: str, live_docs: int, top: int) -> Columns:
        """The columns of ``kind`` at least as new as ``conn``'s snapshot, whose
        ``search_stats`` count ``live_docs`` live documents and whose latest write has
        the sequence number ``top``."""
        with self._lock:  # one thread catches up; the others wait for its copy
            cols = self._kinds.get(kind)
            if cols is not None and top > cols.seq:
                rows = self._rows(conn, kind, since=cols.seq)
                log = self._log.setdefault(kind, [])
                log.append((cols.seq, top, np.array([r[0] for r in rows], np.int64)))
                del log[:-LOG_ENTRIES]
                cols = _merged(cols, top, rows)
            # a deletion leaves no row: the copy then counts more live documents than
            # the statistics (so does a copy another thread made from a newer snapshot
            # meanwhile, seldom: it is read again from this one, and caught up later)
            if cols is None or cols.live_count != live_docs:
                self._epochs += 1
                cols = replace(from_rows(top, self._rows(conn, kind)), epoch=self._epochs)
                self._log[kind] = []
            self._kinds[kind] = cols
            return cols

    def peek(self, kind: str) -> Columns | None:
        """The copy of ``kind`` as it is (``None``: none made yet)."""
        return self._kinds.get(kind)

    def changed_since(self, kind: str, epoch: int, seq: int) -> np.ndarray | None:
        """The documents the copy of ``kind`` (of ``epoch``) took in after ``seq``
        (``None``: not known, the log does not reach back so far)."""
        with self._lock:
            cols = self._kinds.get(kind)
            if cols is None or cols.epoch != epoch:
                return None
            if seq >= cols.seq:
                return np.zeros(0, np.int64)
            log = self._log.get(kind, [])
            if not log or log[0][0] > seq:
                return None
            return arrays.unique(np.concatenate([d for _, after, d in log if after > seq]))

    @staticmethod
    def _rows(conn: Connection, kind: str, since: int | None = None) -> list[Any]:
        cond = "" if since is None else " AND seq > :s"
        return conn.execute(sa.text(
            f"SELECT {', '.join(COLUMNS)} FROM search_docs WHERE kind = :k{cond} "
            "ORDER BY docnum"), {"k": kind, "s": since}).all()

