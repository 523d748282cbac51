"""The production path: `bounty init` (migrations, the first admin, no demo), the secret
and audit keys required in production, and `bounty serve` refusing demo logins."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty import create_app
from bounty.accounts.models import Role, User
from bounty.cli import serve_command, worker_command
from bounty.config import build_config
from bounty.demo import DEMO_PASSWORD
from bounty.extensions import db
from bounty.production import configuration_problems, demo_logins
from tests.factories import create_user
from tests.test_migrations import empty_database_url  # noqa: F401  (a fixture)

STRONG = "Ouhai-admin-2026-strong"


@pytest.fixture
def fresh(empty_database_url, tmp_path):  # noqa: F811
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x" * 40,
                      "BOUNTY_INSTANCE": str(tmp_path), "BOUNTY_EMBEDDER": "none",
                      "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_init_migrates_and_creates_the_first_admin_from_the_environment(fresh, monkeypatch):
    monkeypatch.setenv("BOUNTY_ADMIN_PASSWORD", STRONG)
    runner = fresh.test_cli_runner()
    result = runner.invoke(args=["init", "--admin-email", "ops@ouhai.gov.cn"])
    assert result.exit_code == 0, result.output
    assert "admin: created ops@ouhai.gov.cn" in result.output
    admins = db.session.execute(sa.select(User).where(User.role == Role.admin)).scalars().all()
    assert [a.email for a in admins] == ["ops@ouhai.gov.cn"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1  # no demo
    again = runner.invoke(args=["init"])
    assert again.exit_code == 0 and "one exists already" in again.output


def test_init_without_a_password_and_no_terminal_fails_clearly(fresh, monkeypatch):
    monkeypatch.delenv("BOUNTY_ADMIN_PASSWORD", raising=False)
    result = fresh.test_cli_runner().invoke(args=["init", "--admin-email", "ops@ouhai.gov.cn"])
    assert result.exit_code == 1 and "BOUNTY_ADMIN_PASSWORD" in result.output


def test_init_refuses_a_weak_admin_password(fresh, monkeypatch):
    monkeypatch.setenv("BOUNTY_ADMIN_PASSWORD", "123456")
    result = fresh.test_cli_runner().invoke(args=["init", "--admin-email", "ops@ouhai.gov.cn"])
    assert result.exit_code == 1


def test_production_needs_the_secret_key_and_audit_key_from_the_environment(
        tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("BOUNTY_AUDIT_KEY", raising=False)
    config = build_config({"BOUNTY_INSTANCE": str(tmp_path), "BOUNTY_ENV": "production"})
    problems = configuration_problems(config)
    assert any("SECRET_KEY must be set in the environment" in p for p in problems)
    assert any("BOUNTY_AUDIT_KEY" in p for p in problems)
    monkeypatch.setenv("SECRET_KEY", "short")
    config = build_config({"BOUNTY_INSTANCE": str(tmp_path), "BOUNTY_ENV": "production",
                           "BOUNTY_AUDIT_KEY": "k1:" + "a" * 32})
    assert configuration_problems(config) == ["SECRET_KEY must be at least 32 characters"]
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    config = build_config({"BOUNTY_INSTANCE": str(tmp_path), "BOUNTY_ENV": "production",
                           "BOUNTY_AUDIT_KEY": "k1:" + "a" * 32})
    assert configuration_problems(config) == []
    assert configuration_problems(build_config({"BOUNTY_INSTANCE": str(tmp_path)})) == []


def test_serve_refuses_in_production_without_its_keys(app, monkeypatch):
    app.config.update(BOUNTY_ENV="production", BOUNTY_SECRET_KEY_SOURCE="instance file")
    served = []
    monkeypatch.setattr("waitress.serve", lambda *a, **k: served.append(k))
    result = app.test_cli_runner().invoke(serve_command, ["--no-scheduler"])
    assert result.exit_code == 1 and "not starting in production" in result.output
    assert served == []


def test_serve_refuses_demo_logins_unless_told_it_is_a_demo(app, monkeypatch):
    create_user(Role.admin, email="admin@example.com", password=DEMO_PASSWORD)
    create_user(Role.reviewer, email="reviewer@example.com", password="Changed-since-2026")
    assert demo_logins() == ["admin@example.com"]
    served = []
    monkeypatch.setattr("waitress.serve", lambda *a, **k: served.append(k))
    runner = app.test_cli_runner()
    result = runner.invoke(serve_command, ["--no-scheduler"])
    assert result.exit_code == 1 and "admin@example.com" in result.output
    assert "reviewer@example.com" not in result.output  # its password was changed
    assert served == []
    assert runner.invoke(serve_command, ["--no-scheduler", "--demo"]).exit_code == 0
    assert runner.invoke(serve_command, ["--no-scheduler"],
                         env={"BOUNTY_DEMO": "1"}).exit_code == 0
    assert len(served) == 2


def test_several_web_processes_and_the_worker_keep_the_checks(app, monkeypatch):
    started = []
    monkeypatch.setattr("bounty.webserver.serve_processes", lambda *args: started.append(args))
    monkeypatch.setattr("bounty.worker.run_worker", lambda *args: started.append(args))
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("BOUNTY_PUBLIC_URL", raising=False)
    runner = app.test_cli_runner()
    create_user(Role.admin, email="admin@example.com", password=DEMO_PASSWORD)
    result = runner.invoke(serve_command, ["--workers", "2", "--port", "5123"])
    assert result.exit_code == 1 and "admin@example.com" in result.output

    app.config.update(BOUNTY_ENV="production", BOUNTY_SECRET_KEY_SOURCE="instance file")
    for command, args in ((serve_command, ["--workers", "2", "--demo"]), (worker_command, [])):
        result = runner.invoke(command, args)
        assert result.exit_code == 1 and "not starting in production" in result.output
    assert started == []

    app.config.update(BOUNTY_ENV="development")
    # The command disposes of the engine's pool before gunicorn forks; here the test's own
    # session shares that engine, and a connection it holds would be dropped unclosed (a
    # ResourceWarning that surfaced in a later test on PostgreSQL).
    monkeypatch.setattr(db.engine, "dispose", lambda *_a, **_k: None)
    result = runner.invoke(serve_command, ["--workers", "2", "--port", "5123", "--demo"])
    assert result.exit_code == 0, result.output
    assert started[0][1:] == ("127.0.0.1", 5123, 2, 8, "http://127.0.0.1:5123")
    assert "2 processes" in result.output and "`bounty worker`" in result.output


def test_start_script_serves_the_demo():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / "scripts" / "start.sh").read_text()
    assert "serve --demo" in script
