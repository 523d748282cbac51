"""Alembic builds the whole schema: upgrade from empty to head matches the models,
and downgrade goes back to empty — on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from bounty import create_app
from bounty.extensions import db

PG_URL = os.environ.get("BOUNTY_TEST_DATABASE_URL")


@pytest.fixture
def empty_database_url(tmp_path):
    """A brand-new empty database: a SQLite file, or a fresh PostgreSQL database."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    name = f"bounty_migrate_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_to_head_matches_models_and_downgrade_empties(empty_database_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url,
                      "BOUNTY_INSTANCE": str(tmp_path), "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection, warnings.catch_warnings():
            # SQLite cannot reflect expression indexes (lower(email)); PostgreSQL compares them.
            warnings.filterwarnings("ignore", message=".*expression-based index")
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}),
                db.metadata,
            )
            tables = set(sa.inspect(connection).get_table_names())
        assert diff == [], f"models and migrations differ: {diff}"
        assert {"challenges", "bids", "users", "organizations", "audit_events"} <= tables

        downgrade(revision="base")
        with db.engine.connect() as connection:
            left = set(sa.inspect(connection).get_table_names()) - {"alembic_version"}
        assert left == set()

        upgrade()  # and up again: the downgrade left nothing behind that blocks it
        db.engine.dispose()
