"""`bounty backup` then `bounty restore` into an empty instance: every row, the uploads,
the audit chain (checked against the recorded head) and a rebuilt search index. Files of
the database store (UPLOAD_STORE=database) travel with the database."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bounty import create_app
from bounty.accounts.models import Role, User
from bounty.backup import _libpq
from bounty.challenges.models import Challenge, ChallengeState
from bounty.extensions import db
from bounty.matching import get_engine
from bounty.uploadstore import DatabaseStore
from tests.digests.conftest import free_port
from tests.factories import create_bid, create_challenge, create_user
from tests.test_migrations import empty_database_url  # noqa: F401  (a fixture)


def test_backup_restores_into_an_empty_instance(app, runner, tmp_path,
                                                empty_database_url):  # noqa: F811
    owner = create_user(Role.enterprise)
    challenge = create_challenge(owner, state=ChallengeState.open, title="伺服电机温控系统备份",
                                 keywords="伺服电机")
    create_bid(challenge)
    upload = tmp_path / "uploads" / "ch1" / "spec.pdf"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"%PDF-1.4 spec")
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    big = b"%PDF-1.4 " + bytes(range(256)) * 2000  # two chunks, in the database store
    DatabaseStore().write("", "kept-in-db.pdf", big, commit=True)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    head = runner.invoke(args=["audit", "anchor"]).output.strip()
    users = db.session.scalar(sa.select(sa.func.count()).select_from(User))

    result = runner.invoke(args=["backup", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["audit_head"] == head and manifest["counts"]["challenges"] == 1
    assert (tmp_path / "backup" / "audit-head.txt").read_text().strip() == head

    target = tmp_path / "target"
    restored = create_app({
        "SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x" * 40,
        "BOUNTY_INSTANCE": str(target), "BOUNTY_EMBEDDER": "none", "TESTING": True,
        "BOUNTY_AUDIT_KEY": app.config.get("BOUNTY_AUDIT_KEY")
        or (tmp_path / "audit_key").read_text().strip()})
    with restored.app_context():
        cli = restored.test_cli_runner()
        result = cli.invoke(args=["restore", str(tmp_path / "backup")])
        assert result.exit_code == 0, result.output
        assert "holds the head" in result.output and "search index rebuilt" in result.output
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == users
        assert db.session.execute(sa.select(Challenge.title)).scalars().all() == [
            "伺服电机温控系统备份"]
        assert (target / "uploads" / "ch1" / "spec.pdf").read_bytes() == b"%PDF-1.4 spec"
        assert DatabaseStore().read("", "kept-in-db.pdf") == big  # came with the database
        assert [h.id for h in get_engine().search("伺服电机").hits] == [str(challenge.id)]
        result = cli.invoke(args=["audit", "verify", "--head", head])
        assert result.exit_code == 0, result.output
        # a second restore over it is refused: the instance is no longer empty
        again = cli.invoke(args=["restore", str(tmp_path / "backup")])
        assert again.exit_code == 1 and "not empty" in again.output
        get_engine().close()
        db.session.remove()
    # the fixture's session took a connection of the restored app's engine (two apps in
    # one process share Flask-SQLAlchemy's session registry): close it before the
    # empty database is dropped
    db.session.remove()
    with restored.app_context():
        db.engine.dispose()


def test_pg_dump_is_given_no_password_and_every_host_of_a_primary_and_its_replica():
    url, env = _libpq(sa.make_url("postgresql+psycopg://bounty:s3cret@db1:5433/bounty"))
    assert url == "postgresql://bounty@db1:5433/bounty" and env["PGPASSWORD"] == "s3cret"
    url, env = _libpq(sa.make_url(
        "postgresql+psycopg://bounty:s3cret@/bounty?host=db1:5433&host=db2"
        "&target_session_attrs=read-write"))
    assert url == ("host='db1,db2' port='5433,5432' dbname='bounty' user='bounty' "
                   "target_session_attrs='read-write'")
    assert "s3cret" not in url and env["PGPASSWORD"] == "s3cret"


def test_a_backup_through_a_multi_host_url_reaches_the_primary(app, tmp_path):
    """DATABASE_URL naming a host that is down before the live primary (a failed-over
    pair): pg_dump tries each, as the app's own connections do."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("PostgreSQL only: several hosts are libpq's")
    live = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    hosts = (f"127.0.0.1:{free_port()}", f"{live.host}:{live.port or 5432}")
    url = live.set(host=None, port=None).update_query_pairs(
        [("host", h) for h in hosts] + [("target_session_attrs", "read-write")])
    create_user(Role.enterprise)
    other = create_app({
        "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
        "SECRET_KEY": "x" * 40, "BOUNTY_INSTANCE": str(tmp_path / "other"),
        "BOUNTY_EMBEDDER": "none", "TESTING": True})
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["backup", str(tmp_path / "backup")])
        db.session.remove()
        db.engine.dispose()
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["counts"]["users"] == 1
    assert (tmp_path / "backup" / "database.pgdump").stat().st_size > 0
