"""``WhooshEngine``: writes through the queue and the overlay, reads, rebuilds.

Writes are near-real-time, as Lucene's refresh interval: ``index``/``remove``
queue the operation (durable; ``apply`` takes operations the caller queued
already, the app's index jobs) and put it in an in-memory *overlay* of the
kind (visible), and return without touching Whoosh. Every
read runs on the latest committed view with the overlay on top (``Overlaid``):
Whoosh documents with a pending write are hidden, pending upserts join with
the statistics a commit would give them, so results equal those after a
flush. A background thread flushes the overlay (one writer and one commit per
kind) every ``refresh`` seconds or when it grows; ``flush()`` does it at once,
``close()`` and process exit too. The overlay is per process: other processes
sharing the directory see a write after that flush, which also settles the
write's job in the queue (see queue.py); a crash before it leaves the job for
``replay`` at start-up.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..analyzer import Analyzer, get_analyzer
from ..engine import Doc, Filters, Hit, IndexUnavailable, SearchResult, SortKey
from ..highlight import highlight as _highlight
from ..ranking import DOC_FIELD_WEIGHTS, DocVector
from . import build, parallel, schema, search
from .overlay import Entry, PendingWrites
from .queue import IndexQueue, Job, MemoryQueue, Op
from .store import Store
from .view import Reading

Loader = Callable[[str, str], Doc | None]
logger = logging.getLogger(__name__)

# Writes are near-real-time (as Lucene's refresh interval): index()/remove()/apply()
# queue the operation and put it in an in-memory overlay that every read sees;
# a background flusher applies the overlay to Whoosh every INDEX_REFRESH_SECONDS
# (config BOUNTY_INDEX_REFRESH), or at once past FLUSH_DOCS pending documents. A
# writer that finds FLUSH_NOW_DOCS pending flushes itself (writes outrun flushes).
INDEX_REFRESH_SECONDS = 1.0
FLUSH_DOCS = 500
FLUSH_NOW_DOCS = 4 * FLUSH_DOCS

# engines with a background flusher: their pending writes are flushed at exit
_live_engines: weakref.WeakSet[WhooshEngine] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for engine in list(_live_engines):
        try:
            engine.close()
        except Exception:  # pragma: no cover - the queue keeps them for replay
            logger.exception("flushing the index at exit failed")


class WhooshEngine:
    """The default engine: Whoosh storage, our analyzer and our scoring."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        *,
        analyzer: Analyzer | None = None,
        loader: Loader | None = None,
        kinds: Iterable[str] = ("challenge", "bid", "institute"),
        refresh: float | None = INDEX_REFRESH_SECONDS,
        queue: IndexQueue | None = None,
        on_damage: Callable[[str], None] | None = None,
    ) -> None:
        """``queue`` holds the writes until Whoosh does (by default one in memory);
        ``loader(kind, id)`` returns what the database holds now, which flushes and
        replays write instead of the queued document (required when the queue
        keeps no documents). ``on_damage(problem)`` is called when a read finds the
        live generation unreadable (the app rebuilds it from the database)."""
        self.root = Path(index_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.analyzer = analyzer or get_analyzer()
        self.loader = loader
        self.kinds = tuple(kinds)
        self.schema = schema.make_schema()
        self.queue: IndexQueue = queue if queue is not None else MemoryQueue()
        if loader is None and not self.queue.has_documents:
            raise ValueError("a queue that keeps no documents needs a loader")
        self.store = Store(self.root, self.schema, self.kinds)
        self._rebuild_lock = threading.Lock()
        self._closed = False
        self.on_damage = on_damage
        self._damaged_gen: Path | None = None  # the live generation found unreadable
        # the overlay: pending writes by kind, visible to reads, flushed to Whoosh
        # by one flusher at a time (see flush())
        self.refresh = refresh or 0.0
        self.overlay = PendingWrites(self.schema)
        self._known_kinds = set(self.kinds)
        self._flush_lock = threading.Lock()
        self._flush_wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._flusher_guard = threading.Lock()

    def generation(self) -> Path:
        """The live generation's directory."""
        return self.store.generation()

    def close(self, *, flush: bool = True) -> None:
        """Flush pending writes (unless ``flush`` is false) and release everything."""
        self._flush_wake.set()
        self._closed = True
        self.store.stop_merging()
        if self._flusher is not None:
            self._flusher.join()
        if flush:
            try:
                self.flush()
            except Exception:  # pragma: no cover - the queue keeps them for replay
                logger.exception("flushing pending index writes at close failed")
        _live_engines.discard(self)
        self.store.close()

    # -- writing ----------------------------------------------------------
    def prepare(self, doc: Doc, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The Whoosh fields of ``doc``, reusing ``previous`` terms if unchanged."""
        return schema.prepare(self.analyzer, doc, previous)

    def _write(self, ops: list[Op], gen: Path | None = None) -> None:
        """Apply upserts/removals, one writer and one commit per kind, retrying Whoosh's lock."""
        # the last operation on a key wins (a batch may touch a document twice)
        latest: dict[tuple[str, str], Doc | None] = {}
        for kind, doc_id, doc in ops:
            latest.pop((kind, doc_id), None)
            latest[(kind, doc_id)] = doc
        by_kind: dict[str, list[tuple[str, Doc | None]]] = {}
        for (kind, doc_id), doc in latest.items():
            by_kind.setdefault(kind, []).append((doc_id, doc))
        # segmenting happens outside the lock; only Whoosh writes are serialised
        prepared_by_kind = {
            kind: [(i, self.prepare(d) if d is not None else None) for i, d in items]
            for kind, items in by_kind.items()
        }
        self.store.commit(prepared_by_kind, gen)

    def apply(
        self, ops: Iterable[tuple[str, Any, Doc | None]], *, jobs: Iterable[Iterable[int]]
    ) -> None:
        """Make ``(kind, id, doc-or-None)`` operations that the caller has queued already
        visible; ``jobs`` holds each one's job ids, which its flush settles."""
        self._submit([(str(k), str(i), d) for k, i, d in ops], [tuple(j) for j in jobs])

    def index(self, docs: Iterable[Doc]) -> None:
        self._submit([(str(d["kind"]), str(d["id"]), d) for d in docs])

    def remove(self, kind: str, ids: Iterable[Any]) -> None:
        self._submit([(kind, str(i), None) for i in ids])

    def _entry(self, kind: str, doc_id: str, doc: Doc | None, jobs: tuple[int, ...] = (),
               previous: Mapping[str, Any] | None = None) -> Entry:
        if doc is None:
            return Entry(kind, doc_id, None, None, None, None, jobs)
        fields_ = self.prepare(doc, previous)
        stored = {k: v for k, v in fields_.items() if self.schema[k].stored}
        vec = DocVector.from_stored(fields_["data"]["terms"])
        terms = frozenset(t for f, counts in vec.counts.items() if f in DOC_FIELD_WEIGHTS
                          for t in counts)
        return Entry(kind, doc_id, doc, fields_, stored, vec, jobs, terms=terms)

    def _submit(self, ops: list[Op], jobs: list[tuple[int, ...]] | None = None) -> None:
        """Queue ``ops`` (durable) unless their ``jobs`` are given, then put them in the
        overlay (visible): no Whoosh write.

        The flusher applies the overlay to Whoosh within ``refresh`` seconds, or
        at once when it grows past FLUSH_DOCS documents.
        """
        if not ops:
            return
        for kind in {k for k, _i, _d in ops} - self._known_kinds:
            self.store.ensure_kind(kind)
            self._known_kinds.add(kind)
        entries = [self._entry(kind, doc_id, doc) for kind, doc_id, doc in ops]  # segments
        if jobs is None:
            jobs = [(i,) for i in self.queue.add(ops)]
        self._after_submit(self.overlay.put(entries, jobs))

    def _after_submit(self, size: int) -> None:
        if self.refresh > 0 and self._flusher is None and not self._closed:
            self._start_flusher()
        if size >= FLUSH_NOW_DOCS or (size >= FLUSH_DOCS and self._flusher is None):
            # writes outrun the flusher (or there is none): this writer flushes
            try:
                self.flush()
            except IndexUnavailable:  # reported once; the rebuild writes them
                pass
            except Exception:  # the entries stay pending (queue and overlay)
                logger.exception("flushing pending index writes failed; retrying later")
        elif size >= FLUSH_DOCS:
            self._flush_wake.set()

    def _start_flusher(self) -> None:
        with self._flusher_guard:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"bounty-index-flush-{self.root.name}", daemon=True
            )
            _live_engines.add(self)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._closed:
            self._flush_wake.wait(self.refresh)
            self._flush_wake.clear()
            if self._closed:
                return
            try:
                self.flush()
            except IndexUnavailable:  # reported once; the rebuild writes them
                pass
            except Exception:  # pragma: no cover - the next round retries
                logger.exception("flushing pending index writes failed; retrying")

    def pending(self) -> int:
        """How many documents have writes not yet in Whoosh (this process's)."""
        return self.overlay.size()

    def flush(self) -> int:
        """Apply the pending writes to Whoosh now (one commit per kind); returns their count.

        Entries leave the overlay only once the kind's view shows the commit,
        and their jobs are settled after that.
        """
        with self._flush_lock:
            if self.is_damaged():
                return 0  # kept in the overlay and the queue: the rebuild writes them
            batch = self.overlay.batch()
            if not batch:
                return 0
            prepared: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}
            for kind, entries in batch.items():
                for e in entries:
                    if self.loader is not None:
                        # another process may have written the document since:
                        # write what the database holds now (terms reused if unchanged)
                        e = self._fresh(e)
                    prepared.setdefault(kind, []).append((e.doc_id, e.fields))
            flushed = {k: {e.doc_id: e.jobs for e in entries} for k, entries in batch.items()}

            def mark(kind: str, generation: int | None) -> None:
                self.overlay.mark(kind, flushed, generation)

            with self.store.lock:
                try:
                    self.store.commit(prepared, before_commit=mark)
                    for kind in batch:
                        self.store.index(kind)  # the view now shows the commit
                except Exception as exc:
                    self._check_damage(exc)
                    raise
                self.overlay.drop(flushed)
            self.queue.done(j for per_kind in flushed.values() for jobs in per_kind.values()
                            for j in jobs)
            return sum(len(v) for v in flushed.values())

    def _fresh(self, e: Entry) -> Entry:
        assert self.loader is not None
        try:
            doc = self.loader(e.kind, e.doc_id)
        except Exception:  # pragma: no cover - the database is away: write what we have
            logger.exception("reloading %s %s for the index failed", e.kind, e.doc_id)
            return e
        if doc is None:
            return e if e.doc is None else self._entry(e.kind, e.doc_id, None, e.jobs)
        previous = e.fields["data"] if e.fields is not None else None
        fresh = self._entry(e.kind, e.doc_id, doc, e.jobs, previous)
        return e if fresh.fields == e.fields else fresh

    def replay(self) -> int:
        """Write the queued jobs a crash left to Whoosh now; returns how many.

        Called at start-up. Jobs this engine still holds in its overlay are not a
        crash's: its flush writes them.
        """
        own = self.overlay.jobs()
        jobs = [j for j in self.queue.pending() if j.id not in own]
        if not jobs:
            return 0
        self._write(self._current(jobs))
        self.queue.done(j.id for j in jobs)
        return len(jobs)

    def _current(self, jobs: list[Job]) -> list[Op]:
        """Queued operations with what the database holds now (when there is a loader):
        replaying them is then right even for a transaction that rolled back, or a
        document written again since."""
        if self.loader is None:
            return [(j.kind, j.doc_id, j.doc) for j in jobs]
        keys = dict.fromkeys((j.kind, j.doc_id) for j in jobs)  # each document read once
        return [(kind, doc_id, self.loader(kind, doc_id)) for kind, doc_id in keys]

    def rebuild(
        self, docs: Iterable[Doc], *, progress: Callable[[int], None] | None = None,
        procs: int = 1,
    ) -> int:
        """Build every kind into a fresh generation, then swap it in atomically
        (``procs`` > 1: segmented by that many worker processes).

        Pending writes are flushed first (their terms are then reused). Writes
        that arrive meanwhile, from this process or another sharing the index,
        stay visible: the queue keeps every job while the rebuild runs
        (:meth:`IndexQueue.begin_rebuild`), and they are copied into the new
        generation while the old one's Whoosh locks are held, just before the
        swap; searches keep using the live generation throughout.
        """
        self.flush()
        with self._rebuild_lock:
            rebuild = self.queue.begin_rebuild()
            try:
                # a damaged live generation is never read: every document is segmented anew
                problem = self.store.problem()
                if problem is not None:
                    logger.warning("rebuilding the index without the unreadable one (%s)",
                                   problem)
                gen = self.store.new_generation()
                if procs > 1:
                    count = parallel.build(self.store, gen, docs, self.analyzer, progress,
                                           reuse=problem is None, procs=procs)
                else:
                    count = build.build(self.store, gen, docs, self.analyzer, progress,
                                        reuse=problem is None)

                def copy_held(gen: Path) -> None:
                    held = self.queue.held()
                    if held:
                        self._write(self._current(held), gen)

                self.store.swap_in(gen, copy_held)
                self._damaged_gen = None
                return count
            finally:
                self.queue.end_rebuild(rebuild)

    # -- damage -----------------------------------------------------------
    def problem(self) -> str | None:
        """Why the live generation cannot be read, or ``None`` (opens every file)."""
        return self.store.problem()

    def is_damaged(self) -> bool:
        """Whether the live generation was found unreadable (until a rebuild replaces it)."""
        return self._damaged_gen is not None and self._damaged_gen == self.store.generation()

    def report_damage(self, problem: str) -> None:
        """Note that the live generation is unreadable: one log line per generation, and
        ``on_damage`` asked to rebuild it."""
        gen = self.store.generation()
        first = self._damaged_gen != gen
        self._damaged_gen = gen
        if first:
            logger.error("search index unreadable (%s): search is degraded until it is "
                         "rebuilt from the database", problem)
        if self.on_damage is not None:
            self.on_damage(problem)

    def _check_damage(self, exc: Exception) -> None:
        """After a failed read or write: raise :class:`IndexUnavailable` if the index is
        damaged, else return (the error is not the files', the caller re-raises it)."""
        problem = str(exc) if isinstance(exc, IndexUnavailable) else self.store.problem()
        if problem is None:
            return
        self.report_damage(problem)
        if not isinstance(exc, IndexUnavailable):
            raise IndexUnavailable(problem)  # noqa: B904 - the problem says it all

    def _guarded(self, read: Callable[[], Any]) -> Any:
        if self.is_damaged():  # e.g. the empty one made for a deleted folder
            raise IndexUnavailable("the live generation is being rebuilt")
        try:
            return read()
        except Exception as exc:
            self._check_damage(exc)
            raise

    # -- reading ----------------------------------------------------------
    def _reader(self, kind: str) -> Reading | None:
        """What a read of ``kind`` uses: the latest view with the pending writes on top."""
        return self.overlay.reader(kind, self.store.index(kind))

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
        return self._guarded(lambda: search.search(
            self.analyzer, self._reader(kind), text, kind=kind, filters=filters, sort=sort,
            page=page, pagesize=pagesize, facets=facets, dense=dense))

    def rank(
        self,
        query_doc: Doc | str,
        *,
        kind: str,
        filters: Filters | None = None,
        limit: int = 50,
        max_terms: int | None = None,
        dense: Mapping[str, float] | None = None,
        fusion: Mapping[str, float] | None = None,
    ) -> list[Hit]:
        return self._guarded(lambda: search.rank(
            self.analyzer, self._reader(kind), query_doc, kind=kind, filters=filters,
            limit=limit, max_terms=max_terms, dense=dense, fusion=fusion))

    def highlight(self, text: str, terms: Iterable[str], *, fragment: int = 0) -> Markup:
        return _highlight(self.analyzer, text, terms, fragment=fragment)

    def count(self, kind: str) -> int:
        view = self._guarded(lambda: self._reader(kind))
        return 0 if view is None else view.doc_count
