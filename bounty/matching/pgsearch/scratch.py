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
                   prefix: str = "bounty_scratch", schema: str | None = None) -> PgEngine:
    """A ``PgEngine`` over empty index tables in a new schema of the database at ``url``;
    its ``close()`` drops the schema. ``schema``: this one instead, made if missing and
    kept (a benchmark's index, built once and measured again later)."""
    keep = schema is not None
    schema = schema or f"{prefix}_{uuid.uuid4().hex[:10]}"
    database = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    if database.dialect.name != "postgresql":
        database.dispose()
        raise ValueError(f"the postgres backend needs a PostgreSQL database, not {url!r}")
    with database.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        if not sa.inspect(conn).has_table(TABLES[0].name, schema=schema):
            SEQ.create(conn)
            for table in TABLES:
                table.create(conn)
    if keep:
        engine = PgEngine(database, kinds=kinds)
        engine.on_close = database.dispose
        return engine

    def drop() -> None:
        with database.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        database.dispose()

    engine = PgEngine(database, kinds=kinds)
    engine.on_close = drop
    return engine
