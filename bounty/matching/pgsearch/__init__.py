"""The PostgreSQL implementation of :class:`bounty.matching.engine.Engine`
(``SEARCH_BACKEND=postgres``).

=============  ===============================================================
``tables``     the index's tables: documents, postings, term and kind statistics
``write``      writes in the caller's transaction, statistics kept with them
``read``       search and ranking: the Whoosh engine's BM25F, computed in SQL
``engine``     ``PgEngine``: writes, rebuild, reads
=============  ===============================================================
"""

from .engine import PgEngine

__all__ = ["PgEngine"]
