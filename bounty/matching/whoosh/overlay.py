"""Pending writes: each kind's overlay of writes not yet in Whoosh, and the view
that reads a commit with them on top."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from whoosh import fields

from ..engine import Doc, Filters
from ..ranking import DOC_FIELD_WEIGHTS, DocVector, Scorer
from . import arrays
from .filters import passes
from .schema import column_value, whoosh_length
from .view import MISSING, KindIndex, Reading, touch


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One pending operation of the overlay: the latest write of one document."""

    kind: str
    doc_id: str
    doc: Doc | None  # the source document (``None``: removed)
    fields: dict[str, Any] | None  # its Whoosh fields, as ``prepare`` builds them
    stored: dict[str, Any] | None  # what Whoosh would return as its stored fields
    vec: DocVector | None
    jobs: tuple[int, ...]  # the queued jobs this entry settles
    committing: int | None = None  # the Whoosh TOC generation whose commit carries it
    terms: frozenset[str] = frozenset()  # every term of every field

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.doc_id}"


@dataclasses.dataclass(frozen=True, slots=True)
class Overlay:
    """One kind's pending operations, by document id in write order (replaced, never changed)."""

    entries: dict[str, Entry]
    version: int = 0


class Overlaid(Reading):
    """A view with the pending writes on top: what the index will hold after a flush.

    Whoosh documents whose key has a pending write are hidden; pending upserts
    get document numbers after the view's, in write order (the numbers a flush
    gives them), and join the statistics as a commit would (deleted documents
    stay counted until a merge, as in Whoosh). So scores, ties and column sorts
    are those of the flushed index.
    """

    def __init__(self, view: Any, entries: list[Entry], schema: fields.Schema) -> None:
        self.view = view  # a KindView
        self.schema = schema
        self.generation = view.generation
        self._init_caches()
        self._hidden = {d for e in entries if (d := view.live_docnum(e.key)) is not None}
        self._hidden_docs = np.array(sorted(self._hidden), np.int64)
        self._docs = [e for e in entries if e.fields is not None]
        self._first = view.doc_count_all
        self.doc_count = view.doc_count - len(self._hidden) + len(self._docs)
        self.doc_count_all = view.doc_count_all + len(self._docs)
        self._dfs: dict[str, list[int]] = {}
        lengths = dict(view.field_lengths)
        for e in self._docs:
            assert e.vec is not None
            for f in DOC_FIELD_WEIGHTS:
                lengths[f] += e.vec.lengths.get(f, 0)
        self.avg = {
            f: (lengths[f] / self.doc_count_all if self.doc_count_all else 1.0)
            for f in DOC_FIELD_WEIGHTS
        }
        self._columns: dict[str, list[Any]] = {}

    def _own(self) -> Iterable[tuple[int, Entry]]:
        return enumerate(self._docs, start=self._first)

    def field_dfs(self, term: str) -> list[int]:
        # per term, when asked: a read after a write builds a new overlaid view
        # and asks only for its query's terms
        dfs = self._dfs.get(term)
        if dfs is None:
            dfs = list(self.view.field_dfs(term))
            for e in self._docs:
                if term not in e.terms:
                    continue
                assert e.vec is not None
                for i, f in enumerate(DOC_FIELD_WEIGHTS):
                    counts = e.vec.counts.get(f)
                    if counts and term in counts:
                        dfs[i] += 1
            self._dfs[term] = dfs
        return dfs

    def term_tf(self, term: str, scorer: Scorer) -> tuple[np.ndarray, np.ndarray]:
        docs, tf = self.view.term_tf(term, scorer)
        if self._hidden:
            keep = ~np.isin(docs, self._hidden_docs)
            docs, tf = docs[keep], tf[keep]
        own_docs, own_tf = [], []
        for d, e in self._own():
            if term not in e.terms:
                continue
            assert e.vec is not None
            t = 0.0
            for f in DOC_FIELD_WEIGHTS:
                n = e.vec.counts.get(f, {}).get(term)
                if n:
                    t = t + n * scorer.norm(f, whoosh_length(e.vec.lengths[f]))
            if t:
                own_docs.append(d)
                own_tf.append(t)
        return (np.concatenate([docs, np.array(own_docs, np.int64)]),
                np.concatenate([tf, np.array(own_tf, np.float64)]))

    def stored(self, docnum: int) -> tuple[DocVector, dict]:
        if docnum < self._first:
            return self.view.stored(docnum)
        e = self._docs[docnum - self._first]
        assert e.vec is not None and e.stored is not None
        return e.vec, e.stored

    def stored_fields(self, docnum: int) -> dict:
        if docnum < self._first:
            return self.view.stored_fields(docnum)
        return self.stored(docnum)[1]

    def values(self, name: str) -> list[Any]:
        col = self._columns.get(name)
        if col is None:
            col = self._columns[name] = self.view.values(name) + self._own_values(name)
        return col

    def _own_values(self, name: str) -> list[Any]:
        return [column_value(self.schema, name, e.stored or {}) for e in self._docs]

    def all_doc_ids(self) -> Iterable[int]:
        hidden = self._hidden
        return [*(d for d in self.view.all_doc_ids() if d not in hidden),
                *(d for d, _e in self._own())]

    # the numpy forms: the view's, with the pending documents on top
    def live_docs(self) -> np.ndarray:
        def build() -> np.ndarray:
            docs = self.view.live_docs()
            if self._hidden:
                docs = docs[~np.isin(docs, self._hidden_docs)]
            return np.concatenate([docs, np.arange(self._first, self.doc_count_all)])

        return self._np("live", build)

    def codes(self, name: str) -> tuple[list[Any], np.ndarray]:
        return self._np("codes:" + name, lambda: arrays.merge_codes(
            [self.view.codes(name), arrays.column_codes(self._own_values(name))]))

    def sort_keys(self, name: str) -> np.ndarray:
        return self._np("keys:" + name, lambda: np.concatenate(
            [self.view.sort_keys(name), arrays.sort_keys(self._own_values(name))]))

    def allowed(self, filters: Filters | None) -> frozenset[int] | None:
        key = repr(filters)
        cached = self._filters.get(key, MISSING)
        if cached is not MISSING:
            touch(self._filters, key)
            return cached
        base = self.view.allowed(filters)
        if base is None:
            return self._remember_filter(key, None)
        own = {d for d, e in self._own() if passes(e.stored or {}, filters)}
        return self._remember_filter(key, frozenset(base - self._hidden) | own)


# what a flush carries: kind -> document id -> the jobs of the entry it wrote
Flushed = dict[str, dict[str, tuple[int, ...]]]


class PendingWrites:
    """Every kind's overlay, replaced (never changed) under one lock.

    A flush takes a batch, marks its entries ``committing`` with the Whoosh
    generation its commit will have, and drops them once the kind's view shows
    that commit; a read takes the view and the overlay together, so it sees
    each document exactly once.
    """

    def __init__(self, schema: fields.Schema) -> None:
        self.schema = schema
        self._lock = threading.Lock()
        self._overlays: dict[str, Overlay] = {}
        self._readers: dict[str, tuple[Any, Overlay, Reading]] = {}

    def put(self, entries: list[Entry], jobs: list[tuple[int, ...]]) -> int:
        """Add ``entries``, each settling its ``jobs``; returns how many documents are
        pending now."""
        with self._lock:
            changed: dict[str, dict[str, Entry]] = {}
            for entry, own in zip(entries, jobs, strict=True):
                pending = changed.get(entry.kind)
                if pending is None:
                    old = self._overlays.get(entry.kind)
                    pending = changed[entry.kind] = dict(old.entries) if old else {}
                # the latest write of a document wins and moves to the end; it also
                # settles the jobs of the writes it replaces
                previous = pending.pop(entry.doc_id, None)
                earlier = previous.jobs if previous is not None else ()
                pending[entry.doc_id] = dataclasses.replace(entry, jobs=(*earlier, *own))
            for kind, pending in changed.items():
                old = self._overlays.get(kind)
                self._overlays[kind] = Overlay(pending, (old.version + 1) if old else 1)
            return self._size()

    def _size(self) -> int:
        return sum(len(o.entries) for o in self._overlays.values())

    def size(self) -> int:
        with self._lock:
            return self._size()

    def jobs(self) -> set[int]:
        """The jobs of every pending entry."""
        with self._lock:
            return {j for o in self._overlays.values() for e in o.entries.values()
                    for j in e.jobs}

    def batch(self) -> dict[str, list[Entry]]:
        """Every kind's pending entries, in write order (what a flush writes)."""
        with self._lock:
            return {k: list(o.entries.values()) for k, o in self._overlays.items() if o.entries}

    def mark(self, kind: str, flushed: Flushed, generation: int | None) -> None:
        """The entries of ``kind`` in ``flushed`` (unless written again since) are carried
        by the commit of ``generation`` (``None``: that commit failed)."""
        with self._lock:
            overlay = self._overlays[kind]
            entries = dict(overlay.entries)
            for doc_id, jobs in flushed[kind].items():
                e = entries.get(doc_id)
                if e is not None and e.jobs == jobs:
                    entries[doc_id] = dataclasses.replace(e, committing=generation)
            self._overlays[kind] = Overlay(entries, overlay.version + 1)

    def drop(self, flushed: Flushed) -> None:
        """Forget the committed entries of ``flushed`` (their views show the commit)."""
        with self._lock:
            for kind, done in flushed.items():
                overlay = self._overlays[kind]
                entries = {i: e for i, e in overlay.entries.items()
                           if not (e.committing is not None and done.get(i) == e.jobs)}
                self._overlays[kind] = Overlay(entries, overlay.version + 1)

    def reader(self, kind: str, ix: KindIndex | None) -> Reading | None:
        """What a read of ``kind`` uses: ``ix``'s latest view with the pending writes on top.

        The view and the overlay are taken together under the lock: a flush drops
        its entries only after the view shows its commit, and marks them
        (``committing``) before, so a read sees each document exactly once.
        """
        with self._lock:
            if ix is None:
                return None
            view = ix.view
            overlay = self._overlays.get(kind)
            if overlay is None or not overlay.entries:
                return view
            cached = self._readers.get(kind)
            if cached is not None and cached[0] is view and cached[1] is overlay:
                return cached[2]
        visible = [e for e in overlay.entries.values()
                   if e.committing is None or view.generation < e.committing]
        reader: Reading = Overlaid(view, visible, self.schema) if visible else view
        with self._lock:
            self._readers[kind] = (view, overlay, reader)
        return reader
