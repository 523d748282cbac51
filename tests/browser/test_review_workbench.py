"""Two reviewers score one award in the browser, a third confirms it; the result goes on
through delivery, acceptance and first-set certification, and the certificate page renders.
Also saves a screenshot of the review queue to docs/review-queue.png."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from bounty.certification.services import apply_for_certification
from bounty.challenges import services as challenges
from bounty.challenges.models import Category, ChallengeState
from bounty.extensions import db
from bounty.review.assignment import assign_task, round_tasks, sync_tasks
from bounty.review.decisions import decide
from bounty.review.models import Outcome
from bounty.review.stages import StageKey

from ..factories import DEFAULT_PASSWORD, create_bid, create_challenge, create_user
from ..registry.helpers import cert_data, evidence_files

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _world(app):
    """Set up directly in the app: an award waiting for review and a busy queue."""
    with app.app_context():
        owner = create_user("enterprise", name="陈晓燕")
        challenge = create_challenge(owner, state=ChallengeState.award_review,
                                     deadline_in=timedelta(days=-1),
                                     title="高精度注塑模温控制成套装备关键技术",
                                     category=Category.complete_equipment)
        winner = create_user("institute", name="李明")
        bid = create_bid(challenge, winner, title="基于模型预测控制的模温系统")
        create_bid(challenge, title="分区加热与自适应 PID 方案")
        challenge.winning_bid_id = bid.id
        db.session.commit()
        for title in ("鞋底注塑机能耗优化", "眼镜钛架激光焊接工艺", "智能锁指纹模组国产化"):
            create_challenge(state=ChallengeState.vetting, title=title)
        reviewers = [create_user("reviewer", name=name, email=f"{key}@example.com")
                     for key, name in (("jia", "甲专家"), ("yi", "乙专家"), ("bing", "丙组长"),
                                       ("ding", "丁验收"), ("wu", "戊认定"))]
        lead = reviewers[2]
        lead.is_lead_reviewer = True
        db.session.commit()
        sync_tasks()
        assign_task(round_tasks(challenge, StageKey.award)[0], lead, lead)
        return challenge.id, [r.email for r in reviewers]


def _login(page, url: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(url + "/accounts/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()


def _score(page, url: str, challenge_id: int, values: list[int], comment: str) -> None:
    page.goto(f"{url}/review/challenges/{challenge_id}")
    inputs = page.locator(".score-form input[type=number]")
    assert inputs.count() == 4
    for i, value in enumerate(values):
        inputs.nth(i).fill(str(value))
    page.fill("#score-comment", comment)
    page.click(".score-form button[type=submit]")
    page.wait_for_load_state()
    assert "评分已提交" in page.content()


def test_two_score_a_third_confirms_the_certificate_renders(live_server, page, artifacts_dir):
    app, url = live_server.app, live_server.url
    challenge_id, emails = _world(app)

    _login(page, url, emails[0])
    page.goto(url + "/review/tasks")
    assert "审核任务队列" in page.content()
    page.screenshot(path=str(artifacts_dir / "review-queue.png"), full_page=True)
    if os.environ.get("BOUNTY_UPDATE_DOCS") or not (DOCS / "review-queue.png").exists():
        DOCS.mkdir(exist_ok=True)  # the committed copy changes only when asked to
        page.screenshot(path=str(DOCS / "review-queue.png"), full_page=True)
    _score(page, url, challenge_id, [9, 8, 8, 7], "技术路线先进，指标可达")
    assert "score-mean" in page.content()

    _login(page, url, emails[1])
    page.goto(f"{url}/review/challenges/{challenge_id}")
    assert "已有 1 位审核人员提交评分" in page.content()
    assert "技术路线先进" not in page.content()  # hidden until 乙 submits
    _score(page, url, challenge_id, [8, 8, 7, 8], "团队基础扎实")
    assert "技术路线先进" in page.content() and "团队基础扎实" in page.content()

    _login(page, url, emails[2])  # the lead reviewer the task was assigned to
    page.goto(f"{url}/review/challenges/{challenge_id}")
    page.check("input[name=outcome][value=approve]")
    page.fill("textarea[name=comment]", "同意企业选定结果。")
    page.click(".decide button[type=submit]")
    page.wait_for_load_state()
    assert "已提交审核结论" in page.content()
    page.screenshot(path=str(artifacts_dir / "review-award-confirmed.png"), full_page=True)

    with app.app_context():
        from bounty.accounts.services import find_user_by_email
        from bounty.challenges.models import Challenge

        challenge = db.session.get(Challenge, challenge_id)
        assert challenge.state == ChallengeState.in_progress
        owner = challenge.created_by
        bid = challenge.winning_bid
        winner = bid.created_by
        for milestone in bid.milestones:
            challenges.report_milestone(milestone, winner, f"{milestone.name}完成")
            challenges.confirm_milestone(milestone, owner)
        decide(challenge, find_user_by_email(emails[3]), Outcome.approve, stage=StageKey.acceptance)
        application = apply_for_certification(challenge, owner, cert_data(), evidence_files())
        decide(application, find_user_by_email(emails[4]), Outcome.approve)
        number, product = application.certificate_number, application.product_name

    page.goto(f"{url}/register/{number}")
    content = page.content()
    assert number in content and product in content
    page.screenshot(path=str(artifacts_dir / "certificate.png"), full_page=True)
