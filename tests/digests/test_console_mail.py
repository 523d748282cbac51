"""Mail you can see: without MAIL_SERVER each email is printed where the operator reads it,
the start-up banner says so, and links lead to the host and port actually served on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.cli import banner, served_url
from bounty.digests.models import Frequency, OutboxEmail, OutboxStatus
from bounty.digests.outbox import drain_outbox
from bounty.digests.services import compose_digests
from bounty.extensions import db

from ..factories import create_user
from .conftest import publish, subscribe


def test_without_mail_server_each_email_is_printed(app, capfd, at_monday_8am):
    assert not app.config.get("MAIL_SERVER")
    user = create_user("institute", email="li@wzu.test")
    subscribe(user)
    publish(1, title="鞋底发泡能耗优化")
    compose_digests(Frequency.daily)
    result = drain_outbox()
    assert result.sent == 1
    out = capfd.readouterr().out
    assert "----- email (MAIL_SERVER is not set: printed here, not sent) -----" in out
    assert "To: li@wzu.test" in out and "Subject: " in out and "From: " in out
    assert "List-Unsubscribe: " in out  # headers decoded, as a mail client shows them
    assert "鞋底发泡能耗优化" in out  # the text part, decoded
    assert "http://localhost/challenges/" in out  # links from PUBLIC_URL
    assert "<html" not in out.lower()  # the text part only
    row = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    assert row.status == OutboxStatus.sent


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:5123"),
    ("0.0.0.0", "http://127.0.0.1:5123"),
    ("bounty.local", "http://bounty.local:5123"),
    ("::1", "http://[::1]:5123"),
])
def test_served_url(host, url):
    assert served_url(host, 5123) == url


def test_banner_says_where_mail_goes(app):
    app.config["PUBLIC_URL"] = "http://127.0.0.1:5123"
    lines = "\n".join(banner(app, "127.0.0.1", 5123, scheduler=True))
    assert "http://127.0.0.1:5123/" in lines
    assert "MAIL_SERVER is not set: every email (headers and text) is printed here" in lines
    assert "links in emails: http://127.0.0.1:5123" in lines
    app.config.update(MAIL_SERVER="smtp.example.cn", MAIL_PORT=465)
    lines = "\n".join(banner(app, "127.0.0.1", 5123, scheduler=False))
    assert "SMTP to smtp.example.cn:465" in lines and "printed" not in lines
    assert "`bounty worker`" in lines


def test_serve_links_emails_to_the_port_it_serves_on(app, runner, monkeypatch):
    served = {}
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("BOUNTY_PUBLIC_URL", raising=False)
    monkeypatch.setattr("waitress.serve", lambda app, **kwargs: served.update(kwargs))
    result = runner.invoke(args=["serve", "--port", "5123", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert served["port"] == 5123
    assert app.config["PUBLIC_URL"] == "http://127.0.0.1:5123"
    assert "MAIL_SERVER is not set" in result.output
    assert "links in emails: http://127.0.0.1:5123" in result.output


def test_an_explicit_public_url_wins(app, runner, monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://bounty.ouhai.gov.cn")
    monkeypatch.setattr("waitress.serve", lambda app, **kwargs: None)
    app.config["PUBLIC_URL"] = "https://bounty.ouhai.gov.cn"
    result = runner.invoke(args=["serve", "--port", "5123", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert app.config["PUBLIC_URL"] == "https://bounty.ouhai.gov.cn"
    assert "links in emails: https://bounty.ouhai.gov.cn" in result.output
