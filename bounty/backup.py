"""`bounty backup` and `bounty restore`: the database, the uploads and the audit head.

A backup is a folder::

    manifest.json      format, database kind, schema revision, audit head, row counts
    database.sqlite3   SQLite: a consistent copy made with SQLite's online backup API
    database.pgdump    PostgreSQL: pg_dump's custom format (pg_restore reads it)
    uploads.tar        the uploaded files of the folder store (UPLOAD_STORE=folder); those
                       of the database store are rows of the database (stored_files,
                       file_chunks) and come with it
    audit-head.txt     the audit chain's head (seq:hash), also worth keeping elsewhere

The search index is not in it: a restore rebuilds it from the database, and the
vectors (``doc_vectors``) come back with the database and are reused. Restore goes
into an empty instance (a database without users, an empty uploads folder), checks
the audit chain against the head the backup recorded, and rebuilds the index.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from .extensions import db

FORMAT = 1
COUNTED = ("users", "organizations", "challenges", "bids", "audit_events", "attachments",
           "stored_files")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _sqlite_path(url: sa.engine.URL) -> Path:
    return Path(url.database).resolve()


def _libpq(url: sa.engine.URL) -> tuple[str, dict[str, str]]:
    """libpq's connection string for pg_dump and pg_restore, without the password (kept off
    the command line, in the environment returned with it).

    A URL naming several hosts the way SQLAlchemy's psycopg dialect takes them
    (``?host=db1:5432&host=db2:5432&target_session_attrs=read-write``: a primary and its
    streaming replica) becomes libpq's own form, ``host=db1,db2 port=5432,5432``, which
    libpq tries in turn; libpq would read ``db1:5432`` as a host name.
    """
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    hosts = url.query.get("host")
    if hosts is None or isinstance(hosts, str) and hosts.count(":") != 1 \
            and not hosts.startswith("["):
        # URL.set(password=None) would keep the password: None there means "unchanged"
        plain = sa.engine.URL.create("postgresql", url.username, None, url.host, url.port,
                                     url.database, url.query)
        return plain.render_as_string(hide_password=False), env
    names, ports = [], []
    for entry in (hosts,) if isinstance(hosts, str) else hosts:
        if entry.startswith("["):  # [IPv6]:port
            name, _, port = entry[1:].partition("]")
            port = port.lstrip(":")
        elif entry.count(":") == 1:
            name, _, port = entry.partition(":")
        else:  # a bare name, or a bare IPv6 address
            name, port = entry, ""
        names.append(name)
        ports.append(port or str(url.port or 5432))
    params = {"host": ",".join(names), "port": ",".join(ports), "dbname": url.database,
              "user": url.username}
    for key, value in url.query.items():
        if key not in ("host", "port"):
            params[key] = value if isinstance(value, str) else value[-1]
    return " ".join(f"{key}={_conninfo_value(value)}" for key, value in params.items()
                    if value), env


def _conninfo_value(value: str) -> str:
    """A value of a libpq keyword/value connection string, quoted."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        _fail(f"{args[0]} failed: {done.stderr.strip()[-2000:]}")


def _counts() -> dict[str, int]:
    names = set(sa.inspect(db.engine).get_table_names())
    return {t: db.session.scalar(sa.text(f'SELECT COUNT(*) FROM "{t}"'))  # noqa: S608
            for t in COUNTED if t in names}


def _revision() -> str | None:
    if not sa.inspect(db.engine).has_table("alembic_version"):
        return None
    return db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))


@click.command("backup")
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def backup_command(directory: str) -> None:
    """Write a backup of the database, the uploads and the audit head into DIRECTORY."""
    from .audit import anchor

    out = Path(directory)
    if out.exists() and any(out.iterdir()):
        _fail(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    url = db.engine.url
    head = anchor()
    manifest = {"format": FORMAT, "database": url.get_backend_name(),
                "revision": _revision(), "audit_head": head, "counts": _counts()}
    db.session.commit()  # end the read transaction before copying
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        target = sqlite3.connect(out / "database.sqlite3")
        with target:
            source.backup(target)  # consistent even while the server writes
        target.close()
        source.close()
    elif url.get_backend_name() == "postgresql":
        libpq, env = _libpq(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
              f"--file={out / 'database.pgdump'}", f"--dbname={libpq}"], env)
    else:
        _fail(f"cannot back up a {url.get_backend_name()} database")
    uploads = Path(current_app.config["UPLOAD_FOLDER"])
    with tarfile.open(out / "uploads.tar", "w") as tar:
        if uploads.is_dir():
            tar.add(uploads, arcname="uploads")
    (out / "audit-head.txt").write_text(head + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    click.echo(f"backup written to {out}: {manifest['counts']}; audit head {head}")


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@with_appcontext
def restore_command(directory: str) -> None:
    """Restore a backup from DIRECTORY into this empty instance, then rebuild the index."""
    source = Path(directory)
    try:
        manifest = json.loads((source / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        _fail(f"{source} holds no backup manifest: {exc}")
    if manifest.get("format") != FORMAT:
        _fail(f"unknown backup format {manifest.get('format')!r}")
    url = db.engine.url
    if manifest["database"] != url.get_backend_name():
        _fail(f"the backup is of a {manifest['database']} database, this instance uses "
              f"{url.get_backend_name()}")
    if _counts().get("users"):
        _fail("this instance's database is not empty: restore into an empty one")
    uploads = Path(current_app.config["UPLOAD_FOLDER"])
    if uploads.is_dir() and any(uploads.iterdir()):
        _fail(f"the uploads folder {uploads} is not empty")

    db.session.remove()
    db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        target_path = _sqlite_path(url)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{target_path}{suffix}").unlink(missing_ok=True)
        backup = sqlite3.connect(source / "database.sqlite3")
        target = sqlite3.connect(target_path)
        with target:
            backup.backup(target)
        target.close()
        backup.close()
    else:
        libpq, env = _libpq(url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--clean", "--if-exists",
              "--single-transaction", f"--dbname={libpq}", str(source / "database.pgdump")],
             env)
    uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=uploads.parent) as tmp, \
            tarfile.open(source / "uploads.tar") as tar:
        tar.extractall(tmp, filter="data")  # no absolute paths, links out or devices
        extracted = Path(tmp) / "uploads"
        for item in extracted.iterdir() if extracted.is_dir() else ():
            shutil.move(str(item), uploads / item.name)
    click.echo(f"database and uploads restored: {_counts()}")
    _check_and_reindex(manifest["audit_head"])


def _check_and_reindex(head: str) -> None:
    from .audit import verify_chain
    from .matching import get_engine
    from .matching.healing import rebuild_from_database

    result = verify_chain(head)
    if not result.ok:
        _fail(f"the restored audit chain does not verify against the backup's head {head}: "
              f"{result.reason}")
    click.echo(f"audit chain: {result.checked} events, holds the head {head}")
    db.session.commit()
    n, _queued = rebuild_from_database(get_engine())
    click.echo(f"search index rebuilt: {n} documents (vectors reused from the database)")
