"""Fixtures for the PostgreSQL search backend (where the tests run on PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.matching.pgsearch import PgEngine
from bounty.matching.pgsearch.tables import TABLES
from tests.conftest import PG_URL, join_folding_threads


def truncate_search_tables(connectable: sa.Engine) -> None:
    join_folding_threads()
    with connectable.begin() as connection:
        connection.execute(sa.text(
            "TRUNCATE " + ", ".join(t.name for t in TABLES) + " RESTART IDENTITY"))


@pytest.fixture
def pg_engine(_schema):
    """A ``PgEngine`` on the test database, its tables empty."""
    if not PG_URL:
        pytest.skip("the PostgreSQL search backend needs the tests on PostgreSQL")
    database = sa.create_engine(PG_URL)
    truncate_search_tables(database)
    yield PgEngine(database)
    truncate_search_tables(database)
    database.dispose()


@pytest.fixture
def pg_app(app, make_app):
    """An app with SEARCH_BACKEND=postgres on the test database, its context pushed."""
    if not PG_URL:
        pytest.skip("the PostgreSQL search backend needs the tests on PostgreSQL")
    other = make_app(SEARCH_BACKEND="postgres")
    with other.app_context():
        yield other
