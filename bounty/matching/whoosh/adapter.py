"""Every use of Whoosh's private attributes, in one place.

The engine decodes posting lists a whole list at a time, shares open segment files
between commits, and writes a fresh segment's postings in bulk; each needs Whoosh
internals that its public API does not offer. They are confined here, so an
upgrade of Whoosh (Whoosh-Reloaded 2.7.x) is checked against this module only.
"""

from __future__ import annotations

import concurrent.futures
import copy
import hashlib
import io
import os
import pickle
import struct
import zlib
from typing import Any

import numpy as np
from whoosh import index

# -- reading -------------------------------------------------------------------


def read_toc(ix: index.Index) -> Any:
    """The latest table of contents of ``ix``: its generation, schema and segments."""
    return ix._read_toc()


def combined_reader(readers: list[Any], info: Any) -> Any:
    """One reader over ``readers`` (bound copies of a commit's segments) at ``info``'s
    generation, so ``Searcher.up_to_date()`` compares the right one."""
    from whoosh.reading import EmptyReader, MultiReader

    if not readers:
        reader = EmptyReader(info.schema)
        reader.generation = lambda: info.generation  # up_to_date() compares it
        return reader
    if len(readers) == 1:
        reader = readers[0]
        reader._gen = info.generation  # a bound copy: at this generation
        return reader
    return MultiReader(readers, generation=info.generation)


def bind(base: Any, segment: Any) -> Any:
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


def segment_memo(base: Any) -> dict[str, Any]:
    """A dictionary kept on a segment's (immutable) base reader, for values derived from
    its files."""
    return base.__dict__.setdefault("_bounty_arrays", {})


def segment_postings(reader: Any, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
    """``term``'s postings in ``field`` of one segment's files, deleted documents
    included: document numbers (int32, ascending) and weights (float32, exact: Whoosh
    writes them as float32).

    Reads the whole posting list at once and decodes its blocks without Whoosh's
    per-posting matcher: each block is ``int32 length`` (negative for the last),
    a pickled info tuple ``(count, last id, max weight, compression, min length,
    max length)``, then the (zlib-compressed) pickled ``(delta-encoded ids,
    weights, values)``; each block's first id is absolute. The pickles are read
    with numpy where their layout is the usual one (``_parse_blocks``), else with
    ``pickle`` (``_unpickle_blocks``).
    """
    if (field, term) not in reader:
        return _EMPTY
    terms = reader._terms
    info = terms.term_info(field, reader._text_to_bytes(field, term))
    if info.is_inlined():
        ids, weights, _values = info.inlined_postings()
        return np.array(ids, np.int32), np.array(weights, np.float32)
    offset, length = info.extent()
    if isinstance(length, tuple):  # W3TermInfo.from_bytes leaves it a 1-tuple
        (length,) = length
    buf = terms._postfile.get(offset, length)
    if buf[:4] != WHOOSH3_MAGIC:
        raise ValueError(f"not a Whoosh 3 posting list: {field}:{term!r}")
    f = io.BytesIO(buf)
    counts: list[int] = []
    last_ids: list[int] = []
    packed: list[tuple[bytes, int]] = []  # each block's (data, compression)
    pos = 4
    while True:
        size = int.from_bytes(buf[pos:pos + 4], "big", signed=True)
        end = pos + 4 + abs(size)
        f.seek(pos + 4)
        count, last_id, _maxweight, compression, _minlen, _maxlen = pickle.load(f)
        packed.append((buf[f.tell():end], compression))
        counts.append(count)
        last_ids.append(last_id)
        if size < 0:
            break
        pos = end
    blocks = _unpack(packed)  # each block's pickled (ids, weights, values)
    parsed = _parse_blocks(blocks, counts)
    deltas, weights = parsed if parsed is not None else _unpickle_blocks(blocks, counts)
    starts = np.cumsum([0, *counts[:-1]])
    if len(starts) > 1:
        deltas[starts[1:]] -= np.array(last_ids[:-1], np.int64)
    ids = np.cumsum(deltas)
    if parsed is not None and ids[starts + np.array(counts) - 1].tolist() != last_ids:
        # not the layout _parse_blocks assumes after all: Whoosh's own reading
        deltas, weights = _unpickle_blocks(blocks, counts)
        if len(starts) > 1:
            deltas[starts[1:]] -= np.array(last_ids[:-1], np.int64)
        ids = np.cumsum(deltas)
    return ids.astype(np.int32), weights


def _unpack(packed: list[tuple[bytes, int]]) -> list[bytes]:
    """The blocks' data, decompressed; a long list half in another thread (zlib lets
    other threads run meanwhile)."""
    if len(packed) < PARALLEL_BLOCKS:
        return _inflate(packed)
    pool = _pools.get(os.getpid())  # a forked process starts its own thread
    if pool is None:
        pool = _pools.setdefault(os.getpid(), concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="bounty-inflate"))
    half = len(packed) // 2
    try:
        other = pool.submit(_inflate, packed[half:])
    except RuntimeError:  # the interpreter is shutting down
        return _inflate(packed)
    return _inflate(packed[:half]) + other.result()


def _inflate(packed: list[tuple[bytes, int]]) -> list[bytes]:
    return [zlib.decompress(data) if compression else data for data, compression in packed]


PARALLEL_BLOCKS = 64  # posting lists of more blocks are decompressed in two threads
_pools: dict[int, concurrent.futures.ThreadPoolExecutor] = {}  # by process id


def _unpickle_blocks(blocks: list[bytes], counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each block's delta-encoded ids and weights, unpickled. Weights are ``None``
    when all are 1, one float when all are equal, else a tuple."""
    deltas: list[int] = []
    weights: list[float] = []
    for data, count in zip(blocks, counts, strict=True):
        block_ids, block_weights, _values = pickle.loads(data)
        deltas.extend(block_ids)
        if block_weights is None:
            weights.extend([1.0] * count)
        elif isinstance(block_weights, float):
            weights.extend([block_weights] * count)
        else:
            weights.extend(block_weights)
    return np.array(deltas, np.int64), np.array(weights, np.float32)


# pickle opcodes (protocol 2) of a block's (ids, weights, values) tuple
_MARK, _TUPLE, _BINPUT, _NONE = ord("("), ord("t"), ord("q"), ord("N")
_BININT1, _BININT2, _BININT, _BINFLOAT = ord("K"), ord("M"), ord("J"), ord("G")


def _parse_blocks(blocks: list[bytes], counts: list[int]) -> tuple[np.ndarray, np.ndarray] | None:
    """``_unpickle_blocks`` with numpy for the blocks in the layout Whoosh writes for
    more than three postings whose gaps after the first are under 256 (most blocks
    of a common term):

        PROTO 2, MARK, first id (BININT1/2/BININT), (BININT1 gap) × (count - 1),
        TUPLE, BINPUT n, then the weights: NONE, one BINFLOAT, or MARK,
        (BINFLOAT weight) × count, TUPLE; then the values (not read).

    The gaps' and the weights' bytes are cut out of each block and read as
    fixed-width records. Other blocks are unpickled. Every opcode read is checked
    (and the caller checks each block's last id); ``None`` when one is not as
    expected.
    """
    n = np.array(counts, np.int64)
    starts = np.cumsum(n) - n
    deltas = np.empty(int(n.sum()), np.int64)
    weights = np.ones(len(deltas), np.float32)
    parsed = np.zeros(len(blocks), bool)  # parsed here, not unpickled
    listed = np.zeros(len(blocks), bool)  # with a weight per posting
    firsts: list[int] = []
    gaps: list[bytes] = []
    floats: list[bytes] = []
    for b, (data, count) in enumerate(zip(blocks, counts, strict=True)):
        op = data[3] if count > 3 and data[2] == _MARK else None
        if op == _BININT1:
            first, rest = data[4], 5
        elif op == _BININT2:
            first, rest = data[4] | data[5] << 8, 6
        elif op == _BININT:
            first, rest = int.from_bytes(data[4:8], "little", signed=True), 8
        else:
            block_deltas, block_weights = _unpickle_blocks([data], [count])
            deltas[starts[b]:starts[b] + count] = block_deltas
            weights[starts[b]:starts[b] + count] = block_weights
            continue
        end = rest + 2 * (count - 1)  # TUPLE, BINPUT n, then the weights
        if data[end] != _TUPLE or data[end + 1] != _BINPUT:
            return None
        parsed[b] = True
        firsts.append(first)
        gaps.append(data[rest:end])
        kind = data[end + 3]
        if kind == _MARK:
            listed[b] = True
            floats.append(data[end + 4:end + 4 + 9 * count])
            if data[end + 4 + 9 * count] != _TUPLE:
                return None
        elif kind == _BINFLOAT:
            weights[starts[b]:starts[b] + count] = struct.unpack(">d", data[end + 4:end + 12])[0]
        elif kind != _NONE:
            return None
    if not firsts:
        return deltas, weights
    pairs = np.frombuffer(b"".join(gaps), np.uint8).reshape(-1, 2)  # (BININT1, gap)
    if not (pairs[:, 0] == _BININT1).all():
        return None
    deltas[starts[parsed]] = firsts
    rest_mask = np.repeat(parsed, n)
    rest_mask[starts] = False
    deltas[rest_mask] = pairs[:, 1]
    if floats:
        records = np.frombuffer(b"".join(floats), np.uint8).reshape(-1, 9)  # (BINFLOAT, >f8)
        if not (records[:, 0] == _BINFLOAT).all():
            return None
        weights[np.repeat(listed, n)] = records[:, 1:].copy().view(">f8").ravel()
    return deltas, weights


def segment_lengths(reader: Any, field: str) -> np.ndarray:
    """Each document's length of ``field`` in one segment (int32), as
    ``doc_field_length`` reports it: Whoosh's one-byte approximation, 0 when missing.

    Reads the one-byte length column at once (trailing default bytes are not written)
    instead of a call per document.
    """
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN
    from whoosh.columns import NumericColumn
    from whoosh.util.numeric import byte_to_length

    n = reader.doc_count_all()
    perdoc = reader._perdoc
    column = perdoc._cached_reader(f"_{field}_len", LENGTHS_COLUMN)
    if column is None:
        return np.zeros(n, np.int32)
    if not (isinstance(column, NumericColumn.Reader) and column._typecode == "B"
            and LENGTHS_COLUMN._default == 0):  # pragma: no cover - another Whoosh
        return np.fromiter((reader.doc_field_length(d, field, 0) or 0 for d in range(n)),
                           np.int32, n)
    count = min(column._count, n)
    codes = np.zeros(n, np.uint8)
    codes[:count] = np.frombuffer(column._dbfile.get(column._basepos, count), np.uint8)
    table = np.array([0] + [byte_to_length(b) for b in range(1, 256)], np.int32)
    return table[codes]


def stored_bytes(reader: Any, docnum: int) -> bytes:
    """A document's stored fields in one segment as its files hold them: pickled and
    compressed (``b""`` when it has none). ``reader`` is a segment's reader."""
    from whoosh.codec.whoosh3 import STORED_COLUMN
    from whoosh.columns import VarBytesColumn

    column = reader._perdoc._cached_reader("_stored", STORED_COLUMN)
    if column is None:
        return b""
    return VarBytesColumn.Reader.__getitem__(column._child, docnum)  # not decompressed


def decode_stored(raw: bytes) -> tuple[bytes, dict]:
    """The pickle and the stored fields in ``stored_bytes``' value."""
    plain = zlib.decompress(raw) if raw else b""
    return plain, (pickle.loads(plain) if plain else {})


WHOOSH3_MAGIC = b"W3Bl"  # whoosh.codec.whoosh3.WHOOSH3_HEADER_MAGIC
_EMPTY = (np.zeros(0, np.int32), np.zeros(0, np.float32))


# -- bulk writing (build.py) ---------------------------------------------------


def document_added(writer: Any) -> None:
    """Tell a ``SegmentWriter`` that a document was written through its per-document
    writer, as ``add_document`` does after writing one."""
    writer._added = True
    writer.docnum += 1


def finish_doc(perdocwriter: Any, previous: tuple[bytes, bytes] | None) -> None:
    """``perdocwriter.finish_doc()``. When the document's stored fields pickle to the
    bytes ``previous[0]`` (a previous version's, see :func:`decode_stored`), its
    compressed bytes ``previous[1]`` are written as they are: what the stored column's
    writer would write (``zlib.compress`` of the same bytes at the same level), without
    compressing again."""
    from whoosh.columns import CompressedBytesColumn, PickleColumn, VarBytesColumn

    stored = perdocwriter._storedfields
    column = perdocwriter._colwriters["_stored"]
    if (previous is not None and stored and isinstance(column, PickleColumn.Writer)
            and type(column._child) is CompressedBytesColumn.Writer):
        pickled = pickle.dumps(stored, 2)  # what PickleColumn.Writer.add writes
        if pickled == previous[0]:
            VarBytesColumn.Writer.add(column._child, perdocwriter._docnum, previous[1])
        else:
            column._child.add(perdocwriter._docnum, pickled)
        stored.clear()  # written: finish_doc adds no stored fields
    perdocwriter.finish_doc()


def unlocked_writer(ix: index.Index) -> Any:
    """A ``SegmentWriter`` on ``ix`` that does not take the index's lock: for a process
    writing a segment of a fresh generation that another process commits (as
    Whoosh's ``MpWriter`` does with its sub-writers)."""
    from whoosh.writing import SegmentWriter

    return SegmentWriter(ix, _lk=False)


def finish_segment(writer: Any) -> Any:
    """Close ``writer``'s new segment without a table of contents; returns the segment
    (picklable) for :func:`commit_segments`. The index's temporary folder, which every
    writer of the index shares, is left for that commit's writer to delete."""
    return writer._finalize_segment()


def commit_segments(ix: index.Index, segments: list[Any]) -> None:
    """Add finished ``segments`` to ``ix``'s table of contents (one commit)."""
    writer = ix.writer()
    try:
        writer._close_segment()  # its own, empty segment: not listed, its files removed
        writer._commit_toc([*writer.segments, *segments])
    finally:
        writer._finish()


def postings_settings(fieldwriter: Any) -> tuple[int, int, int]:
    """The W3 codec's (block limit, compression level, inline limit) for a field writer's
    posting lists."""
    codec = fieldwriter._codec
    return codec._blocklimit, codec._compression, codec._inlinelimit


def postings_offset(fieldwriter: Any) -> int:
    """Where the next posting list goes in the field writer's postings file."""
    return fieldwriter._postfile.tell()


def write_terms(fieldwriter: Any, terms: list[bytes], lists: list[bytes],
                infos: list[bytes]) -> None:
    """Write the current field's ``terms`` (bytes, ascending) with their encoded posting
    ``lists`` and term ``infos`` (``postings.Encoded``), as ``start_term`` and
    ``finish_term`` of a ``W3FieldWriter`` do a term at a time. The lists start at
    :func:`postings_offset`.

    The terms file is Whoosh's ``OrderedHashWriter``: per key (the field's number,
    then the term) its record ``!ii`` (key and value lengths), key, value; its position
    kept in the ordered index and, with the key's hash, in one of 256 buckets. The
    records are written here in one go (``HashWriter.add`` writes one at a time).
    """
    write = fieldwriter._postfile.write
    for data in lists:
        write(data)
    if not terms:
        return
    tindex = fieldwriter._tindex
    prefix = struct.pack("!H", fieldwriter._fieldid)
    keys = [prefix + t for t in terms]
    if keys[0] <= tindex.lastkey:
        raise ValueError(f"terms must follow {tindex.lastkey!r}")
    md5 = tindex.hashtype == 0  # Whoosh's md5_hash: the digest's last four bytes
    hashfn = tindex.hashfn
    buckets = tindex.buckets
    pack = _RECORD_LENGTHS.pack
    pos = tindex.dbfile.tell()
    positions: list[int] = []
    records: list[bytes] = []
    for key, value in zip(keys, infos, strict=True):
        record = pack(len(key), len(value)) + key + value
        h = (int.from_bytes(hashlib.md5(key, usedforsecurity=False).digest()[12:], "big")
             if md5 else hashfn(key))
        buckets[h & 255].append((h, pos))
        positions.append(pos)
        records.append(record)
        pos += len(record)
    tindex.dbfile.write(b"".join(records))
    tindex.index.extend(positions)
    tindex.lastkey = keys[-1]


_RECORD_LENGTHS = struct.Struct("!ii")  # whoosh.filedb.filetables._lengths
