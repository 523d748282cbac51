"""`bounty demo`: every role and every state, valid USCCs, a real audit chain, idempotent."""

from __future__ import annotations

import sqlalchemy as sa

from bounty.accounts.models import Organization, Role, User
from bounty.accounts.services import authenticate
from bounty.accounts.uscc import validate_uscc
from bounty.audit import AuditEvent, verify_chain
from bounty.challenges.models import Bid, Challenge, ChallengeState
from bounty.demo import DEMO_PASSWORD, USERS
from bounty.extensions import db
from bounty.review.models import ReviewDecision

from .conftest import signed_in


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_demo_loads_everything_once(runner, app):
    """Load twice (nothing added the second time); every review and challenge page renders."""
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    for spec in USERS:
        assert spec.email in first.output
    assert DEMO_PASSWORD in first.output

    orgs = db.session.execute(sa.select(Organization)).scalars().all()
    for org in orgs:
        kind = validate_uscc(org.uscc)
        assert kind == org.kind.value or org.kind.value == "platform", org.name
        assert org.is_verified
    assert {u.role for u in db.session.execute(sa.select(User)).scalars()} == set(Role)

    states = dict(db.session.execute(
        sa.select(Challenge.state, sa.func.count()).group_by(Challenge.state)).all())
    assert set(states) == set(ChallengeState)
    assert states[ChallengeState.open] >= 8
    assert _count(ReviewDecision) >= 10
    # Several institutes bid, on several challenges.
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(Bid.organization_id)))) >= 3
    completed = db.session.execute(
        sa.select(Challenge).where(Challenge.state == ChallengeState.completed)).scalar_one()
    assert completed.winning_bid and all(m.confirmed_at for m in completed.winning_bid.milestones)
    # Challenges past their deadline were published before it.
    for challenge in db.session.execute(sa.select(Challenge)).scalars():
        if challenge.published_at is not None:
            assert challenge.published_at < challenge.bid_deadline, challenge.title

    chain = verify_chain()
    assert chain.ok and chain.checked == _count(AuditEvent)
    system = db.session.execute(sa.select(AuditEvent).where(
        AuditEvent.action.in_(["close_bidding", "close_unbid"]))).scalars().all()
    assert system and all(e.actor_id is None for e in system)

    before = {model: _count(model) for model in
              (Organization, User, Challenge, Bid, ReviewDecision, AuditEvent)}
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "0 users and 0 challenges added" in second.output
    assert {model: _count(model) for model in before} == before

    assert authenticate(USERS[0].email, DEMO_PASSWORD) is not None

    # Every review page and every challenge page renders on the demo data.
    reviewer = db.session.execute(
        sa.select(User).where(User.role == Role.reviewer)).scalars().first()
    client = signed_in(app, reviewer)
    assert client.get("/review/").status_code == 200
    for stage in ("vetting", "award", "acceptance"):
        page = client.get(f"/review/queue/{stage}", follow_redirects=True)
        assert page.status_code == 200 and "review/challenges/" in page.get_data(as_text=True)
    for challenge in db.session.execute(sa.select(Challenge)).scalars():
        expected = 404 if challenge.state == ChallengeState.draft else 200
        assert client.get(f"/review/challenges/{challenge.id}").status_code == expected
        assert client.get(f"/challenges/{challenge.id}").status_code == expected
    home = app.test_client().get("/").get_data(as_text=True)
    assert home.count('class="challenge-card"') >= 8
