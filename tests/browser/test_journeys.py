"""Each role's main journey through the demo platform, at 1280×800 and at 390×844, with
axe-core on every step (no serious or critical violation) and a screenshot of each step
(docs/screenshots/journeys/ with BOUNTY_UPDATE_DOCS=1; see journeys.py).

The demo data is loaded into the live server; every step starts from what a user sees:
the navigation (the folded menu on a phone), a search box, a link on the page.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from bounty.accounts.models import User
from bounty.challenges.models import Bid, Challenge, ChallengeState
from bounty.demo import load_demo
from bounty.extensions import db

from .journeys import DEMO_CONFIG, walk_everywhere


@pytest.fixture
def live_server_config() -> dict:
    return dict(DEMO_CONFIG)


@pytest.fixture
def demo(live_server):
    """The demo loaded into the live server."""
    with live_server.app.app_context():
        load_demo()
    return live_server


def _challenge_id(server, email: str, state: ChallengeState) -> int:
    with server.app.app_context():
        user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one()
        return db.session.execute(
            sa.select(Challenge.id).where(Challenge.organization_id == user.organization_id,
                                          Challenge.state == state)
            .order_by(Challenge.id)).scalars().first()


def _summary_takes_focus(page) -> bool:
    """The error summary gets the focus (autofocus runs as the page is first rendered).

    Polled by Playwright's assertion from outside the page: ``wait_for_function`` with an
    expression polls with ``eval`` inside the page once the first check fails (a busy
    machine), which the platform's CSP (no 'unsafe-eval') rightly refuses."""
    expect(page.locator(".error-summary").first).to_be_focused()
    return True


def _lines(locator) -> int:
    """How many lines the element's text takes."""
    return locator.evaluate("""e => { const r = document.createRange(); r.selectNodeContents(e);
        return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }""")


def _assert_visible_in_viewport(page, locator) -> None:
    """The element is on screen without scrolling sideways (a phone user can reach it)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


def test_anonymous_journey(demo, browser, artifacts_dir):
    def journey(walk) -> None:
        page = walk.page
        walk.go("/")
        walk.step("home")
        page.locator("main form[role=search] input[name=q]").fill("发泡")
        page.locator("main form[role=search]").get_by_role("button", name="搜索").click()
        assert walk.heading() == "榜单大厅"
        assert page.locator("main input[name=q]").input_value() == "发泡"
        assert page.locator(".search-results mark").count() > 0
        walk.step("search-from-home")
        page.locator(".facets .facet a").first.click()
        assert "q=" in page.url and "industry=" in page.url
        walk.step("facet-keeps-the-query")
        page.locator(".search-results .result-title").first.click()
        walk.step("challenge")
        walk.nav("统计")
        walk.step("statistics")
        walk.nav("公示名录")
        walk.step("first-set-register")
        walk.nav("科技大市场")
        walk.step("market")
        walk.nav("注册")
        page.locator("main form").get_by_role("button", name="注册").click()
        assert _summary_takes_focus(page)
        walk.step("registration-errors")
        walk.nav("登录")
        walk.step("login")

    walk_everywhere(browser, demo.url, "anonymous", artifacts_dir, journey)


def test_enterprise_journey(demo, browser, artifacts_dir):
    completed = _challenge_id(demo, "yayun@example.com", ChallengeState.completed)

    def journey(walk) -> None:
        page = walk.page
        walk.login("yayun@example.com")
        walk.step("home")
        walk.nav("发布榜单")
        page.get_by_role("button", name="保存草稿").last.click()
        assert _summary_takes_focus(page)
        walk.step("new-challenge-errors")
        walk.nav("我的榜单")
        walk.step("my-challenges")
        page.locator(f"main a[href='/challenges/{completed}']").first.click()
        walk.step("completed-challenge")
        walk.go(f"/challenges/{completed}/bids")
        price = page.locator("table.ranking td.price").first
        _assert_visible_in_viewport(page, price)
        if not walk.phone:  # "90 万元" and each header on one line
            assert _lines(price) == 1
            for header in page.locator("table.ranking th").all():
                assert _lines(header) == 1, header.inner_text()
        walk.step("ranked-bids")
        walk.go(f"/challenges/{completed}/delivery")
        walk.step("delivery")
        walk.nav("成果认定与挂牌")
        card = page.locator("main .challenge-card").first
        button = card.locator("a.button").first  # a button, not a bar across the card
        assert button.bounding_box()["width"] < card.bounding_box()["width"] * 0.8
        walk.step("certification-and-listing")
        walk.logout()

    walk_everywhere(browser, demo.url, "enterprise", artifacts_dir, journey)


def test_institute_journey(demo, browser, artifacts_dir):
    with demo.app.app_context():
        user = db.session.execute(
            sa.select(User).where(User.email == "wzu@example.com")).scalar_one()
        bid_id = db.session.execute(
            sa.select(Bid.id).where(Bid.organization_id == user.organization_id)
            .order_by(Bid.id)).scalars().first()

    def journey(walk) -> None:
        page = walk.page
        walk.login("wzu@example.com")
        walk.nav("榜单大厅")
        page.locator("main input[name=q]").fill("激光焊接")
        page.locator("main form[role=search]").get_by_role("button", name="搜索").click()
        walk.step("hall-search")
        page.locator(".search-results .result-title").first.click()
        walk.step("challenge")
        walk.nav("为您推荐")
        walk.step("recommended")
        walk.nav("我的揭榜")
        walk.step("my-bids")
        walk.go(f"/bids/{bid_id}")
        walk.step("bid")
        walk.nav("成果挂牌")
        assert walk.heading() == "成果挂牌"  # the page is called what the menu calls it
        walk.step("listing")
        walk.logout()

    walk_everywhere(browser, demo.url, "institute", artifacts_dir, journey)


def test_reviewer_journey(demo, browser, artifacts_dir):
    def journey(walk) -> None:
        page = walk.page
        walk.login("reviewer@example.com")
        walk.nav("审核工作台")
        walk.step("workbench")
        page.locator("main .stage-counts a").first.click()
        walk.step("queue")
        page.locator("main table a[href^='/review/challenges/']").first.click()
        walk.step("decision-page")
        page.get_by_role("button", name="提交审核结论").click()
        assert _summary_takes_focus(page)
        walk.step("decision-errors")
        walk.nav("审核任务")  # every stage's items, 首台套认定 and 挂牌 among them
        assert page.locator("header a[aria-current=page]").first.inner_text() == "审核任务"
        walk.step("all-tasks")
        walk.logout()
        # 许专家 confirmed the award of the challenge now at 验收: the queue and its decision
        # page say, before anything is typed, that she may not decide it and who may
        walk.login("reviewer2@example.com")
        walk.nav("审核任务")
        note = page.locator("main tr .decision-bar").first
        assert "按审核分离规则" in note.inner_text()
        assert "可以作出结论的审核人员：" in note.inner_text()
        walk.step("barred-in-the-queue")
        page.locator("main tr:has(.decision-bar) a[href^='/review/challenges/']").first.click()
        assert "按审核分离规则" in page.locator("#decision-bar").inner_text()
        assert page.locator("main textarea[name=comment]").count() == 0
        walk.step("barred-decision-page")
        walk.logout()

    walk_everywhere(browser, demo.url, "reviewer", artifacts_dir, journey)


def test_admin_journey(demo, browser, artifacts_dir):
    def journey(walk) -> None:
        page = walk.page
        walk.login("admin@example.com")
        walk.nav("单位认证")
        verify = page.locator("main").get_by_role("button", name="认证")
        if verify.count():
            _assert_visible_in_viewport(page, verify.first)
        walk.step("organisations")
        walk.nav("用户管理")
        walk.step("users")
        walk.nav("邮件队列")
        walk.step("outbox")
        walk.nav("审核任务")
        boxes = page.locator("main input[type=checkbox][name=task]")
        for i in range(boxes.count()):
            assert boxes.nth(i).get_attribute("aria-label") != "选择"
        walk.step("review-tasks")
        walk.nav("审核设置")
        walk.step("review-settings")
        walk.logout()

    walk_everywhere(browser, demo.url, "admin", artifacts_dir, journey)


def test_the_english_header_keeps_to_two_lines_for_the_longest_menu(demo, browser,
                                                                     artifacts_dir):
    def switch_language(walk, name: str) -> None:
        menu = walk.open_menu()  # the switch is a link, or a button of a small form
        menu.get_by_role("link", name=name).or_(menu.get_by_role("button", name=name)).click()
        walk.page.wait_for_load_state()

    def journey(walk) -> None:
        walk.login("admin@example.com")
        switch_language(walk, "English")
        walk.nav("Organization verification")
        walk.step("english-organisations")
        assert walk.page.locator("html").get_attribute("lang") == "en"
        walk.nav("Email outbox")
        walk.step("english-outbox")
        switch_language(walk, "中文")  # the choice is kept on the user

    walk_everywhere(browser, demo.url, "admin-english", artifacts_dir, journey)
