"""Every route, fed what the database cannot take, answers 4xx (never 5xx): ids past
the 32-bit range, huge or negative pages, dates in year 1 or 9999, NUL characters,
off-site ``next`` targets. Runs on SQLite and PostgreSQL like the rest of the suite."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from bounty.accounts.models import Role
from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.review.assignment import ReviewTask, sync_tasks

from .factories import create_bid, create_challenge, create_user

HUGE_IDS = ("2147483648", "99999999999999999999")
BAD_QUERIES = (
    {"page": "99999999999999999999", "deadline_from": "0001-01-01",
     "deadline_to": "9999-12-31", "start": "0001-01-01", "end": "9999-12-31",
     "format": "csv", "day": "0001-01-01", "q": "模温", "stage": "vetting"},
    {"page": "-3", "start": "9999-12-31", "end": "9999-12-31", "format": "xlsx",
     "deadline_from": "9999-12-31", "bounty_min": "99999999999999999999"},
    {"page": "2147483648", "q": "模温\x00", "industry": "\x00"},
)
BAD_FORM = {
    "task": HUGE_IDS[1], "organization_id": HUGE_IDS[1], "bid_id": HUGE_IDS[1],
    "reviewer": HUGE_IDS[1], "assignee": HUGE_IDS[1], "remove_milestone": HUGE_IDS[1],
    "next": "//evil.example/", "bid_deadline": "0001-01-01T00:00", "day": "0001-01-01",
    "contract_date": "9999-12-31", "price_yuan": HUGE_IDS[1], "quote_yuan": HUGE_IDS[1],
    "bounty_yuan": HUGE_IDS[1], "month": HUGE_IDS[1], "version": HUGE_IDS[1],
    "title": "=HYPERLINK(\"http://evil.example\")", "comment": "x" * 6000,
    "action": "assign", "outcome": "approve",
}
NUL_FORM = {"title": "a\x00b", "comment": "\x00", "name": "x"}


@pytest.fixture
def clients(app, login_as):
    owner = create_user(Role.enterprise)
    institute = create_user(Role.institute)
    challenge = create_challenge(owner, state=ChallengeState.open, title="扫描用榜单")
    create_bid(challenge, institute)
    users = [create_user(Role.admin), create_user(Role.reviewer), owner, institute]
    return challenge.id, [app.test_client()] + [login_as(u) for u in users]


def _urls(app, real_id: int):
    """(method, path) for every rule, with each of its arguments made bad in turn."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        methods = sorted(rule.methods & {"GET", "POST"})
        converters = rule._converters
        variants = []
        if not converters:
            variants.append({})
        else:
            plain = {n: (real_id if type(c).__name__ == "BoundedIntConverter" else "x")
                     for n, c in converters.items()}
            variants.append(plain)
            for name, converter in converters.items():
                bad = HUGE_IDS if type(converter).__name__ == "BoundedIntConverter" \
                    else ("x\x00y", "%00")
                variants += [{**plain, name: value} for value in bad]
        for values in variants:
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m, v=values: str(v[m[1]]), rule.rule)
            for method in methods:
                yield method, path, values


def test_no_route_answers_5xx_to_bad_input(app, clients):
    real_id, users = clients
    seen = 0
    for method, path, values in _urls(app, real_id):
        assert "<" not in path, path
        probing_path = any(v != real_id and v != "x" for v in values.values())
        for client in users:
            if method == "GET":
                queries = BAD_QUERIES if not probing_path else BAD_QUERIES[:1]
                for query in queries:
                    response = client.get(path, query_string=query)
                    assert response.status_code < 500, (method, path, query)
                    seen += 1
            elif probing_path or not values:
                # POSTs to real objects would change them mid-sweep: only probing ids
                # (and argument-free routes, with bad form values)
                for form in (BAD_FORM, NUL_FORM):
                    response = client.post(path, data=form)
                    assert response.status_code < 500, (method, path, form)
                    if form is NUL_FORM:
                        assert response.status_code in (302, 400, 403, 404, 405, 422), path
                    seen += 1
    assert seen > 500


@pytest.mark.parametrize("url", ["/challenges/99999999999999999999", "/challenges/2147483648",
                                 "/orgs/2147483648", "/bids/99999999999999999999"])
def test_ids_past_the_integer_range_are_not_found(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_a_nul_byte_is_answered_422_with_a_message(client):
    response = client.get("/matching/search", query_string={"q": "模温\x00"})
    assert response.status_code == 422
    assert "NUL" in response.get_data(as_text=True)


def test_a_page_past_the_limit_is_not_found_and_a_negative_one_is_the_first(client):
    assert client.get("/challenges/?page=99999999999999999999").status_code == 404
    assert client.get("/challenges/?page=-5").status_code == 200


def test_search_dates_out_of_range_are_dropped_and_said(client):
    response = client.get("/challenges/", query_string={"q": "模温",
                                                            "deadline_from": "0001-01-01",
                                                            "deadline_to": "9999-12-31"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "截止日期从：日期须在 2000-01-01 至 2099-12-31 之间。" in html
    assert "截止日期至：日期须在 2000-01-01 至 2099-12-31 之间。" in html


def test_ids_past_the_range_in_forms_name_nobody(app, login_as):
    """A select field that names a row (an assignee, a reviewer) never reaches the database
    with an id it cannot hold."""
    challenge = create_challenge(state=ChallengeState.vetting)
    sync_tasks()
    task = db.session.execute(sa.select(ReviewTask)).scalars().first()
    lead = login_as(create_user(Role.reviewer, is_lead_reviewer=True))
    response = lead.post("/review/tasks/bulk", data={
        "task": [str(task.id)], "action": "assign", "assignee": HUGE_IDS[1]})
    assert response.status_code == 302
    admin = login_as(create_user(Role.admin))
    response = admin.post(f"/review/items/challenge/{challenge.id}/conflicts",
                          data={"reviewer": HUGE_IDS[0], "reason": "例外"})
    assert response.status_code == 422
