"""Public list and home, my challenges, and the audit trail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bounty.challenges import services
from bounty.challenges.models import Category, ChallengeState, Industry, IPTerms
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey

from ..factories import create_bid, create_challenge, create_user
from .helpers import PNG, attach, client_for


def cards(page: str) -> int:
    return page.count('class="challenge-card"')


@pytest.fixture
def listed(app):
    app.config["CHALLENGES_PER_PAGE"] = 10
    owner = create_user("enterprise")
    for n in range(25):
        create_challenge(owner, state=ChallengeState.open, industry=Industry.apparel,
                         title=f"服装智能裁剪难题{n:02d}")
    for n in range(3):
        create_challenge(owner, state=ChallengeState.failed, industry=Industry.eyewear,
                         category=Category.first_set, title=f"眼镜镜架首台套{n}")
    create_challenge(owner, state=ChallengeState.draft, title="保密的草稿")
    create_challenge(owner, state=ChallengeState.vetting, title="审题中的榜单")
    return owner


def test_list_paginates_public_challenges_only(app, client, listed):
    page = client.get("/challenges/").get_data(as_text=True)
    assert "共 28 个榜单" in page and cards(page) == 10
    assert "保密的草稿" not in page and "审题中的榜单" not in page
    last = client.get("/challenges/?page=3").get_data(as_text=True)
    assert cards(last) == 8
    assert cards(client.get("/challenges/?page=9").get_data(as_text=True)) == 0


@pytest.mark.parametrize(("query", "total"), [
    ("industry=eyewear", 3),
    ("category=first_set", 3),
    ("status=failed", 3),
    ("status=open&industry=apparel", 25),
    ("status=open&industry=eyewear", 0),
    ("status=draft", 28),  # not a public state: no filter, and still no drafts
    ("industry=nonsense", 28),
])
def test_list_filters(app, client, listed, query, total):
    page = client.get(f"/challenges/?{query}").get_data(as_text=True)
    assert f"共 {total} 个榜单" in page if total else "没有符合条件的榜单" in page
    assert "保密的草稿" not in page


def test_pagination_links_keep_filters(app, client, listed):
    page = client.get("/challenges/?industry=apparel&status=open").get_data(as_text=True)
    hrefs = re.findall(r'<nav class="pagination"[^>]*>.*?</nav>', page, re.S)[0]
    link = re.search(r'href="([^"]+)"', hrefs).group(1).replace("&amp;", "&")
    assert "page=2" in link and "industry=apparel" in link and "status=open" in link
    second = client.get(link).get_data(as_text=True)
    assert cards(second) == 10 and "服装智能裁剪难题" in second and "眼镜镜架首台套" not in second
    assert re.search(r'<option[^>]* selected[^>]* value="apparel"'
                     r'|<option value="apparel" selected', second)


def test_home_shows_open_challenges_and_counts(app, client, listed):
    page = client.get("/").get_data(as_text=True)
    assert cards(page) == 10 and "保密的草稿" not in page and "眼镜镜架首台套" not in page
    assert "<strong>25</strong>" in page and "<strong>28</strong>" in page
    assert "/challenges/?status=open" in page


def test_my_challenges(app, listed):
    other = create_challenge(create_user("enterprise"), title="别家的榜单")
    page = client_for(app, listed).get("/challenges/mine").get_data(as_text=True)
    assert "保密的草稿" in page and "审题中的榜单" in page and "服装智能裁剪难题00" in page
    assert other.title not in page
    draft_row = next(row for row in page.split("<tr>") if "保密的草稿" in row)
    assert "提交审题" in draft_row and "修改" in draft_row
    assert client_for(app, create_user("institute")).get("/challenges/mine").status_code == 403


# --------------------------------------------------------------------------- audit trail


@pytest.fixture
def trail(app, time_machine):
    time_machine.move_to(datetime(2030, 3, 1, 2, 0, tzinfo=UTC), tick=False)
    owner = create_user("enterprise", name="陈经理")
    reviewer = create_user("reviewer", name="科技局审核员")
    data = services.ChallengeData(
        title="智能锁低功耗指纹识别模组", industry=Industry.smart_lock,
        category=Category.key_process, background="待机功耗过高。", bottleneck="识别率与功耗。",
        expected_outcome="样机", bounty_yuan=300_000,
        bid_deadline=datetime(2030, 4, 1, 2, 0, tzinfo=UTC), delivery_months=6,
        ip_terms=IPTerms.negotiable)
    challenge = services.create_challenge(owner, data)
    services.submit_challenge(challenge, owner)
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.vetting)
    bidders = [create_user("institute", name="甲大学李教授"),
               create_user("institute", name="乙研究院王研究员")]
    for bidder in bidders:
        bid = create_bid(challenge, bidder, state="draft")
        services.save_bid(challenge, bidder, services.BidData(
            title="方案", approach="路线", team_lead=bidder.name, quote_yuan=250_000,
            duration_months=6), submit=True)
        attach(challenge, bidder, PNG, f"{bidder.name}的附图.png", bid=bid)
    return {"owner": owner, "reviewer": reviewer, "a": bidders[0], "b": bidders[1],
            "challenge": challenge}


def test_audit_trail_labels_and_local_time(app, trail):
    page = client_for(app, trail["owner"]).get(
        f"/challenges/{trail['challenge'].id}/audit").get_data(as_text=True)
    assert "2030-03-01 10:00:00" in page  # 02:00 UTC shown in Asia/Shanghai
    for text in ("创建榜单", "提交审题", "审题通过，发榜", "草稿 → 审题中", "审题中 → 揭榜中",
                 "陈经理", "科技局审核员"):
        assert text in page


@pytest.mark.parametrize(("who", "before", "after"), [
    # who sees bidder a's and b's activity (bid submissions and bid files)
    ("owner", set(), {"a", "b"}),
    ("reviewer", set(), {"a", "b"}),
    ("a", {"a"}, {"a"}),
    ("b", {"b"}, {"b"}),
])
def test_audit_trail_keeps_bids_sealed(app, trail, time_machine, who, before, after):
    challenge = trail["challenge"]
    for moment, visible in (("before", before), ("after", after)):
        if moment == "after":
            time_machine.move_to(challenge.bid_deadline + timedelta(minutes=1), tick=False)
        page = client_for(app, trail[who]).get(
            f"/challenges/{challenge.id}/audit").get_data(as_text=True)
        for bidder in ("a", "b"):
            name = trail[bidder].name
            shown = name in page or f"{name}的附图.png" in page
            assert shown == (bidder in visible), (moment, who, bidder)
        assert page.count("event-submit_bid") == len(visible)


def test_audit_trail_is_for_parties_only(app, trail):
    challenge = trail["challenge"]
    for user in (None, create_user("institute"), create_user("enterprise")):
        assert client_for(app, user).get(f"/challenges/{challenge.id}/audit").status_code == 404
    assert client_for(app, create_user("admin")).get(
        f"/challenges/{challenge.id}/audit").status_code == 200
