"""The test client gives each request a SQLAlchemy session of its own, as a server does
(tests/conftest.py, FreshSessionClient), and each command run by the CLI runner too: the
code under test never works on the test's objects."""

from __future__ import annotations

from bounty.accounts.models import User

from .factories import create_user


def test_each_request_has_its_own_session(app, db):
    sessions = []
    app.add_url_rule("/_session", "session_probe",
                     lambda: (sessions.append(db.session()), "")[1])
    client = app.test_client()
    assert client.get("/_session").status_code == 200
    assert client.get("/_session").status_code == 200
    assert sessions[0] is not sessions[1]
    assert db.session() not in sessions


def test_the_test_rereads_what_a_request_wrote(app, db):
    user = create_user("institute", name="旧名")

    def rename():
        db.session.get(User, user.id).name = "新名"
        db.session.commit()
        return ""

    app.add_url_rule("/_rename", "rename_probe", rename)
    assert user.name == "旧名"
    app.test_client().get("/_rename")
    assert user.name == "新名"  # expired after the request, read again


def test_a_command_has_its_own_session(app, db):
    sessions = []

    @app.cli.command("session-probe")
    def probe():
        sessions.append(db.session())

    result = app.test_cli_runner().invoke(args=["session-probe"])
    assert result.exit_code == 0, result.output
    assert sessions and db.session() not in sessions
