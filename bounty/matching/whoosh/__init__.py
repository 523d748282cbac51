"""The Whoosh implementation of :class:`bounty.matching.engine.Engine`.

Modules, each depending only on those above it:

=============  ===============================================================
``adapter``    every use of Whoosh's private attributes
``schema``     the Whoosh schema and what a document becomes in it
``filters``    ``Filters`` as a Whoosh query and as a test of a stored document
``view``       reading one kind's index: views per commit and their caches
``merge``      the size-tier merge policy
``store``      the index directory: generations, views, writers, commits
``build``      a fresh generation written in bulk (``rebuild``)
``overlay``    pending writes, and the view that reads a commit with them on top
``queue``      the durable queue of writes until Whoosh holds them; one in memory
``search``     free-text search and ranking over a view
``engine``     ``WhooshEngine``: writes, flushes, replay, rebuild, reads
=============  ===============================================================
"""

from .engine import INDEX_REFRESH_SECONDS, WhooshEngine

__all__ = ["INDEX_REFRESH_SECONDS", "WhooshEngine"]
