"""Test factories: create_<noun>(...) builds and commits a row with sensible defaults.

Factories may put a challenge straight into any state: they build fixtures,
they are not the application (which only moves states through the workflow).
"""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from functools import cache

from bounty.accounts.models import MembershipStatus, Organization, OrgKind, Role, User
from bounty.accounts.uscc import CHARSET, check_character
from bounty.challenges.models import (
    Bid,
    BidState,
    Category,
    Challenge,
    ChallengeIndicator,
    ChallengeState,
    Industry,
    IPTerms,
    Milestone,
)
from bounty.extensions import db
from bounty.timeutil import utcnow

DEFAULT_PASSWORD = "correct-horse-battery-9"
_counter = itertools.count(1)
_PREFIX = {OrgKind.enterprise: "91", OrgKind.institute: "12", OrgKind.government: "11",
           OrgKind.platform: "91"}


def make_uscc(kind: OrgKind = OrgKind.enterprise, rng=random) -> str:
    """A fresh, valid USCC whose prefix matches the kind."""
    body = _PREFIX[kind] + "".join(rng.choice(CHARSET[:10]) for _ in range(6)) + "".join(
        rng.choice(CHARSET) for _ in range(9)
    )
    return body + check_character(body)


@cache
def _password_hash(password: str) -> str:
    from bounty.accounts.services import hash_password

    return hash_password(password)


def create_org(kind: OrgKind = OrgKind.enterprise, *, verified: bool = True,
               name: str | None = None, **fields) -> Organization:
    n = next(_counter)
    org = Organization(
        name=name or {"enterprise": f"温州测试企业{n}有限公司", "institute": f"测试大学{n}",
                      "government": f"瓯海区科技局{n}", "platform": f"平台运营方{n}"}[kind.value],
        kind=kind, uscc=fields.pop("uscc", None) or make_uscc(kind), region="浙江省温州市瓯海区",
        contact_name="张工", contact_phone="0577-88888888",
        verified_at=utcnow() if verified else None, **fields,
    )
    db.session.add(org)
    db.session.commit()
    return org


def create_user(role: Role | str = Role.enterprise, *, organization: Organization | None = None,
                email: str | None = None, password: str = DEFAULT_PASSWORD,
                membership: MembershipStatus = MembershipStatus.active, **fields) -> User:
    role = Role(role)
    if organization is None:
        kind = {Role.enterprise: OrgKind.enterprise, Role.institute: OrgKind.institute,
                Role.reviewer: OrgKind.government, Role.admin: OrgKind.platform}[role]
        organization = create_org(kind)
    n = next(_counter)
    user = User(email=email or f"{role.value}{n}@example.com", name=fields.pop("name", f"用户{n}"),
                password_hash=_password_hash(password), role=role, organization=organization,
                membership=membership, **fields)
    db.session.add(user)
    db.session.commit()
    return user


def create_challenge(owner: User | None = None, *, state: ChallengeState = ChallengeState.draft,
                     deadline_in: timedelta = timedelta(days=30), **fields) -> Challenge:
    owner = owner or create_user(Role.enterprise)
    now = utcnow()
    challenge = Challenge(
        organization_id=owner.organization_id, created_by_id=owner.id,
        title=fields.pop("title", "高精度注塑模具温控系统关键技术攻关"),
        industry=fields.pop("industry", Industry.smart_equipment),
        category=fields.pop("category", Category.complete_equipment),
        background=fields.pop("background", "企业现有注塑生产线模温波动大，良品率偏低。"),
        bottleneck=fields.pop("bottleneck", "模温控制精度需达到 ±0.5℃，现有 PID 方案无法满足。"),
        expected_outcome=fields.pop("expected_outcome", "一套可量产的模温控制系统。"),
        bounty_yuan=fields.pop("bounty_yuan", 1_000_000),
        bid_deadline=fields.pop("bid_deadline", now + deadline_in),
        delivery_months=fields.pop("delivery_months", 12),
        ip_terms=fields.pop("ip_terms", IPTerms.shared),
        keywords=fields.pop("keywords", "注塑 模温 PID"),
        state=state,
        published_at=now if state not in (ChallengeState.draft, ChallengeState.vetting,
                                          ChallengeState.returned,
                                          ChallengeState.rejected) else None,
        **fields,
    )
    challenge.indicators = [ChallengeIndicator(position=0, name="控温精度", target="±0.5",
                                               unit="℃")]
    db.session.add(challenge)
    db.session.commit()
    return challenge


def create_bid(challenge: Challenge, bidder: User | None = None, *,
               state: BidState = BidState.submitted, milestones: int = 2, **fields) -> Bid:
    bidder = bidder or create_user(Role.institute)
    bid = Bid(
        challenge_id=challenge.id, organization_id=bidder.organization_id,
        created_by_id=bidder.id, title=fields.pop("title", "基于模型预测控制的模温系统方案"),
        approach=fields.pop("approach", "采用模型预测控制（MPC）与分区加热，控温精度 ±0.3℃。"),
        team_lead=fields.pop("team_lead", "李教授"), team_members="王博士、赵工程师",
        lab="智能制造实验室", quote_yuan=fields.pop("quote_yuan", 900_000),
        duration_months=fields.pop("duration_months", 10), prior_results="发明专利 3 项",
        state=state, submitted_at=utcnow() if state == BidState.submitted else None, **fields,
    )
    bid.milestones = [Milestone(position=i, name=f"里程碑{i + 1}", month=(i + 1) * 3,
                                deliverable="阶段报告") for i in range(milestones)]
    db.session.add(bid)
    db.session.commit()
    return bid
