"""Matching pages: search, 为您推荐, 推荐揭榜单位 and invitations, and sealed bids."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.accounts.models import OrgKind, Role
from bounty.audit import AuditEvent, verify_chain
from bounty.challenges.models import BidState, Category, ChallengeState, Industry
from bounty.extensions import db
from bounty.matching.models import Invitation
from bounty.signals import institute_invited
from bounty.timeutil import utcnow
from tests.factories import create_bid, create_challenge, create_org, create_user


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def catalogue(app):
    owner = create_user(Role.enterprise)
    shoes = create_challenge(
        owner, state=ChallengeState.open, title="运动鞋大底注塑模具快速换模",
        industry=Industry.footwear, category=Category.key_process, bounty_yuan=800_000,
        bottleneck="鞋底注塑周期长，换模需要 40 分钟，良品率只有 92%。",
        keywords="鞋底 注塑 换模", deadline_in=timedelta(days=20))
    plc = create_challenge(
        owner, state=ChallengeState.open, title="智能锁装配线 PLC 控制与机器视觉检测",
        industry=Industry.smart_lock, category=Category.complete_equipment,
        bounty_yuan=2_000_000, bottleneck="锁体装配依赖人工目检，需用视觉检测替代，节拍 6s。",
        keywords="PLC 机器视觉 装配", deadline_in=timedelta(days=40))
    xss = create_challenge(
        owner, state=ChallengeState.completed, title="眼镜架 TR90 材料注塑",
        industry=Industry.eyewear, category=Category.first_batch_material, bounty_yuan=300_000,
        bottleneck="<script>alert(1)</script> TR90 镜架注塑变形", keywords="TR90 镜架",
        deadline_in=timedelta(days=5))
    draft = create_challenge(owner, state=ChallengeState.draft, title="鞋底草稿不可见",
                             keywords="鞋底")
    return {"owner": owner, "shoes": shoes, "plc": plc, "xss": xss, "draft": draft}


def result_ids(html: str, challenges: dict) -> set[str]:
    return {name for name, c in challenges.items()
            if name != "owner" and f'href="/challenges/{c.id}"' in html}


def test_search_chinese_english_and_mixed(client, catalogue):
    found = lambda q: result_ids(page(client.get("/challenges/", query_string={"q": q})),  # noqa: E731
                                 catalogue)
    assert found("鞋底") == {"shoes"}  # the draft about 鞋底 stays hidden
    assert found("plc") == {"plc"}
    assert found("PLC 视觉检测") == {"plc"}
    assert found("tr90") == {"xss"}
    assert found("") == {"shoes", "plc", "xss"}


def test_search_highlights_and_escapes(client, catalogue):
    html = page(client.get("/challenges/", query_string={"q": "TR90 注塑"}))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "<mark>tr90</mark>" in html.lower()


def test_search_filters_facets_sort_and_pages(client, catalogue):
    html = page(client.get("/challenges/"))
    assert "鞋革</a> (1)" in html and "智能锁</a> (1)" in html
    html = page(client.get("/challenges/", query_string={"industry": "smart_lock"}))
    assert result_ids(html, catalogue) == {"plc"}
    html = page(client.get("/challenges/", query_string={"bounty_min": "50",
                                                             "bounty_max": "100"}))
    assert result_ids(html, catalogue) == {"shoes"}
    soon = (utcnow() + timedelta(days=10)).date().isoformat()
    html = page(client.get("/challenges/", query_string={"deadline_to": soon}))
    assert result_ids(html, catalogue) == {"xss"}
    html = page(client.get("/challenges/", query_string={"status": "completed"}))
    assert result_ids(html, catalogue) == {"xss"}
    html = page(client.get("/challenges/", query_string={"sort": "bounty"}))
    ids = [c.id for c in (catalogue["plc"], catalogue["shoes"], catalogue["xss"])]
    positions = [html.index(f'href="/challenges/{i}"') for i in ids]
    assert positions == sorted(positions)
    assert "第 1 / 1 页" not in html  # one page only: no pager


def test_search_pagination(client, app):
    owner = create_user(Role.enterprise)
    made = [create_challenge(owner, state=ChallengeState.open, title=f"伺服电机控制{i}",
                             bounty_yuan=100_000 * (i + 1)) for i in range(23)]
    html = page(client.get("/challenges/", query_string={"q": "伺服", "sort": "bounty"}))
    assert "第 1 / 2 页" in html and 'rel="next"' in html
    assert f'href="/challenges/{made[-1].id}"' in html
    html = page(client.get("/challenges/",
                           query_string={"q": "伺服", "sort": "bounty", "page": 2}))
    assert f'href="/challenges/{made[0].id}"' in html
    assert f'href="/challenges/{made[-1].id}"' not in html


def test_nothing_found_page_helps(client, catalogue):
    html = page(client.get("/challenges/",
                           query_string={"q": "鞋底", "industry": "smart_lock"}))
    assert "没有找到" in html
    assert "试试去掉筛选条件" in html
    assert 'href="/challenges/?q=%E9%9E%8B%E5%BA%95"' in html  # the query without the filter
    assert "热门产业" in html and "industry=footwear" in html


@pytest.mark.parametrize("q", [
    '"unbalanced', "AND OR NOT", "(((", "*?~^", "鞋底 -", "a:b:c", "\\", "%00<>'\"",
    "x" * 5000, "１２３ＡＢＣ", "\u200b\ufeff", "😀🔧",
])
def test_hostile_queries_never_error(client, catalogue, q):
    assert client.get("/challenges/", query_string={"q": q}).status_code == 200


@pytest.mark.parametrize("args", [
    {"page": "-3"}, {"page": "abc"}, {"bounty_min": "x"},  # past the last page: 404
    {"deadline_from": "2026-13-45"}, {"industry": "nope"}, {"status": "draft"}, {"sort": "drop"},
])
def test_odd_parameters_are_ignored(client, catalogue, args):
    html = page(client.get("/challenges/", query_string=args))
    assert "鞋底草稿" not in html


def test_for_me_recommends_open_challenges_from_profile(app, login_as, catalogue):
    org = create_org(OrgKind.institute, expertise="注塑成型工艺与模具设计，鞋材发泡",
                     keywords="注塑 模具 鞋底")
    institute = create_user(Role.institute, organization=org)
    client = login_as(institute)
    html = page(client.get("/matching/for-me"))
    assert "shoes" in result_ids(html, catalogue)
    assert "xss" not in result_ids(html, catalogue)  # open challenges only
    # the shoe challenge answers the profile best (the other shares only 注塑 in its background)
    assert html.index(f'href="/challenges/{catalogue["shoes"].id}"') < html.index(
        f'href="/challenges/{catalogue["plc"].id}"')
    assert "<mark>" in html

    create_bid(catalogue["shoes"], institute)  # already bid: no longer recommended
    assert "shoes" not in result_ids(page(client.get("/matching/for-me")), catalogue)


def test_for_me_uses_past_bids_and_is_for_institutes(app, login_as, catalogue):
    institute = create_user(Role.institute)  # no profile at all
    client = login_as(institute)
    assert "完善单位的研究专长" in page(client.get("/matching/for-me"))
    other = create_challenge(catalogue["owner"], state=ChallengeState.open, title="锁芯防技术开启")
    create_bid(other, institute, title="视觉检测与 PLC 装配线改造", approach="机器视觉")
    assert "plc" in result_ids(page(client.get("/matching/for-me")), catalogue)
    assert login_as(catalogue["owner"]).get("/matching/for-me").status_code == 403
    assert app.test_client().get("/matching/for-me").status_code == 302


def test_suggested_institutes_and_invitation(app, login_as, catalogue):
    shoes = catalogue["shoes"]
    good = create_org(OrgKind.institute, name="鞋材研究院", expertise="鞋底注塑与快速换模技术",
                      keywords="注塑 换模")
    create_org(OrgKind.institute, name="生物医药所", expertise="抗体药物筛选")
    create_org(OrgKind.institute, name="未认证鞋材所", verified=False, expertise="鞋底注塑换模")
    invited_user = create_user(Role.institute, organization=good)
    owner_client = login_as(catalogue["owner"])

    html = page(owner_client.get(f"/challenges/{shoes.id}"))
    assert "推荐揭榜单位" in html and "鞋材研究院" in html
    assert "生物医药所" not in html and "未认证鞋材所" not in html
    assert "<mark>换模</mark>" in html

    # nobody else sees the suggestions
    for user in (create_user(Role.enterprise), invited_user, create_user(Role.reviewer)):
        assert "推荐揭榜单位" not in page(login_as(user).get(f"/challenges/{shoes.id}"))
    assert "推荐揭榜单位" not in page(app.test_client().get(f"/challenges/{shoes.id}"))

    sent = []
    with institute_invited.connected_to(lambda inv, actor: sent.append((inv.id, actor.id))):
        r = owner_client.post(f"/matching/challenges/{shoes.id}/invite",
                              data={"organization_id": good.id})
        assert r.status_code == 302
        again = owner_client.post(f"/matching/challenges/{shoes.id}/invite",
                                  data={"organization_id": good.id}, follow_redirects=True)
    assert "已邀请过该单位" in page(again)
    invitation = db.session.execute(sa.select(Invitation)).scalar_one()
    assert (invitation.challenge_id, invitation.organization_id) == (shoes.id, good.id)
    assert sent == [(invitation.id, catalogue["owner"].id)]
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "invite_institute")).scalar_one()
    assert event.challenge_id == shoes.id and verify_chain().ok
    assert "已邀请" in page(owner_client.get(f"/challenges/{shoes.id}"))

    invited_client = login_as(invited_user)
    html = page(invited_client.get("/matching/for-me"))
    assert "收到的揭榜邀请" in html and f'href="/challenges/{shoes.id}"' in html
    html = page(invited_client.get("/bids/mine"))  # the institute's dashboard
    assert "您有 1 个揭榜邀请" in html and f'href="/challenges/{shoes.id}"' in html


def test_invitation_refused_to_others(app, login_as, catalogue):
    good = create_org(OrgKind.institute, expertise="鞋底注塑")
    stranger = login_as(create_user(Role.enterprise))
    r = stranger.post(f"/matching/challenges/{catalogue['shoes'].id}/invite",
                      data={"organization_id": good.id})
    assert r.status_code == 403
    owner = login_as(catalogue["owner"])
    owner.post(f"/matching/challenges/{catalogue['xss'].id}/invite",  # completed
               data={"organization_id": good.id})
    enterprise_org = catalogue["owner"].organization
    owner.post(f"/matching/challenges/{catalogue['shoes'].id}/invite",
               data={"organization_id": enterprise_org.id})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0


def test_invite_needs_csrf_token(app, login_as, catalogue):
    good = create_org(OrgKind.institute, expertise="鞋底注塑")
    owner = login_as(catalogue["owner"])
    app.config["WTF_CSRF_ENABLED"] = True
    r = owner.post(
        f"/matching/challenges/{catalogue['shoes'].id}/invite",
        data={"organization_id": good.id})
    assert r.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0


def test_sealed_bids_never_shown_before_the_deadline(app, login_as, catalogue):
    """No role but the bidder's own organisation sees a bid's text through any matching page."""
    shoes = catalogue["shoes"]
    bidder = create_user(Role.institute)
    bidder.organization.expertise = "鞋底注塑"
    db.session.commit()
    secret = "量子纠缠焊接秘方"
    create_bid(shoes, bidder, title=f"{secret}方案", approach=f"{secret}，鞋底注塑换模")
    create_bid(shoes, state=BidState.withdrawn, title=f"{secret}撤回")
    colleague = create_user(Role.institute, organization=bidder.organization)
    others = {
        "anonymous": app.test_client(),
        "owner": login_as(catalogue["owner"]),
        "enterprise": login_as(create_user(Role.enterprise)),
        "institute": login_as(create_user(Role.institute)),
        "reviewer": login_as(create_user(Role.reviewer)),
        "admin": login_as(create_user(Role.admin)),
    }
    urls = [f"/challenges/?q={secret}", "/challenges/?q=鞋底",
            f"/challenges/{shoes.id}", f"/challenges/{shoes.id}/bids", "/matching/for-me"]
    for role, client in {**others, "colleague": login_as(colleague)}.items():
        for url in urls:
            html = client.get(url).get_data(as_text=True)
            # a search page repeats the query; the bids' own text never appears
            assert f"{secret}方案" not in html and f"{secret}撤回" not in html, (role, url)
            assert secret in url or secret not in html, (role, url)


def test_evaluation_page_ranks_bids_with_scores_and_escaped_highlights(app, login_as,
                                                                      time_machine):
    owner = create_user(Role.enterprise)
    challenge = create_challenge(
        owner, state=ChallengeState.open, title="鞋底注塑模具快速换模", keywords="鞋底 换模",
        bottleneck="换模时间长达 40 分钟", deadline_in=timedelta(days=3))
    weak = create_bid(challenge, title="通用自动化改造", approach="<b>产线</b>节拍优化。")
    strong = create_bid(challenge, title="大底模具快速换模系统",
                        approach="<script>x()</script>磁力快速换模，鞋底模具 5 分钟换模。")
    reviewer = create_user(Role.reviewer)
    # sealed before the deadline: the evaluation page does not exist for anyone
    for user in (owner, reviewer):
        assert login_as(user).get(f"/challenges/{challenge.id}/bids").status_code == 404
    time_machine.move_to(utcnow() + timedelta(days=4), tick=False)
    html = page(login_as(owner).get(f"/challenges/{challenge.id}/bids"))
    assert html.index(f'/bids/{strong.id}"') < html.index(f'/bids/{weak.id}"')
    assert "相关度" in html and re.search(r"<mark>[^<]*换模[^<]*</mark>", html)
    assert "<script>x()</script>" not in html and "&lt;script&gt;" in html
    assert "<b>产线</b>" not in html
    assert page(login_as(reviewer).get(f"/challenges/{challenge.id}/bids")).count("<mark>") > 0


def test_the_hall_is_the_search_page_and_the_old_address_leads_there(client, catalogue):
    html = page(client.get("/challenges/", query_string={"q": "鞋底", "status": "open"}))
    assert result_ids(html, catalogue) == {"shoes"}
    assert 'name="q"' in html and 'value="鞋底"' in html  # the box keeps the query
    assert "<mark>鞋底</mark>" in html
    response = client.get("/matching/search", query_string={"q": "鞋底", "state": "open"})
    assert response.status_code == 301
    assert response.location == "/challenges/?q=%E9%9E%8B%E5%BA%95&status=open"


def test_filters_facets_and_pages_keep_the_query(client, app):
    owner = create_user(Role.enterprise)
    for i in range(23):
        create_challenge(owner, state=ChallengeState.open, title=f"伺服电机控制{i}",
                         industry=Industry.smart_lock)
    html = page(client.get("/challenges/", query_string={"q": "伺服"}))
    assert 'href="/challenges/?q=%E4%BC%BA%E6%9C%8D&amp;industry=smart_lock"' in html
    assert 'href="/challenges/?page=2&amp;q=%E4%BC%BA%E6%9C%8D"' in html


def test_the_home_page_has_the_search_box(client, catalogue):
    html = page(client.get("/"))
    assert 'action="/challenges/"' in html and 'name="q"' in html


def test_an_institute_already_bidding_is_not_offered_an_invitation(app, login_as, catalogue):
    shoes = catalogue["shoes"]
    bidder = create_org(OrgKind.institute, name="已揭榜鞋材所", expertise="鞋底注塑与快速换模",
                        keywords="注塑 换模 鞋底")
    create_bid(shoes, create_user(Role.institute, organization=bidder), state=BidState.draft)
    other = create_org(OrgKind.institute, name="鞋材研究院", expertise="鞋底注塑与快速换模技术",
                       keywords="注塑 换模")
    owner_client = login_as(catalogue["owner"])
    html = page(owner_client.get(f"/challenges/{shoes.id}"))
    assert other.name in html and bidder.name not in html
    response = owner_client.post(f"/matching/challenges/{shoes.id}/invite",
                                 data={"organization_id": bidder.id}, follow_redirects=True)
    assert "无需邀请该单位" in page(response)
    assert db.session.execute(sa.select(Invitation)).first() is None
