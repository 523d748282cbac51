"""Login and logout hardening: session end, throttling, inactive accounts, open redirects."""

from __future__ import annotations

import pytest

from bounty.accounts.models import MembershipStatus, Role

from ..factories import DEFAULT_PASSWORD, create_user
from .helpers import error_texts

GENERIC = "邮箱或密码不正确。"


def login(client, email, password=DEFAULT_PASSWORD, next_url=None):
    url = "/accounts/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password})


def is_logged_in(client) -> bool:
    return client.get("/accounts/profile").status_code == 200


def test_logout_ends_the_session_for_a_replayed_cookie(app, client, db):
    user = create_user(Role.enterprise)
    assert login(client, user.email).status_code == 302
    cookie = client.get_cookie("session", domain="localhost")
    assert cookie is not None

    # The captured cookie works in another client while the session lives...
    twin = app.test_client()
    twin.set_cookie("session", cookie.value, domain="localhost")
    assert is_logged_in(twin)

    assert client.post("/accounts/logout").status_code == 302
    assert not is_logged_in(client)

    # ...and is refused once the user logged out.
    replay = app.test_client()
    replay.set_cookie("session", cookie.value, domain="localhost")
    response = replay.get("/accounts/profile")
    assert response.status_code == 302 and "/accounts/login" in response.headers["Location"]


def test_logout_needs_post(client, db):
    user = create_user(Role.enterprise)
    login(client, user.email)
    assert client.get("/accounts/logout").status_code == 405
    assert is_logged_in(client)


def test_email_is_case_insensitive(client, db):
    user = create_user(Role.institute, email="li.lei@wzu.edu.cn")
    assert login(client, "  LI.Lei@WZU.edu.CN ").status_code == 302
    assert is_logged_in(client)
    assert user.name in client.get("/").get_data(as_text=True)


def test_unknown_email_and_wrong_password_get_the_same_answer(client, db):
    user = create_user(Role.enterprise)
    wrong = login(client, user.email, "Wrong-password-42")
    unknown = login(client, "nobody@example.com", DEFAULT_PASSWORD)
    assert wrong.status_code == unknown.status_code == 200
    assert error_texts(wrong.get_data(as_text=True)) == [GENERIC]
    assert error_texts(unknown.get_data(as_text=True)) == [GENERIC]


@pytest.mark.parametrize("fields,message", [
    ({"membership": MembershipStatus.pending}, "等待本单位已有成员审核"),
    ({"membership": MembershipStatus.refused}, "未获本单位通过"),
    ({"is_disabled": True}, "该账号已被停用"),
])
def test_inactive_accounts_cannot_log_in(client, db, fields, message):
    user = create_user(Role.institute, **fields)
    right = login(client, user.email)
    assert right.status_code == 403
    assert any(message in text for text in error_texts(right.get_data(as_text=True)))
    assert not is_logged_in(client)
    # A wrong password learns nothing about the account's state.
    wrong = login(client, user.email, "Wrong-password-42")
    assert wrong.status_code == 200
    assert error_texts(wrong.get_data(as_text=True)) == [GENERIC]


OFFSITE = [
    "https://evil.example.com/",
    "//evil.example.com/",
    "/\\evil.example.com",
    "\\\\evil.example.com",
    "%2F%2Fevil.example.com",
    "javascript:alert(1)",
    "http:/evil.example.com",
    "/\t/evil.example.com",
    " //evil.example.com",
]


@pytest.mark.parametrize("target", OFFSITE)
def test_next_cannot_leave_the_site(app, target):
    from bounty.accounts.views import _safe_next

    # As the login view reads it: decoded from the query string.
    with app.test_request_context("/accounts/login", query_string={"next": target}):
        from flask import request

        assert _safe_next(request.args.get("next")) == "/"


@pytest.mark.parametrize("target", ["//evil.example.com/", "/%09/evil.example.com"])
def test_login_with_offsite_next_goes_home(client, db, target):
    user = create_user(Role.enterprise)
    response = login(client, user.email, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_to_a_local_page_is_followed(client, db):
    user = create_user(Role.enterprise)
    response = login(client, user.email, next_url="/accounts/profile?tab=pw")
    assert response.headers["Location"] == "/accounts/profile?tab=pw"


def test_protected_page_sends_anonymous_users_to_login(client, db):
    response = client.get("/accounts/profile")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login?next=")


def test_production_hashes_use_full_cost_scrypt(app):
    from bounty.accounts.services import hash_password

    app.config.pop("PASSWORD_HASH_METHOD")
    assert hash_password("a-long-enough-password").startswith("scrypt:32768:8:1$")
