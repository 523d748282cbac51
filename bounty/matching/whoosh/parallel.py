"""A rebuild's segments written by worker processes (``bounty reindex`` at scale).

Segmenting a document and inverting its terms is pure Python work, so one
process uses one core. ``build`` hands the documents, in chunks, to
``procs`` worker processes; each segments its chunks with the engine's
analyzer and writes its own segment per kind (Whoosh segments number their
documents independently), and the rebuilding process adds them all to each
kind's table of contents at the end, as Whoosh's ``MpWriter`` does with
``multisegment=True``. The rebuilding process itself only reads the database
and looks up the live generation's stored terms (reused for unchanged
documents). A kind's documents are then in up to ``procs`` segments instead
of one; the engine reads several segments of a kind anyway.
"""

from __future__ import annotations

import multiprocessing
import queue
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from whoosh.filedb.filestore import FileStorage

from ..analyzer import Analyzer
from ..engine import Doc
from . import adapter
from .build import REBUILD_SEGMENT_DOCS, SegmentBuilder, with_previous
from .store import Store

CHUNK_DOCS = 250  # documents per message to a worker
QUEUED_CHUNKS = 4  # per worker: the database read stays this far ahead, no further
WORKER_TIMEOUT = 600.0  # seconds a worker may take to finish its segments

Job = list[tuple[Doc, bytes | None]]  # documents with their previous stored fields


def _work(gen: str, analyzer: Analyzer, segment_docs: int, jobs: Any, results: Any) -> None:
    """A worker: segment and invert each chunk it takes into its own segments; put
    ``("ok", [(kind, segment), ...])`` on ``results``, or ``("error", cause)``."""
    builders: dict[str, SegmentBuilder] = {}
    done: list[tuple[str, Any]] = []
    try:
        storage = FileStorage(gen)
        while (job := jobs.get()) is not None:
            for doc, previous in job:
                kind = str(doc["kind"])
                builder = builders.get(kind)
                if builder is None:
                    builder = builders[kind] = SegmentBuilder(
                        storage.open_index(indexname=kind), locked=False)
                builder.add_document(analyzer, doc, previous)
                if builder.doc_count >= segment_docs:
                    done.append((kind, builders.pop(kind).finish()))
        done += [(kind, b.finish()) for kind, b in builders.items()]
        results.put(("ok", done))
    except BaseException as exc:  # reported to the rebuilding process, which fails
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def build(store: Store, gen: Path, docs: Iterable[Doc], analyzer: Analyzer,
          progress: Callable[[int], None] | None = None, *, reuse: bool = True,
          procs: int = 2, segment_docs: int = REBUILD_SEGMENT_DOCS) -> int:
    """``build.build`` with ``procs`` worker processes: write ``docs`` into the fresh
    generation ``gen``; returns their count. On failure (a worker's too) ``gen`` is
    deleted."""
    try:
        return _build(store, gen, with_previous(store, docs, reuse), analyzer, procs,
                      segment_docs, progress)
    except BaseException:
        shutil.rmtree(gen, ignore_errors=True)
        raise


def _build(store: Store, gen: Path, docs: Iterator[tuple[Doc, Any]], analyzer: Analyzer,
           procs: int, segment_docs: int, progress: Callable[[int], None] | None) -> int:
    for kind in store.kinds:
        store.ensure_kind(kind, gen)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
    jobs = ctx.Queue(maxsize=QUEUED_CHUNKS * procs)
    results = ctx.Queue()
    workers = [ctx.Process(target=_work, args=(str(gen), analyzer, segment_docs, jobs, results),
                           name=f"bounty-reindex-{i}", daemon=True) for i in range(procs)]
    for w in workers:
        w.start()
    count = 0
    try:
        for job in _chunks(docs):
            _put(jobs, job, workers)
            count += len(job)
            if progress is not None:
                progress(len(job))
        for _ in workers:
            _put(jobs, None, workers)
        segments: dict[str, list[Any]] = {}
        for _ in workers:
            status, found = results.get(timeout=WORKER_TIMEOUT)
            if status != "ok":
                raise RuntimeError(f"a reindex worker failed: {found}")
            for kind, segment in found:
                segments.setdefault(kind, []).append(segment)
        for w in workers:
            w.join()
        for kind, found in segments.items():
            adapter.commit_segments(store.ensure_kind(kind, gen), found)
        return count
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join()
        jobs.close()
        results.close()


def _put(jobs: Any, job: Job | None, workers: list[Any]) -> None:
    """Queue ``job``, waiting while the workers are busy; raises if one has died."""
    while True:
        try:
            jobs.put(job, timeout=1.0)
            return
        except queue.Full:
            if not all(w.is_alive() for w in workers):
                raise RuntimeError("a reindex worker exited") from None


def _chunks(docs: Iterable[tuple[Doc, bytes | None]]) -> Iterator[Job]:
    job: Job = []
    for item in docs:
        job.append(item)
        if len(job) >= CHUNK_DOCS:
            yield job
            job = []
    if job:
        yield job
