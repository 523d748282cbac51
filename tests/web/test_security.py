"""Security headers on every response, Secure cookies and HSTS over TLS, ProxyFix when
configured, the idle session timeout and a new CSRF token at login."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bounty.accounts.models import Role
from bounty.web.security import CONTENT_SECURITY_POLICY
from tests.factories import DEFAULT_PASSWORD, create_user

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("path", ["/", "/accounts/login", "/challenges/", "/no-such-page",
                                  "/static/style.css"])
def test_every_response_has_the_headers(client, path):
    response = client.get(path)
    response.close()  # a static file's
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP


def test_pages_have_no_inline_script_or_style():
    """What the policy forbids: inline scripts, event handlers, style elements and
    attributes (e-mail templates are mail, not pages)."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    offenders = [str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")
                 if "email" not in p.parts and inline.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_over_tls_hsts_and_secure_cookies(client):
    user = create_user(Role.enterprise)
    response = client.post("/accounts/login", base_url="https://localhost",
                           data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("; Secure" in c for c in cookies)


def test_over_plain_http_cookies_are_not_secure_unless_configured(client, app):
    user = create_user(Role.enterprise)
    response = client.post("/accounts/login",
                           data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert not any("; Secure" in c for c in response.headers.getlist("Set-Cookie"))
    app.config["SESSION_COOKIE_SECURE"] = True
    client.post("/accounts/logout")
    response = client.post("/accounts/login",
                           data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert all("; Secure" in c for c in response.headers.getlist("Set-Cookie"))


def test_proxy_headers_are_honoured_only_when_configured(make_app):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    plain = make_app().test_client().get("/", headers=forwarded)
    assert "Strict-Transport-Security" not in plain.headers
    proxied = make_app(BOUNTY_PROXY_COUNT=1).test_client().get("/", headers=forwarded)
    assert "Strict-Transport-Security" in proxied.headers


def test_idle_timeout_is_configurable(app, make_app):
    assert app.permanent_session_lifetime == timedelta(minutes=120)
    other = make_app(BOUNTY_SESSION_IDLE_MINUTES=15)
    assert other.permanent_session_lifetime == timedelta(minutes=15)


def test_a_session_idle_too_long_is_logged_out(client, app):
    import time_machine

    user = create_user(Role.enterprise)
    with time_machine.travel("2026-06-01 09:00:00+08:00", tick=False) as clock:
        client.post("/accounts/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
        assert client.get("/accounts/profile").status_code == 200
        clock.shift(timedelta(minutes=100))
        assert client.get("/accounts/profile").status_code == 200  # activity renews it
        clock.shift(timedelta(minutes=119))
        assert client.get("/accounts/profile").status_code == 200
        clock.shift(timedelta(minutes=121))
        assert client.get("/accounts/profile").status_code == 302  # to the login page


def test_the_csrf_token_changes_at_login(client, csrf_app):
    user = create_user(Role.enterprise)
    client.get("/accounts/login")
    with client.session_transaction() as session:
        before = session["csrf_token"]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/accounts/login").get_data(as_text=True)).group(1)
    response = client.post("/accounts/login", data={
        "email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert session.get("csrf_token") != before
