"""axe-core on every kind of page the demo crawl reaches, for every role: no serious or
critical violation (WCAG 2.2 AA as the bar).

The crawl of tests/test_crawl.py finds the pages (quickly, with the test client); Chromium
then opens one page of each kind -- a path and its set of query parameters -- as the same
user, logged in through the login form, and axe-core checks it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from bounty.accounts.models import User
from bounty.demo import DEMO_PASSWORD, load_demo
from bounty.extensions import db

from ..challenges.helpers import client_for
from ..test_crawl import ROLES, crawl
from .journeys import DEMO_CONFIG, axe_problems

# One crawl per kind of user is enough: the other demo users of a role see the same pages.
CRAWLED = ["anonymous", "admin", "reviewer", "enterprise, completed", "enterprise, returned",
           "institute, winner", "institute, draft bid"]


@pytest.fixture
def live_server_config() -> dict:
    return dict(DEMO_CONFIG)


def _pages(app, email: str | None) -> list[str]:
    """One URL per endpoint and set of query parameters that the crawl answered with a page."""
    with app.app_context():
        user = None
        if email:
            user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one()
        statuses, _problems = crawl(client_for(app, user))
        adapter = app.url_map.bind("localhost")
        seen, pages = set(), []
        for url, status in statuses.items():
            if status != 200:
                continue
            parts = urlsplit(url)
            endpoint = adapter.match(parts.path)[0]
            kind = (endpoint, frozenset(q.split("=")[0] for q in parts.query.split("&") if q))
            if endpoint.endswith((".pdf", "attachment", "document", "export")) or kind in seen:
                continue
            seen.add(kind)
            pages.append(url)
        return pages


def _login(page, base: str, email: str) -> None:
    page.goto(base + "/accounts/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("role", CRAWLED)
def test_every_page_a_role_reaches_passes_axe(live_server, browser, role):
    with live_server.app.app_context():
        load_demo()
    email, _must_reach = ROLES[role]
    pages = _pages(live_server.app, email)
    assert len(pages) > 10, pages
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    problems = []
    try:
        page = context.new_page()
        if email:
            _login(page, live_server.url, email)
        for url in pages:
            response = page.goto(live_server.url + url)
            if response is None or "text/html" not in response.headers.get("content-type", ""):
                continue
            problems += [f"{role} {url}: {p}" for p in axe_problems(page)]
    finally:
        context.close()
    assert not problems, "\n".join(problems)
