"""THE browser test: one challenge walked from posting to acceptance in Chromium, with
four users logging in and out through the UI.

The users and their organisations are made directly (they are not what is tested);
every step of the challenge's life goes through the pages. The bid deadline (the shortest
bidding window away) passes by moving the clock of the whole process (the live server
runs in it) past it; the closing job then runs as the scheduler would run it.

The final challenge page is saved as test-artifacts/challenge-page.png; with
BOUNTY_UPDATE_DOCS=1 also as docs/challenge-page.png, the README's screenshot.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bounty.accounts.models import OrgKind, Role
from bounty.challenges.models import Challenge, ChallengeState
from bounty.challenges.services import close_due_challenges
from bounty.extensions import db
from bounty.timeutil import to_local, utcnow

from ..factories import DEFAULT_PASSWORD, create_org, create_user

DOCS = Path(__file__).resolve().parents[2] / "docs"
TITLE = "智能锁体精密冲压在线视觉检测装备"


@pytest.fixture
def live_server_config() -> dict:
    # scrypt at a low cost: the same code path, but nine logins stay fast.
    return {"PASSWORD_HASH_METHOD": "scrypt:1024:8:1"}


@pytest.fixture
def people(live_server) -> dict:
    """Verified enterprise and institute members, and three reviewers, in the live app."""
    with live_server.app.app_context():
        enterprise = create_org(OrgKind.enterprise, name="温州瓯海精锁科技有限公司")
        institute = create_org(OrgKind.institute, name="温州大学机电工程学院")
        users = {
            "enterprise": create_user(Role.enterprise, organization=enterprise,
                                      email="chen@jingsuo.example.com", name="陈工"),
            "institute": create_user(Role.institute, organization=institute,
                                     email="li@wzu.example.com", name="李教授"),
            "reviewer": create_user(Role.reviewer, email="liu@kjj.example.com", name="刘审核"),
            # A reviewer per stage (揭榜结果审核 and 验收 are separated by default).
            "award_reviewer": create_user(Role.reviewer, email="chen@kjj.example.com",
                                          name="陈审核"),
            "acceptance_reviewer": create_user(Role.reviewer, email="zhou@kjj.example.com",
                                               name="周审核"),
        }
        return {role: user.email for role, user in users.items()}


def _flash(page) -> str:
    return page.locator(".flashes").inner_text()


def login(page, base: str, email: str) -> None:
    page.goto(base + "/")
    page.get_by_role("link", name="登录", exact=True).click()
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(DEFAULT_PASSWORD)
    page.locator("main form").get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/**")
    assert page.get_by_role("button", name="退出").is_visible()


def logout(page) -> None:
    page.get_by_role("button", name="退出").click()
    assert page.get_by_role("link", name="登录", exact=True).is_visible()


def open_challenge(page, base: str) -> None:
    """From the home page, through the challenge hall, to the challenge."""
    page.goto(base + "/")
    page.locator("header").get_by_role("link", name="榜单大厅").click()
    page.get_by_role("link", name=TITLE).click()
    expect_heading(page, TITLE)


def expect_heading(page, text: str) -> None:
    assert page.locator("h1").first.inner_text().strip() == text


def state_tag(page) -> str:
    return page.locator("article.challenge .meta .state").inner_text().strip()


def decide(page, outcome: str, comment: str) -> None:
    """Fill in and send the decision form of the review page that is open."""
    page.get_by_label(outcome, exact=True).check()
    page.get_by_label("审核意见").fill(comment)
    page.get_by_role("button", name="提交审核结论").click()
    assert "已提交审核结论" in _flash(page)


def test_one_challenge_from_posting_to_acceptance(live_server, page, people, time_machine,
                                                  artifacts_dir):
    base = live_server.url
    window = timedelta(days=live_server.app.config["MIN_BIDDING_DAYS"], minutes=10)
    deadline = (to_local(utcnow()) + window).replace(second=0, microsecond=0)

    # 1. The enterprise posts the challenge through the form and submits it for 审题.
    login(page, base, people["enterprise"])
    page.locator("header").get_by_role("link", name="发布榜单").click()
    page.get_by_label("榜单名称").fill(TITLE)
    page.get_by_label("所属产业").select_option(label="智能锁")
    page.get_by_label("需求类别").select_option(label="首台(套)装备")
    page.get_by_label("需求背景").fill("锁体冲压件目前靠人工目检，漏检率约 2%，返工成本高。")
    page.get_by_label("技术瓶颈").fill("反光金属表面的细微裂纹与毛刺难以稳定成像和识别。")
    page.get_by_label("指标名称").fill("缺陷检出率")
    page.get_by_label("目标值").fill("≥99.5")
    page.get_by_label("单位").fill("%")
    page.get_by_label("预期成果").fill("一台可接入冲压线的在线视觉检测装备及验收报告。")
    page.get_by_label("悬赏金额（元）").fill("1500000")
    page.get_by_label("交付周期（月）").fill("9")
    page.get_by_label("揭榜截止时间（北京时间）").fill(deadline.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("知识产权归属").select_option(label="共有")
    page.get_by_label("关键词").fill("机器视觉 冲压 缺陷检测")
    page.get_by_role("button", name="提交审题").click()
    assert "榜单已提交审题" in _flash(page)
    expect_heading(page, TITLE)
    assert state_tag(page) == "审题中"
    challenge_url = page.url
    logout(page)

    # 2. A reviewer vets it (审题) from the workbench queue and approves: it opens.
    login(page, base, people["reviewer"])
    page.locator("header").get_by_role("link", name="审核工作台").click()
    page.get_by_role("link", name=re.compile("^审题")).first.click()
    page.get_by_role("link", name=TITLE).click()
    decide(page, "通过", "需求明确，指标可考核，同意发榜。")
    logout(page)

    # 3. An institute finds it in the hall and bids, with a milestone, and submits.
    login(page, base, people["institute"])
    open_challenge(page, base)
    assert state_tag(page) == "揭榜中"
    page.get_by_role("link", name="我要揭榜").click()
    page.get_by_label("方案名称").fill("基于多光源偏振成像的冲压件缺陷在线检测方案")
    page.get_by_label("技术路线").fill("多角度偏振光源抑制金属反光，深度学习分割细微裂纹与毛刺。")
    page.get_by_label("项目负责人").fill("李教授")
    page.get_by_label("里程碑名称").fill("样机在冲压线联调")
    page.get_by_label("第几个月").fill("6")
    page.get_by_label("交付物").fill("样机一台及检测报告")
    page.get_by_label("报价（元）").fill("1380000")
    page.get_by_label("实施周期（月）").fill("9")
    page.get_by_role("button", name="提交方案").click()
    assert "揭榜方案已提交" in _flash(page)
    logout(page)

    # 4. The deadline passes; bidding closes as the scheduled job closes it.
    time_machine.move_to(utcnow() + window + timedelta(minutes=2), tick=True)
    with live_server.app.app_context():
        closed = close_due_challenges()
        assert [c.title for c in closed] == [TITLE]

    # 5. The enterprise opens the evaluation page and selects the bid.
    login(page, base, people["enterprise"])
    page.goto(challenge_url)
    assert state_tag(page) == "评选中"
    page.get_by_role("link", name="揭榜方案评选").click()
    page.get_by_label(re.compile("^选择 基于多光源偏振成像")).check()
    page.get_by_role("button", name="选定该方案").click()
    assert "已选定揭榜方案" in _flash(page)
    logout(page)

    # 6. Another reviewer confirms the award (揭榜结果审核), from the challenge page.
    login(page, base, people["award_reviewer"])
    page.goto(challenge_url)
    page.get_by_role("link", name="审核：揭榜结果审核").click()
    decide(page, "通过", "技术路线可行，报价合理，同意企业选定结果。")
    logout(page)

    # 7. The institute reports the milestone on the delivery page.
    login(page, base, people["institute"])
    page.goto(base + "/")
    page.locator("header").get_by_role("link", name="我的揭榜").click()
    page.get_by_role("link", name="里程碑交付").click()
    page.get_by_label("里程碑报告").fill("样机已在 3 号冲压线连续运行 72 小时，检出率 99.7%。")
    page.get_by_role("button", name="提交报告").click()
    assert "报告已提交" in _flash(page)
    logout(page)

    # 8. The enterprise confirms it: the last milestone opens 验收.
    login(page, base, people["enterprise"])
    page.goto(challenge_url)
    assert state_tag(page) == "攻关中"
    page.get_by_role("link", name="里程碑交付").click()
    page.get_by_role("button", name="确认该里程碑").click()
    assert "榜单已进入验收" in _flash(page)
    logout(page)

    # 9. A third reviewer accepts the result (验收) from the workbench.
    login(page, base, people["acceptance_reviewer"])
    page.locator("header").get_by_role("link", name="审核工作台").click()
    page.get_by_role("link", name=re.compile("^验收")).first.click()
    page.get_by_role("link", name=TITLE).click()
    decide(page, "通过", "各项指标经现场测试达到榜单要求，同意验收。")
    logout(page)

    # 10. The challenge is complete, for the public and for the enterprise.
    page.goto(challenge_url)
    assert state_tag(page) == "已完成"
    assert page.locator("dd.winner").inner_text() == "温州大学机电工程学院"
    login(page, base, people["enterprise"])
    page.goto(challenge_url)
    assert state_tag(page) == "已完成"
    assert page.get_by_role("link", name="申请首台（套）认定").is_visible()
    page.screenshot(path=str(artifacts_dir / "challenge-page.png"), full_page=True)
    if os.environ.get("BOUNTY_UPDATE_DOCS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(artifacts_dir / "challenge-page.png", DOCS / "challenge-page.png")

    with live_server.app.app_context():
        challenge = db.session.query(Challenge).filter_by(title=TITLE).one()
        assert challenge.state == ChallengeState.completed
