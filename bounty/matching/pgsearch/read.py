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

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..analyzer import Analyzer
from ..engine import Doc, Filters, Hit, SearchResult, SortKey
from ..whoosh import search as shared
from ..whoosh.search import VECTOR_SCORING_MAX
from .columns import COLUMNS, Columns, Resident
from .filters import where
from .tables import FIELDS
from .view import PgView


def view(conn: Connection, resident: Resident, kind: str, filters: Filters | None
         ) -> PgView:
    """The kind's index as ``conn``'s snapshot sees it, for a query under ``filters``."""
    row = conn.execute(sa.text(
        "SELECT docs, " + ", ".join(f"len_{f}" for f in FIELDS)
        + " FROM search_stats WHERE kind = :k"), {"k": kind}).first()
    docs = int(row[0]) if row else 0
    avg = {f: (row[1 + i] / docs if row and docs else 1.0) for i, f in enumerate(FIELDS)}
    few = _few(conn, kind, filters)
    if few is not None:
        return PgView(conn, kind, few, docs, avg, few=True)
    return PgView(conn, kind, resident.current(conn, kind, docs), docs, avg)


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
    return Columns.from_rows(0, conn.execute(sa.text(
        f"SELECT {', '.join(f'd.{c}' for c in COLUMNS)} FROM search_docs d "
        f"WHERE d.kind = :kind AND {cond} ORDER BY d.docnum"), params).all())


def search(conn: Connection, resident: Resident, analyzer: Analyzer, text: str, *,
           kind: str, filters: Filters | None, sort: SortKey, page: int, pagesize: int,
           facets: bool, dense: Mapping[str, float] | None) -> SearchResult:
    """``PgEngine.search`` in ``conn``."""
    v = view(conn, resident, kind, filters)
    if text and text.strip():
        v.prefetch_terms(analyzer, text)
    return shared.search(analyzer, v, text, kind=kind, filters=filters, sort=sort,
                         page=page, pagesize=pagesize, facets=facets, dense=dense)


def rank(conn: Connection, resident: Resident, analyzer: Analyzer, query: Doc | str, *,
         kind: str, filters: Filters | None, limit: int, max_terms: int | None,
         dense: Mapping[str, float] | None, fusion: Mapping[str, float] | None
         ) -> list[Hit]:
    """``PgEngine.rank`` in ``conn``."""
    v = view(conn, resident, kind, filters)
    v.prefetch_terms(analyzer, query)
    return shared.rank(analyzer, v, query, kind=kind, filters=filters, limit=limit,
                       max_terms=max_terms, dense=dense, fusion=fusion)
