"""The search-engine interface: what the rest of bounty sees of the index.

Callers build plain document dicts and call ``index``/``remove``/``search``/
``rank``; nothing outside ``bounty.matching`` imports Whoosh, so another
embedded engine can be added behind the same protocol later.

A document is a dict with:

===============  ==========================================================
``kind``         ``"challenge"``, ``"bid"`` or ``"institute"`` (any string in eval)
``id``           the row id (int or str)
``title``        short text, weighted highest
``body``         the long text (for a challenge: background, bottleneck,
                 indicators, expected outcome; for a bid: approach, team,
                 milestones, prior results; for an institute: expertise, past
                 bids and awards)
``keywords``     keywords, a string or a list of strings
``industry``, ``category``, ``state``, ``org_id``, ``challenge_id``
                 exact-match strings for filters and facets
``bounty``       int (yuan)
``deadline``, ``published_at``
                 timezone-aware datetimes (stored in UTC)
===============  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from markupsafe import Markup

Doc = Mapping[str, Any]

TEXT_FIELDS = ("title", "keywords", "body")
FILTER_FIELDS = ("industry", "category", "state", "org_id", "challenge_id")
FACET_FIELDS = ("industry", "category", "state")
SortKey = Literal["relevance", "newest", "deadline", "bounty"]


class IndexUnavailable(Exception):
    """The index cannot be read (damaged or missing files); it is being rebuilt from the
    database, and reads answer degraded until then."""


@dataclass(slots=True)
class Hit:
    """One result: the stored metadata, its score and the terms that matched."""

    kind: str
    id: str
    score: float
    fields: dict[str, Any]
    matched: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SearchResult:
    """A page of hits with the total and facet counts over all matches."""

    hits: list[Hit]
    total: int
    page: int
    pagesize: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)
    # the index could not be read (damaged, missing, being rebuilt): no hits, not an error
    degraded: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.pagesize))


@dataclass(slots=True)
class Filters:
    """Exact filters on stored metadata; ``None`` means no restriction."""

    industry: str | Sequence[str] | None = None
    category: str | Sequence[str] | None = None
    state: str | Sequence[str] | None = None
    org_id: str | Sequence[str] | None = None
    challenge_id: str | Sequence[str] | None = None
    bounty_min: int | None = None
    bounty_max: int | None = None
    deadline_after: Any = None  # datetime
    deadline_before: Any = None  # datetime
    exclude_ids: Sequence[str] = ()
    ids: Sequence[str] | None = None  # only these documents (e.g. a digest's candidates)


class Engine(Protocol):
    """The operations bounty needs from a full-text engine."""

    def index(self, docs: Iterable[Doc]) -> None:
        """Add or replace documents (by kind and id), durably; every later read sees them."""

    def remove(self, kind: str, ids: Iterable[Any]) -> None:
        """Remove documents; unknown ids are ignored."""

    def flush(self) -> int:
        """Make pending writes permanent in the on-disk index now; returns how many.

        ``index`` and ``remove`` are durable and visible to every read of this
        engine when they return; an engine may apply them to its files later
        (the Whoosh engine does so on a refresh interval). Other processes see
        them once flushed.
        """

    def search(
        self,
        text: str,
        *,
        kind: str = "challenge",
        filters: Filters | None = None,
        sort: SortKey = "relevance",
        page: int = 1,
        pagesize: int = 20,
        facets: bool = True,
        dense: Mapping[str, float] | None = None,
    ) -> SearchResult:
        """Free-text search as people type it; never raises on odd input.

        ``dense`` maps document ids to their semantic similarity to the query (from the
        vector store): those that pass ``filters`` join the matches, and relevance is
        the fusion of both sides (bounty.matching.fusion).
        """

    def rank(
        self,
        query: Doc,
        *,
        kind: str,
        filters: Filters | None = None,
        limit: int = 50,
        dense: Mapping[str, float] | None = None,
        fusion: Mapping[str, float] | None = None,
    ) -> list[Hit]:
        """Documents of ``kind`` ranked by relevance to the document ``query``
        (with ``dense`` scores fused in, as for ``search``; ``fusion``: the settings of
        bounty.matching.fusion for them, by default ``DOCUMENT``)."""

    def rebuild(
        self, docs: Iterable[Doc], *, progress: Callable[[int], None] | None = None,
        procs: int = 1,
    ) -> int:
        """Rebuild the whole index from ``docs`` and swap it in atomically (``procs``:
        worker processes it may use)."""

    def highlight(self, text: str, terms: Iterable[str], *, fragment: int = 0) -> Markup:
        """``text`` escaped, with the matched terms in ``<mark>``."""
