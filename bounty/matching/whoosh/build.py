"""A fresh generation's segments, written in bulk (``rebuild``)."""

from __future__ import annotations

import shutil
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import count, repeat
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import fields, formats, index

from ..analyzer import Analyzer
from ..engine import Doc
from ..ranking import DOC_FIELD_WEIGHTS
from . import adapter, postings
from .schema import prepare, whoosh_length
from .store import Store

# A rebuild writes a segment per this many documents of a kind: its postings are
# held in memory until committed (about 6 GB per million documents otherwise).
REBUILD_SEGMENT_DOCS = 200_000
# Values of a non-text field whose terms are remembered (a field's values repeat:
# states, organisations, challenges); the rest are analysed each time.
INDEXED_VALUES = 20_000
# Postings encoded at a time (postings.encode holds a few 8-byte numbers per posting).
ENCODED_POSTINGS = 1 << 21


class SegmentBuilder:
    """Writes one new segment of a fresh index with its postings inverted in memory.

    What ``SegmentWriter.add_document`` and ``commit`` produce, byte for byte,
    without their per-posting costs: Whoosh re-tokenises the space-joined
    terms, pickles every posting into sorted run files (its external sort),
    reads them back and looks up the document's field length per posting.
    Here a document's terms are counted once (``str.split`` + ``Counter``)
    and appended, as (term number, document number, count), to three flat
    arrays per field (the other fields' terms of a repeated value remembered),
    without a Python step per term; at commit they are sorted by term number
    with numpy and the posting lists of many terms encoded at once
    (``postings.encode``), then written in Whoosh's order. A document's previous
    stored fields are copied when unchanged (``adapter.finish_doc``). Only for a
    fresh generation (``rebuild``); memory grows with the number of postings
    (about 12 bytes each).
    """

    def __init__(self, ix: index.Index, *, locked: bool = True) -> None:
        """``locked=False``: a segment written in a worker process, which the rebuilding
        process adds to the table of contents (:meth:`finish`)."""
        self.writer = ix.writer() if locked else adapter.unlocked_writer(ix)
        self.schema = self.writer.schema
        for name in self.schema.names():
            f = self.schema[name]
            if f.vector or f.separate_spelling():  # pragma: no cover - not in our schema
                raise ValueError(f"field {name!r} needs Whoosh's own writer")
            if name in DOC_FIELD_WEIGHTS and type(f.format) is not formats.Frequency:
                raise ValueError(f"text field {name!r} must have the Frequency format")
            if f.indexed and name not in DOC_FIELD_WEIGHTS and f.format.fixed_value_size() != 0:
                raise ValueError(f"field {name!r} must have no posting values (Existence)")
        self._blocklimit, self._compression, inline = adapter.postings_settings(
            self.writer.fieldwriter)
        if inline > 1:  # pragma: no cover - Whoosh 3 inlines none
            raise ValueError("inlined posting lists need Whoosh's own writer")
        self._text_fields = frozenset(DOC_FIELD_WEIGHTS)
        # field -> term (str for the text fields, else bytes) -> its number, on first sight
        self._terms: dict[str, defaultdict[Any, int]] = {}
        # field -> (term numbers, doc numbers, counts or weights), one entry per posting
        self._postings: dict[str, tuple[array, array, array]] = {}
        # field -> value -> (its length, its term numbers and weights): the other fields
        self._indexed: dict[str, dict[Any, tuple[int, list[tuple[int, float]]]]] = {}
        # field -> quantised length per document (what the reader reports)
        self._lengths: dict[str, array] = {}

    def add(self, fields_: Mapping[str, Any],
            previous: tuple[bytes, bytes] | None = None) -> None:
        """Write a document's fields; ``previous``: the pickled and the compressed stored
        fields of its previous version (``adapter.finish_doc``)."""
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
                        lengths.append(whoosh_length(length))
                    elif not field.scorable:
                        length = 0
                pdw.add_field(name, field, value if field.stored else None, length)
                column = field.column_type
                if column:
                    pdw.add_column_value(name, column, field.to_column_value(value))
        except BaseException:
            pdw.cancel_doc()
            raise
        adapter.finish_doc(pdw, previous)
        adapter.document_added(w)

    def add_document(self, analyzer: Analyzer, doc: Doc, stored: bytes | None) -> None:
        """Write ``doc``, reusing the terms of its previous version when its text is
        unchanged; ``stored``: that version's stored fields (``adapter.stored_bytes``)."""
        if not stored:
            self.add(prepare(analyzer, doc))
            return
        plain, fields_ = adapter.decode_stored(stored)
        self.add(prepare(analyzer, doc, fields_.get("data")), (plain, stored))

    def _field(self, name: str, weights: str) -> tuple[defaultdict[Any, int], tuple]:
        numbers = self._terms.get(name)
        if numbers is None:
            numbers = self._terms[name] = defaultdict(count().__next__)
            self._postings[name] = (array("I"), array("I"), array(weights))
        return numbers, self._postings[name]

    def _add_terms(self, name: str, docnum: int, value: str) -> int:
        numbers, (term_numbers, docnums, counts_) = self._field(name, "I")
        counts = Counter(value.split())
        term_numbers.extend(map(numbers.__getitem__, counts))  # numbers new terms
        counts_.extend(counts.values())
        docnums.extend(repeat(docnum, len(counts)))
        return sum(counts.values())

    def _add_other(self, name: str, field: Any, docnum: int, value: Any) -> int:
        numbers, (term_numbers, docnums, weights) = self._field(name, "d")
        known = self._indexed.setdefault(name, {})
        indexed = known.get(value)
        if indexed is None:
            length, terms = 0, []
            for tbytes, freq, weight, _value in _index(field, value):  # no values: Existence
                length += freq
                terms.append((numbers[tbytes], weight))
            indexed = length, terms
            if len(known) < INDEXED_VALUES:
                known[value] = indexed
        length, terms = indexed
        for number, weight in terms:
            term_numbers.append(number)
            weights.append(weight)
        docnums.extend(repeat(docnum, len(terms)))
        return length

    def _write_postings(self) -> None:
        fw = self.writer.fieldwriter
        doccount = self.writer.docnum
        # only fields with postings, as Whoosh's writer (an empty field has no entry)
        for name in sorted(n for n, terms in self._terms.items() if terms):
            field = self.schema[name]
            lengths = self._lengths.get(name)
            if lengths is not None and len(lengths) < doccount:
                lengths.extend(bytes(doccount - len(lengths)))
            terms, starts, (ids, weights) = self._grouped(name)
            doc_lengths = None if lengths is None else np.frombuffer(lengths, np.uint32)
            if name in self._text_fields:
                terms = [t.encode("utf-8") for t in terms]  # the same order as the str
            fw.start_field(name, field)
            for lo, hi in _term_ranges(starts, ENCODED_POSTINGS):
                first, last = starts[lo], starts[hi]
                encoded = postings.encode(
                    starts[lo:hi + 1] - first, ids[first:last], weights[first:last],
                    doc_lengths, weights[first:last] if name in self._text_fields else None,
                    blocklimit=self._blocklimit, compression=self._compression)
                infos = encoded.term_infos(adapter.postings_offset(fw))
                adapter.write_terms(fw, terms[lo:hi], encoded.lists, infos)
            fw.finish_field()

    def _grouped(self, name: str) -> tuple[list[Any], np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """``name``'s terms in order, where each one's postings start, and the postings'
        document numbers and counts or weights, grouped by term (documents ascending)."""
        numbers = self._terms[name]
        term_numbers, docnums, weights = self._postings[name]
        terms = sorted(numbers)
        rank = np.empty(len(terms), np.int64)
        rank[np.fromiter(map(numbers.__getitem__, terms), np.int64, len(terms))] = np.arange(
            len(terms))
        # numbers of up to 16 bits sort stably in linear time (radix sort)
        key = rank.astype(np.uint16 if len(terms) <= 1 << 16 else np.uint32)[
            np.frombuffer(term_numbers, np.uint32)]
        order = np.argsort(key, kind="stable")  # keeps documents ascending
        starts = np.searchsorted(key[order], np.arange(len(terms) + 1))
        return terms, starts, (np.frombuffer(docnums, np.uint32)[order],
                               np.frombuffer(weights, weights.typecode)[order])

    @property
    def doc_count(self) -> int:
        return int(self.writer.docnum)

    def commit(self) -> None:
        self._write_postings()
        self._terms, self._postings, self._indexed = {}, {}, {}
        self.writer.commit(merge=False)

    def finish(self) -> Any:
        """Write the segment without committing it; returns it for ``commit_segments``."""
        self._write_postings()
        self._terms, self._postings, self._indexed = {}, {}, {}
        return adapter.finish_segment(self.writer)

    def cancel(self) -> None:
        self.writer.cancel()


def _term_ranges(starts: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive ranges of terms (``starts``: where each one's postings start, then the
    end) holding about ``limit`` postings each; a longer term is a range of its own."""
    n = len(starts) - 1
    # the term holding every limit-th posting is a range of its own
    cuts = np.searchsorted(starts, np.arange(limit, int(starts[-1]), limit), side="right") - 1
    bounds = sorted({0, n, *cuts.tolist(), *(cuts + 1).tolist()})
    return list(zip(bounds, bounds[1:], strict=False))


def _index(field: Any, value: Any) -> Any:
    """``field.index(value)``; a date's number computed once, not once per tier (as
    ``DATETIME.to_bytes`` does for each of its eight)."""
    if type(field) is fields.DATETIME and field.shift_step and isinstance(value, datetime):
        number = field.prepare_datetime(value)
        return [(fields.NUMERIC.to_bytes(field, number, shift), 1, 1.0, b"")
                for shift in range(0, field.bits, field.shift_step)]
    return field.index(value)


def build(
    store: Store,
    gen: Path,
    docs: Iterable[Doc],
    analyzer: Analyzer,
    progress: Callable[[int], None] | None = None,
    *,
    reuse: bool = True,
) -> int:
    """Write ``docs`` into the fresh generation ``gen``; returns their count.

    With ``reuse``, a document unchanged since the live generation keeps its
    stored terms; without, the live generation is not read at all (it is
    damaged). On failure ``gen`` is deleted. (``parallel.build`` does the same with
    worker processes.)
    """
    items = with_previous(store, docs, reuse)
    writers: dict[str, SegmentBuilder] = {}
    count = 0
    try:
        for doc, previous in items:
            kind = str(doc["kind"])
            if kind not in writers:
                writers[kind] = SegmentBuilder(store.ensure_kind(kind, gen))
            writers[kind].add_document(analyzer, doc, previous)
            if writers[kind].doc_count >= REBUILD_SEGMENT_DOCS:
                # postings are held in memory until a commit: bound them
                writers[kind].commit()
                writers[kind] = SegmentBuilder(store.ensure_kind(kind, gen))
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
    return count


def with_previous(store: Store, docs: Iterable[Doc],
                  reuse: bool) -> Iterator[tuple[Doc, bytes | None]]:
    """Each document with its stored fields in the live generation (``reuse``), as the
    segment's files hold them (``adapter.stored_bytes``), or ``None``."""
    previous = Previous(store) if reuse else None
    for doc in docs:
        yield doc, None if previous is None else previous.stored(str(doc["kind"]),
                                                                 str(doc["id"]))


class Previous:
    """The live generation's documents by key: one pass over each kind's ``key`` terms
    (a term's info holds its first document number), instead of a search per document."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._views = {k: store.view(k) for k in store.kinds}  # held: the readers stay open
        self._keys: dict[str, dict[str, tuple[Any, int]]] = {}

    def stored(self, kind: str, doc_id: str) -> bytes | None:
        keys = self._keys.get(kind)
        if keys is None:
            keys = self._keys[kind] = self._key_map(kind)
        found = keys.get(f"{kind}:{doc_id}")
        return None if found is None else adapter.stored_bytes(*found)

    def _key_map(self, kind: str) -> dict[str, tuple[Any, int]]:
        view = self._views.get(kind) or self.store.view(kind)
        if view is None:
            return {}
        self._views[kind] = view
        keys: dict[str, tuple[Any, int]] = {}
        for reader in view.segment_readers():
            for btext, info in reader.iter_field("key"):
                docnum = info.min_id()
                if info.doc_frequency() != 1 or reader.is_deleted(docnum):
                    # an updated document's deleted versions: the live one, if any
                    key = btext.decode("utf-8")
                    live = [d for d in reader.postings("key", key).all_ids()
                            if not reader.is_deleted(d)]
                    if live:
                        keys[key] = (reader, live[0])
                    continue
                keys[btext.decode("utf-8")] = (reader, docnum)
        return keys
