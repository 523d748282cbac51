"""The index directory: generations of Whoosh indexes, their views and their writers.

Layout of the directory::

    current -> gen-…        symlink to the live generation, swapped atomically
    gen-…/                  one Whoosh storage, one named index per kind
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from whoosh import fields, index
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError

from ..engine import IndexUnavailable
from .merge import MERGE_NOW, merge_tiers, tier_to_merge
from .view import KindIndex, KindView

logger = logging.getLogger(__name__)

# kind -> [(document id, its Whoosh fields, or None to remove it)]
Prepared = Mapping[str, list[tuple[str, dict[str, Any] | None]]]

_path_locks: dict[str, threading.RLock] = {}
_path_locks_guard = threading.Lock()


def _writer_lock(path: Path) -> threading.RLock:
    """One writer per index directory per process."""
    key = str(path.resolve())
    with _path_locks_guard:
        return _path_locks.setdefault(key, threading.RLock())


def _failure(read: Callable[[], Any]) -> str | None:
    """Run ``read``; its failure as one line, or ``None``.

    Whoosh leaves a file open when it cannot read a table of contents or a
    segment; the failure is reported here, so the warning of that file's
    collection (when the traceback holding it goes) is not repeated.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            read()
        except IndexUnavailable as exc:
            return str(exc)
        except Exception as exc:  # any damage: a read fails the same way
            message = f"{type(exc).__name__}: {exc}"
        else:
            return None
        gc.collect()  # the traceback and the file it held, now
    return message


def open_writer(ix: index.Index, timeout: float = 60.0) -> Any:
    """``ix.writer()`` retried while another process holds Whoosh's lock."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return ix.writer()
        except LockError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class Store:
    """The generations in ``root``, each kind's latest view, and every Whoosh commit."""

    def __init__(self, root: Path, schema: fields.Schema, kinds: Iterable[str]) -> None:
        self.root = root
        self.schema = schema
        self.kinds = tuple(kinds)
        self.lock = _writer_lock(self.root)  # held by whoever commits, in this process
        self._views_lock = threading.Lock()
        self._views: dict[str, KindIndex] = {}
        self._retired_views: list[KindIndex] = []
        self._gen: Path | None = None
        self._merge_guard = threading.Lock()
        self._merging: set[str] = set()
        self._merge_threads: list[threading.Thread] = []
        self._closed = False
        # True when this store found no live generation and made an empty one: the
        # caller decides whether the database has documents it must rebuild from
        self.created_empty = False
        with self.lock:
            if not (self.root / "current").exists():
                self.swap(self.new_generation())
                self.created_empty = True

    # -- generations ------------------------------------------------------
    def new_generation(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)  # the whole folder may have been deleted
        gen = self.root / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        gen.mkdir()
        storage = FileStorage(str(gen))
        for kind in self.kinds:
            storage.create_index(self.schema, indexname=kind)
        return gen

    def swap(self, gen: Path) -> None:
        link = self.root / f".current-{uuid.uuid4().hex[:8]}"
        os.symlink(gen.name, link)
        os.replace(link, self.root / "current")  # atomic on POSIX

    def generation(self) -> Path:
        return (self.root / "current").resolve()

    def storage(self, gen: Path | None = None) -> FileStorage:
        return FileStorage(str(gen or self.generation()))

    def ensure_kind(self, kind: str, gen: Path | None = None) -> index.Index:
        storage = self.storage(gen)
        if not storage.index_exists(indexname=kind):
            with self.lock:
                if not storage.index_exists(indexname=kind):
                    storage.create_index(self.schema, indexname=kind)
        return storage.open_index(indexname=kind)

    def swap_in(self, gen: Path, before_swap: Callable[[Path], None]) -> None:
        """Make ``gen`` live; ``before_swap(gen)`` runs while no process can commit to the
        live generation (its Whoosh locks are held), so it can copy the last writes over.
        A live generation that is missing or unreadable is not locked (nothing commits to
        it)."""
        with self.lock:
            previous_gen = self.generation()
            held = []
            if self.problem(previous_gen) is None:
                held = [open_writer(self.ensure_kind(k, previous_gen), timeout=600.0)
                        for k in self.kinds]
            try:
                before_swap(gen)
                self.swap(gen)
            finally:
                for w in held:
                    w.cancel()
        self.cleanup(keep={gen, previous_gen})

    def cleanup(self, keep: set[Path]) -> None:
        # the previous generation stays: open searchers may still read it
        for path in self.root.glob("gen-*"):
            if path.resolve() not in keep:
                shutil.rmtree(path, ignore_errors=True)
        # the write journal of an index from before the index_jobs queue: never read now
        for path in self.root.glob("journal.sqlite*"):
            path.unlink(missing_ok=True)

    def problem(self, gen: Path | None = None) -> str | None:
        """Why generation ``gen`` (the live one by default) cannot be read, or ``None``.

        Opens every kind's table of contents and segment files afresh (nothing
        cached), as a read would: a missing folder, a damaged ``.toc``, a missing or
        truncated segment file are all found here.
        """
        gen = gen or self.generation()
        if not gen.is_dir():
            return f"the index folder {gen} is missing"
        storage = self.storage(gen)

        def open_kind(kind: str) -> None:
            if not storage.index_exists(indexname=kind):  # reads the table of contents
                raise IndexUnavailable(f"no table of contents in {gen.name}")
            KindIndex(storage.open_index(indexname=kind)).close()

        for kind in self.kinds:
            failure = _failure(lambda k=kind: open_kind(k))
            if failure is not None:
                return f"{kind}: {failure}"
        return None

    # -- reading ----------------------------------------------------------
    def index(self, kind: str, *, refresh: bool = True) -> KindIndex | None:
        """``kind``'s index in the live generation (``None`` for a kind never written);
        raises :class:`IndexUnavailable` when its files are missing or unreadable."""
        found: list[KindIndex | None] = []
        failure = _failure(lambda: found.append(self._index(kind, refresh)))
        if failure is not None:
            raise IndexUnavailable(f"{kind}: {failure}")
        return found[0]

    def _index(self, kind: str, refresh: bool) -> KindIndex | None:
        gen = self.generation()
        if not gen.is_dir():
            raise IndexUnavailable(f"the index folder {gen} is missing")
        with self._views_lock:
            if gen != self._gen:
                self._retired_views.extend(self._views.values())
                if len(self._retired_views) > 2 * len(self.kinds):
                    for v in self._retired_views[: len(self.kinds)]:
                        v.close()
                    del self._retired_views[: len(self.kinds)]
                self._views = {}
                self._gen = gen
            view = self._views.get(kind)
            if view is None:
                storage = self.storage(gen)
                if not storage.index_exists(indexname=kind):
                    if kind in self.kinds:  # every generation is made with them
                        raise IndexUnavailable(f"{kind}: no table of contents in {gen.name}")
                    return None
                view = self._views[kind] = KindIndex(storage.open_index(indexname=kind))
        if refresh:
            # cheap when nothing changed; picks up other processes' writes too.
            # Writers do not refresh: the next search does, lazily.
            view.refresh()
        return view

    def view(self, kind: str) -> KindView | None:
        """The latest committed view of ``kind`` (without pending writes)."""
        ix = self.index(kind)
        return None if ix is None else ix.view

    # -- writing ----------------------------------------------------------
    def commit(
        self,
        prepared_by_kind: Prepared,
        gen: Path | None = None,
        before_commit: Callable[[str, int | None], None] | None = None,
    ) -> None:
        """Write prepared fields (``None``: remove), one writer and one commit per kind,
        into the live generation or ``gen``, retrying Whoosh's lock.

        ``before_commit(kind, generation)`` is told the Whoosh generation the
        kind's commit will have just before it commits (``None`` if it failed).
        """
        with self.lock:
            for kind, prepared in prepared_by_kind.items():
                writer = self._live_writer(kind) if gen is None else open_writer(
                    self.ensure_kind(kind, gen))
                try:
                    # the kind's cached segment readers find a key's document in
                    # the writer's numbering without opening a searcher (Whoosh's
                    # update_document would open every segment)
                    view = self.index(kind, refresh=False) if gen is None else None
                    for doc_id, fields_ in prepared:
                        key = f"{kind}:{doc_id}"
                        if view is not None:
                            docnum = view.key_docnum(writer.segments, key)
                            if docnum is not None:
                                writer.delete_document(docnum)
                            if fields_ is not None:
                                writer.add_document(**fields_)
                        elif fields_ is None:
                            writer.delete_by_term("key", key)
                        else:
                            writer.update_document(**fields_)
                except BaseException:
                    writer.cancel()
                    raise
                segments = list(writer.segments)
                if before_commit is not None:
                    # nobody else commits while this writer holds Whoosh's lock
                    before_commit(kind, writer.generation)
                try:
                    if len(segments) >= MERGE_NOW:
                        writer.commit(mergetype=merge_tiers)
                    else:
                        writer.commit(merge=False)
                except BaseException:
                    if before_commit is not None:
                        before_commit(kind, None)
                    raise
                if gen is None and len(segments) < MERGE_NOW and tier_to_merge(segments):
                    self._merge_later(kind)

    def _live_writer(self, kind: str) -> Any:
        """A Whoosh writer on ``kind`` in the live generation.

        Waiting for Whoosh's lock can outlast the generation: a rebuild in
        another process holds the old generation's locks while it copies the
        last writes over and swaps. A writer that got the lock on a generation
        that is no longer live is given up and taken again on the new one.
        """
        while True:
            gen = self.generation()
            writer = open_writer(self.ensure_kind(kind, gen))
            if self.generation() == gen:
                return writer
            writer.cancel()

    def _merge_later(self, kind: str) -> None:
        """Merge ``kind``'s small segments in a background thread (one at a time per kind)."""
        with self._merge_guard:
            if kind in self._merging or self._closed:
                return
            self._merging.add(kind)
        gen = self.generation()

        def merge() -> None:
            try:
                with self.lock:
                    if self.generation() == gen and not self._closed:
                        open_writer(self.ensure_kind(kind, gen)).commit(mergetype=merge_tiers)
            except Exception:  # pragma: no cover - the next write merges instead
                logger.exception("merging index segments of %s failed", kind)
            finally:
                with self._merge_guard:
                    self._merging.discard(kind)

        thread = threading.Thread(target=merge, name=f"bounty-index-merge-{kind}", daemon=True)
        self._merge_threads = [t for t in self._merge_threads if t.is_alive()] + [thread]
        thread.start()

    def stop_merging(self) -> None:
        """No merge starts from now on."""
        with self._merge_guard:
            self._closed = True

    def close(self) -> None:
        """Wait for running merges and close every reader."""
        self.stop_merging()
        for thread in self._merge_threads:
            thread.join()
        with self._views_lock:
            for v in [*self._views.values(), *self._retired_views]:
                v.close()
            self._views = {}
            self._retired_views = []
