"""Matching: the analyzer, the full-text index and relevance ranking.

``init_app(app)`` binds one engine per app (``SEARCH_BACKEND``: ``whoosh``, the index
in ``BOUNTY_INDEX_DIR``, or ``postgres``, the index in PostgreSQL beside the data, see
pgsearch/), makes the index follow database commits and replays pending index work;
``get_engine()`` returns the current app's engine. The rest of this note is Whoosh's:
the PostgreSQL index is written in the transaction of the change itself.

Index writes are near-real-time: a write is queued (its ``index_jobs`` row,
committed with the change; see jobs.py) and visible at once to reads in the
process that made it, and reaches the Whoosh files (and so the other processes
sharing the index directory: the web server, ``bounty jobs run``, ``bounty
digests send``) at the next flush, within ``BOUNTY_INDEX_REFRESH`` seconds
(default 1), which deletes the row. That lag is harmless because the services
re-read every hit from the database (see services.py): the index decides which
rows are candidates and in what order, never what a page shows.
"""

from __future__ import annotations

from flask import Flask, current_app

from .engine import Engine, Filters, Hit, SearchResult

__all__ = ["Engine", "Filters", "Hit", "SearchResult", "enable_healing", "get_engine",
           "get_matcher", "init_app"]

EXTENSION_KEY = "bounty.matching"
BACKENDS = ("whoosh", "postgres")  # SEARCH_BACKEND
MATCHER_KEY = "bounty.matching.matcher"


def init_app(app: Flask) -> None:
    """Bind the engine to ``app``; the index follows the database from now on."""
    from contextlib import contextmanager

    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from ..extensions import db
    from . import indexing
    from .jobs import DbQueue
    from .whoosh import INDEX_REFRESH_SECONDS, WhooshEngine

    state: dict = {}

    # a session from any thread (the engine's flusher too), for the loader and the queue
    @contextmanager
    def session():  # noqa: ANN202
        with app.app_context(), Session(db.engine) as s:
            yield s

    def loader(kind: str, doc_id: str):  # noqa: ANN202
        with session() as s:
            return indexing.load(s, kind, doc_id)

    refresh = app.config.get("BOUNTY_INDEX_REFRESH")
    if refresh in (None, ""):
        # tests flush explicitly (or read the overlay): no background thread
        refresh = 0.0 if app.testing else INDEX_REFRESH_SECONDS

    backend = app.config.get("SEARCH_BACKEND") or "whoosh"
    if backend not in BACKENDS:
        raise SystemExit(f"SEARCH_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    if backend == "postgres" and database != "postgresql":
        raise SystemExit("SEARCH_BACKEND=postgres needs DATABASE_URL to name a PostgreSQL "
                         f"database (this one is {database})")

    def engine():  # noqa: ANN202
        if "engine" not in state:
            if backend == "postgres":
                from .pgsearch import PgEngine

                state["engine"] = PgEngine(db.engine)
            else:
                state["engine"] = WhooshEngine(
                    app.config["BOUNTY_INDEX_DIR"], loader=loader, refresh=float(refresh),
                    queue=DbQueue(session),
                )
        return state["engine"]

    def matcher():  # noqa: ANN202
        if "matcher" not in state:
            from .embedder import load_embedder
            from .hybrid import Matcher
            from .vectors import DbVectorStore

            embedder = None
            try:
                embedder = load_embedder(app.config.get("BOUNTY_EMBEDDER"))
            except Exception:  # a broken model must not take search down: lexical only
                app.logger.exception("embedder %r unavailable; ranking is lexical only",
                                     app.config.get("BOUNTY_EMBEDDER"))
            store = DbVectorStore(db.engine.connect, embedder.key) if embedder else None
            state["matcher"] = Matcher(engine(), store, embedder)
        return state["matcher"]

    app.extensions[EXTENSION_KEY] = engine
    app.extensions[MATCHER_KEY] = matcher
    from ..challenges.services import register_bid_ranker
    from .services import rank_bids

    register_bid_ranker(rank_bids)
    indexing.install_hooks(_current_engine, Session, embeds=_embeds)

    if not app.config.get("TESTING"):
        replay_pending(app)


def replay_pending(app: Flask) -> int:
    """Finish index work that a crash interrupted (cheap when nothing is pending); an
    unreadable or missing index is noted instead (see healing.py)."""
    import sqlalchemy as sa

    from ..extensions import db
    from .healing import start_up
    from .models import IndexRebuild

    try:
        with app.app_context():
            inspector = sa.inspect(db.engine)
            if not inspector.has_table(IndexRebuild.__tablename__):
                # An empty database is being installed (this may be `bounty db upgrade`
                # itself starting): nothing to say. Tables of an older schema: migrate.
                if inspector.get_table_names():
                    app.logger.warning("the index queue's tables are missing: "
                                       "run `bounty db upgrade`")
                return 0
            return start_up(app, app.extensions[EXTENSION_KEY]())
    except Exception:  # pragma: no cover - never block start-up on the index
        app.logger.exception("index replay failed; run `bounty reindex`")
        return 0


def enable_healing(app: Flask):  # noqa: ANN201
    """Rebuild an unreadable or missing index in the background, now and whenever a read
    finds one (``bounty serve``)."""
    from .healing import enable_healing as enable

    with app.app_context():
        return enable(app, app.extensions[EXTENSION_KEY]())


def _current_engine():  # noqa: ANN202
    """The current app's engine, or ``None`` outside an app with matching."""
    from flask import has_app_context

    if not has_app_context() or EXTENSION_KEY not in current_app.extensions:
        return None
    return current_app.extensions[EXTENSION_KEY]()


def get_engine() -> Engine:
    """The engine of the current app."""
    return _current_engine()


def get_matcher():  # noqa: ANN201
    """The current app's :class:`~bounty.matching.hybrid.Matcher` (engine + vectors)."""
    return current_app.extensions[MATCHER_KEY]()


def _embeds() -> bool:
    """Whether the current app embeds documents (queues vector jobs)."""
    from flask import has_app_context

    return has_app_context() and current_app.config.get("BOUNTY_EMBEDDER") not in (None, "",
                                                                                  "none")


def start_embedding_worker(app: Flask):  # noqa: ANN201
    """Run queued vector jobs in a background thread of this process (``bounty serve``)."""
    from ..extensions import db
    from .embedding import Worker

    with app.app_context():
        matcher = get_matcher()
        if matcher.embedder is None:
            return None
        return Worker(db.engine, matcher.embedder).start()
