"""Builders for the semantic-evidence tests: challenges and bids from the labelled sets
in tests/data (similar-challenges, bid-copies), and embedding what is pending."""

from __future__ import annotations

import json
from pathlib import Path

from bounty.challenges.models import ChallengeIndicator, Industry, Milestone
from bounty.extensions import db
from bounty.matching import get_matcher
from bounty.matching.embedding import run_jobs

from ..factories import create_bid, create_challenge

DATA = Path(__file__).resolve().parents[1] / "data"


def _rows(name: str) -> dict[str, dict]:
    with (DATA / name).open(encoding="utf-8") as f:
        return {r["id"]: r for r in map(json.loads, f)}


CHALLENGES = _rows("similar-challenges/challenges.jsonl")
BIDS = _rows("bid-copies/bids.jsonl")


def embed_pending() -> int:
    return run_jobs(db.engine, get_matcher().embedder)


def make_challenge(key: str, owner=None, **fields):  # noqa: ANN001, ANN201
    row = CHALLENGES[key]
    challenge = create_challenge(owner, title=row["title"], keywords=row["keywords"],
                                 bottleneck=row["bottleneck"], background=row["background"],
                                 expected_outcome=row["expected_outcome"],
                                 industry=Industry(row["industry"]), **fields)
    challenge.indicators = [ChallengeIndicator(position=i, name=n, target=t, unit=u)
                            for i, (n, t, u) in enumerate(row["indicators"])]
    db.session.commit()
    return challenge


def make_bid(challenge, key: str, bidder=None, **changes):  # noqa: ANN001, ANN201
    row = {**BIDS[key], **changes}
    bid = create_bid(challenge, bidder, title=row["title"], approach=row["approach"],
                     milestones=0)
    bid.prior_results, bid.lab, bid.team_members = (row["prior_results"], row["lab"],
                                                    row["team_members"])
    bid.milestones = [Milestone(position=i, name=n, month=m, deliverable=d)
                      for i, (n, m, d) in enumerate(row["milestones"])]
    db.session.commit()
    return bid
