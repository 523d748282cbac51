"""A field's posting lists encoded in Whoosh 3's format, every term at once (``rebuild``).

Whoosh's ``W3PostingsWriter`` takes one posting per call and, per block of up to 128,
spends a Python step per posting (delta-encoding the ids, checking the weights)
before it pickles and compresses the block; per term it builds a ``W3TermInfo``
from the blocks. Here the postings of a whole field, grouped by term, are cut into
blocks and every statistic (counts, last ids, gaps, maximum weights, minimum and
maximum lengths, each term's totals) is computed with numpy for all blocks at once.
What is left per block is what the format needs: the same ``pickle.dumps`` of the
same tuples and the same ``zlib.compress`` Whoosh calls, so the bytes are Whoosh's
(``tests/matching/test_build.py`` compares them with Whoosh's own writer).

A posting list is ``W3Bl`` then, per block, ``int32 length`` (big-endian, negative
for the last block), the pickled info ``(count, last id, max weight, compression,
min length byte, max length byte)`` and the (compressed) pickled ``(delta-encoded
ids, weights, values)``: weights ``None`` when all are 1, one float when all are
equal, else a tuple; values the postings' value bytes joined (``Frequency``: each
count as a big-endian uint32) or ``None`` (``Existence``). A term's info is
``W3TermInfo.to_bytes``: ``!BfIBBfII`` (not inlined, total weight, document
frequency, min and max length bytes, max weight, first and last id) then the
posting list's offset (``!q``) and length (``!i``).
"""

from __future__ import annotations

import pickle
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from whoosh.util.numeric import byte_to_length

MAGIC = b"W3Bl"  # whoosh.codec.whoosh3.WHOOSH3_HEADER_MAGIC
# length_to_byte's table: each byte's length
_LENGTH_BYTES = np.array([byte_to_length(b) for b in range(256)], np.int64)
_NO_LENGTH = np.iinfo(np.int64).max
_block_length = struct.Struct("!i").pack
_TERM_INFO = np.dtype([("flags", "u1"), ("weight", ">f4"), ("df", ">u4"), ("minlength", "u1"),
                       ("maxlength", "u1"), ("maxweight", ">f4"), ("minid", ">u4"),
                       ("maxid", ">u4"), ("offset", ">i8"), ("length", ">i4")])


def length_bytes(lengths: np.ndarray) -> np.ndarray:
    """``whoosh.util.numeric.length_to_byte`` of each length (0 for none): the first byte
    whose length is not less, 255 from 106,374 (its bisection over the same table)."""
    codes = np.searchsorted(_LENGTH_BYTES, lengths, side="left")
    return np.where(lengths >= 106374, 255, codes).astype(np.int64)


@dataclass
class Encoded:
    """A field's posting lists (one bytes per term) and what each term's info needs."""

    lists: list[bytes]
    stats: np.ndarray  # _TERM_INFO records without offset and length

    def term_infos(self, offset: int) -> list[bytes]:
        """Each term's info bytes when its posting lists are written one after the other
        from ``offset`` in the postings file."""
        sizes = np.fromiter(map(len, self.lists), np.int64, len(self.lists))
        stats = self.stats.copy()
        stats["offset"] = offset + np.cumsum(sizes) - sizes
        stats["length"] = sizes
        raw = stats.tobytes()
        n = _TERM_INFO.itemsize
        return [raw[i:i + n] for i in range(0, len(raw), n)]


def encode(starts: np.ndarray, ids: np.ndarray, weights: np.ndarray,
           lengths: np.ndarray | None, counts: np.ndarray | None, *,
           blocklimit: int, compression: int) -> Encoded:
    """The posting lists of a field's terms, whose postings are ``ids[starts[t]:starts[t +
    1]]`` (ascending document numbers) for term ``t`` (terms in their written order).

    ``weights``: each posting's weight, integral (Whoosh sums them per term; integral
    sums are exact in any order); ``lengths``: each document's quantised field length
    (``None``: not scored); ``counts``: each posting's frequency, its value
    (``Frequency``), or ``None`` for no values (``Existence``).
    """
    starts = np.asarray(starts, np.int64)
    ids = np.asarray(ids, np.int64)
    weights = np.asarray(weights, np.float32).astype(np.float64)  # as array("f") reads back
    if not np.array_equal(weights, np.floor(weights)):
        raise ValueError("weights must be integral")
    sizes = np.diff(starts)
    if not len(sizes):
        return Encoded([], np.zeros(0, _TERM_INFO))
    if (sizes <= 0).any():
        raise ValueError("every term needs a posting")
    # blocks: each term's postings cut every blocklimit postings
    nblocks = -(-sizes // blocklimit)
    first_block = np.cumsum(nblocks) - nblocks
    block_term = np.repeat(np.arange(len(sizes)), nblocks)
    within = np.arange(len(block_term)) - first_block[block_term]
    bstarts = starts[block_term] + within * blocklimit
    bends = np.minimum(bstarts + blocklimit, starts[block_term + 1])
    last = np.zeros(len(bstarts), bool)
    last[first_block + nblocks - 1] = True
    # gaps, each block's first id absolute (delta_encode from 0 per block)
    deltas = np.diff(ids, prepend=0)
    deltas[bstarts] = ids[bstarts]
    block_max_weight = np.maximum.reduceat(weights, bstarts)
    block_min_weight = np.minimum.reduceat(weights, bstarts)
    if lengths is None:
        block_min_len = block_max_len = np.zeros(len(bstarts), np.int64)
    else:
        ls = np.asarray(lengths, np.int64)[ids]
        block_max_len = np.maximum.reduceat(ls, bstarts)
        block_min_len = np.minimum.reduceat(np.where(ls > 0, ls, _NO_LENGTH), bstarts)
        block_min_len = np.where(block_min_len == _NO_LENGTH, 0, block_min_len)
    lists = _blocks(deltas, weights, counts, ids[bends - 1], bstarts, bends, last,
                    first_block, nblocks, block_max_weight, block_min_weight,
                    length_bytes(block_min_len), length_bytes(block_max_len), compression)
    stats = np.zeros(len(sizes), _TERM_INFO)
    stats["weight"] = np.add.reduceat(weights, starts[:-1])
    stats["df"] = sizes
    term_min_len = np.minimum.reduceat(np.where(block_min_len > 0, block_min_len, _NO_LENGTH),
                                       first_block)
    stats["minlength"] = length_bytes(np.where(term_min_len == _NO_LENGTH, 0, term_min_len))
    stats["maxlength"] = length_bytes(np.maximum.reduceat(block_max_len, first_block))
    stats["maxweight"] = np.maximum(0, np.maximum.reduceat(block_max_weight, first_block))
    stats["minid"] = ids[starts[:-1]]
    stats["maxid"] = ids[starts[1:] - 1]
    return Encoded(lists, stats)


CHUNK_POSTINGS = 1 << 16  # postings turned into Python values at a time (memory)


def _blocks(deltas: np.ndarray, weights: np.ndarray, counts: np.ndarray | None,
            last_ids: np.ndarray, bstarts: np.ndarray, bends: np.ndarray, last: np.ndarray,
            first_block: np.ndarray, nblocks: np.ndarray, max_weight: np.ndarray,
            min_weight: np.ndarray, min_len: np.ndarray, max_len: np.ndarray,
            compression: int) -> list[bytes]:
    """Each term's posting list: the blocks pickled and compressed as
    ``W3PostingsWriter._write_block`` does."""
    dumps, compress = pickle.dumps, zlib.compress
    # the Python values Whoosh pickles: a maximum weight of 0 stays the int 0
    weight_of = max_weight.tolist()  # a block's weight when they are all the same
    maxw = [w if w > 0 else 0 for w in weight_of]
    same = (max_weight == min_weight).tolist()
    ones = ((max_weight == 1.0) & (min_weight == 1.0)).tolist()
    rows = zip(bstarts.tolist(), bends.tolist(), last.tolist(), last_ids.tolist(), maxw,
               weight_of, same, ones, min_len.tolist(), max_len.tolist(), strict=True)
    blocks: list[bytes] = []
    base = end = 0
    delta_list: list[int] = []
    weight_list: list[float] = []
    values = b""
    for s, e, is_last, last_id, mw, weight, is_same, is_ones, mn, mx in rows:
        if e > end:  # the next postings as Python values
            base, end = s, max(e, s + CHUNK_POSTINGS)
            delta_list = deltas[base:end].tolist()
            weight_list = weights[base:end].tolist()
            if counts is not None:
                values = counts[base:end].astype(">u4").tobytes()
        i, j = s - base, e - base
        if is_ones:
            w = None
        elif is_same:
            w = weight
        else:
            w = tuple(weight_list[i:j])
        data = dumps((tuple(delta_list[i:j]), w,
                      None if counts is None else values[4 * i:4 * j]), 2)
        if compression:
            data = compress(data, compression)
        info = dumps((j - i, last_id, mw, compression, mn, mx), 2)
        size = len(info) + len(data)
        blocks.append(_block_length(-size if is_last else size) + info + data)
    return [MAGIC + b"".join(blocks[f:f + n])
            for f, n in zip(first_block.tolist(), nblocks.tolist(), strict=True)]
