"""Shared fixtures: an app on a real database (SQLite, or PostgreSQL when
BOUNTY_TEST_DATABASE_URL is set), a client, and login helpers."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient, FlaskCliRunner

from bounty import create_app
from bounty.extensions import db as _db

from .factories import DEFAULT_PASSWORD
from .nodes import AUDIT_KEY, start_nodes, stop_nodes

PG_URL = os.environ.get("BOUNTY_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if PG_URL:
        return PG_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def _schema(database_url, tmp_path_factory):
    """Create the schema once per session; each test then empties the tables."""
    app = create_app(_test_config(database_url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        _drop_all()
        _db.create_all()
    yield
    with app.app_context():
        _drop_all()
        _db.engine.dispose()


def _drop_all() -> None:
    if _db.engine.dialect.name == "postgresql":
        with _db.engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        return
    with _db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        _db.metadata.drop_all(connection)
        connection.commit()


def _test_config(database_url: str, instance) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BOUNTY_INSTANCE": str(instance),
        "UPLOAD_FOLDER": str(instance / "uploads"),
        "BOUNTY_INDEX_DIR": str(instance / "index"),
        "WTF_CSRF_ENABLED": False,
        # scrypt at a low cost: the same code path, fast enough to log in hundreds of times.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "SERVER_NAME": "localhost",
        "PUBLIC_URL": "http://localhost",
        # lexical only unless a test is marked ``semantic`` (the real model, real vectors)
        "BOUNTY_EMBEDDER": "none",
        # BOUNTY_TEST_SEARCH_BACKEND=postgres runs the app's tests on the PostgreSQL index
        # (with BOUNTY_TEST_DATABASE_URL; SQLite keeps Whoosh)
        "SEARCH_BACKEND": (os.environ.get("BOUNTY_TEST_SEARCH_BACKEND") or "whoosh")
        if PG_URL else "whoosh",
    }


@pytest.fixture
def app(_schema, database_url, tmp_path, request):
    config = _test_config(database_url, tmp_path)
    if request.node.get_closest_marker("semantic"):
        config["BOUNTY_EMBEDDER"] = "e5-small"
    if request.node.get_closest_marker("whoosh_index"):
        config["SEARCH_BACKEND"] = "whoosh"
    app = create_app(config)
    app.test_client_class = FreshSessionClient
    app.test_cli_runner_class = FreshSessionCliRunner
    with app.app_context():
        yield app
        _db.session.remove()
        _truncate_all()
        _db.engine.dispose()


@pytest.fixture(params=["folder", "database"])
def each_store(request, app) -> str:
    """Run the test with each UPLOAD_STORE (``pytestmark = usefixtures("each_store")``)."""
    app.config["UPLOAD_STORE"] = request.param
    return request.param


@pytest.fixture
def make_app(app):
    """``make_app(**config)``: another app on the same database and instance folder (as
    another process would be); its engines are closed at the end of the test."""
    made = []

    def _make(**overrides):
        config = _test_config(app.config["SQLALCHEMY_DATABASE_URI"],
                              Path(app.config["BOUNTY_INSTANCE"]))
        config["BOUNTY_EMBEDDER"] = app.config["BOUNTY_EMBEDDER"]
        config["SEARCH_BACKEND"] = app.config["SEARCH_BACKEND"]
        made.append(create_app({**config, **overrides}))
        made[-1].test_client_class = FreshSessionClient
        made[-1].test_cli_runner_class = FreshSessionCliRunner
        return made[-1]

    yield _make
    _db.session.remove()  # the sessions of every app share one registry
    for other in made:
        with other.app_context():
            engine = other.extensions.get("bounty.matching")
            if engine is not None:
                engine().close(flush=False)
            _db.session.remove()
            _db.engine.dispose()


def _in_a_fresh_context(app, run):
    """``run()`` in an app context of its own (its own SQLAlchemy session and ``g``), as a
    server's request or a ``bounty`` command in its own process: the test's session
    commits before (what the test set up is what it sees) and is expired after (the
    test's objects re-read what it wrote)."""
    if not has_app_context():  # a thread of the test's own: no test session to mind
        with app.app_context():
            return run()
    _db.session.commit()
    try:
        with app.app_context():
            return run()
    finally:
        _db.session.expire_all()


class FreshSessionClient(FlaskClient):
    """A test client whose every request runs in an app context of its own, as on a
    server: a fresh SQLAlchemy session (and ``g``), removed when the request ends, so a
    view never works on the test's objects and a detached object or stale read fails here
    as it would in production (:func:`_in_a_fresh_context`)."""

    def open(self, *args, **kwargs):
        return _in_a_fresh_context(self.application, lambda: super(
            FreshSessionClient, self).open(*args, **kwargs))


class FreshSessionCliRunner(FlaskCliRunner):
    """The CLI runner likewise: a command gets its own app context and session."""

    def invoke(self, *args, **kwargs):
        return _in_a_fresh_context(self.app, lambda: super(
            FreshSessionCliRunner, self).invoke(*args, **kwargs))


def join_folding_threads() -> None:
    """Wait for the PostgreSQL search index's folding threads (pgsearch/fold.py): one
    still at work would fold into the next test's tables."""
    for thread in threading.enumerate():
        if thread.name == "pgsearch-fold":
            thread.join(30)


def _truncate_all() -> None:
    join_folding_threads()
    tables = list(reversed(_db.metadata.sorted_tables))
    if _db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        with _db.engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    with _db.engine.connect() as connection:
        # challenges <-> bids reference each other; SQLite checks FKs row by row.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        for table in tables:
            connection.execute(table.delete())
        connection.commit()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def csrf_app(app):
    """The same app with CSRF protection on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def signed_in(app, user, client=None):
    """A test client whose session carries the user (None: anonymous), skipping the slow
    password check (scrypt); the login form itself is tested in tests/accounts."""
    client = client or app.test_client()
    if user is not None:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
    return client


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, user_or_email, password: str = DEFAULT_PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        return self._client.post(
            "/accounts/login", data={"email": email, "password": password}
        )

    def logout(self):
        return self._client.post("/accounts/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def login_as(app):
    """Return a fresh test client logged in as the given user."""

    def _login(user, password: str = DEFAULT_PASSWORD):
        client = app.test_client()
        response = client.post("/accounts/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return _login


def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def two_nodes(app, database_url, tmp_path):
    """Two real `bounty serve` processes on the test's PostgreSQL database, each with its
    own empty instance folder, the same SECRET_KEY and audit key from the environment and
    UPLOAD_STORE=database and SEARCH_BACKEND=postgres (tests/nodes.py): what several machines
    run. PostgreSQL only: SQLite is one machine's file."""
    if not PG_URL:
        pytest.skip("two web nodes share one PostgreSQL database: set "
                    "BOUNTY_TEST_DATABASE_URL (scripts/test.sh does)")
    app.config["BOUNTY_AUDIT_KEY"] = AUDIT_KEY  # the test's own events chain with theirs
    nodes = start_nodes(database_url, tmp_path / "nodes", SEARCH_BACKEND="postgres")
    yield nodes
    stop_nodes(nodes)
