"""Reading one kind's index: segment readers opened once, views per commit, their caches.

A view is immutable: it holds one commit's searcher and the statistics, filters
and per-term scores cached with it; a refresh builds a new view.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from whoosh import index

from ..engine import FACET_FIELDS, Filters
from ..ranking import DOC_FIELD_WEIGHTS, DocVector, Scorer, bm25_idf
from . import adapter, arrays, segments
from .cache import ByteCache, frozen
from .filters import filter_query, values

MISSING: Any = object()


def touch(cache: OrderedDict, key: Any) -> None:
    """Mark ``key`` recently used; another thread may have just evicted it (views are
    shared by the threads reading them)."""
    with contextlib.suppress(KeyError):
        cache.move_to_end(key)


class Reading:
    """What every read view shares: IDF, per-term scores and facet counts over its own
    statistics, and numpy forms of its columns and filters.

    Subclasses set ``doc_count``, ``doc_count_all``, ``avg`` and implement
    ``field_dfs``, ``values``, ``allowed``, ``stored``, ``term_tf`` and ``all_doc_ids``
    over one document numbering (and may override the numpy forms with faster ones).
    """

    doc_count: int
    doc_count_all: int
    avg: dict[str, float]
    generation: int

    def _init_caches(self) -> None:
        self._idf: dict[str, float] = {}
        self._filters: OrderedDict[tuple, frozenset[int] | None] = OrderedDict()
        self._facets: OrderedDict[tuple, dict[str, dict[str, int]]] = OrderedDict()
        self._scores = ByteCache()  # term -> (documents, unit scores)
        self._allowed_docs: OrderedDict[str, np.ndarray | None] = OrderedDict()
        self._columns_np: dict[str, Any] = {}  # live documents, facet codes, sort keys

    def field_dfs(self, term: str) -> list[int]:
        raise NotImplementedError

    def values(self, name: str) -> list[Any]:
        raise NotImplementedError

    def stored(self, docnum: int) -> tuple[DocVector, dict]:
        raise NotImplementedError

    def stored_fields(self, docnum: int) -> dict:
        """A document's stored fields without its term vector (``data`` may hold only
        the title): what a hit shows."""
        return self.stored(docnum)[1]

    def prefetch(self, docnums: list[int], *, vectors: bool) -> None:
        """Read the stored fields (and, with ``vectors``, term vectors) of ``docnums``
        at once, before they are asked for one by one (a view over a database)."""

    def prefetch_postings(self, terms: list[str]) -> None:
        """Read the postings of ``terms`` at once, before ``term_scores`` asks for each."""

    def term_tf(self, term: str, scorer: Scorer) -> tuple[np.ndarray, np.ndarray]:
        """The live documents containing ``term`` (ascending) and each one's
        length-normalised, field-weighted frequency of it (as ``Scorer.score`` sums
        it, over Whoosh's one-byte field lengths)."""
        raise NotImplementedError

    def all_doc_ids(self) -> Iterable[int]:
        raise NotImplementedError

    def allowed(self, filters: Filters | None) -> frozenset[int] | None:
        raise NotImplementedError

    def df(self, term: str) -> int:
        return max(self.field_dfs(term))

    def idf(self, term: str) -> float:
        v = self._idf.get(term)
        if v is None:
            v = bm25_idf(self.doc_count_all, self.df(term))
            if len(self._idf) > 100_000:
                self._idf.clear()
            self._idf[term] = v
        return v

    def scorer(self) -> Scorer:
        return Scorer(self.idf, self.avg)

    def term_scores(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The live documents containing ``term`` (int32, ascending) and each one's BM25F
        score for it at query weight 1 (``Scorer.unit``, float64), cached until the view
        refreshes: repeated queries (digests rank thousands of subscribers over the same
        candidates) then cost an array lookup per term instead of a postings walk."""
        cached = self._scores.get(term)
        if cached is not None:
            return cached
        scorer = self.scorer()
        docs, tf = self.term_tf(term, scorer)
        return self._scores.put(term, frozen(docs.astype(np.int32), scorer.unit(term, tf)))

    def _np(self, key: str, build: Callable[[], Any]) -> Any:
        value = self._columns_np.get(key, MISSING)
        if value is MISSING:
            value = self._columns_np[key] = build()
        return value

    def live_docs(self) -> np.ndarray:
        """The live document numbers, ascending."""
        return self._np("live", lambda: np.sort(np.fromiter(self.all_doc_ids(), np.int64)))

    def codes(self, name: str) -> tuple[list[Any], np.ndarray]:
        """A facet column as its distinct values and each document's index into them."""
        return self._np("codes:" + name, lambda: arrays.column_codes(self.values(name)))

    def sort_keys(self, name: str) -> np.ndarray:
        """A sortable column as floats that sort the same (NaN: no value)."""
        return self._np("keys:" + name, lambda: arrays.sort_keys(self.values(name)))

    def allowed_docs(self, filters: Filters | None) -> np.ndarray | None:
        """``allowed(filters)`` as an ascending array (``None``: all live documents)."""
        key = repr(filters)
        cached = self._allowed_docs.get(key, MISSING)
        if cached is not MISSING:
            touch(self._allowed_docs, key)
            return cached
        docs = self.allowed(filters)
        out = None if docs is None else np.sort(np.fromiter(docs, np.int64, len(docs)))
        if filters is not None and filters.ids is not None:
            return out  # a digest's candidates: seldom asked twice
        self._allowed_docs[key] = out
        if len(self._allowed_docs) > 64:
            with contextlib.suppress(KeyError):  # another thread popped it first
                self._allowed_docs.popitem(last=False)
        return out

    def facet_counts(self, key: tuple, docs: np.ndarray) -> dict[str, dict[str, int]]:
        """Facet counts of ``docs`` (ascending), cached per view under ``key``; values
        with equal counts in order of their first document."""
        counts = self._facets.get(key)
        if counts is not None:
            touch(self._facets, key)
            return counts
        counts = {name: arrays.counts(*self.codes(name), docs) for name in FACET_FIELDS}
        self._facets[key] = counts
        if len(self._facets) > 256:
            self._facets.popitem(last=False)
        return counts

    def _remember_filter(self, key: Any, docs: frozenset[int] | None) -> frozenset[int] | None:
        self._filters[key] = docs
        if len(self._filters) > 64:
            self._filters.popitem(last=False)
        return docs


class KindIndex:
    """One kind's index: per-segment readers opened once, and the latest view."""

    def __init__(self, ix: index.Index) -> None:
        self.ix = ix
        # one reader per segment id, opened once: a segment's files never
        # change, only its deletions (kept in the TOC), which ``adapter.bind``
        # puts on a shallow copy. So a refresh after a write opens only new
        # segments, never the big ones again, even when the write deleted from them.
        self._bases: dict[str, Any] = {}
        self._bases_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._retired: list[list[Any]] = []
        self.view = self._open()

    def base(self, segment: Any) -> Any:
        """The cached reader of ``segment``'s files (its deletions may be stale)."""
        from whoosh.reading import SegmentReader

        segid = segment.segment_id()
        with self._bases_lock:
            reader = self._bases.get(segid)
            if reader is None:
                reader = self._bases[segid] = SegmentReader(
                    self.ix.storage, self.ix.schema, segment
                )
            return reader

    def key_docnum(self, segments: list[Any], key: str) -> int | None:
        """The live document number of ``key`` in ``segments`` (a writer's numbering)."""
        offset = 0
        for segment in segments:
            reader = self.base(segment)
            if ("key", key) in reader:
                m = reader.postings("key", key)
                while m.is_active():
                    if not segment.is_deleted(m.id()):
                        return offset + m.id()
                    m.next()
            offset += segment.doc_count_all()
        return None

    def _open(self) -> KindView:
        from whoosh.searching import Searcher

        info = adapter.read_toc(self.ix)
        bases = [self.base(segment) for segment in info.segments]
        readers = [adapter.bind(b, segment)
                   for b, segment in zip(bases, info.segments, strict=True)]
        live = {segment.segment_id() for segment in info.segments}
        with self._bases_lock:
            dropped = [r for k, r in self._bases.items() if k not in live]
            for k in [k for k in self._bases if k not in live]:
                del self._bases[k]
        if dropped:
            # a search in another thread may still read them: close them two
            # refreshes later
            for r in dropped:
                segments.stop_warming(r)
            self._retired.append(dropped)
        while len(self._retired) > 2:
            for r in self._retired.pop(0):
                r.close()
        reader = adapter.combined_reader(readers, info)
        return KindView(Searcher(reader, closereader=False, fromindex=self.ix), bases,
                        info.generation, readers)

    def refresh(self) -> KindView:
        """The view of the latest commit (never an older one than before)."""
        # Not Searcher.refresh(): it reuses segment readers whose deletions
        # have changed (a deleted document would stay visible) and adds back
        # segments that a merge removed.
        view = self.view
        if not view.searcher.up_to_date():
            with self._refresh_lock:
                view = self.view
                if not view.searcher.up_to_date():
                    view = self.view = self._open()
        return view

    def close(self) -> None:
        for group in [*self._retired, list(self._bases.values())]:
            for r in group:
                segments.stop_warming(r)
                r.close()
        self._retired = []
        self._bases = {}


class KindView(Reading):
    """One kind's index at one commit: a searcher and the statistics cached with it.

    A refresh builds a new view instead of changing this one, so a read that
    holds a view sees one commit from start to end.
    """

    def __init__(self, searcher: Any, segment_bases: list[Any], generation: int,
                 segment_readers: list[Any]) -> None:
        self.searcher = searcher
        self._segment_bases = segment_bases
        self._segment_readers = segment_readers  # bound to this commit's deletions
        self.generation = generation
        self._init_caches()
        self._dfs: dict[str, list[int]] = {}
        self._vectors: OrderedDict[int, tuple[DocVector, dict]] = OrderedDict()
        self._norm_arrays: dict[tuple[str, float], np.ndarray] = {}
        self._starts = [0]  # each segment's first document number
        for base in segment_bases:
            self._starts.append(self._starts[-1] + base.doc_count_all())
        self._keys: dict[tuple[str, str], int | None] = {}
        reader = self.searcher.reader()
        self.doc_count = reader.doc_count()
        # term statistics still count deleted documents until segments merge,
        # so IDF and average lengths use the same population
        self.doc_count_all = reader.doc_count_all()
        self.field_lengths = {f: reader.field_length(f) for f in DOC_FIELD_WEIGHTS}
        self.avg = {
            f: (self.field_lengths[f] / self.doc_count_all if self.doc_count_all else 1.0)
            for f in DOC_FIELD_WEIGHTS
        }

    def field_dfs(self, term: str) -> list[int]:
        """The document frequency of ``term`` in each scored field (deleted documents too)."""
        dfs = self._dfs.get(term)
        if dfs is None:
            reader = self.searcher.reader()
            dfs = [reader.doc_frequency(f, term) for f in DOC_FIELD_WEIGHTS]
            if len(self._dfs) > 100_000:
                self._dfs.clear()
            self._dfs[term] = dfs
        return dfs

    def term_tf(self, term: str, scorer: Scorer) -> tuple[np.ndarray, np.ndarray]:
        parts = []  # (documents, frequency × field norm) per field and segment, in order
        for f in DOC_FIELD_WEIGHTS:
            offset = 0
            norms = None
            for base in self._segment_bases:
                ids, weights = segments.postings(base, f, term)
                if len(ids):
                    norms = self._norms(f, scorer) if norms is None else norms
                    docs = ids + offset
                    parts.append((docs, weights * norms[docs]))
                offset += base.doc_count_all()
        return arrays.merge_tf(parts, self.doc_count_all, self._live_mask())

    def _norms(self, field: str, scorer: Scorer) -> np.ndarray:
        """``scorer.norm`` of each document's length of ``field`` (an overlaid view
        scores this view's documents with its own statistics)."""
        key = (field, scorer.avg[field])
        norms = self._norm_arrays.get(key)
        if norms is None:
            lengths = [segments.lengths(b, field) for b in self._segment_bases]
            norms = scorer.norm(field, np.concatenate(lengths))
            if len(self._norm_arrays) >= 2 * len(DOC_FIELD_WEIGHTS):  # this view's + the
                self._norm_arrays.clear()  # latest overlay's statistics
            self._norm_arrays[key] = norms
        return norms

    def stored(self, docnum: int) -> tuple[DocVector, dict]:
        cached = self._vectors.get(docnum)
        if cached is not None:
            touch(self._vectors, docnum)
            return cached
        fields_ = self.searcher.stored_fields(docnum)
        vec = DocVector.from_stored(fields_["data"]["terms"])
        result = (vec, fields_)
        self._vectors[docnum] = result
        if len(self._vectors) > 20_000:
            self._vectors.popitem(last=False)
        return result

    def stored_fields(self, docnum: int) -> dict:
        cached = self._vectors.get(docnum)
        if cached is not None:
            return cached[1]
        i = bisect.bisect_right(self._starts, docnum) - 1
        return segments.stored_fields(self._segment_bases[i], docnum - self._starts[i])

    def values(self, name: str) -> list[Any]:
        """A sortable/facet column's values by document number."""

        def build() -> list[Any]:
            out: list[Any] = []
            for base in self._segment_bases:
                out.extend(segments.column(base, name))
            return out

        return self._np("col:" + name, build)

    def codes(self, name: str) -> tuple[list[Any], np.ndarray]:
        return self._np("codes:" + name, lambda: arrays.merge_codes(
            segments.codes(b, name) for b in self._segment_bases))

    def sort_keys(self, name: str) -> np.ndarray:
        return self._np("keys:" + name, lambda: np.concatenate(
            [segments.sort_keys(b, name) for b in self._segment_bases]
            or [arrays.EMPTY_SCORES]))

    def _live_mask(self) -> np.ndarray | None:
        """Whether each document number is live (``None``: all are)."""

        def build() -> np.ndarray | None:
            mask = np.ones(self.doc_count_all, bool)
            offset = 0
            for reader in self._segment_readers:
                if reader.has_deletions():
                    mask[np.fromiter(reader.deleted_docs_set, np.int64) + offset] = False
                offset += reader.doc_count_all()
            return None if mask.all() else mask

        return self._np("live-mask", build)

    def live_docs(self) -> np.ndarray:
        def build() -> np.ndarray:
            mask = self._live_mask()
            return np.arange(self.doc_count_all) if mask is None else np.flatnonzero(mask)

        return self._np("live", build)

    def segment_readers(self) -> list[Any]:
        """This commit's reader of each segment (with its deletions), in order."""
        return list(self._segment_readers)

    def live_docnum(self, key: str) -> int | None:
        """The document number of the live document with ``key``, if any."""
        return self._term_docnum("key", key)

    def id_docnum(self, doc_id: str) -> int | None:
        """The document number of the live document with id ``doc_id``, if any (looked
        up per id, not from a map of every id: a view after a write builds nothing)."""
        return self._term_docnum("id", doc_id)

    def _term_docnum(self, field: str, text: str) -> int | None:
        """The live document with ``text`` in the unique field ``field``, cached per view."""
        if (field, text) in self._keys:
            return self._keys[field, text]
        reader = self.searcher.reader()
        found = None
        if (field, text) in reader:
            for d in reader.postings(field, text).all_ids():
                if not reader.is_deleted(d):
                    found = d
                    break
        if len(self._keys) > 100_000:
            self._keys.clear()
        self._keys[field, text] = found
        return found

    def all_doc_ids(self) -> Iterable[int]:
        return self.searcher.reader().all_doc_ids()

    def allowed(self, filters: Filters | None) -> frozenset[int] | None:
        """Doc numbers passing ``filters``; ``None`` means all live documents."""
        if filters is not None and filters.ids is not None:
            # Restrict to these documents (digests rank only their candidates).
            docs = frozenset(d for i in map(str, values(filters.ids))
                             if (d := self.id_docnum(i)) is not None)
            rest = self.allowed(dataclasses.replace(filters, ids=None))
            return docs if rest is None else docs & rest
        q = filter_query(filters)
        if q is None:
            return None
        key = repr(q)
        cached = self._filters.get(key, MISSING)
        if cached is not MISSING:
            touch(self._filters, key)
            return cached
        return self._remember_filter(key, frozenset(self.searcher.docs_for_query(q)))
