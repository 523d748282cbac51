"""The list pages' main queries read one index range in the order they show: EXPLAIN
names the index and no sort step, on SQLite and on PostgreSQL (where sequential and
bitmap scans and sorts are switched off for the test: on a handful of rows the planner
would rightly prefer them). A page past the last key is a 404, and a key names the same
rows however many newer rows arrive (bookmarkable)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from bounty.accounts import services as accounts
from bounty.accounts.models import Role
from bounty.audit import AuditEvent
from bounty.challenges import services as challenges
from bounty.challenges.models import Challenge
from bounty.extensions import db
from bounty.keyset import seek
from bounty.timeutil import utcnow

from .factories import create_user


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement) -> None:  # noqa: ANN001
        self.statement = statement


@compiles(Explain)
def _explain(element, compiler, **kw) -> str:  # noqa: ANN001
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


def plan(statement) -> str:  # noqa: ANN001
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        # what the index can deliver: a sort step left in the plan means it cannot
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(sa.text(f"SET LOCAL {setting} = off"))
    rows = conn.execute(Explain(statement)).all()
    db.session.rollback()
    return "\n".join(str(row[-1]) for row in rows)


def key(n: int = 5) -> tuple:
    return (utcnow() - timedelta(days=n), 10**6)


QUERIES = {
    "my bids": (lambda: challenges.organization_bids(_Member(3)), challenges.OWN_BIDS_ORDER,
                "ix_bids_organization_created"),
    "admin users": (accounts.users_query, accounts.USER_ORDER, "ix_users_created"),
    "admin organisations": (accounts.organizations_query, accounts.ORGANIZATION_ORDER,
                            "ix_organizations_created"),
}


class _Member:
    """Just enough of a user for the query builders."""

    is_authenticated = True

    def __init__(self, organization_id: int) -> None:
        self.organization_id = organization_id

    def belongs_to(self, organization_id: int | None) -> bool:
        return organization_id == self.organization_id


def assert_index_order(text: str, index: str) -> None:
    assert index in text, text
    assert "TEMP B-TREE" not in text and "Sort" not in text, text  # no sort step


@pytest.mark.parametrize("name", list(QUERIES))
@pytest.mark.parametrize("where", ["first", "after", "before"])
def test_a_list_page_seeks_on_its_index(app, name, where):
    build, columns, index = QUERIES[name]
    options = {"after": key()} if where == "after" else {"before": key()} if where == "before" \
        else {}
    assert_index_order(plan(seek(build(), columns, 31, **options)), index)


def test_my_challenges_and_the_audit_trail_read_their_index(app):
    mine = (sa.select(Challenge).where(Challenge.organization_id == 3)
            .order_by(Challenge.updated_at.desc(), Challenge.id.desc()))
    assert_index_order(plan(mine), "ix_challenges_organization_updated")
    # On an empty table PostgreSQL may as well walk the unique seq index and filter (the
    # same cost, no sort either): give it a log of many challenges, as a platform has.
    now = utcnow()
    db.session.execute(sa.insert(AuditEvent), [
        {"seq": n, "action": "edit", "subject_type": "challenge", "subject_id": n % 50,
         "challenge_id": n % 50, "created_at": now, "prev_hash": "0" * 64, "hash": "0" * 64}
        for n in range(1, 601)])
    db.session.commit()
    if db.session.connection().dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE audit_events"))
        db.session.commit()
    trail = sa.select(AuditEvent).where(AuditEvent.challenge_id == 3).order_by(AuditEvent.seq)
    assert_index_order(plan(trail), "ix_audit_events_challenge_seq")


def emails(page: str) -> list[str]:
    return re.findall(r'data-label="[^"]*">([^<]+@example.com)</td>', page)


def test_keys_are_bookmarks_and_past_the_end_is_not_found(app, login_as):
    client = login_as(create_user(Role.admin))
    for _ in range(35):
        create_user(Role.institute)
    first = client.get("/accounts/admin/users").get_data(as_text=True)
    after = first.split('href="/accounts/admin/users?after=')[1].split('"')[0]
    second = client.get(f"/accounts/admin/users?after={after}").get_data(as_text=True)
    for _ in range(5):  # newer users arrive: the bookmarked page still shows the same rows
        create_user(Role.institute)
    again = client.get(f"/accounts/admin/users?after={after}").get_data(as_text=True)
    # 35 users and the admin: 30 + 6
    assert emails(again) == emails(second) and len(emails(second)) == 6
    assert "?before=" in second and "?after=" not in second  # the last page
    older = int(after.split(".")[0]) - 10**12  # a key older than every row
    assert client.get(f"/accounts/admin/users?after={older}.1").status_code == 404
    for bad in ("x", "1.2.3.4.5", "9" * 30 + ".1", "1"):
        assert client.get(f"/accounts/admin/users?after={bad}").status_code == 404
