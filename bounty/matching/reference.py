"""The reference: the challenges a bid's meaning is read against, besides its own.

When a challenge ranks bids written in another script than its own (scripts.py), each
such bid's meaning score (terms.py) is also computed with a *reference* of challenges:
the latest ``REFERENCE_SIZE`` published ones. The reference is the same for every
challenge ranked while no other is published or edited, so it is built once, and each
bid's row of scores there is computed once (the matcher caches rows per reference). The
ranked challenge, if it is among them, is told by its query vector (``SAME``) and
counted once: a bid's row for the scaling is its meaning with this challenge, then with
each other challenge of the reference. (A challenge edited seconds ago, whose stored
vector the worker has not yet replaced, is counted as another challenge until it has.)
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .terms import WEIGHTS, Terms
from .vectors import QUERY, VectorStore

# Challenges in the reference: the latest published ones.
REFERENCE_SIZE = 48
# Query vectors this close are the ranked challenge's own row.
SAME = 0.9999
# References kept (a new one whenever a challenge is published or edited)
KEPT = 4
_versions = itertools.count(1)


@dataclass
class Reference:
    """The reference challenges: their query vectors (rows, L2-normalised) and latent
    terms."""

    vectors: np.ndarray
    terms: Sequence[Terms]
    # distinguishes references in caches of rows (a new one for every rebuild)
    version: int = field(default_factory=lambda: next(_versions))
    _dense: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None,
                                                                     repr=False)

    def __len__(self) -> int:
        return len(self.terms)

    def dense_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows' latent terms as a dense matrix, with each row's norm and total."""
        if self._dense is None:
            size = 1 + max((int(t.ids.max()) for t in self.terms if len(t)), default=0)
            dense = np.zeros((len(self.terms), size), np.float32)
            for row, t in enumerate(self.terms):
                dense[row, t.ids] = t.weights
            self._dense = dense, np.linalg.norm(dense, axis=1), dense.sum(axis=1)
        return self._dense

    def own(self, query_vector: np.ndarray | None) -> np.ndarray:
        """Which rows are the challenge whose query vector this is (none, or one)."""
        if query_vector is None or not len(self):
            return np.zeros(len(self), bool)
        return self.vectors @ np.asarray(query_vector, np.float32) >= SAME


def meanings(reference: Reference, vector: np.ndarray, terms: Terms) -> np.ndarray:
    """A document's meaning score with every reference challenge (terms.meaning's
    formula, one entry per row)."""
    cosines = reference.vectors @ np.asarray(vector, np.float32)
    dense, row_norms, totals = reference.dense_terms()
    known = terms.ids < dense.shape[1]
    ids, weights = terms.ids[known], terms.weights[known]
    sub = dense[:, ids]
    norms = row_norms * float(np.linalg.norm(terms.weights))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms_cosine = np.where(norms > 0, (sub @ weights) / norms, 0.0)
        coverage = np.where(totals > 0, np.minimum(sub, weights).sum(axis=1) / totals, 0.0)
    a, b, c = WEIGHTS
    return ((a * cosines + b * terms_cosine + c * coverage) / (a + b + c)).astype(np.float64)


_kept: OrderedDict[tuple, Reference] = OrderedDict()
_kept_lock = threading.Lock()


def read(store: VectorStore, ids: Sequence[str]) -> Reference:
    """The reference of the stored challenges ``ids`` that have a query vector and
    latent terms. Kept while those do not change, so the rows the matcher caches per
    reference are reused. Raises what the store raises."""
    vectors = store.vectors("challenge", ids, QUERY)
    stored = store.terms("challenge", ids)
    ids = [i for i in ids if i in vectors and i in stored]
    key = tuple((i, vectors[i].tobytes()[:64], len(stored[i])) for i in ids)
    with _kept_lock:
        hit = _kept.get(key)
        if hit is not None:
            _kept.move_to_end(key)
            return hit
    dim = next(iter(vectors.values())).shape[0] if vectors else 0
    made = Reference(np.stack([vectors[i] for i in ids]) if ids else np.zeros((0, dim)),
                     [stored[i] for i in ids])
    with _kept_lock:
        _kept[key] = made
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return made
