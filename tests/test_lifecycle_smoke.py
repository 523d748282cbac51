from datetime import timedelta

import pytest

from bounty.audit import verify_chain
from bounty.challenges import services
from bounty.challenges.models import ChallengeState
from bounty.errors import ConcurrentUpdate, TransitionRefused
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey

from .factories import create_bid, create_challenge, create_user


def test_full_life_through_services(app, db, time_machine):
    owner = create_user("enterprise")
    # A reviewer per stage, as an office that separates its stages would staff them.
    reviewer, expert, inspector = (create_user("reviewer") for _ in range(3))
    challenge = create_challenge(owner)
    services.submit_challenge(challenge, owner)
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.vetting)
    assert challenge.state == ChallengeState.open and challenge.published_at
    bidder = create_user("institute")
    bid = create_bid(challenge, bidder)
    time_machine.move_to(challenge.bid_deadline + timedelta(minutes=1))
    closed = services.close_due_challenges()
    assert [c.id for c in closed] == [challenge.id]
    assert challenge.state == ChallengeState.evaluating
    services.select_bid(challenge, bid, owner)
    decide(challenge, expert, Outcome.approve, stage=StageKey.award)
    assert challenge.state == ChallengeState.in_progress
    for milestone in bid.milestones:
        services.report_milestone(milestone, bidder, "完成")
        services.confirm_milestone(milestone, owner)
    assert challenge.state == ChallengeState.acceptance_review
    decide(challenge, inspector, Outcome.approve, stage=StageKey.acceptance)
    assert challenge.state == ChallengeState.completed
    result = verify_chain()
    assert result.ok and result.checked == 11
    with pytest.raises(TransitionRefused):
        decide(challenge, inspector, Outcome.approve, stage=StageKey.acceptance)


def test_stale_decision_loses(app, db):
    from bounty.extensions import db as _db

    reviewer = create_user("reviewer")
    challenge = create_challenge(state=ChallengeState.vetting)
    assert challenge.version == 1  # this reviewer's page was loaded...
    with _db.engine.begin() as conn:  # ...then another reviewer's decision landed
        conn.execute(_db.text("UPDATE challenges SET version = version + 1 WHERE id = :i"),
                     {"i": challenge.id})
    with pytest.raises(ConcurrentUpdate):
        decide(challenge, reviewer, Outcome.approve, version=1, stage=StageKey.vetting)
