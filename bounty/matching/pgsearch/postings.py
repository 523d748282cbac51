"""Reading postings: one statement for a query's terms, and a process-wide cache of them.

A term's postings are read as one binary string of ``_POSTING`` records (the document
number and the term's frequency in each field, 16 bytes), aggregated by PostgreSQL and
decoded by numpy. At 100,000 challenges a query's eight terms hold ~300,000 postings,
and reading them took ~95 ms of a 119 ms search; so each process keeps the decoded
postings of the terms it was asked for (under the shared ``TERM_CACHE_BYTES``), as of
the sequence number of the resident columns (columns.py) they were read with. When the
columns catch up, the documents written since are known: a cached term's postings are
patched by reading only those documents' rows (an index probe each), not read again.
Postings here are always as a snapshot sees them: the folded ones less those of stale
versions, plus the pending documents' own (pending.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..whoosh.cache import ByteCache, frozen
from .columns import Columns, Resident
from .pending import Pending, PendingCopies, Postings, empty_postings
from .tables import FIELDS

_POSTING = np.dtype([("docnum", ">i8"), *((f, ">i2") for f in FIELDS)])
_RECORDS = ("string_agg(int8send(docnum) || "
            + " || ".join(f"int2send(tf_{f})" for f in FIELDS) + ", ''::bytea)")
# More documents written since a term was cached than this: it is read again whole
# (the patch probes the index once per term and document).
PATCH_MAX = 256

def _decode(raw: bytes | None) -> Postings:
    if not raw:
        return empty_postings()
    p = np.frombuffer(raw, _POSTING)
    if len(p) > 1 and (np.diff(p["docnum"]) < 0).any():  # aggregated in no set order
        p = np.sort(p, order="docnum")
    return p["docnum"].astype(np.int64), np.stack([p[f] for f in FIELDS], axis=1).astype(
        np.int16)


def read(conn: Connection, pending: Pending, kind: str, terms: list[str],
         only: np.ndarray | None = None, *, probe: bool = False) -> dict[str, Postings]:
    """The postings of ``terms`` (every one in the result, maybe empty) as the snapshot
    of ``pending`` sees them, in one statement; ``only``: of these documents alone
    (ascending), found by an index probe per term and document (``probe``: a few
    documents of long postings) or by reading the terms' postings through a filter."""
    out = {t: empty_postings() for t in terms}
    if terms:
        params: dict[str, Any] = {"k": kind, "t": sorted(terms)}
        if only is None:
            restrict = ""
        elif probe:
            restrict, params["c"] = " AND docnum = ANY(:c)", only.tolist()
        else:
            # a constant array (numbers only) in a filter, not the index condition: the
            # planner hashes it (12.6 ms for 71 terms' postings at 20,000 challenges; a
            # parameter is compared element by element, 236 ms; an index condition
            # probes the index once per element and term, 108 ms)
            restrict = (" AND docnum + 0 = ANY('{" + ",".join(map(str, only.tolist()))
                        + "}'::bigint[])")
        for term, raw in conn.execute(sa.text(
                f"SELECT term, {_RECORDS} FROM search_postings WHERE kind = :k AND "
                f"term = ANY(:t){restrict} GROUP BY term"), params):
            out[term] = _decode(raw)
    return {t: pending.effective(t, p, only) for t, p in out.items()}


class PostingsCache:
    """Decoded postings by (kind, term), each as of a (columns epoch, sequence number)."""

    def __init__(self) -> None:
        self._cache = ByteCache()

    def clear(self) -> None:
        self._cache = ByteCache()

    def peek(self, cols: Columns, kind: str, terms: list[str]) -> dict[str, Postings]:
        """The cached postings of ``terms`` that are as of ``cols`` (no statement)."""
        out = {}
        for t in terms:
            entry = self._cache.get((kind, t))
            if entry is not None and tuple(entry[2].tolist()) == (cols.epoch, cols.seq):
                out[t] = (entry[0], entry[1])
        return out

    def get(self, conn: Connection, resident: Resident, cols: Columns, pending: Pending,
            kind: str, terms: list[str]) -> dict[str, Postings]:
        """The postings of ``terms`` as of ``cols`` (of ``resident``) and ``pending``,
        which ``conn``'s snapshot shows exactly."""
        out: dict[str, Postings] = {}
        stale: dict[str, Postings] = {}
        since: int | None = None
        for t in terms:
            entry = self._cache.get((kind, t))
            if entry is None or int(entry[2][0]) != cols.epoch:
                continue
            seq = int(entry[2][1])
            if seq == cols.seq:
                out[t] = (entry[0], entry[1])
            elif seq < cols.seq:
                stale[t] = (entry[0], entry[1])
                since = seq if since is None else min(since, seq)
        changed = None if since is None else resident.changed_since(kind, cols.epoch, since)
        if changed is not None and len(changed) <= PATCH_MAX:
            fresh = read(conn, pending, kind, list(stale), changed, probe=True)
            for t, (docs, tf) in stale.items():
                keep = ~np.isin(docs, changed)
                new_docs, new_tf = fresh[t]
                docs = np.concatenate([docs[keep], new_docs])
                order = np.argsort(docs, kind="stable")
                out[t] = self._put(kind, t, cols, docs[order],
                                   np.concatenate([tf[keep], new_tf])[order])
        missing = [t for t in terms if t not in out]
        for t, (docs, tf) in read(conn, pending, kind, missing).items():
            out[t] = self._put(kind, t, cols, docs, tf)
        return out

    def _put(self, kind: str, term: str, cols: Columns, docs: np.ndarray, tf: np.ndarray
             ) -> Postings:
        self._cache.replace((kind, term),
                            frozen(docs, tf, np.array([cols.epoch, cols.seq], np.int64)))
        return docs, tf


class Memory:
    """What a process keeps between queries: the resident columns and cached postings."""

    def __init__(self) -> None:
        self.resident = Resident()
        self.pending = PendingCopies()
        self.postings = PostingsCache()

    def clear(self) -> None:
        self.resident.clear()
        self.pending.clear()
        self.postings.clear()
