"""THE transition table: every state × every action × every role.

Allowed combinations (per workflow.TRANSITIONS) succeed through apply_transition and
leave exactly one new audit event with the right from/to; all others are refused
with TransitionRefused or PermissionDenied and change nothing.

The table has ~1,400 cases, so the app, the users and one challenge per state are
built once for the module; a refused case leaves its challenge untouched (which it
asserts), so the next case reuses it, and an allowed case gets a fresh challenge.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_login import AnonymousUserMixin

from bounty import create_app
from bounty.audit import AuditEvent
from bounty.challenges import workflow
from bounty.challenges.models import Challenge, ChallengeState
from bounty.errors import PermissionDenied, TransitionRefused
from bounty.extensions import db
from bounty.transactions import atomic

from ..conftest import _test_config, _truncate_all
from ..factories import create_bid, create_challenge, create_user

ROLES = ("system", "anonymous", "owner", "other_enterprise", "reviewer", "admin",
         "winner", "other_institute")
STATES = tuple(ChallengeState)
ALLOWED = {(t.source, t.action): t for t in workflow.TRANSITIONS}
# Which role each actor of the table is played by.
ACTOR_ROLE = {workflow.Actor.owner: "owner", workflow.Actor.reviewer: "reviewer",
              workflow.Actor.system: "system", workflow.Actor.winner: "winner"}
# States in which a winning bid exists (or has existed: a failed award keeps it).
WITH_WINNER = {ChallengeState.award_review, ChallengeState.in_progress,
               ChallengeState.acceptance_review, ChallengeState.completed}


class World:
    def __init__(self):
        self.owner = create_user("enterprise")
        self.winner = create_user("institute")
        self.users = {
            "system": None,
            "anonymous": AnonymousUserMixin(),
            "owner": self.owner,
            "other_enterprise": create_user("enterprise"),
            "reviewer": create_user("reviewer"),
            "admin": create_user("admin"),
            "winner": self.winner,
            "other_institute": create_user("institute"),
        }
        self.by_state: dict[ChallengeState, int] = {}

    def challenge(self, state: ChallengeState, fresh: bool = False) -> Challenge:
        challenge_id = self.by_state.get(state)
        challenge = db.session.get(Challenge, challenge_id) if challenge_id else None
        if fresh or challenge is None or challenge.state != state:
            challenge = self._build(state)
            if not fresh:
                self.by_state[state] = challenge.id
        return challenge

    def _build(self, state: ChallengeState) -> Challenge:
        challenge = create_challenge(self.owner, state=state, deadline_in=timedelta(days=-1))
        if state in WITH_WINNER:
            bid = create_bid(challenge, self.winner, milestones=0)
            challenge.winning_bid_id = bid.id
            db.session.commit()
        return challenge


@pytest.fixture(scope="module")
def world(_schema, database_url, tmp_path_factory):
    app = create_app(_test_config(database_url, tmp_path_factory.mktemp("table")))
    with app.app_context():
        yield World()
        db.session.remove()
        _truncate_all()
        db.engine.dispose()


def _audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def _stored(challenge_id: int) -> tuple:
    """State and version as stored, and the audit count, in one round trip."""
    return tuple(db.session.execute(
        sa.select(Challenge.state, Challenge.version,
                  sa.select(sa.func.count()).select_from(AuditEvent).scalar_subquery())
        .where(Challenge.id == challenge_id)
    ).one())


def test_table_is_what_the_design_says():
    assert len(workflow.TRANSITIONS) == len(ALLOWED) == 16
    assert {t.target for t in workflow.TRANSITIONS} | {ChallengeState.draft} == set(STATES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", workflow.ACTIONS)
@pytest.mark.parametrize("state", STATES, ids=[s.value for s in STATES])
def test_transition(world, state, action, role):
    transition = ALLOWED.get((state, action))
    allowed = transition is not None and ACTOR_ROLE[transition.party] == role
    challenge = world.challenge(state, fresh=allowed)
    user = world.users[role]
    before = _stored(challenge.id)
    assert before[0] == state

    if allowed:
        with atomic():
            workflow.apply_transition(challenge, action, user, comment="意见：请补充指标依据")
        assert _stored(challenge.id) == (transition.target, before[1] + 1, before[2] + 1)
        event = db.session.execute(
            sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)
        ).scalar_one()
        assert (event.action, event.from_state, event.to_state) == (
            action, state.value, transition.target.value)
        assert event.challenge_id == challenge.id
        assert event.actor_id == getattr(user, "id", None)
        return

    expected = PermissionDenied if transition is not None else TransitionRefused
    with pytest.raises(expected), atomic():
        workflow.apply_transition(challenge, action, user, comment="意见")
    assert _stored(challenge.id) == before


@pytest.mark.parametrize("transition", [t for t in workflow.TRANSITIONS if t.comment_required],
                         ids=lambda t: f"{t.action}-{t.source.value}")
def test_comment_required(world, transition):
    challenge = world.challenge(transition.source)
    user = world.users[ACTOR_ROLE[transition.party]]
    events = _audit_count()
    with pytest.raises(TransitionRefused), atomic():
        workflow.apply_transition(challenge, transition.action, user, comment="  ")
    db.session.expire_all()
    assert challenge.state == transition.source and _audit_count() == events
