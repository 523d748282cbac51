"""Crawl the demo platform as each role: every link reachable from the home page and the
navigation, two levels below them, answers without a server error or a dead end, and
each role reaches the pages it works on."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa

from bounty.accounts.models import User
from bounty.demo import load_demo
from bounty.extensions import db

from .challenges.helpers import client_for

# Who crawls (a demo email, None for anonymous), and the pages each must reach by links.
ROLES: dict[str, tuple[str | None, set[str]]] = {
    "anonymous": (None, {
        "challenges.index", "challenges.detail", "accounts.organization", "accounts.login",
        "accounts.register", "certification.register", "market.index",
        "stats.statistics",
    }),
    "admin": ("admin@example.com", {
        "accounts.admin_organizations", "accounts.admin_users", "accounts.admin_create_user",
        "accounts.profile", "challenges.audit",
    }),
    "reviewer": ("reviewer@example.com", {
        "review.index", "workbench.tasks", "review.decision",
        "bids.evaluate", "bids.delivery", "challenges.audit",
    }),
    # posted the completed challenge: evaluation, delivery, market listing
    "enterprise, completed": ("yayun@example.com", {
        "challenges.mine", "challenges.create", "bids.evaluate",
        "bids.delivery", "results.mine", "market.new", "challenges.audit",
        "accounts.members", "accounts.profile",
    }),
    # bidding has closed on one of its challenges: the evaluation page
    "enterprise, evaluating": ("ansuo@example.com", {"bids.evaluate"}),
    # one of its challenges was returned by 审题: the edit form
    "enterprise, returned": ("ruichi@example.com", {"challenges.edit", "bids.evaluate"}),
    "enterprise, in progress": ("oudian@example.com", {"bids.delivery"}),
    # bids on open challenges and won two: the bid form, its bids, delivery
    "institute, winner": ("wzu@example.com", {
        "bids.mine", "bids.edit", "bids.detail", "bids.delivery", "results.mine",
        "market.new", "challenges.audit",
    }),
    "institute, draft bid": ("zjut@example.com", {"bids.mine", "bids.edit", "bids.detail"}),
}

LEVELS = 2  # below the home page and the pages its navigation links to
SKIP_PREFIXES = ("/static/", "/lang/")  # the language switch would change what follows


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and not href.startswith(("#", "mailto:")):
            self.hrefs.append(href)


def _links(html: str, base: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        url = urlsplit(urljoin(base, href))
        if url.netloc not in ("", "localhost") or url.path.startswith(SKIP_PREFIXES):
            continue
        found.append(url.path + (f"?{url.query}" if url.query else ""))
    return found


def crawl(client, levels: int = LEVELS) -> tuple[dict[str, int], list[str]]:
    """GET the home page, every page it links to, and ``levels`` more levels of links.

    Returns each URL's status and the problems: server errors, and links that lead to
    a refusal or a missing page (a page should not offer what it then refuses).
    """
    statuses: dict[str, int] = {}
    problems: list[str] = []
    kinds: set[tuple[str, frozenset[str]]] = set()
    frontier = [("/", "(start)")]
    for _level in range(levels + 2):
        following = []
        for url, source in frontier:
            # One page per path and set of query parameters: the filter links of the
            # lists (?industry=..., ?page=...) differ only in their values.
            parts = urlsplit(url)
            kind = (parts.path, frozenset(q.split("=")[0] for q in parts.query.split("&") if q))
            if url in statuses or kind in kinds:
                continue
            kinds.add(kind)
            response = client.get(url)
            statuses[url] = response.status_code
            if response.status_code >= 400:
                problems.append(f"{url} -> {response.status_code} (linked from {source})")
            elif response.status_code in (301, 302, 303, 307, 308):
                following.append((urlsplit(response.location).path, url))
            elif response.mimetype == "text/html":
                base = f"http://localhost{url}"
                following += [(link, url) for link in _links(response.get_data(as_text=True), base)]
        frontier = list(dict.fromkeys(following))
    return statuses, problems


def test_every_role_crawls_the_demo_without_errors_or_dead_ends(app):
    load_demo()
    adapter = app.url_map.bind("localhost")
    report = []
    for role, (email, must_reach) in ROLES.items():
        user = None
        if email:
            user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one()
        statuses, problems = crawl(client_for(app, user))
        reached = {adapter.match(urlsplit(url).path)[0] for url in statuses}
        missing = sorted(must_reach - reached)
        assert len(statuses) > 20, (role, statuses)
        report += [f"{role}: {p}" for p in problems]
        if missing:
            report.append(f"{role}: no link leads to {', '.join(missing)}")
    assert not report, "\n".join(report)
