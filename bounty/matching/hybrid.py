"""Hybrid ranking: the lexical engine with semantic similarity fused in.

:class:`Matcher` is what the services rank with. It finds the dense side — the query's
vector (typed text embedded on the spot, cached; a stored document's own ``query``
vector when its text has not changed since) against the stored vectors of the kind —
and hands it to the engine, which fuses it with BM25F over the same filters, facets,
sorts and pages (fusion.py). A challenge ranking its bids (``latent=True``) first turns
the cosines into meaning scores with the latent terms of both sides (terms.py). Without
an embedder, or when anything on the dense side fails, ranking is lexical and a log
line says why: search never fails on the vectors.
An unreadable index gives no hits (``SearchResult.degraded``), never an error.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from .embedder import Embedder
from .engine import Doc, Engine, Filters, Hit, IndexUnavailable, SearchResult
from .fusion import MEANING
from .reference import Reference, meanings
from .scripts import calibrate
from .terms import Terms, meaning
from .vectors import PASSAGE, QUERY, VectorStore, embed_text, text_hash

log = logging.getLogger(__name__)

# How many nearest documents of a kind the dense side proposes to a whole-kind query
# (search, recommendations); the engine keeps those passing the filters.
DENSE_CANDIDATES = 100
# A typed query's dense candidates: at most SEARCH_DENSE_K, within SEARCH_BAND of the
# best one. e5 similarities of a short query are compressed (unrelated texts score
# 0.72-0.78, the right one often only 0.005-0.05 above), so no absolute threshold
# separates "related" from "not": a search joins only its few nearest documents.
SEARCH_DENSE_K = 10
SEARCH_BAND = 0.03
_WORDLIKE = re.compile(r"\w")
QUERY_CACHE = 2048
ROW_CACHE = 20_000


class Matcher:
    """The engine plus the dense side; the services' one entry point for ranking."""

    def __init__(self, engine: Engine, store: VectorStore | None = None,
                 embedder: Embedder | None = None) -> None:
        self.engine = engine
        self.store = store if embedder is not None else None
        self.embedder = embedder
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._terms_cache: OrderedDict[tuple[str, str], Terms] = OrderedDict()
        self._rows: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def semantic(self) -> bool:
        return self.store is not None and self.embedder is not None

    # -- query vectors --------------------------------------------------------------
    def embed_query(self, text: str) -> np.ndarray | None:
        """The query vector of ``text`` (cached); ``None`` for empty text or a failure."""
        if not self.semantic or not (text or "").strip():
            return None
        key = (self.embedder.key, text_hash(text))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        try:
            vector = self.embedder.embed_queries([text])[0]
        except Exception:
            log.exception("query embedding failed; ranking lexically")
            return None
        if not np.isfinite(vector).all() or not vector.any():
            return None
        with self._lock:
            self._cache[key] = vector
            while len(self._cache) > QUERY_CACHE:
                self._cache.popitem(last=False)
        return vector

    def doc_query_vector(self, query: Doc | str) -> np.ndarray | None:
        """A query document's vector: its stored ``query`` vector while its text is the
        one that was embedded, else its text embedded now."""
        if not self.semantic:
            return None
        if isinstance(query, str):
            return self.embed_query(query)
        text = embed_text(query)
        kind, doc_id = query.get("kind"), query.get("id")
        if kind and doc_id is not None:
            try:
                stored = self.store.current(str(kind), str(doc_id), QUERY, text_hash(text))
            except Exception:
                log.exception("reading the stored query vector failed")
                stored = None
            if stored is not None:
                return stored
        return self.embed_query(text)

    def doc_query_terms(self, query: Doc) -> Terms | None:
        """A query document's latent terms: stored while its text is the one they were
        computed from, else computed now (cached); ``None`` without a sparse head or on
        a failure."""
        if not self.semantic or not getattr(self.embedder, "terms_dim", 0):
            return None
        text = embed_text(query)
        if not text.strip():
            return None
        digest = text_hash(text)
        kind, doc_id = query.get("kind"), query.get("id")
        if kind and doc_id is not None:
            try:
                stored = self.store.current_terms(str(kind), str(doc_id), digest)
            except Exception:
                log.exception("reading the stored latent terms failed")
                stored = None
            if stored is not None:
                return stored
        key = (self.embedder.key, digest)
        with self._lock:
            hit = self._terms_cache.get(key)
            if hit is not None:
                self._terms_cache.move_to_end(key)
                return hit
        try:
            terms = self.embedder.embed_terms([text], for_query=True)[0]
        except Exception:
            log.exception("latent terms of the query failed; ranking by the cosine")
            return None
        with self._lock:
            self._terms_cache[key] = terms
            while len(self._terms_cache) > QUERY_CACHE:
                self._terms_cache.popitem(last=False)
        return terms

    def with_terms(self, kind: str, query: Doc, near: Mapping[str, float], *,
                   vector: np.ndarray | None = None, other_script: set[str] | None = None,
                   reference: Reference | None = None) -> dict[str, float] | None:
        """``near`` (cosines) as meaning scores; ``None`` when the query or any of the
        documents has no latent terms yet (they are ranked by the cosine). Documents in
        ``other_script`` (written in another script than the query, whose query vector
        is ``vector``) are put on the others' scale against ``reference`` (scripts.py,
        reference.py)."""
        if not near:
            return None
        query_terms = self.doc_query_terms(query)
        if query_terms is None:
            return None
        try:
            docs = self.store.terms(kind, list(near))
        except Exception:
            log.exception("reading latent terms of %s failed; ranking by the cosine", kind)
            return None
        scores = meaning(near, query_terms, docs)
        other = set(near) & (other_script or set())
        if scores is None or not other or reference is None or not len(reference):
            return scores
        try:
            vectors = self.store.vectors(kind, list(near), PASSAGE)
            rows = {d: self._row(kind, d, reference, vectors[d], docs[d])
                    for d in near if d in vectors}
        except Exception:
            log.exception("profiling %s against the reference failed; meaning unscaled", kind)
            return scores
        # a document's row: its meaning with this challenge, then with the others
        own = reference.own(vector)
        return calibrate(scores, {d: np.concatenate(([scores[d]], row[~own]))
                                  for d, row in rows.items()}, other)

    def _row(self, kind: str, doc_id: str, reference: Reference, vector: np.ndarray,
             terms: Terms) -> np.ndarray:
        """reference.meanings, cached per document (and its vector) and reference: a
        challenge's bids are read against the reference once while it stands."""
        key = (kind, doc_id, reference.version, vector.tobytes()[:64])
        with self._lock:
            hit = self._rows.get(key)
        if hit is None:
            hit = meanings(reference, vector, terms)
            with self._lock:
                self._rows[key] = hit
                while len(self._rows) > ROW_CACHE:
                    self._rows.popitem(last=False)
        return hit

    def stored_vector(self, kind: str, doc_id: Any, role: str = QUERY) -> np.ndarray | None:
        """A document's stored vector as the worker last wrote it (``None`` if none)."""
        if not self.semantic:
            return None
        try:
            return self.store.vectors(kind, [str(doc_id)], role=role).get(str(doc_id))
        except Exception:
            log.exception("reading the stored %s vector of %s %s failed", role, kind, doc_id)
            return None

    # -- dense side -------------------------------------------------------------------
    def dense(self, kind: str, vector: np.ndarray | None, *, ids: Any = None,
              k: int = DENSE_CANDIDATES, band: float | None = None) -> dict[str, float]:
        """Similarities of ``vector`` to ``ids`` (or to the ``k`` nearest of ``kind``)."""
        if vector is None or self.store is None:
            return {}
        try:
            sims = self.store.similarities(kind, vector, ids=ids, k=k)
        except Exception:
            log.exception("dense similarities for %s failed; ranking lexically", kind)
            return {}
        if band is not None and sims:
            best = max(sims.values())
            sims = {d: s for d, s in sims.items() if s >= best - band}
        return sims

    # -- the engine, with the dense side ------------------------------------------------
    def search(self, text: str, *, kind: str = "challenge", filters: Filters | None = None,
               sort: str = "relevance", page: int = 1, pagesize: int = 20,
               facets: bool = True) -> SearchResult:
        """As ``Engine.search``, with the typed text's nearest documents joining."""
        # text with no letter, digit or CJK character (punctuation, emoji) means nothing
        vector = self.embed_query(text) if _WORDLIKE.search(text or "") else None
        near = self.dense(kind, vector, k=SEARCH_DENSE_K, band=SEARCH_BAND)
        try:
            return self.engine.search(text, kind=kind, filters=filters, sort=sort, page=page,
                                      pagesize=pagesize, facets=facets, dense=near or None)
        except IndexUnavailable:  # the engine logged it and is rebuilding
            return SearchResult([], 0, page, pagesize, degraded=True)

    def rank(self, query: Doc | str, *, kind: str, filters: Filters | None = None,
             limit: int = 50, vector: np.ndarray | None | bool = True,
             latent: bool = False, other_script: set[str] | None = None,
             reference: Reference | None = None, **options: Any) -> list[Hit]:
        """As ``Engine.rank``, fused with the query's similarity to the candidates.

        With ``filters.ids`` the dense side scores exactly those documents; otherwise
        the nearest ``DENSE_CANDIDATES`` of the kind. ``vector`` is the query's vector
        when the caller has it (``None``: lexical only); by default it is the query
        document's own (see ``doc_query_vector``). ``latent``: a challenge ranking its
        bids; the similarities become meaning scores (``with_terms``), those of the
        ``other_script`` documents scaled against ``reference``.
        """
        ids = filters.ids if filters is not None and filters.ids is not None else None
        if vector is True:
            vector = self.doc_query_vector(query)
        near = self.dense(kind, vector, ids=ids, k=max(DENSE_CANDIDATES, limit))
        if latent and near and not isinstance(query, str):
            scored = self.with_terms(kind, query, near, vector=vector,
                                     other_script=other_script, reference=reference)
            if scored is not None:
                near, options = scored, {**options, "fusion": MEANING}
        try:
            return self.engine.rank(query, kind=kind, filters=filters, limit=limit,
                                    dense=near or None, **options)
        except IndexUnavailable:  # the engine logged it and is rebuilding: unranked
            return []

    def similarities(self, kind: str, query: Doc | str,
                     ids: Any = None) -> Mapping[str, float]:
        """Plain cosine similarities of a query document to documents of ``kind``."""
        return self.dense(kind, self.doc_query_vector(query), ids=ids)
