"""Reading the index: one query's ``PgView``, and the Whoosh engine's own search code.

Scoring, fusion, facets, sorts and pages are the shared code's (``whoosh/search.py``
over a ``Reading``): the same query terms (weights, synonyms, bigram backoff,
``max_terms`` by IDF), the same BM25F, the same fusion with the dense side, the same
ties (the lower document number first) and the same matched terms as Whoosh, by
construction. What differs is where the view's numbers come from (view.py):

* many candidates (search, 为您推荐): each query term's postings, decoded into numpy
  arrays, over the documents' columns resident in the process (columns.py);
* at most ``VECTOR_SCORING_MAX`` documents passing the filters (a challenge's bids):
  their columns are read with them, and the shared code scores their stored terms one
  by one, as Whoosh does.

Computing BM25F in SQL instead, joining every posting to its document, took 226-312 ms
a search at 20,000 challenges (25 / 61 ms p50 / p95 this way).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..analyzer import Analyzer
from ..engine import Doc, Filters, Hit, SearchResult, SortKey
from ..whoosh import search as shared
from ..whoosh.cache import BUDGET
from ..whoosh.search import VECTOR_SCORING_MAX
from ..whoosh.segments import WARM_BYTES, WARM_DUTY, WARM_MIN_SHARE
from .columns import COLUMNS, Columns, from_rows
from .filters import where
from .postings import Memory
from .tables import FIELDS
from .view import PgView

WARM_BATCH = 16  # terms read per statement while warming
_DF = "greatest(" + ", ".join(f"df_{f}" for f in FIELDS) + ")"


def view(conn: Connection, memory: Memory, kind: str, filters: Filters | None) -> PgView:
    """The kind's index as ``conn``'s snapshot sees it, for a query under ``filters``."""
    stats = _stats(conn, kind)
    pending = memory.pending.current(conn, kind, stats.folded, stats.top)
    few = _few(conn, kind, filters)
    if few is not None:
        return PgView(conn, kind, few, stats.docs, stats.avg, pending, few=True)
    cols = memory.resident.current(conn, kind, stats.docs, stats.top)
    return PgView(conn, kind, cols, stats.docs, stats.avg, pending,
                  memory=memory if stats.top == cols.seq else None)


@dataclass(frozen=True)
class Stats:
    docs: int  # live documents
    avg: dict[str, float]  # average field lengths
    folded: int  # search_stats.folded_seq
    top: int  # search_stats.last_seq


def _stats(conn: Connection, kind: str) -> Stats:
    """The kind's ``search_stats`` row as ``conn``'s snapshot sees it."""
    row = conn.execute(sa.text(
        "SELECT docs, folded_seq, last_seq, " + ", ".join(f"len_{f}" for f in FIELDS)
        + " FROM search_stats WHERE kind = :k"), {"k": kind}).first()
    docs = int(row[0]) if row else 0
    return Stats(docs=docs, avg={f: (row[3 + i] / docs if row and docs else 1.0)
                                 for i, f in enumerate(FIELDS)},
                 folded=int(row[1]) if row else 0, top=int(row[2]) if row else 0)


def warm(snapshot: Callable[[], AbstractContextManager[Connection]], memory: Memory,
         kind: str, stop: threading.Event) -> int:
    """Read the postings of the kind's most frequent terms (in at least WARM_MIN_SHARE
    of its documents, as the Whoosh engine warms a big segment) into the process's
    cache, most frequent first, working half of the time, until ``stop`` is set or the
    cache holds WARM_BYTES; returns how many terms were read."""
    with snapshot() as conn:
        docs = _stats(conn, kind).docs
        terms = conn.execute(sa.text(
            f"SELECT term FROM search_terms WHERE kind = :k AND {_DF} >= :m "
            f"ORDER BY {_DF} DESC, term"), {"k": kind, "m": docs * WARM_MIN_SHARE}
        ).scalars().all()
    done = 0
    for i in range(0, len(terms), WARM_BATCH):
        if stop.is_set() or BUDGET.total >= WARM_BYTES:
            break
        t0 = time.perf_counter()
        with snapshot() as conn:
            stats = _stats(conn, kind)
            cols = memory.resident.current(conn, kind, stats.docs, stats.top)
            if stats.top == cols.seq:
                batch = list(terms[i:i + WARM_BATCH])
                pending = memory.pending.current(conn, kind, stats.folded, stats.top)
                memory.postings.get(conn, memory.resident, cols, pending, kind, batch)
                done += len(batch)
        time.sleep((time.perf_counter() - t0) * (1 - WARM_DUTY) / WARM_DUTY)
    return done


def _few(conn: Connection, kind: str, filters: Filters | None) -> Columns | None:
    """The columns of the documents passing ``filters``, if at most VECTOR_SCORING_MAX
    (a challenge's bids): no resident copy of the kind is needed for them."""
    if filters is None:
        return None
    params: dict[str, Any] = {"kind": kind}
    cond = where(filters, params)
    n = conn.execute(sa.text(
        f"SELECT count(*) FROM (SELECT 1 FROM search_docs d WHERE d.kind = :kind AND {cond} "
        f"LIMIT {VECTOR_SCORING_MAX + 1}) x"), params).scalar_one()
    if n > VECTOR_SCORING_MAX:
        return None
    return from_rows(0, conn.execute(sa.text(
        f"SELECT {', '.join(f'd.{c}' for c in COLUMNS)} FROM search_docs d "
        f"WHERE d.kind = :kind AND {cond} ORDER BY d.docnum"), params).all())


def search(conn: Connection, memory: Memory, analyzer: Analyzer, text: str, *,
           kind: str, filters: Filters | None, sort: SortKey, page: int, pagesize: int,
           facets: bool, dense: Mapping[str, float] | None) -> SearchResult:
    """``PgEngine.search`` in ``conn``."""
    v = view(conn, memory, kind, filters)
    if text and text.strip():
        v.prefetch_terms(analyzer, text)
    return shared.search(analyzer, v, text, kind=kind, filters=filters, sort=sort,
                         page=page, pagesize=pagesize, facets=facets, dense=dense)


def rank(conn: Connection, memory: Memory, analyzer: Analyzer, query: Doc | str, *,
         kind: str, filters: Filters | None, limit: int, max_terms: int | None,
         dense: Mapping[str, float] | None, fusion: Mapping[str, float] | None
         ) -> list[Hit]:
    """``PgEngine.rank`` in ``conn``."""
    v = view(conn, memory, kind, filters)
    v.prefetch_terms(analyzer, query)
    return shared.rank(analyzer, v, query, kind=kind, filters=filters, limit=limit,
                       max_terms=max_terms, dense=dense, fusion=fusion)
