"""Per-term arrays cached under one byte budget for the whole process.

Term-at-a-time scoring keeps, per term, numpy arrays as long as postings (decoded
postings per segment, document scores per view). Each view and each segment
reader has its own ``ByteCache``; all of them share ``TERM_CACHE_BYTES``, and the
least recently used entry of any of them is evicted first. A cache that is
garbage collected (a replaced view, a merged-away segment) gives its bytes back.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

# All cached term arrays of the process together. At 100,000 challenges a common
# term's scores take 1.2 MB (12 bytes a posting) and its decoded postings 8 bytes a
# posting per field, so this holds several hundred of the most used terms.
TERM_CACHE_BYTES = 768 * 2**20


class _Budget:
    """Every entry of every live ``ByteCache``, least recently used first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.order: OrderedDict[tuple[weakref.ref, Any], int] = OrderedDict()
        self.total = 0
        self.dead: list[weakref.ref] = []  # caches collected since the last put

    def forget(self, ref: weakref.ref) -> None:
        # called by the garbage collector, maybe inside a locked section: only note it
        self.dead.append(ref)

    def _purge(self) -> None:
        while self.dead:
            ref = self.dead.pop()
            for entry in [e for e in self.order if e[0] is ref]:
                self.total -= self.order.pop(entry)

    def evict(self) -> None:
        """Drop the least recently used entries until the total fits (keeping at least
        the newest)."""
        self._purge()
        while self.total > self.limit and len(self.order) > 1:
            (ref, key), size = self.order.popitem(last=False)
            self.total -= size
            owner = ref()
            if owner is not None:
                owner._values.pop(key, None)


BUDGET = _Budget(TERM_CACHE_BYTES)


def nbytes(value: Any) -> int:
    """The bytes of the numpy arrays in ``value`` (an array or a tuple of them)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    return sum(v.nbytes for v in value if isinstance(v, np.ndarray)) + 64


def frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """``arrays`` made read-only, as every cached array is (callers share them)."""
    for a in arrays:
        a.setflags(write=False)
    return arrays


class ByteCache:
    """A mapping of keys to numpy arrays (or tuples of them) under ``BUDGET``."""

    def __init__(self, budget: _Budget = BUDGET) -> None:
        self._budget = budget
        self._values: dict[Any, Any] = {}
        self._ref = weakref.ref(self)
        weakref.finalize(self, budget.forget, self._ref)

    def get(self, key: Any) -> Any:
        """The value of ``key`` (marked recently used), or ``None``."""
        budget = self._budget
        with budget.lock:
            value = self._values.get(key)
            if value is not None:
                budget.order.move_to_end((self._ref, key))
            return value

    def put(self, key: Any, value: Any) -> Any:
        """Keep ``value`` under ``key`` and return it (or the value another thread put
        first)."""
        budget = self._budget
        with budget.lock:
            old = self._values.get(key)
            if old is not None:
                return old
            size = nbytes(value)
            self._values[key] = value
            budget.order[(self._ref, key)] = size
            budget.total += size
            budget.evict()
            return value

    def replace(self, key: Any, value: Any) -> Any:
        """Keep ``value`` under ``key`` in place of any value there; returns it."""
        budget = self._budget
        with budget.lock:
            size = budget.order.pop((self._ref, key), None)
            if size is not None:
                budget.total -= size
            self._values.pop(key, None)
        return self.put(key, value)

    def __len__(self) -> int:
        return len(self._values)
