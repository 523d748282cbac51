"""Scoring, ordering and counting over numpy arrays indexed by document number.

Scores are float64 and are added up in the same order as the reference
(``ranking.Scorer``: fields in ``DOC_FIELD_WEIGHTS`` order within a term, then
query terms in order), so every sum is the same double, bit for bit, and ties
fall the same way. Document-number arrays are sorted ascending.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

EMPTY_DOCS = np.zeros(0, np.int64)
EMPTY_SCORES = np.zeros(0, np.float64)
# A candidate set this many times smaller than the postings it would be looked up in
# is scored by binary search in each term's postings, not over a dense array.
SPARSE_FACTOR = 16
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)

# -- one term's frequencies over the fields -----------------------------------


def merge_tf(parts: Sequence[tuple[np.ndarray, np.ndarray]], n: int,
             live: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-document sums of ``parts`` (document numbers, values), in order.

    Each part holds a document at most once; ``live`` (a mask over the ``n``
    documents, ``None``: all) drops the deleted ones.
    """
    if live is not None:
        kept = []
        for ids, v in parts:
            keep = live[ids]
            kept.append((ids[keep], v[keep]))
        parts = kept
    parts = [(ids, v) for ids, v in parts if len(ids)]
    if not parts:
        return EMPTY_DOCS, EMPTY_SCORES
    if len(parts) == 1:
        ids, v = parts[0]
        return ids.astype(np.int64), v + 0.0  # 0.0 + v, as a sum starting at zero
    total = sum(len(ids) for ids, _ in parts)
    if total * 64 >= n:  # a dense sum is cheaper than sorting the union
        acc = np.zeros(n)
        seen = np.zeros(n, bool)
        for ids, v in parts:
            acc[ids] += v
            seen[ids] = True
        docs = np.flatnonzero(seen)
        return docs, acc[docs]
    docs = unique(np.concatenate([ids for ids, _ in parts])).astype(np.int64)
    acc = np.zeros(len(docs))
    for ids, v in parts:
        acc[np.searchsorted(docs, ids)] += v
    return docs, acc


# -- a query's scores ----------------------------------------------------------


def accumulate(postings: Sequence[tuple[float, np.ndarray, np.ndarray]], n: int,
               allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The documents (of ``allowed``, ``None``: all ``n``) matching any term, and their
    scores: the sum over ``postings`` (query weight, documents, unit scores) in order."""
    size = sum(len(docs) for _, docs, _ in postings)
    if allowed is not None and len(allowed) * SPARSE_FACTOR < size + n:
        acc = np.zeros(len(allowed))
        hit = np.zeros(len(allowed), bool)
        for weight, docs, units in postings:
            if not len(docs):
                continue
            pos = np.searchsorted(docs, allowed)
            pos[pos == len(docs)] = 0
            found = docs[pos] == allowed
            acc[found] += weight * units[pos[found]]
            hit |= found
        return allowed[hit], acc[hit]
    acc = np.zeros(n)
    hit = np.zeros(n, bool)
    for weight, docs, units in postings:
        acc[docs] += weight * units
        hit[docs] = True
    if allowed is not None:
        keep = np.zeros(n, bool)
        keep[allowed] = True
        hit &= keep
    docs = np.flatnonzero(hit)
    return docs, acc[docs]


def unique(values: np.ndarray, *, return_index: bool = False):  # noqa: ANN201
    """``np.unique`` of integers by a stable sort (with ``return_index``: where each
    value first occurs). numpy 2.4's hash-based ``np.unique`` (and ``union1d``) took
    1.5-2.8 s on 60,000 document numbers on this machine; the sort takes under 1 ms."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(len(ordered), bool)
    first[1:] = ordered[1:] != ordered[:-1]
    if return_index:
        return ordered[first], order[first]
    return ordered[first]


def matching(postings: Iterable[np.ndarray], n: int, allowed: np.ndarray | None) -> np.ndarray:
    """The documents (of ``allowed``) in any of ``postings``, unscored."""
    hit = np.zeros(n, bool)
    for docs in postings:
        hit[docs] = True
    if allowed is not None:
        return allowed[hit[allowed]]
    return np.flatnonzero(hit)


def union(docs: np.ndarray, values: np.ndarray, other: np.ndarray, other_values: np.ndarray,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sides aligned over their union: documents, ``values`` (0 where missing) and
    ``other_values`` (NaN where missing)."""
    out = unique(np.concatenate([docs, other]))
    left = np.zeros(len(out))
    left[np.searchsorted(out, docs)] = values
    right = np.full(len(out), np.nan)
    right[np.searchsorted(out, other)] = other_values
    return out, left, right


# -- ordering ------------------------------------------------------------------


def first(keys: np.ndarray, ties: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` smallest ``(keys, ties)`` pairs, in order."""
    if n <= 0:
        return EMPTY_DOCS
    idx = None
    if len(keys) > n:
        kth = np.partition(keys, n - 1)[n - 1]
        idx = np.flatnonzero(keys <= kth)
        keys, ties = keys[idx], ties[idx]
    order = np.lexsort((ties, keys))[:n]
    return order if idx is None else idx[order]


def best(docs: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best scores; ties: the lower document number first."""
    return first(-scores, docs, n)


def by_column(docs: np.ndarray, keys: np.ndarray, n: int, *, reverse: bool) -> np.ndarray:
    """Positions of the first ``n`` documents by a column's sort ``keys`` (NaN: no value,
    last): ascending with lower document numbers first, or ``reverse`` with higher
    document numbers first."""
    k = keys[docs]
    if reverse:
        k, ties = -k, -docs
    else:
        ties = docs
    return first(np.where(np.isnan(k), np.inf, k), ties, n)


def sort_key(value: Any) -> float:
    """A column value as a float that sorts the same (NaN: no value)."""
    if value is None:
        return np.nan
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return float((value - _EPOCH) // _MICROSECOND)  # exact below 2**53 µs
    return float(value)


def sort_keys(values: Iterable[Any]) -> np.ndarray:
    return np.fromiter((sort_key(v) for v in values), np.float64)


# -- facets --------------------------------------------------------------------


def column_codes(values: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """Distinct ``values`` (in order of first occurrence) and each value's index."""
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), np.int32,
                        len(values))
    return list(index), codes


def merge_codes(parts: Iterable[tuple[list[Any], np.ndarray]]) -> tuple[list[Any], np.ndarray]:
    """``column_codes`` of the concatenated columns of ``parts``."""
    index: dict[Any, int] = {}
    out = []
    for labels, codes in parts:
        remap = np.array([index.setdefault(v, len(index)) for v in labels], np.int32)
        out.append(remap[codes] if len(labels) else codes)
    return list(index), (np.concatenate(out) if out else np.zeros(0, np.int32))


def counts(labels: list[Any], codes: np.ndarray, docs: np.ndarray) -> dict[Any, int]:
    """How many of ``docs`` have each (non-empty) value, most first; ties: the value of
    the lower document number first."""
    c = codes[docs]
    n = np.bincount(c, minlength=len(labels)).tolist()
    present = [code for code, k in enumerate(n) if k]
    tied = {k for k, group in Counter(n[code] for code in present).items() if group > 1}
    first: dict[int, int] = {}  # where a value with a tied count first occurs
    if tied:
        wanted = [code for code in present if n[code] in tied]
        if len(wanted) <= 64:
            first = {code: int(np.argmax(c == code)) for code in wanted}
        else:
            values, where = unique(c, return_index=True)
            first = dict(zip(values.tolist(), where.tolist(), strict=True))
    ranked = sorted(present, key=lambda code: (-n[code], first.get(code, 0)))
    return {labels[code]: n[code] for code in ranked if labels[code]}
