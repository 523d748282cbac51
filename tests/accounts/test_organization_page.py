"""Public organisation pages: who it is and its public challenges, never sealed bids."""

from __future__ import annotations

from bounty.accounts.models import OrgKind, Role
from bounty.challenges.models import ChallengeState

from ..factories import create_bid, create_challenge, create_org, create_user


def test_enterprise_page_lists_published_challenges_only(client, db):
    owner = create_user(Role.enterprise, organization=create_org(
        OrgKind.enterprise, name="温州汽摩配科技有限公司"))
    create_challenge(owner, state=ChallengeState.open, title="摩托车发动机缸体轻量化")
    create_challenge(owner, state=ChallengeState.draft, title="草稿里的秘密榜单")
    create_challenge(owner, state=ChallengeState.vetting, title="审题中的榜单")
    page = client.get(f"/orgs/{owner.organization_id}").get_data(as_text=True)
    assert "温州汽摩配科技有限公司" in page and "已认证" in page and "企业" in page
    assert "摩托车发动机缸体轻量化" in page
    assert "草稿里的秘密榜单" not in page and "审题中的榜单" not in page


def test_unverified_badge(client, db):
    org = create_org(OrgKind.enterprise, verified=False)
    page = client.get(f"/orgs/{org.id}").get_data(as_text=True)
    assert "待认证" in page and "已认证" not in page


def test_institute_page_lists_confirmed_awards_without_bids(client, db):
    institute = create_user(Role.institute, organization=create_org(
        OrgKind.institute, name="浙江大学温州研究院", expertise="精密铸造与轻量化"))
    won = create_challenge(state=ChallengeState.in_progress, title="缸体铸造工艺攻关")
    winning = create_bid(won, institute, approach="机密技术路线：真空压铸")
    won.winning_bid_id = winning.id
    db.session.commit()
    lost = create_challenge(state=ChallengeState.open, title="仍在揭榜的榜单")
    create_bid(lost, institute, approach="尚未截止的密封方案")
    page = client.get(f"/orgs/{institute.organization_id}").get_data(as_text=True)
    assert "浙江大学温州研究院" in page and "精密铸造与轻量化" in page
    assert "缸体铸造工艺攻关" in page
    assert "仍在揭榜的榜单" not in page
    assert "机密技术路线" not in page and "尚未截止的密封方案" not in page


def test_award_not_yet_confirmed_is_not_listed(client, db):
    institute = create_user(Role.institute)
    challenge = create_challenge(state=ChallengeState.award_review, title="待确认的揭榜结果")
    bid = create_bid(challenge, institute)
    challenge.winning_bid_id = bid.id
    db.session.commit()
    page = client.get(f"/orgs/{institute.organization_id}").get_data(as_text=True)
    assert "待确认的揭榜结果" not in page


def test_unknown_organisation_is_404(client, db):
    assert client.get("/orgs/999999").status_code == 404
