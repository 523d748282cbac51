"""What is derived from one segment's files, cached with its (immutable) base reader.

A segment's files never change (only its deletions, which views apply), so what is
computed from them serves every later view: after a write, only the new segment's
part is computed. Decoded postings are kept under the process's byte budget
(cache.py); columns and lengths are a few bytes per document.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from . import adapter, arrays
from .cache import ByteCache, frozen

# Stored fields (without terms) of hits kept per segment, for the pages of later queries.
STORED_FIELDS_CACHED = 50_000


def part(base: Any, key: str, build: Callable[[Any], Any]) -> Any:
    """The value ``build(base)`` cached on ``base`` under ``key``."""
    parts = adapter.segment_memo(base)
    value = parts.get(key)
    if value is None:
        value = parts.setdefault(key, build(base))
    return value


def postings(base: Any, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
    """``term``'s decoded postings in ``field`` (``adapter.segment_postings``)."""
    cache = part(base, "postings", lambda _b: ByteCache())
    key = (field, term)
    cached = cache.get(key)
    if cached is None:
        cached = cache.put(key, frozen(*adapter.segment_postings(base, field, term)))
    return cached


def column(base: Any, name: str) -> list[Any]:
    """A sortable/facet column's values by document number."""

    def build(r: Any) -> list[Any]:
        col = r.column_reader(name)
        return [col[d] for d in range(r.doc_count_all())]

    return part(base, "col:" + name, build)


def lengths(base: Any, field: str) -> np.ndarray:
    """Field lengths by document number (Whoosh's one-byte approximation)."""
    return part(base, "len:" + field, lambda r: adapter.segment_lengths(r, field))


def codes(base: Any, name: str) -> tuple[list[Any], np.ndarray]:
    """A facet column as ``arrays.column_codes``."""
    return part(base, "codes:" + name, lambda r: arrays.column_codes(column(r, name)))


def sort_keys(base: Any, name: str) -> np.ndarray:
    """A sortable column as ``arrays.sort_keys``."""
    return part(base, "keys:" + name, lambda r: arrays.sort_keys(column(r, name)))


def stored_fields(base: Any, docnum: int) -> dict:
    """A document's stored fields with ``data`` cut down to its title (what a hit shows)."""
    lru = part(base, "fields", lambda _b: OrderedDict())
    fields = lru.get(docnum)
    if fields is not None:
        with contextlib.suppress(KeyError):  # another thread may have just evicted it
            lru.move_to_end(docnum)
        return fields
    full = base.stored_fields(docnum)
    fields = {k: v for k, v in full.items() if k != "data"}
    fields["data"] = {"title": full["data"]["title"]}
    lru[docnum] = fields
    if len(lru) > STORED_FIELDS_CACHED:
        with contextlib.suppress(KeyError):
            lru.popitem(last=False)
    return fields
