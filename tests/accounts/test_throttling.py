"""Throttling per client address: failed logins (per address, and per address and
account), registrations and password changes answer 429 with a translated page; a
stranger's failures never lock the owner out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bounty.accounts.models import Role

from ..factories import DEFAULT_PASSWORD, create_user
from .helpers import STRONG

WRONG = "Wrong-password-42"


def login(client, email, password=DEFAULT_PASSWORD, address="198.51.100.1"):
    return client.post("/accounts/login", data={"email": email, "password": password},
                       environ_overrides={"REMOTE_ADDR": address})


@pytest.fixture
def limits(app):
    app.config.update(BOUNTY_LOGIN_LIMIT="4 per 10 minutes",
                      BOUNTY_LOGIN_ACCOUNT_LIMIT="2 per 15 minutes")
    return app


def test_failed_logins_on_many_accounts_from_one_address_are_limited(client, limits):
    statuses = [login(client, f"nobody{n}@example.com", WRONG).status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    throttled = login(client, "someone@example.com", WRONG)
    assert throttled.status_code == 429
    assert "尝试次数过多" in throttled.get_data(as_text=True)
    assert "Retry-After" in throttled.headers
    assert throttled.headers["X-Frame-Options"] == "DENY"  # answered before Flask, still
    # another address is not affected
    assert login(client, "nobody0@example.com", WRONG, address="198.51.100.2").status_code == 200


def test_the_429_page_is_translated(client, limits):
    for n in range(4):
        login(client, f"nobody{n}@example.com", WRONG)
    client.set_cookie("lang", "en")
    page = login(client, "x@example.com", WRONG).get_data(as_text=True)
    assert "Too many attempts" in page


def test_a_stranger_cannot_lock_the_owner_out(client, limits):
    reviewer = create_user(Role.reviewer)
    stranger = [login(client, reviewer.email, WRONG, address="203.0.113.9").status_code
                for _ in range(3)]
    assert stranger == [200, 200, 429]  # the stranger's address, for this account
    assert login(client, reviewer.email, address="198.51.100.7").status_code == 302


def test_the_owner_with_a_typo_is_limited_on_that_account_only(client, limits):
    user = create_user(Role.enterprise)
    assert [login(client, user.email, WRONG).status_code for _ in range(3)] == [200, 200, 429]
    assert login(client, user.email).status_code == 429  # wait, even with the right one
    assert login(client, "other@example.com", WRONG).status_code == 200


def test_successful_logins_cost_nothing(client, limits):
    user = create_user(Role.enterprise)
    for _ in range(6):
        assert login(client, user.email).status_code == 302
        client.post("/accounts/logout")


def test_the_limit_passes(client, limits, time_machine):
    time_machine.move_to("2026-03-01 10:00:00+08:00", tick=False)
    for n in range(5):
        login(client, f"nobody{n}@example.com", WRONG)
    assert login(client, "a@example.com", WRONG).status_code == 429
    time_machine.shift(timedelta(minutes=11))
    assert login(client, "a@example.com", WRONG).status_code == 200


def test_registrations_per_address_are_limited(client, app):
    app.config["BOUNTY_REGISTER_LIMIT"] = "2 per hour"
    data = {"name": "", "email": "x@example.com", "password": STRONG, "password2": STRONG,
            "kind": "enterprise"}
    statuses = [client.post("/accounts/register", data=data).status_code for _ in range(3)]
    assert statuses[:2] != [429, 429] and statuses[2] == 429
    assert client.get("/accounts/register").status_code == 200  # reading the form is free


def test_failed_password_changes_are_limited(client, app):
    app.config["BOUNTY_PASSWORD_LIMIT"] = "2 per 10 minutes"
    user = create_user(Role.enterprise)
    login(client, user.email, address="127.0.0.1")
    data = {"pw-current_password": WRONG, "pw-new_password": STRONG,
            "pw-new_password2": STRONG}
    statuses = [client.post("/accounts/profile/password", data=data).status_code
                for _ in range(3)]
    assert statuses[2] == 429 and 429 not in statuses[:2]
