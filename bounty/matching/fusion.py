"""Fusing lexical scores with dense (embedding) similarities: one rule for every engine.

Both inputs map a document key (a doc number inside an engine, or an id) to a score:
BM25F for the lexical side, cosine similarity for the dense side. Scales differ (BM25F
is unbounded and grows with query length; e5 cosines sit in a narrow band around
0.7-0.9), so each side is first normalised over the candidates at hand, then mixed
linearly:

    fused = LEXICAL_WEIGHT * lex / max(lex) + (1 - LEXICAL_WEIGHT) * (sim - low) / (high - low)

where ``high`` is the best similarity among the candidates and ``low`` is ``high -
DENSE_SPAN`` (a fixed band, not the worst candidate: with few candidates the worst one
may still be close, and min-max would then exaggerate small differences). A document
missing from one side gets 0 from it.

The constants were chosen on the development sets only — tests/data/challenge-bids and
tests/data/challenge-bids-holdout, which became a development set when it informed this
choice — over a grid of linear, z-score, reciprocal-rank and gated fusions: every family
peaked within 0.005 of the others, and this one sits in the middle of a flat region
(lexical weight 0.15-0.3 with a band of 0.1-0.3). Figures on the held-out sets
(tests/data/challenge-bids-holdout2, csl-relbench) are in the README's Matching section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")

LEXICAL_WEIGHT = 0.2
DENSE_SPAN = 0.20


def fuse(lexical: Mapping[K, float], dense: Mapping[K, float], *,
         lexical_weight: float | None = None, span: float | None = None) -> dict[K, float]:
    """One score per document of either input; higher is better, in [0, 1]."""
    if not dense:
        return dict(lexical)
    lexical_weight = LEXICAL_WEIGHT if lexical_weight is None else lexical_weight
    span = DENSE_SPAN if span is None else span
    top_lex = max(lexical.values(), default=0.0)
    high = max(dense.values())
    low = high - span
    out: dict[K, float] = {}
    for key in lexical.keys() | dense.keys():
        lex = lexical.get(key, 0.0) / top_lex if top_lex > 0 else 0.0
        sim = dense.get(key)
        sem = max(0.0, (sim - low) / span) if sim is not None else 0.0
        out[key] = lexical_weight * lex + (1.0 - lexical_weight) * sem
    return out
