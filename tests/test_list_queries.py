"""List pages run a fixed number of SQL statements, whatever number of rows they show:
each is rendered with a few rows and with many, and the two counts must be equal (a lazy
load per row — an N+1 — makes the second larger). Figures at scale: benchmarks/pages_bench.py.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.accounts.models import Role, User
from bounty.audit import record_event
from bounty.challenges.models import Challenge, ChallengeState
from bounty.extensions import db
from bounty.timeutil import utcnow

from .factories import create_bid, create_challenge, create_user


@contextmanager
def counting():
    """The number of statements run inside the block (in ``box[0]``)."""
    box = [0]

    def count(*_args) -> None:  # noqa: ANN002
        box[0] += 1

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield box
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def statements(client, path: str) -> int:  # noqa: ANN001
    client.get(path)  # warm: the first request of a client loads its user, caches, ...
    # the test's session outlives requests: rows the factories made would be found in it
    # without a query, hiding a lazy load per row
    db.session.remove()
    with counting() as box:
        response = client.get(path)
    assert response.status_code == 200, path
    return box[0]


def few_then_many(client, path: str, add, few: int, many: int) -> tuple[int, int]:  # noqa: ANN001
    add(few)
    first = statements(client, path)
    add(many - few)
    return first, statements(client, path)


def again(model, obj_id: int):  # noqa: ANN001, ANN201
    """A row made before the session was closed, in the current session."""
    return db.session.get(model, obj_id)


def test_my_bids(app, login_as):
    institute = create_user(Role.institute).id
    owner = create_user(Role.enterprise).id
    client = login_as(again(User, institute))

    def add(n: int) -> None:
        for _ in range(n):
            create_bid(create_challenge(again(User, owner), state=ChallengeState.open),
                       again(User, institute))

    few, many = few_then_many(client, "/bids/mine", add, 3, 25)
    assert few == many


def test_the_hall(app, client):
    owners = [create_user(Role.enterprise).id for _ in range(10)]  # one organisation each

    def add(n: int) -> None:
        for k in range(n):
            create_challenge(again(User, owners[k % len(owners)]), state=ChallengeState.open,
                             title=f"智能锁低功耗攻关{k}")

    add(3)
    few = [statements(client, path) for path in ("/challenges/", "/")]
    add(7)  # the home page shows the ten newest open challenges
    assert [statements(client, path) for path in ("/challenges/", "/")] == few
    searched = statements(client, "/challenges/?q=智能锁")
    add(5)
    assert statements(client, "/challenges/?q=智能锁") == searched


@pytest.mark.parametrize("path", ["/accounts/admin/users", "/accounts/admin/organizations"])
def test_admin_lists(app, login_as, path):
    client = login_as(create_user(Role.admin))

    def add(n: int) -> None:
        for _ in range(n):
            create_user(Role.institute)

    few, many = few_then_many(client, path, add, 3, 25)
    assert few == many


def test_audit_trail(app, login_as):
    owner = create_user(Role.enterprise)
    challenge = create_challenge(owner, state=ChallengeState.open).id
    client = login_as(owner)

    def add(n: int) -> None:
        for _ in range(n):
            actor = create_user(Role.reviewer)  # each with its own organisation
            record_event(actor=actor, action="approve_vetting",
                         subject=again(Challenge, challenge), challenge_id=challenge,
                         from_state="vetting", to_state="open")
            db.session.commit()

    few, many = few_then_many(client, f"/challenges/{challenge}/audit", add, 3, 25)
    assert few == many


def test_the_bids_of_a_challenge(app, login_as):
    owner = create_user(Role.enterprise)
    challenge = create_challenge(owner, state=ChallengeState.evaluating,
                                 bid_deadline=utcnow() - timedelta(days=1)).id
    client = login_as(owner)

    def add(n: int) -> None:
        for _ in range(n):  # each bidder its own institute
            create_bid(again(Challenge, challenge), create_user(Role.institute))

    few, many = few_then_many(client, f"/challenges/{challenge}/bids", add, 3, 10)
    assert few == many
