"""Keeping the full-text index readable: rebuilt from the database alone, whatever state
its folder is in.

* ``rebuild_from_database`` is the one rebuild: ``bounty reindex`` and healing run it. It
  writes a new generation and never reads a damaged one (see ``WhooshEngine.rebuild``).
* ``start_up`` (every process, at app creation) looks at the live generation: when it
  is unreadable, or missing while the database holds documents, it logs one line and
  skips the replay of pending jobs (the rebuild writes them).
* ``enable_healing`` (``bounty serve``) rebuilds in a background thread at once if
  ``start_up`` found a problem, and whenever a read finds the index unreadable later.
  One rebuild at a time: one thread per process, and none while another process has a
  rebuild registered in ``index_rebuilds`` (the engine reads the new generation that
  rebuild swaps in). Until then searches answer degraded, never an error.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask
from sqlalchemy.orm import Session

from ..extensions import db
from . import indexing
from .embedding import queue_stale
from .jobs import running_rebuilds
from .vectors import embed_text, text_hash

log = logging.getLogger(__name__)

PROBLEM_KEY = "bounty.matching.index_problem"
HEALER_KEY = "bounty.matching.healer"


# From this many documents a rebuild is segmented by worker processes, one per core (up
# to REBUILD_PROCS): below it, starting them (a few seconds) costs more than they save.
PARALLEL_MIN_DOCS = 20_000
REBUILD_PROCS = 4


def rebuild_procs(total: int) -> int:
    """How many worker processes a rebuild of ``total`` documents uses (1: none)."""
    if total < PARALLEL_MIN_DOCS:
        return 1
    return max(1, min(REBUILD_PROCS, os.cpu_count() or 1))


def rebuild_from_database(engine, embedder=None,  # noqa: ANN001
                          progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Rebuild ``engine``'s index from the database; returns (documents, vectors queued).

    With an ``embedder``, documents whose text changed since their vectors were
    computed are queued for the embedding worker (vectors are otherwise reused).
    """
    hashes: list[tuple[str, str, str]] = []

    def noting_hashes(docs: Iterable[dict]) -> Iterable[dict]:
        for doc in docs:
            if embedder is not None:
                hashes.append((doc["kind"], str(doc["id"]), text_hash(embed_text(doc))))
            yield doc

    with Session(db.engine) as session:
        procs = rebuild_procs(indexing.count_docs(session))
        n = engine.rebuild(noting_hashes(indexing.all_docs(session)), progress=progress,
                           procs=procs)
        queued = 0
        if embedder is not None:
            queued = queue_stale(session, embedder, hashes)
            session.commit()
    return n, queued


def index_problem(engine) -> str | None:  # noqa: ANN001
    """Why the index cannot serve the database's documents, or ``None``."""
    problem = engine.problem()
    if getattr(engine, "transactional", False):
        return problem  # in the database: never missing while the data is there
    if (problem is None and engine.store.created_empty
            and not any(engine.count(kind) for kind in engine.kinds)):
        with Session(db.engine) as session:
            if indexing.count_rows(session):
                problem = f"no index in {engine.root} (missing or deleted)"
    return problem


def start_up(app: Flask, engine) -> int:  # noqa: ANN001
    """At app start: note an unreadable or missing index (logged once), else replay the
    jobs a crash left. Returns how many were replayed."""
    with app.app_context():
        problem = index_problem(engine)
        if problem is not None:
            app.extensions[PROBLEM_KEY] = problem
            engine.report_damage(problem)
            return 0
        return engine.replay()


RETRY_SECONDS = 60.0  # after a failed rebuild (the database away?), before the next


class Healer:
    """Rebuilds the app's index in a background thread, one at a time."""

    def __init__(self, app: Flask, engine) -> None:  # noqa: ANN001
        self.app = app
        self.engine = engine
        self._guard = threading.Lock()
        self.thread: threading.Thread | None = None
        self._failed_at: float | None = None

    def request(self, problem: str = "") -> threading.Thread | None:
        """Start a rebuild unless one is running here, or one failed less than
        RETRY_SECONDS ago; returns its thread."""
        with self._guard:
            if self.thread is not None and self.thread.is_alive():
                return None
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_SECONDS:
                return None
            self.thread = threading.Thread(target=self._run, name="bounty-index-heal",
                                           daemon=True)
            self.thread.start()
            return self.thread

    def _run(self) -> None:
        try:
            with self.app.app_context():
                with Session(db.engine) as session:
                    others = running_rebuilds(session)
                    session.commit()
                if others:
                    log.warning("the search index is being rebuilt by another process; "
                                "waiting for it")
                    return
                log.warning("rebuilding the search index from the database in the background")
                n, _queued = rebuild_from_database(self.engine)
                self._failed_at = None
                self.app.extensions.pop(PROBLEM_KEY, None)
                log.warning("search index rebuilt: %d documents", n)
        except Exception:
            self._failed_at = time.monotonic()
            log.exception("rebuilding the search index failed; run `bounty reindex`")


def enable_healing(app: Flask, engine) -> Healer:  # noqa: ANN001
    """From now on an unreadable index is rebuilt in the background (``bounty serve``);
    at once if ``start_up`` found one."""
    healer = app.extensions.get(HEALER_KEY)
    if healer is None:
        healer = app.extensions[HEALER_KEY] = Healer(app, engine)
        engine.on_damage = healer.request
    if app.extensions.get(PROBLEM_KEY):
        healer.request(app.extensions[PROBLEM_KEY])
    return healer
