"""``PgEngine``: the search index inside PostgreSQL, written with the data.

Writes go through :func:`write.write` on a connection: the app's session hooks
(indexing.py) pass the session's own connection before it commits, so index rows
commit or roll back with the change: no queue, no flusher, no local files. Every
process reads the same committed rows. ``index``/``remove`` called directly write in
their own transaction. The postings and document frequencies of what was written are
folded in later, in bulk (fold.py): by a thread of the process that wrote, once
``FOLD_AT`` documents of a kind are pending; queries see the same before and after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup

from ..analyzer import Analyzer, get_analyzer
from ..engine import Doc, Filters, Hit, SearchResult, SortKey
from ..highlight import highlight as _highlight
from ..whoosh.segments import WARM_SEGMENT_DOCS
from . import fold, read, repair, write
from .postings import Memory
from .tables import FIELDS

logger = logging.getLogger(__name__)
REBUILD_BATCH = 500


class PgEngine:
    """The engine on PostgreSQL: our analyzer's terms and our BM25F, in SQL."""

    # the app's session hooks write this engine's rows in the session's transaction
    transactional = True

    def __init__(self, db_engine: sa.Engine, *, analyzer: Analyzer | None = None,
                 kinds: Iterable[str] = ("challenge", "bid", "institute")) -> None:
        if db_engine.dialect.name != "postgresql":
            raise ValueError("SEARCH_BACKEND=postgres needs a PostgreSQL database "
                             f"(DATABASE_URL is {db_engine.dialect.name})")
        self.db = db_engine
        self.analyzer = analyzer or get_analyzer()
        self.kinds = tuple(kinds)
        # the documents' columns per kind, and the postings of terms asked for
        self.memory = Memory()
        self._warming: dict[str, threading.Event] = {}  # kind -> its warmer's stop
        self._fold_lock = threading.Lock()
        self._to_fold: set[str] = set()  # kinds the folding thread is asked to fold
        self._folder: threading.Thread | None = None
        self._closed = False
        self.on_damage: Callable[[str], None] | None = None
        self.on_close: Callable[[], None] | None = None

    # -- writing ------------------------------------------------------------------
    def write(self, connection: sa.Connection, ops: Iterable[tuple[str, Any, Doc | None]]
              ) -> int:
        """Apply ``(kind, id, doc-or-None)`` operations in ``connection``'s transaction;
        once FOLD_AT documents of a kind are pending, a thread folds them (it waits for
        this transaction to end: the kind's lock)."""
        changed, pending = write.write(connection, self.analyzer, ops)
        for kind, n in pending.items():
            if n >= fold.FOLD_AT:
                self._fold_later(kind)
        return changed

    def index(self, docs: Iterable[Doc]) -> None:
        ops = [(str(d["kind"]), str(d["id"]), d) for d in docs]
        if ops:
            with self.db.begin() as conn:
                self.write(conn, ops)

    def remove(self, kind: str, ids: Iterable[Any]) -> None:
        ops = [(kind, str(i), None) for i in ids]
        if ops:
            with self.db.begin() as conn:
                self.write(conn, ops)

    def flush(self) -> int:
        return 0  # every write is committed with its transaction

    def fold(self, kind: str, *, limit: int | None = None) -> int:
        """Fold ``kind``'s pending documents (the oldest ``limit``; all by default) in a
        transaction of its own; returns how many were folded."""
        with self.db.begin() as conn:
            write.lock_kinds(conn, [kind])
            return fold.fold(conn, kind, limit=limit)

    def _fold_later(self, kind: str) -> None:
        """Have this process's folding thread fold ``kind`` (started if not running)."""
        with self._fold_lock:
            self._to_fold.add(kind)
            if self._closed or (self._folder is not None and self._folder.is_alive()):
                return
            self._folder = threading.Thread(target=self._fold_all, name="pgsearch-fold",
                                            daemon=True)
            self._folder.start()

    def _fold_all(self) -> None:
        """The folding thread: FOLD_BATCH documents a transaction, until none is pending
        in the kinds asked for."""
        while True:
            with self._fold_lock:
                if not self._to_fold or self._closed:
                    self._to_fold.clear()
                    self._folder = None
                    return
                kind = self._to_fold.pop()
            try:
                while not self._closed and self.fold(kind, limit=fold.FOLD_BATCH):
                    pass
            except Exception:  # the database went away, the engine was closed: later
                logger.warning("folding the pending %s documents failed", kind, exc_info=True)

    def replay(self) -> int:
        return 0  # no journal to replay: pending documents are searchable (pending.py)

    def pending(self) -> int:
        return 0  # writes not yet searchable: none (unfolded documents are searchable)

    def close(self, *, flush: bool = True) -> None:
        """Run ``on_close`` (a scratch index drops its schema); the app's engine has
        nothing to release (its connections are the app's pool)."""
        for stop in self._warming.values():
            stop.set()
        with self._fold_lock:
            self._closed = True
            folder = self._folder
        if folder is not None:
            folder.join(timeout=10)  # a fold waiting for a lock this thread holds
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()

    # -- rebuild ------------------------------------------------------------------
    def rebuild(self, docs: Iterable[Doc], *, progress: Callable[[int], None] | None = None,
                procs: int = 1) -> int:
        """Write ``docs`` in batches (each its own transaction; unchanged terms are reused),
        then remove the documents not among them and recount the statistics.

        Searches see a whole index throughout. Writes committed meanwhile are kept: a
        document written after the rebuild began is left alone by it, and a removal
        leaves a tombstone until the rebuild ends (``procs`` is not used: segmenting is
        the cost, and unchanged documents are not segmented again).
        """
        with self.db.begin() as conn:
            start = write.next_seq(conn)
            kinds = set(self.kinds) | set(conn.execute(sa.text(
                "SELECT kind FROM search_stats")).scalars())
            write.lock_kinds(conn, kinds)
            conn.execute(sa.text("UPDATE search_stats SET rebuild_seq = :s WHERE kind = "
                                 "ANY(:k)"), {"s": start, "k": sorted(kinds)})
        count = 0
        fingerprints: write.Fingerprints = {}
        try:
            batch: list[tuple[str, str, Doc | None]] = []
            for doc in docs:
                batch.append((str(doc["kind"]), str(doc["id"]), doc))
                if len(batch) >= REBUILD_BATCH:
                    count += self._rebuild_batch(batch, start, progress, fingerprints)
                    batch = []
            count += self._rebuild_batch(batch, start, progress, fingerprints)
        finally:
            with self.db.begin() as conn:
                kinds |= set(conn.execute(sa.text("SELECT kind FROM search_stats")).scalars())
                self._finish(conn, sorted(kinds), start, fingerprints)
            self.memory.clear()
            for stop in self._warming.values():
                stop.set()
            self._warming = {}  # warmed again after the next query
        # marks the pages all-visible (index-only scans of the postings) and refreshes
        # the planner's statistics after a bulk write
        with self.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM (ANALYZE) search_postings, search_docs, search_terms"))
        return count

    def _rebuild_batch(self, batch: list, start: int,
                       progress: Callable[[int], None] | None,
                       fingerprints: write.Fingerprints) -> int:
        """Write one batch in its own transaction; ``progress`` is told how many."""
        if batch:
            with self.db.begin() as conn:
                for kind in write.write(conn, self.analyzer, batch, since=start,
                                        fingerprints=fingerprints)[1]:
                    fold.fold(conn, kind)
            if progress is not None:
                progress(len(batch))
        return len(batch)

    def _finish(self, conn: sa.Connection, kinds: list[str], start: int,
                fingerprints: write.Fingerprints) -> None:
        """Drop what the rebuild did not write (nor anyone since it began) and the
        tombstones, fold again the documents whose postings differ from their terms
        (repair.py), and count the statistics again from the documents themselves."""
        write.lock_kinds(conn, kinds)
        for kind in kinds:
            fold.fold(conn, kind)
        params = {"k": kinds, "s": start}
        conn.execute(sa.text(
            "DELETE FROM search_docs WHERE kind = ANY(:k) AND (seq < :s OR NOT live)"), params)
        # their postings, and any other without a document
        conn.execute(sa.text(
            "DELETE FROM search_postings p WHERE p.kind = ANY(:k) AND NOT EXISTS "
            "(SELECT 1 FROM search_docs d WHERE d.docnum = p.docnum)"), params)
        repair.repair(conn, kinds, fingerprints)
        conn.execute(sa.text("DELETE FROM search_terms WHERE kind = ANY(:k)"), params)
        conn.execute(sa.text(
            "INSERT INTO search_terms (kind, term, " + ", ".join(f"df_{f}" for f in FIELDS)
            + ") SELECT kind, term, "
            + ", ".join(f"count(*) FILTER (WHERE tf_{f} > 0)" for f in FIELDS)
            + " FROM search_postings WHERE kind = ANY(:k) GROUP BY kind, term"), params)
        conn.execute(sa.text(
            "UPDATE search_stats s SET rebuild_seq = NULL, docs = coalesce(x.n, 0), "
            + ", ".join(f"len_{f} = coalesce(x.l_{f}, 0)" for f in FIELDS)
            + " FROM (SELECT k.kind, n, " + ", ".join(f"l_{f}" for f in FIELDS)
            + " FROM unnest(CAST(:k AS text[])) AS k(kind) LEFT JOIN (SELECT kind, "
            "count(*) AS n, " + ", ".join(f"sum(len_{f}) AS l_{f}" for f in FIELDS)
            + " FROM search_docs WHERE live GROUP BY kind) c ON c.kind = k.kind) x "
            "WHERE s.kind = x.kind"), params)

    # -- health (nothing local can be damaged) --------------------------------------
    def generation(self) -> str:
        return f"PostgreSQL ({self.db.url.render_as_string(hide_password=True)})"

    def problem(self) -> str | None:
        return None

    def is_damaged(self) -> bool:
        return False

    def report_damage(self, problem: str) -> None:  # pragma: no cover - never called
        logger.error("search index problem: %s", problem)

    # -- reading ------------------------------------------------------------------
    @contextmanager
    def _snapshot(self) -> Iterator[sa.Connection]:
        """A read-only transaction in one snapshot: a query reads the statistics, the
        terms' frequencies and the postings in several statements, and a write committed
        between them (a rebuild's batch) must not mix two states of the index (the
        statistics of 20 documents with a frequency of 25 made the IDF negative and the
        query empty)."""
        with self.db.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True) as conn:
            with conn.begin():
                yield conn

    def search(self, text: str, *, kind: str = "challenge", filters: Filters | None = None,
               sort: SortKey = "relevance", page: int = 1, pagesize: int = 20,
               facets: bool = True, dense: Mapping[str, float] | None = None
               ) -> SearchResult:
        with self._snapshot() as conn:
            found = read.search(conn, self.memory, self.analyzer, text or "", kind=kind,
                                filters=filters, sort=sort, page=page, pagesize=pagesize,
                                facets=facets, dense=dense)
        self._warm_later(kind)
        return found

    def rank(self, query_doc: Doc | str, *, kind: str, filters: Filters | None = None,
             limit: int = 50, max_terms: int | None = None,
             dense: Mapping[str, float] | None = None,
             fusion: Mapping[str, float] | None = None) -> list[Hit]:
        with self._snapshot() as conn:
            hits = read.rank(conn, self.memory, self.analyzer, query_doc, kind=kind,
                             filters=filters, limit=limit, max_terms=max_terms, dense=dense,
                             fusion=fusion)
        self._warm_later(kind)
        return hits

    def _warm_later(self, kind: str) -> None:
        """Once a kind of at least WARM_SEGMENT_DOCS documents is resident, read its most
        frequent terms' postings in a background thread (``read.warm``)."""
        cols = self.memory.resident.peek(kind)
        if kind in self._warming or cols is None or cols.live_count < WARM_SEGMENT_DOCS:
            return
        stop = threading.Event()
        if self._warming.setdefault(kind, stop) is not stop:
            return

        def run() -> None:
            t0 = time.perf_counter()
            try:
                n = read.warm(self._snapshot, self.memory, kind, stop)
            except Exception:  # the database went away, the engine was closed: later
                logger.warning("warming the %s postings failed", kind, exc_info=True)
                return
            logger.info("warmed the postings of %d %s terms in %.1f s", n, kind,
                        time.perf_counter() - t0)

        threading.Thread(target=run, name=f"pgsearch-warm-{kind}", daemon=True).start()

    def highlight(self, text: str, terms: Iterable[str], *, fragment: int = 0) -> Markup:
        return _highlight(self.analyzer, text, terms, fragment=fragment)

    def count(self, kind: str) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM search_docs WHERE kind = :k AND live"), {"k": kind}
            ).scalar_one())
