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


DECISIONS_BEFORE_ONE_TABLE = "b3d1f0a7c2e5"  # the revision before review_decisions held all


def _decision_rows(connection, table: str, stage: bool = True) -> list[tuple]:
    columns = ["challenge_id", "certification_id", "listing_id", "outcome", "comment",
               "reviewer_id", "task_id"] + (["stage"] if stage else [])
    rows = connection.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}")).all()
    return sorted((tuple(row) for row in rows), key=repr)


def test_one_decision_table_keeps_every_decision(empty_database_url, tmp_path):
    """Decisions on challenges, applications and listings survive the move of registry
    decisions into review_decisions, down and up again."""
    from bounty.certification.services import apply_for_certification
    from bounty.market.services import create_listing
    from bounty.review.decisions import decide
    from bounty.review.models import Outcome

    from .conftest import _test_config
    from .factories import create_user
    from .registry.helpers import cert_data, completed_challenge, evidence_files, listing_data

    app = create_app(_test_config(empty_database_url, tmp_path))
    with app.app_context():
        upgrade()
        challenge, owner, winner = completed_challenge()
        application = apply_for_certification(challenge, owner, cert_data(), evidence_files())
        decide(application, create_user("reviewer"), Outcome.return_, "请补充检测报告")
        listing = create_listing(challenge, owner, listing_data(),
                                 [evidence_files()["test_report"]])
        decide(listing, create_user("reviewer"), Outcome.approve)
        db.session.commit()
        with db.engine.connect() as connection:
            before = _decision_rows(connection, "review_decisions")
        assert {row[-1] for row in before} >= {"certification", "listing"}
        db.session.remove()

        downgrade(revision=DECISIONS_BEFORE_ONE_TABLE)
        with db.engine.connect() as connection:
            registry = _decision_rows(connection, "registry_decisions", stage=False)
            review = connection.execute(sa.text(
                "SELECT count(*) FROM review_decisions")).scalar()
        assert registry == sorted((row[:-1] for row in before
                                   if row[-1] in ("certification", "listing")), key=repr)
        assert review == len(before) - len(registry)

        upgrade()
        with db.engine.connect() as connection:
            assert _decision_rows(connection, "review_decisions") == before
        db.session.remove()
        db.engine.dispose()
