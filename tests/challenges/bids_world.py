"""A challenge with bids from several institutes, and one user per role, for the bid tests."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import g
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage

from bounty.accounts.models import Role
from bounty.challenges.attachments import add_attachment, check_upload
from bounty.challenges.models import Attachment, Bid, BidState, Challenge, ChallengeState
from bounty.extensions import db

from ..conftest import signed_in
from ..factories import create_bid, create_challenge, create_user

# A fixed "now" (10:00 in Shanghai) and a deadline a week later.
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
DEADLINE = NOW + timedelta(days=7)
AFTER = DEADLINE + timedelta(minutes=1)

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def upload(name: str = "方案.png", data: bytes = PNG) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


@dataclass
class World:
    challenge: Challenge
    owner: object
    other_enterprise: object
    bidder: object
    bidder_colleague: object
    other_bidder: object
    non_bidder: object
    reviewer: object
    admin: object
    bid: Bid  # the bidder's submitted bid, with one attachment
    other_bid: Bid  # the other bidder's submitted bid
    draft_bid: Bid
    withdrawn_bid: Bid
    attachment: Attachment

    def user(self, role: str):
        return None if role == "anonymous" else getattr(self, role)


def build_world() -> World:
    """Call with the clock frozen at NOW."""
    owner = create_user(Role.enterprise)
    challenge = create_challenge(owner, state=ChallengeState.open, bid_deadline=DEADLINE,
                                 title="智能锁低功耗蓝牙模组关键技术")
    bidder = create_user(Role.institute)
    colleague = create_user(Role.institute, organization=bidder.organization)
    other_bidder = create_user(Role.institute)
    bid = create_bid(challenge, bidder, title="甲大学：超低功耗蓝牙方案")
    attachment = add_attachment(check_upload(upload()), user=bidder, challenge=challenge, bid=bid)
    db.session.commit()
    other_bid = create_bid(challenge, other_bidder, title="乙研究院：能量采集方案")
    draft_bid = create_bid(challenge, state=BidState.draft, title="丙草稿方案")
    withdrawn_bid = create_bid(challenge, state=BidState.withdrawn, title="丁已撤回方案")
    return World(
        challenge=challenge, owner=owner, other_enterprise=create_user(Role.enterprise),
        bidder=bidder, bidder_colleague=colleague, other_bidder=other_bidder,
        non_bidder=create_user(Role.institute), reviewer=create_user(Role.reviewer),
        admin=create_user(Role.admin), bid=bid, other_bid=other_bid, draft_bid=draft_bid,
        withdrawn_bid=withdrawn_bid, attachment=attachment,
    )


class FreshUserClient(FlaskClient):
    """A test client that forgets the previous request's user.

    The test's app context stays pushed across requests, so ``g`` (where
    Flask-Login caches ``current_user``) would otherwise leak from one client's
    request into another client's.
    """

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)


def client_for(app, user):
    """A test client with the user's session already open (skips the slow password check;
    the real login flow is tested with the accounts)."""
    return signed_in(app, user, FreshUserClient(app, app.response_class, use_cookies=True))
