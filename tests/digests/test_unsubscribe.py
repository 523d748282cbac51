"""Unsubscribe by link and by RFC 8058 one-click POST; bad tokens change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from bounty.digests.links import unsubscribe_token
from bounty.digests.models import Frequency, NotificationKind, Subscription
from bounty.digests.services import enabled_kinds
from bounty.digests.tasks import run_digest
from bounty.extensions import db

from ..factories import create_user
from .conftest import MONDAY_8AM, publish, subscribe


def _path(url: str) -> str:
    return url.removeprefix("https://bounty.example.cn")


@pytest.fixture
def digest_mail(mail_app, smtp_server, at_monday_8am):
    subscription = subscribe(create_user("institute", email="reader@uni.test"))
    publish(1)
    run_digest(Frequency.daily)
    [mail] = smtp_server.received
    return subscription, mail


def _frequency(subscription: Subscription) -> Frequency:
    db.session.expire_all()
    return db.session.get(Subscription, subscription.id).frequency


def test_unsubscribe_by_link_asks_first_then_stops_the_digest(digest_mail, client, smtp_server,
                                                              time_machine):
    subscription, mail = digest_mail
    link = next(line for line in mail.part("plain").splitlines()
                if "/digests/unsubscribe/" in line).split("：", 1)[1].strip()
    page = client.get(_path(link))
    assert page.status_code == 200 and "确认退订" in page.get_data(as_text=True)
    assert _frequency(subscription) == Frequency.daily  # a link scanner changes nothing
    done = client.post(_path(link))
    assert done.status_code == 200 and "已退订" in done.get_data(as_text=True)
    assert _frequency(subscription) == Frequency.off
    time_machine.move_to(MONDAY_8AM + timedelta(days=1), tick=False)
    publish(1)
    run_digest(Frequency.daily)
    assert len(smtp_server.received) == 1


def test_one_click_post_from_the_list_unsubscribe_header(digest_mail, csrf_app):
    subscription, mail = digest_mail
    url = str(mail.message["List-Unsubscribe"]).strip().strip("<>")
    # What a mail provider sends (RFC 8058): no cookie, no CSRF token, this body.
    response = csrf_app.test_client().post(
        _path(url), data=mail.message["List-Unsubscribe-Post"],
        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert _frequency(subscription) == Frequency.off


@pytest.mark.parametrize("forge", ["tampered", "other_salt", "other_secret", "garbage"])
def test_bad_token_is_refused_and_changes_nothing(digest_mail, csrf_app, forge):
    subscription, mail = digest_mail
    token = str(mail.message["List-Unsubscribe"]).strip().strip("<>").rsplit("/", 1)[1]
    payload = {"u": subscription.user_id, "p": "digest"}
    bad = {
        "tampered": token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        "other_salt": URLSafeTimedSerializer("test-secret", salt="bounty.other").dumps(payload),
        "other_secret": URLSafeTimedSerializer("not-our-secret",
                                               salt="bounty.digests.unsubscribe").dumps(payload),
        "garbage": "not-a-token",
    }[forge]
    client = csrf_app.test_client()
    for method in (client.get, client.post):
        response = method(f"/digests/unsubscribe/{bad}")
        assert response.status_code == 400
        assert "退订链接无效或已过期，未做任何更改" in response.get_data(as_text=True)
    assert _frequency(subscription) == Frequency.daily


def test_expired_token_is_refused(digest_mail, client, time_machine):
    subscription, mail = digest_mail
    url = str(mail.message["List-Unsubscribe"]).strip().strip("<>")
    time_machine.move_to(MONDAY_8AM + timedelta(days=400), tick=False)
    assert client.post(_path(url)).status_code == 400
    assert _frequency(subscription) == Frequency.daily


def test_a_token_only_touches_its_own_user_and_purpose(app, client):
    reader = create_user("institute")
    other = create_user("institute")
    mine, theirs = subscribe(reader), subscribe(other)
    token = unsubscribe_token(reader.id, NotificationKind.deadline_soon.value)
    assert client.post(f"/digests/unsubscribe/{token}").status_code == 200
    assert NotificationKind.deadline_soon not in enabled_kinds(reader)
    assert enabled_kinds(other) == set(NotificationKind)
    assert _frequency(mine) == Frequency.daily and _frequency(theirs) == Frequency.daily
    assert NotificationKind.bid_received in enabled_kinds(reader)
