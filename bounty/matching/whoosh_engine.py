"""The Whoosh implementation of :class:`bounty.matching.engine.Engine`.

Layout of ``index_dir``::

    journal.sqlite          pending index work (see journal.py)
    current -> gen-…        symlink to the live generation, swapped atomically
    gen-…/                  one Whoosh storage, one named index per kind

Text fields hold terms produced by our analyzer (stored too, with a hash of
the source text), so Whoosh only splits on spaces; a rebuild reuses the stored
terms of unchanged documents instead of segmenting again.

Scoring is ours (ranking.py): term-at-a-time over Whoosh postings when many
documents may match, document-at-a-time over stored term vectors when the
candidates are few (a challenge's bids).

Writes are near-real-time, as Lucene's refresh interval: ``index``/``remove``/
``apply`` record the operation in the journal (durable) and in an in-memory
*overlay* of the kind (visible), and return without touching Whoosh. Every
read runs on the latest committed view with the overlay on top (``_Overlaid``):
Whoosh documents with a pending write are hidden, pending upserts join with
the statistics a commit would give them, so results equal those after a
flush. A background thread flushes the overlay (one writer and one commit per
kind) every ``refresh`` seconds or when it grows; ``flush()`` does it at once,
``close()`` and process exit too. The overlay is per process: other processes
sharing the directory see a write after that flush.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import dataclasses
import hashlib
import heapq
import logging
import math
import os
import shutil
import sys
import threading
import time
import uuid
import weakref
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup
from whoosh import fields, formats, index, query
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.util.numeric import byte_to_length, length_to_byte

from .analyzer import Analyzer, get_analyzer
from .engine import FACET_FIELDS, Doc, Filters, Hit, SearchResult, SortKey
from .fusion import fuse
from .highlight import highlight as _highlight
from .journal import Journal
from .ranking import (
    DOC_FIELD_WEIGHTS,
    MAX_QUERY_TERMS,
    TERMS_VERSION,
    DocVector,
    QueryTerm,
    Scorer,
    bm25_idf,
    doc_terms,
    query_terms,
)

Loader = Callable[[str, str], Doc | None]
logger = logging.getLogger(__name__)

SEARCH_MAX_TERMS = 8
RECOMMEND_MAX_TERMS = 16
SMALL_CANDIDATE_SET = 3000
# Cached per-term document scores kept at most (entries over all terms).
TERM_UNITS_CACHE_ENTRIES = 2_000_000
# A rebuild writes a segment per this many documents of a kind: its postings are
# held in memory until committed (about 6 GB per million documents otherwise).
REBUILD_SEGMENT_DOCS = 200_000
# Candidate sets up to this size are scored from stored vectors, larger ones from postings.
VECTOR_SCORING_MAX = 64
# Small writes commit without merging (a merge rewrites postings and costs far
# more than the write). Segments are merged by size tier (Lucene's log merge
# policy): once MERGE_FACTOR segments of the same tier (doc count within a
# power of MERGE_FACTOR) exist, a background thread merges them into one of
# the next tier, so each document is rewritten O(log n) times and never with
# the big segments. Merges stop at MAX_MERGE_DOCS: merging into the big base
# segment would hold the write lock for seconds; `bounty reindex` compacts.
# A write that finds MERGE_NOW segments (writes faster than merges) merges
# itself.
MERGE_FACTOR = 10
MAX_MERGE_DOCS = 10_000
MERGE_NOW = 64

# Writes are near-real-time (as Lucene's refresh interval): index()/remove()/apply()
# journal the operation and put it in an in-memory overlay that every read sees;
# a background flusher applies the overlay to Whoosh every INDEX_REFRESH_SECONDS
# (config BOUNTY_INDEX_REFRESH), or at once past FLUSH_DOCS pending documents. A
# writer that finds FLUSH_NOW_DOCS pending flushes itself (writes outrun flushes).
INDEX_REFRESH_SECONDS = 1.0
FLUSH_DOCS = 500
FLUSH_NOW_DOCS = 4 * FLUSH_DOCS

_path_locks: dict[str, threading.RLock] = {}
_path_locks_guard = threading.Lock()


def _writer_lock(path: Path) -> threading.RLock:
    """One writer per index directory per process."""
    key = str(path.resolve())
    with _path_locks_guard:
        return _path_locks.setdefault(key, threading.RLock())


# engines with a background flusher: their pending writes are flushed at exit
_live_engines: weakref.WeakSet[WhooshEngine] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for engine in list(_live_engines):
        try:
            engine.close()
        except Exception:  # pragma: no cover - the journal keeps them for replay
            logger.exception("flushing the index at exit failed")


def make_schema() -> fields.Schema:
    terms = SpaceSeparatedTokenizer()
    return fields.Schema(
        key=fields.ID(unique=True, stored=True),
        id=fields.ID(stored=True),
        title=fields.TEXT(analyzer=terms, phrase=False),
        keywords=fields.TEXT(analyzer=terms, phrase=False),
        body=fields.TEXT(analyzer=terms, phrase=False),
        grams=fields.TEXT(analyzer=terms, phrase=False),
        industry=fields.ID(stored=True, sortable=True),
        category=fields.ID(stored=True, sortable=True),
        state=fields.ID(stored=True, sortable=True),
        org_id=fields.ID(stored=True),
        challenge_id=fields.ID(stored=True),
        bounty=fields.NUMERIC(bits=64, stored=True, sortable=True),
        deadline=fields.DATETIME(stored=True, sortable=True),
        published_at=fields.DATETIME(stored=True, sortable=True),
        data=fields.STORED(),  # title, terms per field, source hash
    )


class _SegmentBuilder:
    """Writes one new segment of a fresh index with its postings inverted in memory.

    What ``SegmentWriter.add_document`` and ``commit`` produce, byte for byte,
    without their per-posting costs: Whoosh re-tokenises the space-joined
    terms, pickles every posting into sorted run files (its external sort),
    reads them back and looks up the document's field length per posting.
    Here a document's terms are counted once (``str.split`` + ``Counter``),
    each term's document numbers and counts go to growing arrays, and at
    commit the terms are written in Whoosh's order, a block of postings at a
    time. Only for a fresh generation (``rebuild``); memory grows with the
    number of postings (about 10 bytes each).
    """

    def __init__(self, ix: index.Index) -> None:
        self.writer = ix.writer()
        self.schema = self.writer.schema
        for name in self.schema.names():
            f = self.schema[name]
            if f.vector or f.separate_spelling():  # pragma: no cover - not in our schema
                raise ValueError(f"field {name!r} needs Whoosh's own writer")
            if name in DOC_FIELD_WEIGHTS and type(f.format) is not formats.Frequency:
                raise ValueError(f"text field {name!r} must have the Frequency format")
        self._text_fields = frozenset(DOC_FIELD_WEIGHTS)
        # field -> term -> (doc numbers, counts): the text fields
        self._terms: dict[str, dict[str, tuple[array, array]]] = {}
        # field -> term bytes -> (doc numbers, weights, value bytes): the others
        self._other: dict[str, dict[bytes, tuple[array, array, list[bytes]]]] = {}
        # field -> quantised length per document (what the reader reports)
        self._lengths: dict[str, array] = {}

    def add(self, fields_: Mapping[str, Any]) -> None:
        w = self.writer
        schema = self.schema
        pdw = w.perdocwriter
        docnum = w.docnum
        pdw.start_doc(docnum)
        try:
            for name in sorted(fields_):
                value = fields_[name]
                if value is None:
                    continue
                field = schema[name]
                length = 0
                if field.indexed:
                    if name in self._text_fields:
                        length = self._add_terms(name, docnum, value)
                    else:
                        length = self._add_other(name, field, docnum, value)
                    if length and field.scorable:
                        lengths = self._lengths.setdefault(name, array("I"))
                        if len(lengths) < docnum:
                            lengths.extend(bytes(docnum - len(lengths)))
                        lengths.append(_whoosh_length(length))
                    elif not field.scorable:
                        length = 0
                pdw.add_field(name, field, value if field.stored else None, length)
                column = field.column_type
                if column:
                    pdw.add_column_value(name, column, field.to_column_value(value))
        except BaseException:
            pdw.cancel_doc()
            raise
        pdw.finish_doc()
        w._added = True
        w.docnum += 1

    def _add_terms(self, name: str, docnum: int, value: str) -> int:
        postings = self._terms.setdefault(name, {})
        counts = Counter(value.split())
        for term, n in counts.items():
            p = postings.get(term)
            if p is None:
                p = postings[term] = (array("I"), array("I"))
            p[0].append(docnum)
            p[1].append(n)
        return sum(counts.values())

    def _add_other(self, name: str, field: Any, docnum: int, value: Any) -> int:
        postings = self._other.setdefault(name, {})
        length = 0
        for tbytes, freq, weight, vbytes in field.index(value):
            length += freq
            p = postings.get(tbytes)
            if p is None:
                p = postings[tbytes] = (array("I"), array("d"), [])
            p[0].append(docnum)
            p[1].append(weight)
            p[2].append(vbytes)
        return length

    def _write_postings(self) -> None:
        fw = self.writer.fieldwriter
        doccount = self.writer.docnum
        # only fields with postings, as Whoosh's writer (an empty field has no entry)
        names = [n for n, p in [*self._terms.items(), *self._other.items()] if p]
        for name in sorted(names):
            field = self.schema[name]
            lengths = self._lengths.get(name)
            if lengths is not None and len(lengths) < doccount:
                lengths.extend(bytes(doccount - len(lengths)))
            fw.start_field(name, field)
            pw = fw._postwriter
            if name in self._terms:
                for term, (ids, counts) in sorted(self._terms[name].items()):
                    fw.start_term(term.encode("utf-8"))
                    _add_postings(pw, ids, array("f", counts), lengths, counts=counts)
                    fw.finish_term()
            else:
                for tbytes, (ids, weights, values) in sorted(self._other[name].items()):
                    fw.start_term(tbytes)
                    _add_postings(pw, ids, array("f", weights), lengths, values=values)
                    fw.finish_term()
            fw.finish_field()

    @property
    def doc_count(self) -> int:
        return int(self.writer.docnum)

    def commit(self) -> None:
        self._write_postings()
        self._terms, self._other = {}, {}
        self.writer.commit(merge=False)

    def cancel(self) -> None:
        self.writer.cancel()


def _pack_frequencies(counts: array) -> bytes:
    """``formats.Frequency`` posting values: each count as a big-endian uint32."""
    out = array("I", counts)
    if sys.byteorder == "little":
        out.byteswap()
    return out.tobytes()


def _add_postings(
    pw: Any,
    ids: array,
    weights: array,
    lengths: array | None,
    *,
    counts: array | None = None,
    values: list[bytes] | None = None,
) -> None:
    """One term's postings into a Whoosh ``W3PostingsWriter``, a block at a time.

    Sets exactly the block state ``add_posting`` would accumulate (ids,
    float32 weights, values, min/max length, max weight) and writes full
    blocks as ``add_posting`` does before starting the next one; the last
    block is left for ``finish_postings``. Values are ``counts`` packed
    (``Frequency``) or the non-empty ``values``.
    """
    limit = pw._blocklimit
    for start in range(0, len(ids), limit):
        if start:
            pw._write_block()
        end = start + limit
        block_ids = ids[start:end]
        block_weights = weights[start:end]
        pw._ids = block_ids
        pw._weights = block_weights
        if counts is not None:
            pw._values = [_pack_frequencies(counts[start:end])]
        else:
            pw._values = [v for v in values[start:end] if v] if values else []
        pw._maxweight = max(0, max(block_weights))
        if lengths is None:
            pw._minlength, pw._maxlength = None, 0
        else:
            ls = [lengths[d] for d in block_ids]
            nonzero = [n for n in ls if n]
            pw._minlength = min(nonzero) if nonzero else None
            pw._maxlength = max(ls)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ; ".join(str(v) for v in value)
    return str(value)


def source_hash(doc: Mapping[str, Any], analyzer: Analyzer | None = None) -> str:
    """A digest of what ``doc``'s terms depend on: its text, the analysis code's version
    and the analyzer's data files."""
    h = hashlib.blake2b(digest_size=12)
    h.update(TERMS_VERSION.encode())
    h.update((analyzer or get_analyzer()).fingerprint.encode())
    for name in DOC_FIELD_WEIGHTS:
        h.update(_text(doc.get(name)).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def _naive_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class _KindIndex:
    """One kind's index: per-segment readers opened once, and the latest view."""

    def __init__(self, ix: index.Index) -> None:
        self.ix = ix
        # one reader per segment id, opened once: a segment's files never
        # change, only its deletions (kept in the TOC), which ``_bind`` puts on
        # a shallow copy. So a refresh after a write opens only new segments,
        # never the big ones again, even when the write deleted from them.
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

    def _open(self) -> _KindView:
        from whoosh.reading import EmptyReader, MultiReader
        from whoosh.searching import Searcher

        info = self.ix._read_toc()
        bases = [self.base(segment) for segment in info.segments]
        readers = [_bind(b, segment) for b, segment in zip(bases, info.segments, strict=True)]
        live = {segment.segment_id() for segment in info.segments}
        with self._bases_lock:
            dropped = [r for k, r in self._bases.items() if k not in live]
            for k in [k for k in self._bases if k not in live]:
                del self._bases[k]
        if dropped:
            # a search in another thread may still read them: close them two
            # refreshes later
            self._retired.append(dropped)
        while len(self._retired) > 2:
            for r in self._retired.pop(0):
                r.close()
        if not readers:
            reader = EmptyReader(info.schema)
            reader.generation = lambda: info.generation  # up_to_date() compares it
        elif len(readers) == 1:
            reader = readers[0]
            reader._gen = info.generation  # a bound copy: at this generation
        else:
            reader = MultiReader(readers, generation=info.generation)
        return _KindView(Searcher(reader, closereader=False, fromindex=self.ix), bases,
                         info.generation, readers)

    def refresh(self) -> _KindView:
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
                r.close()
        self._retired = []
        self._bases = {}


_MISSING: Any = object()


def _touch(cache: OrderedDict, key: Any) -> None:
    """Mark ``key`` recently used; another thread may have just evicted it (views are
    shared by the threads reading them)."""
    with contextlib.suppress(KeyError):
        cache.move_to_end(key)


class _Reading:
    """What every read view shares: IDF and facet counts over its own statistics.

    Subclasses set ``doc_count``, ``doc_count_all``, ``avg`` and implement
    ``field_dfs``, ``values``, ``allowed``, ``stored``, ``term_units``, ``all_doc_ids``
    and ``match_docs`` over one document numbering.
    """

    doc_count: int
    doc_count_all: int
    avg: dict[str, float]

    def _init_caches(self) -> None:
        self._idf: dict[str, float] = {}
        self._filters: OrderedDict[tuple, frozenset[int] | None] = OrderedDict()
        self._facets: OrderedDict[tuple, dict[str, dict[str, int]]] = OrderedDict()
        self._units: OrderedDict[str, dict[int, float]] = OrderedDict()
        self._units_size = 0

    def field_dfs(self, term: str) -> list[int]:
        raise NotImplementedError

    def values(self, name: str) -> list[Any]:
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

    def _cache_units(self, term: str, units: dict[int, float]) -> dict[int, float]:
        self._units[term] = units
        self._units_size += len(units)
        while self._units_size > TERM_UNITS_CACHE_ENTRIES and len(self._units) > 1:
            _old, dropped = self._units.popitem(last=False)
            self._units_size -= len(dropped)
        return units

    def _cached_units(self, term: str) -> dict[int, float] | None:
        cached = self._units.get(term)
        if cached is not None:
            _touch(self._units, term)
        return cached

    def facet_counts(self, key: tuple, docs: Iterable[int]) -> dict[str, dict[str, int]]:
        """Facet counts of ``docs``, cached per view under ``key``."""
        counts = self._facets.get(key)
        if counts is not None:
            _touch(self._facets, key)
            return counts
        counts = {}
        docs = list(docs)
        for name in FACET_FIELDS:
            values = self.values(name)
            c = Counter(values[d] for d in docs)
            counts[name] = {k: v for k, v in c.most_common() if k}
        self._facets[key] = counts
        if len(self._facets) > 256:
            self._facets.popitem(last=False)
        return counts

    def _remember_filter(self, key: Any, docs: frozenset[int] | None) -> frozenset[int] | None:
        self._filters[key] = docs
        if len(self._filters) > 64:
            self._filters.popitem(last=False)
        return docs


class _KindView(_Reading):
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
        self._arrays: dict[str, list[Any]] = {}
        self._ids: dict[str, int] | None = None
        self._keys: dict[str, int | None] = {}
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

    def postings_tf(self, term: str, scorer: Scorer) -> dict[int, float]:
        """Each live document's length-normalised, field-weighted frequency of ``term``."""
        tf: dict[int, float] = {}
        for f in DOC_FIELD_WEIGHTS:
            flen = self.lengths(f)
            norms: dict[int, float] = {}  # lengths are one-byte codes: few distinct values
            offset = 0
            for reader in self._segment_readers:
                for d, w in _postings(reader, f, term):
                    d += offset
                    n = flen[d]
                    norm = norms.get(n)
                    if norm is None:
                        norm = norms[n] = scorer.norm(f, n)
                    tf[d] = tf.get(d, 0.0) + w * norm
                offset += reader.doc_count_all()
        return tf

    def term_units(self, term: str) -> dict[int, float]:
        """Each document's BM25F score for ``term`` at query weight 1, cached until the
        view refreshes: repeated queries (digests rank thousands of subscribers over the
        same candidates) then cost a dictionary lookup per term instead of a postings walk."""
        cached = self._cached_units(term)
        if cached is not None:
            return cached
        scorer = self.scorer()
        tf = self.postings_tf(term, scorer)
        return self._cache_units(term, {d: scorer.unit(term, t) for d, t in tf.items()})

    def stored(self, docnum: int) -> tuple[DocVector, dict]:
        cached = self._vectors.get(docnum)
        if cached is not None:
            _touch(self._vectors, docnum)
            return cached
        fields_ = self.searcher.stored_fields(docnum)
        vec = DocVector.from_stored(fields_["data"]["terms"])
        result = (vec, fields_)
        self._vectors[docnum] = result
        if len(self._vectors) > 20_000:
            self._vectors.popitem(last=False)
        return result

    def _array(self, key: str, build: Callable[[Any], list[Any]]) -> list[Any]:
        """A per-document array over the whole kind, built from per-segment parts.

        A segment's part is cached on its (immutable) base reader, so after a
        write only the new segment's part is computed.
        """
        arr = self._arrays.get(key)
        if arr is None:
            arr = []
            for base in self._segment_bases:
                parts = base.__dict__.setdefault("_bounty_arrays", {})
                part = parts.get(key)
                if part is None:
                    part = parts[key] = build(base)
                arr.extend(part)
            self._arrays[key] = arr
        return arr

    def lengths(self, field: str) -> list[int]:
        """Field lengths by document number (Whoosh's one-byte approximation)."""
        return self._array(
            "len:" + field,
            lambda r: [r.doc_field_length(d, field, 0) or 0 for d in range(r.doc_count_all())],
        )

    def values(self, name: str) -> list[Any]:
        """A sortable/facet column's values by document number."""

        def build(r: Any) -> list[Any]:
            col = r.column_reader(name)
            return [col[d] for d in range(r.doc_count_all())]

        return self._array("col:" + name, build)

    def id_docnums(self) -> dict[str, int]:
        """Document id -> live doc number, built once per view (for ``Filters.ids``)."""
        if self._ids is None:
            reader = self.searcher.reader()
            ids: dict[str, int] = {}
            for term in reader.lexicon("id"):
                text = term.decode() if isinstance(term, bytes) else term
                for d in reader.postings("id", text).all_ids():
                    if not reader.is_deleted(d):
                        ids[text] = d
            self._ids = ids
        return self._ids

    def live_docnum(self, key: str) -> int | None:
        """The document number of the live document with ``key``, if any."""
        if key in self._keys:
            return self._keys[key]
        reader = self.searcher.reader()
        found = None
        if ("key", key) in reader:
            for d in reader.postings("key", key).all_ids():
                if not reader.is_deleted(d):
                    found = d
                    break
        if len(self._keys) > 100_000:
            self._keys.clear()
        self._keys[key] = found
        return found

    def all_doc_ids(self) -> Iterable[int]:
        return self.searcher.reader().all_doc_ids()

    def match_docs(self, terms: list[QueryTerm]) -> set[int]:
        """The live documents any of ``terms`` occurs in."""
        reader = self.searcher.reader()
        out: set[int] = set()
        for q in terms:
            for f in DOC_FIELD_WEIGHTS:
                if reader.doc_frequency(f, q.text):
                    out.update(reader.postings(f, q.text).all_ids())
        return out

    def allowed(self, filters: Filters | None) -> frozenset[int] | None:
        """Doc numbers passing ``filters``; ``None`` means all live documents."""
        if filters is not None and filters.ids is not None:
            # Restrict to these documents (digests rank only their candidates).
            known = self.id_docnums()
            docs = frozenset(known[i] for i in map(str, _values(filters.ids)) if i in known)
            rest = self.allowed(dataclasses.replace(filters, ids=None))
            return docs if rest is None else docs & rest
        q = _filter_query(filters)
        if q is None:
            return None
        key = repr(q)
        cached = self._filters.get(key, _MISSING)
        if cached is not _MISSING:
            _touch(self._filters, key)
            return cached
        return self._remember_filter(key, frozenset(self.searcher.docs_for_query(q)))


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    """One pending operation of the overlay: the latest write of one document."""

    kind: str
    doc_id: str
    doc: Doc | None  # the source document (``None``: removed)
    fields: dict[str, Any] | None  # its Whoosh fields, as ``prepare`` builds them
    stored: dict[str, Any] | None  # what Whoosh would return as its stored fields
    vec: DocVector | None
    seqs: tuple[int, ...]  # journal entries this entry settles
    committing: int | None = None  # the Whoosh TOC generation whose commit carries it
    terms: frozenset[str] = frozenset()  # every term of every field

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.doc_id}"


@dataclasses.dataclass(frozen=True, slots=True)
class _Overlay:
    """One kind's pending operations, by document id in write order (replaced, never changed)."""

    entries: dict[str, _Entry]
    version: int = 0


def _whoosh_length(n: int) -> int:
    """A field length as Whoosh stores it per document (one byte, approximate)."""
    return byte_to_length(length_to_byte(n))


def _column_value(schema: fields.Schema, name: str, stored: Mapping[str, Any]) -> Any:
    """The value Whoosh's column ``name`` returns for a document with ``stored``."""
    field = schema[name]
    value = stored.get(name)
    try:
        raw = field.to_column_value(value) if value is not None else (
            field.column_type.default_value())
        return field.from_column_value(raw)
    except (OverflowError, ValueError):  # Whoosh cannot decode a missing date either
        return None


def _passes(stored: Mapping[str, Any], filters: Filters | None) -> bool:
    """Whether a document with ``stored`` fields passes ``filters`` (as ``_filter_query``)."""
    if filters is None:
        return True
    for name in ("industry", "category", "state", "org_id", "challenge_id"):
        vals = _values(getattr(filters, name))
        if vals and stored.get(name) not in vals:
            return False
    if filters.bounty_min is not None or filters.bounty_max is not None:
        b = stored.get("bounty")
        if b is None or (filters.bounty_min is not None and b < filters.bounty_min) or (
                filters.bounty_max is not None and b > filters.bounty_max):
            return False
    if filters.deadline_after is not None or filters.deadline_before is not None:
        dt = stored.get("deadline")
        after, before = _naive_utc(filters.deadline_after), _naive_utc(filters.deadline_before)
        if dt is None or (after is not None and dt < after) or (
                before is not None and dt > before):
            return False
    if filters.exclude_ids and stored["id"] in set(map(str, filters.exclude_ids)):
        return False
    return filters.ids is None or stored["id"] in set(_values(filters.ids))


class _Overlaid(_Reading):
    """A view with the pending writes on top: what the index will hold after a flush.

    Whoosh documents whose key has a pending write are hidden; pending upserts
    get document numbers after the view's, in write order (the numbers a flush
    gives them), and join the statistics as a commit would (deleted documents
    stay counted until a merge, as in Whoosh). So scores, ties and column sorts
    are those of the flushed index.
    """

    def __init__(self, view: _Reading, entries: list[_Entry], schema: fields.Schema) -> None:
        self.view = view
        self.schema = schema
        self.generation = view.generation
        self._init_caches()
        self._hidden = {d for e in entries if (d := view.live_docnum(e.key)) is not None}
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

    def _own(self) -> Iterable[tuple[int, _Entry]]:
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

    def term_units(self, term: str) -> dict[int, float]:
        cached = self._cached_units(term)
        if cached is not None:
            return cached
        scorer = self.scorer()
        tf = self.view.postings_tf(term, scorer)
        for d in self._hidden:
            tf.pop(d, None)
        for d, e in self._own():
            if term not in e.terms:
                continue
            assert e.vec is not None
            t = 0.0
            for f in DOC_FIELD_WEIGHTS:
                n = e.vec.counts.get(f, {}).get(term)
                if n:
                    t = t + n * scorer.norm(f, _whoosh_length(e.vec.lengths[f]))
            if t:
                tf[d] = t
        return self._cache_units(term, {d: scorer.unit(term, t) for d, t in tf.items()})

    def stored(self, docnum: int) -> tuple[DocVector, dict]:
        if docnum < self._first:
            return self.view.stored(docnum)
        e = self._docs[docnum - self._first]
        assert e.vec is not None and e.stored is not None
        return e.vec, e.stored

    def values(self, name: str) -> list[Any]:
        col = self._columns.get(name)
        if col is None:
            own = [_column_value(self.schema, name, e.stored or {}) for e in self._docs]
            col = self._columns[name] = self.view.values(name) + own
        return col

    def all_doc_ids(self) -> Iterable[int]:
        hidden = self._hidden
        return [*(d for d in self.view.all_doc_ids() if d not in hidden),
                *(d for d, _e in self._own())]

    def match_docs(self, terms: list[QueryTerm]) -> set[int]:
        out = self.view.match_docs(terms) - self._hidden
        for d, e in self._own():
            if any(q.text in e.terms for q in terms):
                out.add(d)
        return out

    def allowed(self, filters: Filters | None) -> frozenset[int] | None:
        key = repr(filters)
        cached = self._filters.get(key, _MISSING)
        if cached is not _MISSING:
            _touch(self._filters, key)
            return cached
        base = self.view.allowed(filters)
        if base is None:
            return self._remember_filter(key, None)
        own = {d for d, e in self._own() if _passes(e.stored or {}, filters)}
        return self._remember_filter(key, frozenset(base - self._hidden) | own)


def _postings(reader: Any, field: str, term: str) -> Iterable[tuple[int, float]]:
    """``(docnum, weight)`` of ``term`` in one segment's live documents, a block at a time.

    Whoosh's matcher API costs several calls per posting; its on-disk matcher
    decodes a block of ids and weights at once, which is read directly here
    (any other matcher, e.g. inlined short postings, is walked normally).
    """
    if (field, term) not in reader:
        return
    deleted = reader.deleted_docs_set if reader.has_deletions() else frozenset()
    m = reader._terms.matcher(field, reader._text_to_bytes(field, term),
                              reader.schema[field].format)
    if hasattr(m, "_read_ids") and hasattr(m, "_next_block"):
        while m.is_active():
            if m._ids is None:
                m._read_ids()
            if m._weights is None:
                m._read_weights()
            i = m._i
            for d, w in zip(m._ids[i:], m._weights[i:], strict=True):
                if d not in deleted:
                    yield d, w
            m._next_block()
        return
    while m.is_active():
        d = m.id()
        if d not in deleted:
            yield d, m.weight()
        m.next()


def _bind(base: Any, segment: Any) -> Any:
    """A reader sharing ``base``'s open files with ``segment``'s deletions.

    Whoosh keeps deletions on the segment object, read by the per-document
    reader (and cached in ``deleted_docs_set``); nothing else in a
    SegmentReader depends on them. The copy is never
    closed itself (its base is).
    """
    reader = copy.copy(base)
    perdoc = copy.copy(base._perdoc)
    perdoc._segment = segment
    reader._segment = segment
    reader._perdoc = perdoc
    reader.__dict__.pop("deleted_docs_set", None)  # a cached_property of the base's deletions
    return reader


def _values(v: str | Iterable[str] | None) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str | int):
        return [str(v)]
    return [str(x) for x in v]


def _filter_query(filters: Filters | None) -> query.Query | None:
    if filters is None:
        return None
    parts: list[query.Query] = []
    for name in ("industry", "category", "state", "org_id", "challenge_id"):
        vals = _values(getattr(filters, name))
        if vals:
            parts.append(query.Or([query.Term(name, v) for v in vals]))
    if filters.bounty_min is not None or filters.bounty_max is not None:
        parts.append(query.NumericRange("bounty", filters.bounty_min, filters.bounty_max))
    if filters.deadline_after is not None or filters.deadline_before is not None:
        parts.append(
            query.DateRange(
                "deadline", _naive_utc(filters.deadline_after), _naive_utc(filters.deadline_before)
            )
        )
    if filters.exclude_ids:
        parts.append(query.Not(query.Or([query.Term("id", str(i)) for i in filters.exclude_ids])))
    if not parts:
        return None
    return query.And(parts) if len(parts) > 1 else parts[0]


class WhooshEngine:
    """The default engine: Whoosh storage, our analyzer and our scoring."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        *,
        analyzer: Analyzer | None = None,
        loader: Loader | None = None,
        kinds: Iterable[str] = ("challenge", "bid", "institute"),
        refresh: float | None = INDEX_REFRESH_SECONDS,
    ) -> None:
        self.root = Path(index_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.analyzer = analyzer or get_analyzer()
        self.loader = loader
        self.kinds = tuple(kinds)
        self.schema = make_schema()
        self.journal = Journal(self.root / "journal.sqlite")
        self._lock = _writer_lock(self.root)
        self._rebuild_lock = threading.Lock()
        self._views_lock = threading.Lock()
        self._views: dict[str, _KindIndex] = {}
        self._retired_views: list[_KindIndex] = []
        self._gen: Path | None = None
        self._merge_guard = threading.Lock()
        self._merging: set[str] = set()
        self._merge_threads: list[threading.Thread] = []
        self._closed = False
        # the overlay: pending writes by kind, visible to reads, flushed to Whoosh
        # by one flusher at a time (see flush())
        self.refresh = refresh or 0.0
        self._overlay_lock = threading.Lock()
        self._overlays: dict[str, _Overlay] = {}
        self._readers: dict[str, tuple[_KindView, _Overlay, _Reading]] = {}
        self._known_kinds = set(self.kinds)
        self._flush_lock = threading.Lock()
        self._flush_wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._flusher_guard = threading.Lock()
        with self._lock:
            if not (self.root / "current").exists():
                gen = self._new_generation()
                self._swap(gen)

    # -- generations ------------------------------------------------------
    def _new_generation(self) -> Path:
        gen = self.root / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        gen.mkdir()
        storage = FileStorage(str(gen))
        for kind in self.kinds:
            storage.create_index(self.schema, indexname=kind)
        return gen

    def _swap(self, gen: Path) -> None:
        link = self.root / f".current-{uuid.uuid4().hex[:8]}"
        os.symlink(gen.name, link)
        os.replace(link, self.root / "current")  # atomic on POSIX

    def generation(self) -> Path:
        return (self.root / "current").resolve()

    def _storage(self, gen: Path | None = None) -> FileStorage:
        return FileStorage(str(gen or self.generation()))

    def _ensure_kind(self, kind: str, gen: Path | None = None) -> index.Index:
        storage = self._storage(gen)
        if not storage.index_exists(indexname=kind):
            with self._lock:
                if not storage.index_exists(indexname=kind):
                    storage.create_index(self.schema, indexname=kind)
        return storage.open_index(indexname=kind)

    def _index(self, kind: str, *, refresh: bool = True) -> _KindIndex | None:
        gen = self.generation()
        with self._views_lock:
            if gen != self._gen:
                self._retired_views.extend(self._views.values())
                if len(self._retired_views) > 2 * len(self.kinds):
                    for v in self._retired_views[: len(self.kinds)]:
                        v.close()
                    del self._retired_views[: len(self.kinds)]
                self._views = {}
                self._gen = gen
            view = self._views.get(kind)
            if view is None:
                storage = self._storage(gen)
                if not storage.index_exists(indexname=kind):
                    return None
                view = self._views[kind] = _KindIndex(storage.open_index(indexname=kind))
        if refresh:
            # cheap when nothing changed; picks up other processes' writes too.
            # Writers do not refresh: the next search does, lazily.
            view.refresh()
        return view

    def _view(self, kind: str) -> _KindView | None:
        """The latest committed view of ``kind`` (without pending writes)."""
        ix = self._index(kind)
        return None if ix is None else ix.view

    def _reader(self, kind: str) -> _Reading | None:
        """What a read of ``kind`` uses: the latest view with the pending writes on top.

        The view and the overlay are taken together under the overlay lock: a
        flush drops its entries only after the view shows its commit, and marks
        them (``committing``) before, so a read sees each document exactly once.
        """
        ix = self._index(kind)
        with self._overlay_lock:
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
        reader: _Reading = _Overlaid(view, visible, self.schema) if visible else view
        with self._overlay_lock:
            self._readers[kind] = (view, overlay, reader)
        return reader

    def close(self, *, flush: bool = True) -> None:
        """Flush pending writes (unless ``flush`` is false) and release everything."""
        self._flush_wake.set()
        with self._merge_guard:
            self._closed = True
        if self._flusher is not None:
            self._flusher.join()
        if flush:
            try:
                self.flush()
            except Exception:  # pragma: no cover - the journal keeps them for replay
                logger.exception("flushing pending index writes at close failed")
        _live_engines.discard(self)
        for thread in self._merge_threads:
            thread.join()
        with self._views_lock:
            for v in [*self._views.values(), *self._retired_views]:
                v.close()
            self._views = {}
            self._retired_views = []
        self.journal.close()

    # -- writing ----------------------------------------------------------
    def prepare(self, doc: Doc, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The Whoosh fields of ``doc``, reusing ``previous`` terms if unchanged."""
        digest = source_hash(doc, self.analyzer)
        if previous is not None and previous.get("hash") == digest:
            terms = previous["terms"]
        else:
            terms = {f: " ".join(ts) for f, ts in doc_terms(self.analyzer, doc).items()}
        kind, doc_id = str(doc["kind"]), str(doc["id"])
        out: dict[str, Any] = {
            "key": f"{kind}:{doc_id}",
            "id": doc_id,
            "data": {"title": _text(doc.get("title")), "terms": terms, "hash": digest},
        }
        out.update(terms)
        for name in ("industry", "category", "state", "org_id", "challenge_id"):
            if doc.get(name) is not None:
                out[name] = str(doc[name])
        if doc.get("bounty") is not None:
            out["bounty"] = int(doc["bounty"])
        for name in ("deadline", "published_at"):
            dt = _naive_utc(doc.get(name))
            if dt is not None:
                out[name] = dt
        return out

    def _write(self, ops: list[tuple[str, str, Doc | None]], gen: Path | None = None) -> None:
        """Apply upserts/removals, one writer and one commit per kind, retrying Whoosh's lock."""
        # the last operation on a key wins (a batch may touch a document twice)
        latest: dict[tuple[str, str], Doc | None] = {}
        for kind, doc_id, doc in ops:
            latest.pop((kind, doc_id), None)
            latest[(kind, doc_id)] = doc
        by_kind: dict[str, list[tuple[str, Doc | None]]] = {}
        for (kind, doc_id), doc in latest.items():
            by_kind.setdefault(kind, []).append((doc_id, doc))
        # segmenting happens outside the lock; only Whoosh writes are serialised
        prepared_by_kind = {
            kind: [(i, self.prepare(d) if d is not None else None) for i, d in items]
            for kind, items in by_kind.items()
        }
        self._commit_prepared(prepared_by_kind, ops, gen)

    def _commit_prepared(
        self,
        prepared_by_kind: Mapping[str, list[tuple[str, dict[str, Any] | None]]],
        ops: list[tuple[str, str, Doc | None]],
        gen: Path | None = None,
        before_commit: Callable[[str, int | None], None] | None = None,
    ) -> None:
        """Write prepared fields (``None``: remove), one writer and one commit per kind.

        ``before_commit(kind, generation)`` is told the Whoosh generation the
        kind's commit will have just before it commits (``None`` if it failed).
        """
        with self._lock:
            for kind, prepared in prepared_by_kind.items():
                writer = self._live_writer(kind) if gen is None else _open_writer(
                    self._ensure_kind(kind, gen))
                try:
                    # the kind's cached segment readers find a key's document in
                    # the writer's numbering without opening a searcher (Whoosh's
                    # update_document would open every segment)
                    view = self._index(kind, refresh=False) if gen is None else None
                    for doc_id, fields_ in prepared:
                        key = f"{kind}:{doc_id}"
                        if view is not None:
                            docnum = view.key_docnum(writer.segments, key)
                            if docnum is not None:
                                writer.delete_document(docnum)
                            if fields_ is not None:
                                writer.add_document(**fields_)
                        elif fields_ is None:
                            writer.delete_by_term("key", key)
                        else:
                            writer.update_document(**fields_)
                except BaseException:
                    writer.cancel()
                    raise
                segments = list(writer.segments)
                if before_commit is not None:
                    # nobody else commits while this writer holds Whoosh's lock
                    before_commit(kind, writer.generation)
                try:
                    if len(segments) >= MERGE_NOW:
                        writer.commit(mergetype=_merge_tiers)
                    else:
                        writer.commit(merge=False)
                except BaseException:
                    if before_commit is not None:
                        before_commit(kind, None)
                    raise
                if gen is None and len(segments) < MERGE_NOW and _tier_to_merge(segments):
                    self._merge_later(kind)

    def _live_writer(self, kind: str) -> Any:
        """A Whoosh writer on ``kind`` in the live generation.

        Waiting for Whoosh's lock can outlast the generation: a rebuild in
        another process holds the old generation's locks while it copies the
        last writes over and swaps. A writer that got the lock on a generation
        that is no longer live is given up and taken again on the new one.
        """
        while True:
            gen = self.generation()
            writer = _open_writer(self._ensure_kind(kind, gen))
            if self.generation() == gen:
                return writer
            writer.cancel()

    def _merge_later(self, kind: str) -> None:
        """Merge ``kind``'s small segments in a background thread (one at a time per kind)."""
        with self._merge_guard:
            if kind in self._merging or self._closed:
                return
            self._merging.add(kind)
        gen = self.generation()

        def merge() -> None:
            try:
                with self._lock:
                    if self.generation() == gen and not self._closed:
                        _open_writer(self._ensure_kind(kind, gen)).commit(
                            mergetype=_merge_tiers
                        )
            except Exception:  # pragma: no cover - the next write merges instead
                logger.exception("merging index segments of %s failed", kind)
            finally:
                with self._merge_guard:
                    self._merging.discard(kind)

        thread = threading.Thread(target=merge, name=f"bounty-index-merge-{kind}", daemon=True)
        self._merge_threads = [t for t in self._merge_threads if t.is_alive()] + [thread]
        thread.start()

    def apply(self, ops: Iterable[tuple[str, Any, Doc | None]]) -> None:
        """Record ``(kind, id, doc-or-None)`` operations durably and make them visible."""
        self._submit([(str(k), str(i), d) for k, i, d in ops])

    def index(self, docs: Iterable[Doc]) -> None:
        self._submit([(str(d["kind"]), str(d["id"]), d) for d in docs])

    def remove(self, kind: str, ids: Iterable[Any]) -> None:
        self._submit([(kind, str(i), None) for i in ids])

    def _entry(self, kind: str, doc_id: str, doc: Doc | None, seqs: tuple[int, ...] = (),
               previous: Mapping[str, Any] | None = None) -> _Entry:
        if doc is None:
            return _Entry(kind, doc_id, None, None, None, None, seqs)
        fields_ = self.prepare(doc, previous)
        stored = {k: v for k, v in fields_.items() if self.schema[k].stored}
        vec = DocVector.from_stored(fields_["data"]["terms"])
        terms = frozenset(t for f, counts in vec.counts.items() if f in DOC_FIELD_WEIGHTS
                          for t in counts)
        return _Entry(kind, doc_id, doc, fields_, stored, vec, seqs, terms=terms)

    def _submit(self, ops: list[tuple[str, str, Doc | None]]) -> None:
        """Journal ``ops`` (durable), then put them in the overlay (visible): no Whoosh write.

        The flusher applies the overlay to Whoosh within ``refresh`` seconds, or
        at once when it grows past FLUSH_DOCS documents.
        """
        if not ops:
            return
        for kind in {k for k, _i, _d in ops} - self._known_kinds:
            self._ensure_kind(kind)
            self._known_kinds.add(kind)
        entries = [self._entry(kind, doc_id, doc) for kind, doc_id, doc in ops]  # segments
        seqs = self.journal.record(ops)
        with self._overlay_lock:
            changed: dict[str, dict[str, _Entry]] = {}
            for entry, seq in zip(entries, seqs, strict=True):
                pending = changed.get(entry.kind)
                if pending is None:
                    old = self._overlays.get(entry.kind)
                    pending = changed[entry.kind] = dict(old.entries) if old else {}
                # the latest write of a document wins and moves to the end; it also
                # settles the journal entries of the writes it replaces
                previous = pending.pop(entry.doc_id, None)
                earlier = previous.seqs if previous is not None else ()
                pending[entry.doc_id] = dataclasses.replace(entry, seqs=(*earlier, seq))
            for kind, pending in changed.items():
                old = self._overlays.get(kind)
                self._overlays[kind] = _Overlay(pending, (old.version + 1) if old else 1)
            size = sum(len(o.entries) for o in self._overlays.values())
        self._after_submit(size)

    def _after_submit(self, size: int) -> None:
        if self.refresh > 0 and self._flusher is None and not self._closed:
            self._start_flusher()
        if size >= FLUSH_NOW_DOCS or (size >= FLUSH_DOCS and self._flusher is None):
            # writes outrun the flusher (or there is none): this writer flushes
            try:
                self.flush()
            except Exception:  # the entries stay pending (journal and overlay)
                logger.exception("flushing pending index writes failed; retrying later")
        elif size >= FLUSH_DOCS:
            self._flush_wake.set()

    def _start_flusher(self) -> None:
        with self._flusher_guard:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"bounty-index-flush-{self.root.name}", daemon=True
            )
            _live_engines.add(self)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._closed:
            self._flush_wake.wait(self.refresh)
            self._flush_wake.clear()
            if self._closed:
                return
            try:
                self.flush()
            except Exception:  # pragma: no cover - the next round retries
                logger.exception("flushing pending index writes failed; retrying")

    def pending(self) -> int:
        """How many documents have writes not yet in Whoosh (this process's)."""
        with self._overlay_lock:
            return sum(len(o.entries) for o in self._overlays.values())

    def flush(self) -> int:
        """Apply the pending writes to Whoosh now (one commit per kind); returns their count.

        Entries leave the overlay only once the kind's view shows the commit,
        and their journal entries are settled after that.
        """
        with self._flush_lock:
            with self._overlay_lock:
                batch = {k: list(o.entries.values()) for k, o in self._overlays.items()
                         if o.entries}
            if not batch:
                return 0
            ops: list[tuple[str, str, Doc | None]] = []
            prepared: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}
            for kind, entries in batch.items():
                for e in entries:
                    if self.loader is not None:
                        # another process may have written the document since:
                        # write what the database holds now (terms reused if unchanged)
                        e = self._fresh(e)
                    ops.append((kind, e.doc_id, e.doc))
                    prepared.setdefault(kind, []).append((e.doc_id, e.fields))
            flushed = {k: {e.doc_id: e.seqs for e in entries} for k, entries in batch.items()}

            def mark(kind: str, generation: int | None) -> None:
                with self._overlay_lock:
                    overlay = self._overlays[kind]
                    entries = dict(overlay.entries)
                    for doc_id, seqs in flushed[kind].items():
                        e = entries.get(doc_id)
                        if e is not None and e.seqs == seqs:
                            entries[doc_id] = dataclasses.replace(e, committing=generation)
                    self._overlays[kind] = _Overlay(entries, overlay.version + 1)

            with self._lock:
                self._commit_prepared(prepared, ops, before_commit=mark)
                for kind in batch:
                    self._index(kind)  # the view now shows the commit
                with self._overlay_lock:
                    for kind, done in flushed.items():
                        overlay = self._overlays[kind]
                        entries = {i: e for i, e in overlay.entries.items()
                                   if not (e.committing is not None and done.get(i) == e.seqs)}
                        self._overlays[kind] = _Overlay(entries, overlay.version + 1)
            self.journal.done(s for per_kind in flushed.values() for seqs in per_kind.values()
                              for s in seqs)
            return sum(len(v) for v in flushed.values())

    def _fresh(self, e: _Entry) -> _Entry:
        assert self.loader is not None
        try:
            doc = self.loader(e.kind, e.doc_id)
        except Exception:  # pragma: no cover - the database is away: write what we have
            logger.exception("reloading %s %s for the index failed", e.kind, e.doc_id)
            return e
        if doc is None:
            return e if e.doc is None else self._entry(e.kind, e.doc_id, None, e.seqs)
        previous = e.fields["data"] if e.fields is not None else None
        fresh = self._entry(e.kind, e.doc_id, doc, e.seqs, previous)
        return e if fresh.fields == e.fields else fresh

    def replay(self, only: Iterable[int] | None = None) -> int:
        """Apply pending index work (all, or the entries ``only``); returns the count.

        Called at start-up for what a crash left. Entries this engine still
        holds in its overlay are not a crash's: its flush applies them.
        """
        with self._overlay_lock:
            own = {s for o in self._overlays.values() for e in o.entries.values() for s in e.seqs}
        entries = [e for e in self.journal.pending() if e[0] not in own]
        if only is not None:
            wanted = set(only)
            entries = [e for e in entries if e[0] in wanted]
        if not entries:
            return 0
        self._write(self._current([(kind, doc_id, doc) for _seq, kind, doc_id, doc in entries]))
        self.journal.done(seq for seq, *_ in entries)
        return len(entries)

    def _current(
        self, ops: list[tuple[str, str, Doc | None]]
    ) -> list[tuple[str, str, Doc | None]]:
        """Journalled operations with what the database holds now (when there is a loader):
        replaying them is then right even for a transaction that rolled back, or a
        document written again since."""
        if self.loader is None:
            return ops
        return [(kind, doc_id, self.loader(kind, doc_id)) for kind, doc_id, _doc in ops]

    def rebuild(
        self, docs: Iterable[Doc], *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Build every kind into a fresh generation, then swap it in atomically.

        Pending writes are flushed first (their terms are then reused). Writes
        that arrive meanwhile, from this process or another sharing the index,
        stay visible: the journal keeps every write after the rebuild began
        (:meth:`Journal.begin_rebuild`), and they are copied into the new
        generation while the old one's Whoosh locks are held, just before the
        swap; searches keep using the live generation throughout.
        """
        self.flush()
        with self._rebuild_lock:
            rid, after = self.journal.begin_rebuild()
            try:
                gen = self._new_generation()
                old = {k: self._view(k) for k in self.kinds}
                writers: dict[str, Any] = {}
                count = 0
                try:
                    for doc in docs:
                        kind = str(doc["kind"])
                        if kind not in writers:
                            writers[kind] = _SegmentBuilder(self._ensure_kind(kind, gen))
                        view = old.get(kind) or self._view(kind)
                        previous = None
                        if view is not None:
                            stored = view.searcher.document(key=f"{kind}:{doc['id']}")
                            previous = stored["data"] if stored else None
                        writers[kind].add(self.prepare(doc, previous))
                        if writers[kind].doc_count >= REBUILD_SEGMENT_DOCS:
                            # postings are held in memory until a commit: bound them
                            writers[kind].commit()
                            writers[kind] = _SegmentBuilder(self._ensure_kind(kind, gen))
                        count += 1
                        if progress is not None:
                            progress(1)
                    for w in writers.values():
                        w.commit()
                except BaseException:
                    for w in writers.values():
                        w.cancel()
                    shutil.rmtree(gen, ignore_errors=True)
                    raise
                with self._lock:
                    previous_gen = self.generation()
                    # no process commits to the old generation from here to the swap
                    held = [_open_writer(self._ensure_kind(k, previous_gen), timeout=600.0)
                            for k in self.kinds
                            if self._storage(previous_gen).index_exists(indexname=k)]
                    try:
                        tail = self.journal.since(after)
                        if tail:
                            self._write(self._current(tail), gen)
                        self._swap(gen)
                    finally:
                        for w in held:
                            w.cancel()
                self._cleanup(keep={gen, previous_gen})
                return count
            finally:
                self.journal.end_rebuild(rid)

    def _cleanup(self, keep: set[Path]) -> None:
        # the previous generation stays: open searchers may still read it
        for path in self.root.glob("gen-*"):
            if path.resolve() not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # -- reading ----------------------------------------------------------
    def _terms(self, view: _Reading, q: Doc | str, max_terms: int) -> list[QueryTerm]:
        return query_terms(self.analyzer, q, view.idf, max_terms=max_terms)

    def _score_postings(
        self, view: _Reading, terms: list[QueryTerm], allowed: frozenset[int] | None
    ) -> dict[int, float]:
        """Term-at-a-time BM25F over the (cached, per-term) postings of the bounded terms."""
        scores: dict[int, float] = {}
        for q in terms:
            units = view.term_units(q.text)
            w = q.weight  # Scorer.saturate(q, tf) == q.weight * Scorer.unit(q.text, tf)
            if allowed is None:
                pairs: Iterable[tuple[int, float]] = units.items()
            elif len(allowed) < len(units):
                pairs = ((d, units[d]) for d in allowed if d in units)
            else:
                pairs = ((d, c) for d, c in units.items() if d in allowed)
            for d, c in pairs:
                scores[d] = scores.get(d, 0.0) + w * c
        return scores

    def _matches(
        self, view: _Reading, terms: list[QueryTerm], allowed: frozenset[int] | None
    ) -> set[int]:
        """The documents any term occurs in (what scoring would return), unscored."""
        if allowed is not None and len(allowed) <= SMALL_CANDIDATE_SET:
            return set(self._score_vectors(view, terms, allowed))
        out = view.match_docs(terms)
        if allowed is not None:
            out &= allowed
        return out

    def _score_vectors(
        self, view: _Reading, terms: list[QueryTerm], docnums: Iterable[int]
    ) -> dict[int, float]:
        scorer = view.scorer()
        out = {}
        for d in docnums:
            s, _ = scorer.score(terms, view.stored(d)[0])
            if s > 0:
                out[d] = s
        return out

    def _scores(
        self, view: _Reading, terms: list[QueryTerm], allowed: frozenset[int] | None
    ) -> dict[int, float]:
        # A few candidates (a challenge's bids): score their stored vectors. More (digest
        # candidates, open challenges): per-term cached postings, shared by later queries.
        if allowed is not None and len(allowed) <= VECTOR_SCORING_MAX:
            return self._score_vectors(view, terms, allowed)
        return self._score_postings(view, terms, allowed)

    def _hit(
        self, view: _Reading, kind: str, docnum: int, score: float | None, terms
    ) -> Hit:
        """A hit; ``score`` ``None`` means score it here (results sorted by a column)."""
        vec, stored = view.stored(docnum)
        if terms:
            exact, matched = view.scorer().score(terms, vec)
            score = exact if score is None else score
        else:
            matched = []
        score = score or 0.0
        meta = {k: v for k, v in stored.items() if k not in ("data", "key")}
        meta["title"] = stored["data"]["title"]
        for name in ("deadline", "published_at"):
            if isinstance(meta.get(name), datetime):
                meta[name] = meta[name].replace(tzinfo=UTC)
        return Hit(kind=kind, id=stored["id"], score=round(score, 4), fields=meta, matched=matched)

    def search(
        self,
        text: str,
        *,
        kind: str = "challenge",
        filters: Filters | None = None,
        sort: SortKey = "relevance",
        page: int = 1,
        pagesize: int = 20,
        facets: bool = True,
        dense: Mapping[str, float] | None = None,
    ) -> SearchResult:
        page = max(1, int(page))
        pagesize = max(1, min(int(pagesize), 100))
        view = self._reader(kind)
        if view is None:
            return SearchResult([], 0, page, pagesize)
        allowed = view.allowed(filters)
        terms = self._terms(view, text or "", SEARCH_MAX_TERMS) if text and text.strip() else []
        unscored = False
        if terms and sort != "relevance":
            # sorted by a column: which documents match is all that matters; the
            # page's hits are scored one by one
            scores = dict.fromkeys(self._matches(view, terms, allowed), 0.0)
            unscored = True
        elif terms:
            scores = self._scores(view, terms, allowed)
        elif text and text.strip():
            scores = {}  # only unknown words: nothing can match
        else:
            docs = allowed if allowed is not None else view.all_doc_ids()
            scores = dict.fromkeys(docs, 0.0)
            if sort == "relevance":
                sort = "newest"
            dense = None
        if dense:
            near = self._dense(view, dense, filters)
            scores = (dict.fromkeys(scores.keys() | near.keys(), 0.0) if unscored
                      else fuse(scores, near))
        total = len(scores)
        start = (page - 1) * pagesize
        ordered = self._order(view, scores, sort, start + pagesize)
        hits = [self._hit(view, kind, d, None if unscored else scores[d], terms)
                for d in ordered[start:]]
        counts: dict[str, dict[str, int]] = {}
        if facets:
            key = (tuple(t.text for t in terms), bool(text and text.strip()), repr(filters))
            counts = view.facet_counts(key, scores)
        return SearchResult(hits, total, page, pagesize, counts, [t.text for t in terms])

    def _order(self, view: _Reading, scores: dict[int, float], sort: str, n: int) -> list[int]:
        if sort == "relevance":
            return heapq.nlargest(n, scores, key=lambda d: (scores[d], -d))
        name, reverse = {
            "newest": ("published_at", True),
            "deadline": ("deadline", False),
            "bounty": ("bounty", True),
        }.get(sort, ("published_at", True))
        col = view.values(name)
        keyed = ((col[d], d) for d in scores)
        if reverse:
            return [d for _, d in heapq.nlargest(n, keyed)]
        # documents without a deadline sort last
        return [d for _, d in heapq.nsmallest(n, ((v if v else float("inf"), d) for v, d in keyed))]

    def rank(
        self,
        query_doc: Doc | str,
        *,
        kind: str,
        filters: Filters | None = None,
        limit: int = 50,
        max_terms: int | None = None,
        dense: Mapping[str, float] | None = None,
    ) -> list[Hit]:
        view = self._reader(kind)
        if view is None:
            return []
        allowed = view.allowed(filters)
        small = allowed is not None and len(allowed) <= SMALL_CANDIDATE_SET
        terms = self._terms(
            view, query_doc, max_terms or (MAX_QUERY_TERMS if small else RECOMMEND_MAX_TERMS)
        )
        if not terms and not dense:
            return []
        scores = self._scores(view, terms, allowed) if terms else {}
        if dense:
            scores = fuse(scores, self._dense(view, dense, filters))
        best = heapq.nlargest(limit, scores, key=lambda d: (scores[d], -d))
        return [self._hit(view, kind, d, scores[d], terms) for d in best]

    def _dense(self, view: _Reading, dense: Mapping[str, float],
               filters: Filters | None) -> dict[int, float]:
        """Dense similarities by doc number, for the documents that pass ``filters``."""
        ids = [str(i) for i in dense]
        docs = view.allowed(dataclasses.replace(filters or Filters(), ids=ids))
        out = {}
        for d in docs or ():
            doc_id = view.stored(d)[1]["id"]
            if doc_id in dense:
                out[d] = dense[doc_id]
        return out

    def highlight(self, text: str, terms: Iterable[str], *, fragment: int = 0) -> Markup:
        return _highlight(self.analyzer, text, terms, fragment=fragment)

    def count(self, kind: str) -> int:
        view = self._reader(kind)
        return 0 if view is None else view.doc_count


def _tier_to_merge(segments: list[Any]) -> list[Any]:
    """The segments of the smallest size tier that has MERGE_FACTOR of them."""
    tiers: dict[int, list[Any]] = {}
    for segment in segments:
        n = max(segment.doc_count_all(), 1)
        tier = int(math.log(n, MERGE_FACTOR) + 1e-9)
        tiers.setdefault(tier, []).append(segment)
    for _tier, group in sorted(tiers.items()):
        if len(group) >= MERGE_FACTOR:
            group = group[:MERGE_FACTOR]
            if sum(s.doc_count_all() for s in group) <= MAX_MERGE_DOCS:
                return group
    return []


def _merge_tiers(writer: Any, segments: list[Any]) -> list[Any]:
    """A Whoosh merge policy: merge tiers (smallest first) while one is full."""
    from whoosh.reading import SegmentReader

    remaining = list(segments)
    while group := _tier_to_merge(remaining):
        for segment in group:
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        ids = {id(s) for s in group}
        remaining = [s for s in remaining if id(s) not in ids]
        break  # one merge per commit: the merged segment is the writer's own
    return remaining


def _open_writer(ix: index.Index, timeout: float = 60.0) -> Any:
    """``ix.writer()`` retried while another process holds Whoosh's lock."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return ix.writer()
        except LockError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
