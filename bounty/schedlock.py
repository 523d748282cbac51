"""Make sure only one process runs the scheduler.

PostgreSQL: a session-level advisory lock held on a dedicated connection for
the life of the process. SQLite: an exclusive ``flock`` on a file in the
instance folder (SQLite is single-machine anyway). Either lock is released by
the operating system or the server when the process dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from .extensions import db

ADVISORY_KEY = 0x626F756E7479  # "bounty"


def acquire_scheduler_lock(app: Flask) -> bool:
    """True if this process now holds the scheduler lock (kept until it exits)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            connection = engine.connect()
            got = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
            connection.commit()
            if got:
                app.extensions["bounty_scheduler_lock"] = connection
            else:
                connection.close()
            return bool(got)
    path = Path(app.config["BOUNTY_INSTANCE"]) / "scheduler.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    app.extensions["bounty_scheduler_lock"] = handle
    return True


def release_scheduler_lock(app: Flask) -> None:
    lock = app.extensions.pop("bounty_scheduler_lock", None)
    if isinstance(lock, sa.Connection):
        # close() only returns the connection to the pool, where its session (and so
        # the advisory lock) lives on: unlock explicitly first.
        lock.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        lock.commit()
    if lock is not None:
        lock.close()
