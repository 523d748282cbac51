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
"""

from __future__ import annotations

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

_path_locks: dict[str, threading.RLock] = {}
_path_locks_guard = threading.Lock()


def _writer_lock(path: Path) -> threading.RLock:
    """One writer per index directory per process."""
    key = str(path.resolve())
    with _path_locks_guard:
        return _path_locks.setdefault(key, threading.RLock())


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
                        lengths.append(byte_to_length(length_to_byte(length)))
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


class _KindView:
    """A cached searcher over one kind's index with cached statistics."""

    def __init__(self, ix: index.Index) -> None:
        self.ix = ix
        # one reader per segment id, opened once: a segment's files never
        # change, only its deletions (kept in the TOC), which ``_bind`` puts on
        # a shallow copy. So a refresh after a write opens only new segments,
        # never the big ones again, even when the write deleted from them.
        self._bases: dict[str, Any] = {}
        self._bases_lock = threading.Lock()
        self._retired: list[list[Any]] = []
        self.searcher = self._open()
        self._reset()

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

    def _open(self) -> Any:
        from whoosh.reading import EmptyReader, MultiReader
        from whoosh.searching import Searcher

        info = self.ix._read_toc()
        self._segment_bases = [self.base(segment) for segment in info.segments]
        readers = [_bind(b, segment) for b, segment in zip(self._segment_bases, info.segments,
                                                            strict=True)]
        self._segment_readers = readers
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
        return Searcher(reader, closereader=False, fromindex=self.ix)

    def _reset(self) -> None:
        self._idf: dict[str, float] = {}
        self._vectors: OrderedDict[int, tuple[DocVector, dict]] = OrderedDict()
        self._filters: OrderedDict[tuple, frozenset[int] | None] = OrderedDict()
        self._arrays: dict[str, list[Any]] = {}
        self._facets: OrderedDict[tuple, dict[str, dict[str, int]]] = OrderedDict()
        self._units: OrderedDict[str, dict[int, float]] = OrderedDict()
        self._units_size = 0
        self._ids: dict[str, int] | None = None
        reader = self.searcher.reader()
        self.doc_count = reader.doc_count()
        # term statistics still count deleted documents until segments merge,
        # so IDF and average lengths use the same population
        self.doc_count_all = reader.doc_count_all()
        self.avg = {
            f: (reader.field_length(f) / self.doc_count_all if self.doc_count_all else 1.0)
            for f in DOC_FIELD_WEIGHTS
        }

    def refresh(self) -> None:
        # Not Searcher.refresh(): it reuses segment readers whose deletions
        # have changed (a deleted document would stay visible) and adds back
        # segments that a merge removed.
        if not self.searcher.up_to_date():
            self.searcher = self._open()
            self._reset()

    def close(self) -> None:
        for group in [*self._retired, list(self._bases.values())]:
            for r in group:
                r.close()
        self._retired = []
        self._bases = {}

    def df(self, term: str) -> int:
        reader = self.searcher.reader()
        return max(reader.doc_frequency(f, term) for f in DOC_FIELD_WEIGHTS)

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

    def term_units(self, term: str) -> dict[int, float]:
        """Each document's BM25F score for ``term`` at query weight 1, cached until the
        view refreshes: repeated queries (digests rank thousands of subscribers over the
        same candidates) then cost a dictionary lookup per term instead of a postings walk."""
        cached = self._units.get(term)
        if cached is not None:
            self._units.move_to_end(term)
            return cached
        scorer = self.scorer()
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
        unit = scorer.unit
        units = {d: unit(term, t) for d, t in tf.items()}
        self._units[term] = units
        self._units_size += len(units)
        while self._units_size > TERM_UNITS_CACHE_ENTRIES and len(self._units) > 1:
            _old, dropped = self._units.popitem(last=False)
            self._units_size -= len(dropped)
        return units

    def stored(self, docnum: int) -> tuple[DocVector, dict]:
        cached = self._vectors.get(docnum)
        if cached is not None:
            self._vectors.move_to_end(docnum)
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

    def facet_counts(self, key: tuple, docs: Iterable[int]) -> dict[str, dict[str, int]]:
        """Facet counts of ``docs``, cached per searcher generation under ``key``."""
        counts = self._facets.get(key)
        if counts is not None:
            self._facets.move_to_end(key)
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
        if key in self._filters:
            self._filters.move_to_end(key)
            return self._filters[key]
        docs = frozenset(self.searcher.docs_for_query(q))
        self._filters[key] = docs
        if len(self._filters) > 64:
            self._filters.popitem(last=False)
        return docs


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
        self._views: dict[str, _KindView] = {}
        self._retired_views: list[_KindView] = []
        self._gen: Path | None = None
        self._rebuild_tail: list[tuple[str, str, Doc | None]] | None = None
        self._merge_guard = threading.Lock()
        self._merging: set[str] = set()
        self._merge_threads: list[threading.Thread] = []
        self._closed = False
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

    def _view(self, kind: str, *, refresh: bool = True) -> _KindView | None:
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
                view = self._views[kind] = _KindView(storage.open_index(indexname=kind))
            elif refresh:
                # cheap when nothing changed; picks up other processes' writes too.
                # Writers do not refresh: the next search does, lazily.
                view.refresh()
            return view

    def close(self) -> None:
        with self._merge_guard:
            self._closed = True
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
        with self._lock:
            for kind, prepared in prepared_by_kind.items():
                ix = self._ensure_kind(kind, gen)
                writer = _open_writer(ix)
                try:
                    # the kind's cached segment readers find a key's document in
                    # the writer's numbering without opening a searcher (Whoosh's
                    # update_document would open every segment)
                    view = self._view(kind, refresh=False) if gen is None else None
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
                if len(segments) >= MERGE_NOW:
                    writer.commit(mergetype=_merge_tiers)
                else:
                    writer.commit(merge=False)
                    if gen is None and _tier_to_merge(segments):
                        self._merge_later(kind)
            if self._rebuild_tail is not None and gen is None:
                self._rebuild_tail.extend(ops)

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
        """Apply already-journalled operations (``(kind, id, doc-or-None)``)."""
        self._write([(k, str(i), d) for k, i, d in ops])

    def index(self, docs: Iterable[Doc]) -> None:
        ops = [(str(d["kind"]), str(d["id"]), d) for d in docs]
        self._durably(ops)

    def remove(self, kind: str, ids: Iterable[Any]) -> None:
        self._durably([(kind, str(i), None) for i in ids])

    def _durably(self, ops: list[tuple[str, str, Doc | None]]) -> None:
        if not ops:
            return
        seqs = self.journal.record(ops)
        self._write(ops)
        self.journal.done(seqs)

    def replay(self, only: Iterable[int] | None = None) -> int:
        """Apply pending index work (all, or the entries ``only``); returns the count.

        Called at start-up for what a crash left, and after each commit for
        that transaction's entries.
        """
        entries = self.journal.pending()
        if only is not None:
            wanted = set(only)
            entries = [e for e in entries if e[0] in wanted]
        if not entries:
            return 0
        ops = []
        for _seq, kind, doc_id, doc in entries:
            if self.loader is not None:
                doc = self.loader(kind, doc_id)
            ops.append((kind, doc_id, doc))
        self._write(ops)
        self.journal.done(seq for seq, *_ in entries)
        return len(entries)

    def rebuild(
        self, docs: Iterable[Doc], *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Build every kind into a fresh generation, then swap it in atomically.

        Writes that arrive meanwhile go to the live generation and are copied
        into the new one just before the swap; searches keep using the live
        generation throughout.
        """
        with self._rebuild_lock:
            with self._lock:
                self._rebuild_tail = []
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
                    tail, self._rebuild_tail = self._rebuild_tail, None
                    if tail:
                        if self.loader is not None:
                            tail = [(k, i, self.loader(k, i)) for k, i, _ in tail]
                        self._write(tail, gen)
                    previous_gen = self.generation()
                    self._swap(gen)
                self._cleanup(keep={gen, previous_gen})
                return count
            finally:
                with self._lock:
                    self._rebuild_tail = None

    def _cleanup(self, keep: set[Path]) -> None:
        # the previous generation stays: open searchers may still read it
        for path in self.root.glob("gen-*"):
            if path.resolve() not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # -- reading ----------------------------------------------------------
    def _terms(self, view: _KindView, q: Doc | str, max_terms: int) -> list[QueryTerm]:
        return query_terms(self.analyzer, q, view.idf, max_terms=max_terms)

    def _score_postings(
        self, view: _KindView, terms: list[QueryTerm], allowed: frozenset[int] | None
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
        self, view: _KindView, terms: list[QueryTerm], allowed: frozenset[int] | None
    ) -> set[int]:
        """The documents any term occurs in (what scoring would return), unscored."""
        if allowed is not None and len(allowed) <= SMALL_CANDIDATE_SET:
            return set(self._score_vectors(view, terms, allowed))
        reader = view.searcher.reader()
        out: set[int] = set()
        for q in terms:
            for f in DOC_FIELD_WEIGHTS:
                if reader.doc_frequency(f, q.text):
                    out.update(reader.postings(f, q.text).all_ids())
        if allowed is not None:
            out &= allowed
        return out

    def _score_vectors(
        self, view: _KindView, terms: list[QueryTerm], docnums: Iterable[int]
    ) -> dict[int, float]:
        scorer = view.scorer()
        out = {}
        for d in docnums:
            s, _ = scorer.score(terms, view.stored(d)[0])
            if s > 0:
                out[d] = s
        return out

    def _scores(
        self, view: _KindView, terms: list[QueryTerm], allowed: frozenset[int] | None
    ) -> dict[int, float]:
        # A few candidates (a challenge's bids): score their stored vectors. More (digest
        # candidates, open challenges): per-term cached postings, shared by later queries.
        if allowed is not None and len(allowed) <= VECTOR_SCORING_MAX:
            return self._score_vectors(view, terms, allowed)
        return self._score_postings(view, terms, allowed)

    def _hit(
        self, view: _KindView, kind: str, docnum: int, score: float | None, terms
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
    ) -> SearchResult:
        page = max(1, int(page))
        pagesize = max(1, min(int(pagesize), 100))
        view = self._view(kind)
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
            docs = allowed if allowed is not None else view.searcher.reader().all_doc_ids()
            scores = dict.fromkeys(docs, 0.0)
            if sort == "relevance":
                sort = "newest"
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

    def _order(self, view: _KindView, scores: dict[int, float], sort: str, n: int) -> list[int]:
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
    ) -> list[Hit]:
        view = self._view(kind)
        if view is None:
            return []
        allowed = view.allowed(filters)
        small = allowed is not None and len(allowed) <= SMALL_CANDIDATE_SET
        terms = self._terms(
            view, query_doc, max_terms or (MAX_QUERY_TERMS if small else RECOMMEND_MAX_TERMS)
        )
        if not terms:
            return []
        scores = self._scores(view, terms, allowed)
        best = heapq.nlargest(limit, scores, key=lambda d: (scores[d], -d))
        return [self._hit(view, kind, d, scores[d], terms) for d in best]

    def highlight(self, text: str, terms: Iterable[str], *, fragment: int = 0) -> Markup:
        return _highlight(self.analyzer, text, terms, fragment=fragment)

    def count(self, kind: str) -> int:
        view = self._view(kind)
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
