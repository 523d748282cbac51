"""Workbench fixtures: fast sign-in and a challenge waiting at 揭榜结果审核."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bounty.challenges.models import ChallengeState
from bounty.extensions import db

from ..conftest import signed_in
from ..factories import create_bid, create_challenge, create_user


@pytest.fixture
def sign_in(app):
    """A client whose session is set directly (the password check is tested elsewhere)."""

    return lambda user: signed_in(app, user)


def award_challenge(bidders: int = 2, **fields):
    """A challenge at 揭榜结果审核 with ``bidders`` submitted bids, the first one selected.

    Returns (challenge, owner, bids).
    """
    owner = create_user("enterprise")
    challenge = create_challenge(owner, state=ChallengeState.award_review,
                                 deadline_in=timedelta(days=-1), **fields)
    bids = [create_bid(challenge, title=f"方案标题{i + 1}") for i in range(bidders)]
    challenge.winning_bid_id = bids[0].id
    db.session.commit()
    return challenge, owner, bids
