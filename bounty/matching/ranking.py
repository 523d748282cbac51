"""Relevance: weighted query terms and BM25F over the stored term vectors.

This module is the bid-ranking logic. It is pure Python over term counts, so
the Whoosh engine, the evaluation and any future engine share it exactly.

* A query document (a challenge, a profile, or a typed query) becomes weighted
  terms: title terms count most, then keywords, then the body; each distinct
  term once, with a damped count; synonyms from the synonym file join at a
  lower weight.
* Only the ``max_terms`` most informative terms are kept (weight × IDF), which
  bounds the cost of long queries.
* A document scores BM25F: per-field length-normalised term frequencies,
  weighted by field, saturated once (k1), times IDF.
* Backoff: every text also yields Chinese character bigrams (a ``grams``
  field). The query's bigrams join at a low weight within their own budget,
  so a document that words the same thing with a different segmentation or an
  out-of-vocabulary term still scores, while exact word matches dominate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .analyzer import GRAM_MARK, Analyzer

# Field weights and length normalisation, chosen from first principles (title
# and keywords are short and dense; the body is long) and checked on two
# unrelated sets rather than fitted to one.
DOC_FIELD_WEIGHTS: dict[str, float] = {"title": 2.5, "keywords": 2.0, "body": 1.0,
                                       "grams": 1.0}
DOC_FIELD_B: dict[str, float] = {"title": 0.4, "keywords": 0.3, "body": 0.75, "grams": 0.75}
WORD_FIELDS = ("title", "keywords", "body")
QUERY_FIELD_WEIGHTS: dict[str, float] = {"title": 1.0, "keywords": 1.0, "body": 1.0}
K1 = 1.2
SUB_TOKEN_WEIGHT = 0.5  # parts of compounds (注塑模具 → 模具) count less
SYNONYM_WEIGHT = 0.6
MAX_QUERY_TERMS = 32
GRAM_WEIGHT = 0.25  # a bigram is weak evidence next to a word
# bumped whenever the index-time terms change, so stored terms are not reused
TERMS_VERSION = "2"


@dataclass(frozen=True, slots=True)
class QueryTerm:
    text: str
    weight: float
    origin: str  # the query term it came from (itself, or the synonym's source)


def _field_text(doc: Mapping[str, object], name: str) -> str:
    value = doc.get(name) or ""
    if isinstance(value, list | tuple):
        value = " ; ".join(str(v) for v in value)
    return str(value)


def doc_terms(analyzer: Analyzer, doc: Mapping[str, object]) -> dict[str, list[str]]:
    """Index-time terms of each text field of ``doc``, plus the bigram backoff field."""
    out = {name: analyzer.terms(_field_text(doc, name)) for name in WORD_FIELDS}
    out["grams"] = analyzer.grams("\n".join(_field_text(doc, n) for n in WORD_FIELDS))
    return out


def query_terms(
    analyzer: Analyzer,
    query: Mapping[str, object] | str,
    idf: Callable[[str], float],
    *,
    max_terms: int = MAX_QUERY_TERMS,
    max_grams: int | None = None,
    synonyms: bool = True,
) -> list[QueryTerm]:
    """Weighted, bounded and synonym-expanded terms of a query document or string.

    ``max_grams`` bounds the bigram backoff terms separately (default: half of
    ``max_terms``; 0 turns the backoff off).
    """
    if isinstance(query, str):
        query = {"title": query}
    weights: Counter[str] = Counter()
    grams: Counter[str] = Counter()
    for name, fweight in QUERY_FIELD_WEIGHTS.items():
        value = _field_text(query, name)
        counts: Counter[str] = Counter()
        for tok in analyzer.tokens(value, expand=True):
            counts[tok.text] += SUB_TOKEN_WEIGHT if tok.sub else 1.0
        for term, n in counts.items():
            weights[term] += fweight * (1.0 + math.log(n) if n >= 1 else n)
        for gram, n in Counter(analyzer.grams(value)).items():
            grams[gram] += fweight * GRAM_WEIGHT * (1.0 + math.log(n))
    # synonyms join first (a query word absent from the corpus may have a
    # synonym that is present), then only the most informative terms are kept
    candidates: dict[str, QueryTerm] = {t: QueryTerm(t, w, t) for t, w in weights.items()}
    if synonyms:
        for term, w in weights.items():
            for syn in analyzer.expand(term):
                sw = w * SYNONYM_WEIGHT
                if syn not in candidates or candidates[syn].weight < sw:
                    candidates[syn] = QueryTerm(syn, sw, term)
    kept = _most_informative(candidates.values(), idf, max_terms)
    if max_grams is None:
        max_grams = max_terms // 2
    if max_grams > 0 and grams:
        kept += _most_informative((QueryTerm(g, w, g) for g, w in grams.items()), idf, max_grams)
    return kept


def _most_informative(terms: Iterable[QueryTerm], idf: Callable[[str], float],
                      n: int) -> list[QueryTerm]:
    scored = sorted(((q.weight * idf(q.text), q) for q in terms),
                    key=lambda x: (-x[0], x[1].text))
    return [q for s, q in scored[:n] if s > 0]


def bm25_idf(doc_count: int, df: int) -> float:
    if df <= 0:
        return 0.0
    return math.log(1.0 + (doc_count - df + 0.5) / (df + 0.5))


@dataclass(slots=True)
class DocVector:
    """Term counts and lengths of one document's fields."""

    counts: dict[str, Counter[str]]
    lengths: dict[str, int]

    @classmethod
    def from_terms(cls, terms: Mapping[str, Iterable[str]]) -> DocVector:
        counts = {f: Counter(ts) for f, ts in terms.items()}
        return cls(counts, {f: sum(c.values()) for f, c in counts.items()})

    @classmethod
    def from_stored(cls, stored: Mapping[str, str]) -> DocVector:
        return cls.from_terms({f: s.split() for f, s in stored.items()})


class Scorer:
    """BM25F with field weights over collection statistics."""

    def __init__(self, idf: Callable[[str], float], avg_lengths: Mapping[str, float]) -> None:
        self.idf = idf
        self.avg = {f: max(avg_lengths.get(f, 1.0), 1.0) for f in DOC_FIELD_WEIGHTS}

    def norm(self, field: str, length: int) -> float:
        b = DOC_FIELD_B[field]
        return DOC_FIELD_WEIGHTS[field] / (1.0 - b + b * length / self.avg[field])

    def saturate(self, qterm: QueryTerm, tf: float) -> float:
        return qterm.weight * self.unit(qterm.text, tf)

    def unit(self, term: str, tf: float) -> float:
        """The score of ``term`` at (normalised) frequency ``tf`` for a query weight of 1."""
        return self.idf(term) * tf * (K1 + 1.0) / (K1 + tf)

    def score(self, terms: list[QueryTerm], doc: DocVector) -> tuple[float, list[str]]:
        """The score of ``doc`` and the query terms (origins) it matched."""
        norms = {f: self.norm(f, doc.lengths.get(f, 0)) for f in doc.counts}
        total = 0.0
        matched: dict[str, None] = {}
        for q in terms:
            tf = 0.0
            for f, counts in doc.counts.items():
                n = counts.get(q.text)
                if n:
                    tf += n * norms[f]
            if tf:
                total += self.saturate(q, tf)
                if not q.text.startswith(GRAM_MARK):
                    matched[q.origin] = None
                    matched[q.text] = None
        return total, list(matched)
