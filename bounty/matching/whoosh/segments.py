"""What is derived from one segment's files, cached with its (immutable) base reader.

A segment's files never change (only its deletions, which views apply), so what is
computed from them serves every later view: after a write, only the new segment's
part is computed. Decoded postings are kept under the process's byte budget
(cache.py); columns and lengths are a few bytes per document.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ranking import DOC_FIELD_WEIGHTS
from . import adapter, arrays
from .cache import BUDGET, TERM_CACHE_BYTES, ByteCache, frozen

logger = logging.getLogger(__name__)

# Stored fields (without terms) of hits kept per segment, for the pages of later queries.
STORED_FIELDS_CACHED = 20_000
# The first postings a query decodes from a segment of at least WARM_SEGMENT_DOCS
# documents start a background thread that decodes the postings of that segment's
# most frequent terms (in at least WARM_MIN_SHARE of its documents), most frequent
# first: decoding costs 0.1-0.2 ms per thousand postings, so each common word's
# first query would otherwise pay tens of milliseconds. Warmers stop once the term
# caches of the process hold WARM_BYTES, and work WARM_DUTY of the time, so that
# queries meanwhile seldom wait for the interpreter. Kinds never scored from postings
# (a challenge's bids are scored from term vectors) are not warmed.
WARM_SEGMENT_DOCS = 20_000
WARM_MIN_SHARE = 0.02
WARM_BYTES = TERM_CACHE_BYTES // 2
WARM_DUTY = 0.5


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
        if base.doc_count_all() >= WARM_SEGMENT_DOCS:
            _start_warming(base)
    return cached


def stop_warming(base: Any) -> None:
    """Stop the warmer of ``base`` (before it is closed), or keep one from starting."""
    part(base, "warming", lambda _b: threading.Event()).set()


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


def warm(base: Any, stop: threading.Event) -> int:
    """Decode the postings of ``base``'s most frequent terms into its cache (see
    WARM_SEGMENT_DOCS) until ``stop`` is set; returns the bytes decoded."""
    n = base.doc_count_all()
    terms = []
    for field in DOC_FIELD_WEIGHTS:
        for btext, info in base.iter_field(field):
            if stop.is_set():
                return 0
            df = info.doc_frequency()
            if df >= n * WARM_MIN_SHARE:
                terms.append((df, field, btext.decode("utf-8")))
    terms.sort(key=lambda t: -t[0])
    done = 0
    for _df, field, term in terms:
        if stop.is_set() or BUDGET.total >= WARM_BYTES:
            break
        t0 = time.perf_counter()
        ids, weights = postings(base, field, term)
        done += ids.nbytes + weights.nbytes
        time.sleep((time.perf_counter() - t0) * (1 - WARM_DUTY) / WARM_DUTY)
    return done


def _start_warming(base: Any) -> None:
    memo = adapter.segment_memo(base)
    if "warming" in memo:
        return
    stop = threading.Event()
    if memo.setdefault("warming", stop) is not stop or BUDGET.total >= WARM_BYTES:
        return  # another thread started it, or it was stopped

    def run() -> None:
        t0 = time.perf_counter()
        n = base.doc_count_all()
        try:
            done = warm(base, stop)
        except Exception:  # the segment was closed meanwhile
            if not stop.is_set():
                logger.exception("warming a segment failed")
            return
        logger.info("decoded %.0f MB of postings of a %d-document segment in %.1f s",
                    done / 1e6, n, time.perf_counter() - t0)

    threading.Thread(target=run, name="bounty-warm", daemon=True).start()
