"""Where uploaded files live: the instance folder (``UPLOAD_STORE=folder``, the default) or
the database (``UPLOAD_STORE=database``: any node of a platform on several machines serves
any file, and the files go with the database into a backup).

A file is named by an *area* ("" for attachments, "pending" for kept uploads of failed
forms, "registry" for registry documents) and a generated name. Both stores write a file
whole or not at all:

- the folder writes a partial file and renames it once complete; a file whose row then
  rolls back is an orphan until the sweep removes it;
- the database writes the file's row and its chunks in the caller's transaction, so a
  rollback takes the file with it; a pending upload (no row of its own) commits at once.

The database keeps a file as rows of ``file_chunks`` (256 KB each) rather than PostgreSQL
large objects: the same table works on SQLite, a chunk is deleted with its file by a plain
DELETE (a large object outlives its reference unless unlinked by hand), and pg_dump and
SQLite's backup copy it like any other row. A download reads one chunk at a time.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, send_file
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .timeutil import UTCDateTime, utcnow

CHUNK_BYTES = 256 * 1024
PARTIAL_SUFFIX = ".part"
STORES = ("folder", "database")


class StoredFile(db.Model):
    """A file kept in the database (UPLOAD_STORE=database); its bytes are in file_chunks."""

    __tablename__ = "stored_files"
    __table_args__ = (sa.UniqueConstraint("area", "name", name="uq_stored_files_area_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class FileChunk(db.Model):
    """One piece (at most CHUNK_BYTES) of a stored file, in order of ``seq``."""

    __tablename__ = "file_chunks"

    file_id: Mapped[int] = mapped_column(
        sa.ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


def _download(source, mime_type: str, download_name: str, **extra):
    """Always as a download (Content-Disposition: attachment), never rendered inline nor
    cached: the same headers from either store."""
    response = send_file(source, mimetype=mime_type, as_attachment=True,
                         download_name=download_name, max_age=0, **extra)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


class FolderStore:
    """Files under the upload folder: an area is a subfolder ("" the folder itself)."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, area: str) -> Path:
        return self.root / area if area else self.root

    def write(self, area: str, name: str, data: bytes, *, commit: bool = False) -> None:
        """Whole or not at all: a partial file renamed once complete. ``commit`` is
        meaningless here (a file is outside every transaction)."""
        folder = self.folder(area)
        path, partial = folder / name, folder / (name + PARTIAL_SUFFIX)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except OSError:
            for leftover in (partial, path):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise

    def exists(self, area: str, name: str) -> bool:
        return (self.folder(area) / name).is_file()

    def read(self, area: str, name: str) -> bytes:
        return (self.folder(area) / name).read_bytes()

    def delete(self, area: str, names: Iterable[str]) -> None:
        for name in names:
            (self.folder(area) / name).unlink(missing_ok=True)

    def sweep(self, area: str, known: set[str], min_age: timedelta) -> int:
        """Remove the area's own files (not subfolders) not in ``known`` and older than
        ``min_age``; return how many."""
        folder = self.folder(area)
        cutoff = time.time() - min_age.total_seconds()
        removed = 0
        for path in folder.iterdir() if folder.is_dir() else ():
            try:
                if path.is_file() and path.name not in known and path.stat().st_mtime <= cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # removed meanwhile
        return removed

    def send(self, area: str, name: str, mime_type: str, download_name: str):
        return _download(self.folder(area) / name, mime_type, download_name)


class _ChunkReader(io.RawIOBase):
    """A stored file read one chunk (one query on a connection of its own) at a time, so a
    download never holds the whole file nor a connection between chunks."""

    def __init__(self, engine: sa.engine.Engine, file_id: int) -> None:
        self.engine, self.file_id, self.seq = engine, file_id, 0
        self.pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pending:
            with self.engine.connect() as connection:
                chunk = connection.execute(sa.select(FileChunk.data).where(
                    FileChunk.file_id == self.file_id, FileChunk.seq == self.seq)).scalar()
            if chunk is None:
                return 0
            self.seq += 1
            self.pending = memoryview(bytes(chunk))
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class DatabaseStore:
    """Files as rows of stored_files and file_chunks, on the app's database."""

    kind = "database"

    @staticmethod
    def _id(area: str, name: str):
        return sa.select(StoredFile.id).where(StoredFile.area == area, StoredFile.name == name)

    def write(self, area: str, name: str, data: bytes, *, commit: bool = False) -> None:
        """Insert the file chunk by chunk in the caller's transaction, or (``commit``) in a
        transaction of its own, committed before returning."""
        with (db.engine.begin() if commit else contextlib.nullcontext(
                db.session.connection())) as connection:
            file_id = connection.execute(sa.insert(StoredFile).values(
                area=area, name=name, size_bytes=len(data), created_at=utcnow())
            ).inserted_primary_key[0]
            view = memoryview(data)
            for seq, start in enumerate(range(0, len(data), CHUNK_BYTES)):
                connection.execute(sa.insert(FileChunk).values(
                    file_id=file_id, seq=seq, data=bytes(view[start:start + CHUNK_BYTES])))

    def exists(self, area: str, name: str) -> bool:
        return db.session.execute(self._id(area, name)).first() is not None

    def read(self, area: str, name: str) -> bytes:
        """The whole file (a kept upload, saved again), gathered a chunk at a time into one
        buffer, so it is never in memory twice."""
        row = db.session.execute(sa.select(StoredFile.id, StoredFile.size_bytes).where(
            StoredFile.area == area, StoredFile.name == name)).first()
        if row is None:
            raise FileNotFoundError(f"{area}/{name}")
        data, reader = bytearray(row.size_bytes), _ChunkReader(db.engine, row.id)
        view, filled = memoryview(data), 0
        while filled < len(data) and (n := reader.readinto(view[filled:])):
            filled += n
        return data  # bytes-like: hashing, sniffing and writing take it as it is

    def _delete_ids(self, connection, ids: list[int]) -> None:
        # Chunks first and by hand: no reliance on ON DELETE CASCADE being enforced.
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            connection.execute(sa.delete(FileChunk).where(FileChunk.file_id.in_(batch)))
            connection.execute(sa.delete(StoredFile).where(StoredFile.id.in_(batch)))

    def delete(self, area: str, names: Iterable[str]) -> None:
        """Delete in a transaction of its own (the rows naming the files are gone already,
        or never committed)."""
        names = list(names)
        if not names:
            return
        with db.engine.begin() as connection:
            ids = list(connection.execute(sa.select(StoredFile.id).where(
                StoredFile.area == area, StoredFile.name.in_(names))).scalars())
            self._delete_ids(connection, ids)

    def sweep(self, area: str, known: set[str], min_age: timedelta) -> int:
        cutoff = utcnow() - min_age
        with db.engine.begin() as connection:
            ids = [file_id for file_id, name in connection.execute(
                sa.select(StoredFile.id, StoredFile.name).where(
                    StoredFile.area == area, StoredFile.created_at <= cutoff))
                if name not in known]
            self._delete_ids(connection, ids)
        return len(ids)

    def send(self, area: str, name: str, mime_type: str, download_name: str):
        row = db.session.execute(sa.select(StoredFile.id, StoredFile.size_bytes,
                                           StoredFile.created_at)
                                 .where(StoredFile.area == area, StoredFile.name == name)).first()
        if row is None:
            raise FileNotFoundError(f"{area}/{name}")
        reader = io.BufferedReader(_ChunkReader(db.engine, row.id), buffer_size=CHUNK_BYTES)
        response = _download(reader, mime_type, download_name, last_modified=row.created_at,
                             etag=f"{row.id}-{row.size_bytes}")
        response.content_length = row.size_bytes
        return response


def upload_store() -> FolderStore | DatabaseStore:
    """The store the setting UPLOAD_STORE selects (folder, the default, or database)."""
    kind = current_app.config.get("UPLOAD_STORE") or "folder"
    if kind == "database":
        return DatabaseStore()
    if kind != "folder":
        raise ValueError(f"UPLOAD_STORE must be one of {', '.join(STORES)}, not {kind!r}")
    return FolderStore(Path(current_app.config["UPLOAD_FOLDER"]))
