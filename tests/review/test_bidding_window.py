"""The shortest bidding window: 审题 cannot publish a challenge with too little time left to
bid, and an enterprise cannot submit one; the reviewer's comment survives the refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.challenges import services as challenge_services
from bounty.challenges.models import ChallengeState
from bounty.errors import TransitionRefused
from bounty.extensions import db
from bounty.review.decisions import decide
from bounty.review.models import Outcome, ReviewDecision, StageKey
from bounty.timeutil import utcnow

from ..factories import create_challenge, create_user


@pytest.mark.parametrize("left", [timedelta(seconds=-40), timedelta(days=6, hours=23)])
def test_vetting_refuses_to_publish_with_too_little_time_left(app, left):
    challenge = create_challenge(state=ChallengeState.vetting, bid_deadline=utcnow() + left)
    reviewer = create_user("reviewer")
    with pytest.raises(TransitionRefused, match="现在发榜留给揭榜的时间不足。揭榜期不得少于 7 天"):
        decide(challenge, reviewer, Outcome.approve, "同意发榜", stage=StageKey.vetting)
    assert challenge.state == ChallengeState.vetting
    # Returning it for a new deadline stays possible.
    decide(challenge, reviewer, Outcome.return_, "请把揭榜截止时间延后至少 7 天",
           stage=StageKey.vetting)
    assert challenge.state == ChallengeState.returned


def test_enough_time_left_publishes(app):
    challenge = create_challenge(state=ChallengeState.vetting,
                                 bid_deadline=utcnow() + timedelta(days=7, minutes=5))
    decide(challenge, create_user("reviewer"), Outcome.approve, stage=StageKey.vetting)
    assert challenge.state == ChallengeState.open


def test_the_window_is_configurable(app):
    app.config["MIN_BIDDING_DAYS"] = 2
    challenge = create_challenge(state=ChallengeState.vetting,
                                 bid_deadline=utcnow() + timedelta(days=3))
    decide(challenge, create_user("reviewer"), Outcome.approve, stage=StageKey.vetting)
    assert challenge.state == ChallengeState.open


def test_the_refusal_keeps_the_reviewers_comment(app, sign_in):
    challenge = create_challenge(state=ChallengeState.vetting,
                                 bid_deadline=utcnow() + timedelta(days=2))
    client = sign_in(create_user("reviewer"))
    page = client.get(f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert 'name="comment"' in page
    response = client.post(f"/review/challenges/{challenge.id}", data={
        "stage": "vetting", "outcome": "approve", "comment": "指标明确，同意发榜"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "揭榜期不得少于 7 天" in page and "请退回企业修改截止时间" in page
    assert "指标明确，同意发榜</textarea>" in page
    db.session.expire_all()
    assert challenge.state == ChallengeState.vetting
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewDecision)) == 0


def test_submission_for_vetting_needs_the_window_too(app):
    owner = create_user("enterprise")
    challenge = create_challenge(owner, state=ChallengeState.draft,
                                 bid_deadline=utcnow() + timedelta(days=3))
    with pytest.raises(TransitionRefused,
                       match="揭榜期不得少于 7 天.*请修改揭榜截止时间后再提交审题"):
        challenge_services.submit_challenge(challenge, owner)
    assert challenge.state == ChallengeState.draft


def test_the_posting_form_says_the_window_before_anyone_types(app, sign_in):
    app.config["MIN_BIDDING_DAYS"] = 10
    page = sign_in(create_user("enterprise")).get("/challenges/new").get_data(as_text=True)
    assert "揭榜期不少于 10 天。" in page
