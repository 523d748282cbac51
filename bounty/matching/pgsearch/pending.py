"""Documents written since their kind's last fold: postings and frequencies from their rows.

A write stores its documents' rows, their analyzer terms included, and nothing per
term: inserting a bid's ~400 postings and upserting as many document frequencies was
6-7 ms of a 10-13 ms write. As with a GIN index's pending list, the documents written
after ``search_stats.folded_seq`` are *pending*: queries take their postings and
frequencies from their rows, and a fold (fold.py) writes them into ``search_postings``
and ``search_terms`` later, in bulk, off the request. A fold changes nothing a query
sees.

What a snapshot sees of a kind, then: the folded postings and frequencies, less what
``search_retired`` says is stale (the folded versions of documents written since), plus
the pending documents' own. Each process keeps that difference per kind (``Pending``),
caught up like the resident columns (columns.py): by the rows written after the
sequence number it was made at, and without the documents a fold took since. Writes to
a kind commit in ``seq`` order (its ``search_stats`` row is their lock), so the rows a
snapshot shows above that number are all it has missed. A snapshot older than the
process's copy (another thread caught up meanwhile) gets a copy of its own, read whole:
at most ``fold.PENDING_MAX`` documents.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .tables import FIELDS, MAX_TERM_CHARS

TF_MAX = 32767  # smallint
Counts = dict[str, list[int]]  # term -> frequency in each field (FIELDS order)
Postings = tuple[np.ndarray, np.ndarray]  # document numbers (ascending), tf (n × fields)


def empty_postings() -> Postings:
    return np.zeros(0, np.int64), np.zeros((0, len(FIELDS)), np.int16)


@dataclass(frozen=True)
class Pending:
    """One kind's pending documents and stale folded versions, as of (``folded``, ``top``)."""

    folded: int  # search_stats.folded_seq
    top: int  # search_stats.last_seq
    # document number -> (seq, term counts)
    docs: Mapping[int, tuple[int, Counts]]
    # document number -> (seq, term counts of its folded version; None: nothing folded)
    retired: Mapping[int, tuple[int, Counts | None]]
    masked: np.ndarray = field(init=False)  # their folded postings are stale: ascending
    _terms: dict[str, tuple[np.ndarray, Postings]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "masked", np.array(
            sorted(self.docs.keys() | self.retired.keys()), np.int64))

    def __bool__(self) -> bool:
        return bool(self.docs or self.retired)

    def _term(self, term: str) -> tuple[np.ndarray, Postings]:
        """The term's frequency change per field, and the pending documents' postings."""
        hit = self._terms.get(term)
        if hit is None:
            df = np.zeros(len(FIELDS), np.int64)
            nums, tfs = [], []
            for docnum, (_, counts) in self.docs.items():
                tf = counts.get(term)
                if tf is not None:
                    df += np.array(tf) > 0
                    nums.append(docnum)
                    tfs.append(tf)
            for _, counts in self.retired.values():
                tf = counts.get(term) if counts else None
                if tf is not None:
                    df -= np.array(tf) > 0
            if nums:
                order = np.argsort(nums)
                postings = (np.array(nums, np.int64)[order], np.array(tfs, np.int16)[order])
            else:
                postings = empty_postings()
            hit = self._terms[term] = (df, postings)  # the same for any thread
        return hit

    def df(self, term: str) -> np.ndarray:
        """What to add to the folded document frequencies of ``term`` (per field)."""
        return self._term(term)[0]

    def effective(self, term: str, folded: Postings,
                  only: np.ndarray | None = None) -> Postings:
        """The postings of ``term`` as the snapshot sees them, from its ``folded`` ones;
        ``only``: the documents these were read for (ascending)."""
        if not self:
            return folded
        docs, tf = folded
        if len(docs):
            keep = ~np.isin(docs, self.masked, assume_unique=True)
            docs, tf = docs[keep], tf[keep]
        mine, mine_tf = self._term(term)[1]
        if only is not None and len(mine):
            keep = np.isin(mine, only)
            mine, mine_tf = mine[keep], mine_tf[keep]
        if not len(mine):
            return docs, tf
        docs = np.concatenate([docs, mine])
        order = np.argsort(docs, kind="stable")
        return docs[order], np.concatenate([tf, mine_tf])[order]


def term_counts(terms: Mapping[str, str]) -> Counts:
    """Each term's frequency in each field (FIELDS order), from a row's ``terms``; a
    term longer than MAX_TERM_CHARS has no postings (tables.py)."""
    out: Counts = {}
    for i, f in enumerate(FIELDS):
        for term, n in Counter(terms.get(f, "").split()).items():
            if len(term) <= MAX_TERM_CHARS:
                out.setdefault(term, [0] * len(FIELDS))[i] = min(n, TF_MAX)
    return out


def fingerprint(counts: Counts) -> tuple[int, int, int]:
    """A document's postings in three numbers: how many, their terms' characters, and
    their frequencies weighted by field (repair.py compares them with the tables')."""
    return (len(counts), sum(len(t) for t in counts),
            sum((2 * i + 1) * n for tfs in counts.values() for i, n in enumerate(tfs)))


def _apply(docs: dict, retired: dict, rows: Iterable[Any], gone: Iterable[Any]) -> None:
    """Take in ``gone`` (search_retired rows) and then ``rows`` (search_docs rows)."""
    for docnum, seq, terms in gone:
        previous = docs.get(docnum)
        if previous is not None and previous[0] < seq:
            del docs[docnum]  # replaced or removed at ``seq``
        retired[docnum] = (seq, term_counts(terms) if terms else None)
    for docnum, seq, pending, terms in rows:
        if pending:
            docs[docnum] = (seq, term_counts(terms))
        else:  # folded, a removal's tombstone, or its terms unchanged since folded
            docs.pop(docnum, None)


class PendingCopies:
    """The pending documents of each kind, shared by the threads of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, Pending] = {}

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()

    def current(self, conn: Connection, kind: str, folded: int, top: int) -> Pending:
        """The pending documents of ``kind`` as ``conn``'s snapshot sees them, whose
        ``search_stats`` row says ``folded`` and ``top``."""
        with self._lock:
            old = self._kinds.get(kind)
            if old is not None and old.folded == folded and old.top == top:
                return old
            if old is not None and (old.folded > folded or old.top > top):
                return _read(conn, kind, folded, top, None)  # an older snapshot's own
            base = None if old is None else (
                {d: v for d, v in old.docs.items() if v[0] > folded},
                {d: v for d, v in old.retired.items() if v[0] > folded}, old.top)
            new = self._kinds[kind] = _read(conn, kind, folded, top, base)
            return new


def _read(conn: Connection, kind: str, folded: int, top: int,
          base: tuple[dict, dict, int] | None) -> Pending:
    """``base`` (documents, retired versions, as of a sequence number) caught up to the
    snapshot, or (``None``) the snapshot's pending documents read whole."""
    docs, retired, since = base if base is not None else ({}, {}, folded)
    params = {"k": kind, "s": max(since, folded)}  # a fold took those up to ``folded``
    gone = conn.execute(sa.text(
        "SELECT docnum, seq, terms FROM search_retired WHERE kind = :k AND seq > :s "
        "ORDER BY seq"), params).all()
    # read whole: the pending ones; caught up: all written since (some no longer are)
    rows = conn.execute(sa.text(
        "SELECT docnum, seq, pending, CASE WHEN pending THEN terms END FROM search_docs "
        "WHERE kind = :k AND seq > :s" + (" AND pending" if base is None else "")
        + " ORDER BY seq"), params).all()
    _apply(docs, retired, rows, gone)
    return Pending(folded=folded, top=top, docs=docs, retired=retired)
