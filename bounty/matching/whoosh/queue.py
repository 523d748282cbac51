"""The engine's durable queue of index work: a write's record until Whoosh holds it.

A write is durable once its job is queued; the flush that commits it to Whoosh
settles the job (``done``), and whatever a crash leaves unsettled is replayed at
start-up (``pending``). While a rebuild runs (``begin_rebuild``), settled jobs
are kept: just before its swap the rebuild copies every job still held
(``held``) into the new generation, so no write that reached the old generation
meanwhile is lost; ``end_rebuild`` then forgets the settled ones.

The app's queue is the ``index_jobs`` table (bounty.matching.jobs): its rows are
written in the transaction that changed a document and keep no document, so
the engine re-reads each one with its loader. ``MemoryQueue`` keeps the
documents themselves, for an engine without a database (evaluation, benchmark,
tests); it lives as long as the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from ..engine import Doc

# (kind, id, document or None to remove it)
Op = tuple[str, str, Doc | None]


class Job(NamedTuple):
    """One queued operation; ``doc`` is ``None`` for a removal, or when the queue keeps
    no documents (``has_documents`` false: the engine's loader reads them)."""

    id: int
    kind: str
    doc_id: str
    doc: Doc | None


class IndexQueue(Protocol):
    """What the engine needs from a queue; safe across threads."""

    has_documents: bool

    def add(self, ops: list[Op]) -> list[int]:
        """Queue ``ops`` durably; returns their job ids, in order."""

    def pending(self) -> list[Job]:
        """The jobs not yet in Whoosh, oldest first."""

    def done(self, ids: Iterable[int]) -> None:
        """These jobs are in Whoosh now: forget them, or keep them while a rebuild runs."""

    def begin_rebuild(self) -> int:
        """Register a rebuild: from now on settled jobs are kept. Returns its id."""

    def held(self) -> list[Job]:
        """Every job still held, settled or not, oldest first (what a rebuild copies)."""

    def end_rebuild(self, rebuild: int) -> None:
        """Unregister a rebuild; settled jobs go once no running rebuild needs them."""


class MemoryQueue:
    """A queue in this process's memory, keeping each job's document."""

    has_documents = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._settled: set[int] = set()
        self._rebuilds: set[int] = set()
        self._next = 1

    def add(self, ops: list[Op]) -> list[int]:
        with self._lock:
            ids = []
            for kind, doc_id, doc in ops:
                job = Job(self._next, kind, doc_id, None if doc is None else dict(doc))
                self._jobs[job.id] = job
                ids.append(job.id)
                self._next += 1
            return ids

    def pending(self) -> list[Job]:
        with self._lock:
            return [j for i, j in sorted(self._jobs.items()) if i not in self._settled]

    def done(self, ids: Iterable[int]) -> None:
        with self._lock:
            for i in ids:
                if not self._rebuilds:
                    self._jobs.pop(i, None)
                elif i in self._jobs:
                    self._settled.add(i)

    def begin_rebuild(self) -> int:
        with self._lock:
            rebuild = self._next
            self._next += 1
            self._rebuilds.add(rebuild)
            return rebuild

    def held(self) -> list[Job]:
        with self._lock:
            return [j for _i, j in sorted(self._jobs.items())]

    def end_rebuild(self, rebuild: int) -> None:
        with self._lock:
            self._rebuilds.discard(rebuild)
            if not self._rebuilds:
                for i in self._settled:
                    self._jobs.pop(i, None)
                self._settled.clear()

