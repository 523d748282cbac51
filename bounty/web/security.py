"""Security headers on every response, the session's idle timeout, TLS behind a proxy, and
a fresh CSRF token at login.

Hand-written rather than Flask-Talisman (1.1.0, 2023): Talisman decides HTTPS and
Secure cookies once, from its constructor, while we decide per request (a server can be
reached over plain HTTP on 127.0.0.1 and over TLS through its proxy), and what we need
is a dozen lines. The pages have no inline script or style (tests/web/test_security.py
checks the templates), so the policy allows nothing inline.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import user_logged_in
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    """Headers, cookies, idle timeout and ProxyFix, as configured."""
    proxies = int(app.config.get("BOUNTY_PROXY_COUNT") or 0)
    if proxies > 0:
        # trust X-Forwarded-For/-Proto/-Host/-Port/-Prefix set by that many proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,
                                x_host=proxies, x_port=proxies, x_prefix=proxies)
    app.session_interface = SessionInterface()
    app.permanent_session_lifetime = timedelta(
        minutes=int(app.config["BOUNTY_SESSION_IDLE_MINUTES"]))

    @app.before_request
    def _idle_timeout() -> None:
        # A permanent session is signed again on every response (Flask's
        # SESSION_REFRESH_EACH_REQUEST), and a cookie older than the lifetime is
        # refused when read: it ends after that much idle time, not at a fixed hour.
        # (A visitor without a session is given none.)
        if session and not session.permanent:
            session.permanent = True

    @app.after_request
    def _headers(response):  # noqa: ANN001, ANN202
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
            _secure_cookies(response)
        return response

    user_logged_in.connect(_rotate_csrf_token, app)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, Secure whenever the request came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def _secure_cookies(response) -> None:  # noqa: ANN001
    """Every other cookie set over TLS is Secure too (the session's is written after
    this runs: see ``SessionInterface``)."""
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies or all("; Secure" in c for c in cookies):
        return
    response.headers.remove("Set-Cookie")
    for cookie in cookies:
        response.headers.add("Set-Cookie", cookie if "; Secure" in cookie else cookie + "; Secure")


def _rotate_csrf_token(_app, **_extra) -> None:  # noqa: ANN001
    """A token issued before login is not valid after it (Flask-WTF makes a new one)."""
    session.pop("csrf_token", None)
    g.pop("csrf_token", None)
