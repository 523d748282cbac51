"""A throwaway index in its own schema of a PostgreSQL database (``bounty match eval
--backend postgres``, benchmarks): created empty, dropped with everything in it when
the engine is closed. Nothing of the database's own tables is read or written."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import sqlalchemy as sa

from .engine import PgEngine
from .tables import SEQ, TABLES


def scratch_engine(url: str, *, kinds: Iterable[str] = ("challenge", "bid", "institute"),
                   prefix: str = "bounty_scratch") -> PgEngine:
    """A ``PgEngine`` over empty index tables in a new schema of the database at ``url``;
    its ``close()`` drops the schema."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    database = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    if database.dialect.name != "postgresql":
        database.dispose()
        raise ValueError(f"the postgres backend needs a PostgreSQL database, not {url!r}")
    with database.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        SEQ.create(conn)
        for table in TABLES:
            table.create(conn)

    def drop() -> None:
        with database.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        database.dispose()

    engine = PgEngine(database, kinds=kinds)
    engine.on_close = drop
    return engine
