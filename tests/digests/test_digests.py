"""Digests over a real SMTP server: content, order, windows, once per period."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bounty.challenges.models import Category, Industry
from bounty.digests.models import Frequency, OutboxEmail, OutboxStatus
from bounty.digests.outbox import drain_outbox
from bounty.digests.services import compose_digests, period_key
from bounty.digests.tasks import run_digest
from bounty.extensions import db
from bounty.timeutil import to_local

from ..factories import create_user
from .conftest import MONDAY_8AM, publish, subscribe

NEUTRAL = {"background": "", "bottleneck": "", "expected_outcome": ""}


def _titles_in_order(text: str, titles: list[str]) -> bool:
    positions = [text.index(t) for t in titles]
    return positions == sorted(positions)


def test_digest_arrives_ranked_with_both_parts_and_headers(mail_app, smtp_server, at_monday_8am):
    user = create_user("institute", email="lab@uni.test", name="李教授")
    subscribe(user, keywords="注塑, 模温")
    owner = create_user("enterprise")
    best = publish(5, owner, title="高精度注塑模温控制系统", keywords="注塑 模温", **NEUTRAL)
    # worded alike (same field lengths): equally relevant, so the newer one first
    older_tie = publish(3, owner, title="注塑件表面缺陷检测", keywords="视觉", **NEUTRAL)
    newer_tie = publish(1, owner, title="注塑件外观缺陷检测", keywords="视觉", **NEUTRAL)
    body_only = publish(2, owner, title="电机绕组工艺改进", keywords="电机",
                        background="", expected_outcome="", bottleneck="外壳为注塑件")
    publish(2, owner, title="眼镜镜框轻量化设计", keywords="眼镜", **NEUTRAL)  # no keyword
    publish(30, owner, title="注塑老榜单", keywords="注塑", **NEUTRAL)  # before the window

    lines = run_digest(Frequency.daily)

    assert "daily:2024-05-06: 1 digests queued, 0 with nothing new, 0 already done" in lines
    [mail] = smtp_server.to("lab@uni.test")
    expected = [best, newer_tie, older_tie, body_only]
    titles = [c.title for c in expected]
    text, html = mail.part("plain"), mail.part("html")
    assert _titles_in_order(text, titles) and _titles_in_order(html, titles)
    for challenge in expected:
        url = f"https://bounty.example.cn/challenges/{challenge.id}"
        assert url in text and f'href="{url}"' in html
    assert "眼镜" not in text and "老榜单" not in text
    assert mail.subject == "今日新榜单：4 项与您的订阅相关"
    assert "李教授" in text and owner.organization.name in html
    assert "100 万元" in text and "智能装备" in html
    assert to_local(best.bid_deadline).strftime("%Y-%m-%d %H:%M") in text
    assert mail.message["To"] == "lab@uni.test"
    assert mail.message["From"].addresses[0].addr_spec == "noreply@bounty.test"
    assert mail.message["Message-ID"].endswith("@bounty.test>")
    # (folded on the wire: the URL is longer than a header line; unfolding leaves a space)
    unsubscribe = str(mail.message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<https://bounty.example.cn/digests/unsubscribe/")
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.strip("<>") in text and unsubscribe.strip("<>") in html
    row = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    assert row.status == OutboxStatus.sent and row.dedup_key == f"digest:{user.id}:daily:2024-05-06"


def test_filters_industry_category_bounty_and_own_challenges(mail_app, smtp_server,
                                                             at_monday_8am):
    user = create_user("enterprise", email="buyer@corp.test")
    subscribe(user, industries=["health", "digital"], categories=["first_set"],
              min_bounty_yuan=500_000)
    other = create_user("enterprise")
    wanted = publish(1, other, title="医用内窥镜首台套", industry=Industry.health,
                     category=Category.first_set, bounty_yuan=800_000)
    publish(1, other, title="低悬赏", industry=Industry.health, category=Category.first_set,
            bounty_yuan=100_000)
    publish(1, other, title="别的行业", industry=Industry.eyewear, category=Category.first_set)
    publish(1, other, title="别的类别", industry=Industry.digital, category=Category.other)
    publish(1, user, title="自家榜单", industry=Industry.health, category=Category.first_set)

    run_digest(Frequency.daily)

    [mail] = smtp_server.to("buyer@corp.test")
    text = mail.part("plain")
    assert wanted.title in text
    assert not any(t in text for t in ("低悬赏", "别的行业", "别的类别", "自家榜单"))
    assert "1 项" in mail.subject


def test_no_email_when_nothing_matches(mail_app, smtp_server, at_monday_8am):
    subscribe(create_user("institute", email="quiet@uni.test"), keywords="石墨烯")
    publish(1, title="注塑模温控制")
    lines = run_digest(Frequency.daily)
    assert "daily:2024-05-06: 0 digests queued, 1 with nothing new, 0 already done" in lines
    assert smtp_server.received == []
    assert db.session.scalar(sa.select(sa.func.count(OutboxEmail.id))) == 0


def test_second_run_of_the_same_period_sends_nothing(mail_app, smtp_server, at_monday_8am,
                                                     time_machine):
    user = create_user("institute", email="once@uni.test")
    subscribe(user)
    publish(1, title="第一项")
    run_digest(Frequency.daily)
    time_machine.move_to(MONDAY_8AM + timedelta(hours=6), tick=False)
    publish(1, title="第二项")  # new, but today's digest is already done
    lines = run_digest(Frequency.daily)
    assert "daily:2024-05-06: 0 digests queued, 0 with nothing new, 1 already done" in lines
    assert len(smtp_server.to("once@uni.test")) == 1

    # The next day's digest starts where the last one ended: only what is new since.
    time_machine.move_to(MONDAY_8AM + timedelta(days=1), tick=False)
    run_digest(Frequency.daily)
    first, second = smtp_server.to("once@uni.test")
    assert "第一项" in first.part("plain") and "第二项" not in first.part("plain")
    assert "第二项" in second.part("plain") and "第一项" not in second.part("plain")


def test_weekly_digest_covers_the_week_and_skips_daily_subscribers(mail_app, smtp_server,
                                                                   at_monday_8am):
    subscribe(create_user("institute", email="weekly@uni.test"), frequency=Frequency.weekly)
    subscribe(create_user("institute", email="daily@uni.test"), frequency=Frequency.daily)
    subscribe(create_user("institute", email="off@uni.test"), frequency=Frequency.off)
    publish(24 * 6, title="六天前")
    publish(24 * 8, title="八天前")
    run_digest(Frequency.weekly)
    [mail] = smtp_server.received
    assert mail.envelope_to == ["weekly@uni.test"]
    assert "六天前" in mail.part("plain") and "八天前" not in mail.part("plain")
    assert mail.subject.startswith("本周新榜单")
    assert period_key(Frequency.weekly, MONDAY_8AM) == "weekly:2024-W19"


def test_dry_run_writes_nothing(mail_app, smtp_server, at_monday_8am):
    sub = subscribe(create_user("institute", email="dry@uni.test"))
    challenge = publish(1)
    lines = run_digest(Frequency.daily, dry_run=True)
    assert f"dry@uni.test: {challenge.id}" in lines
    assert smtp_server.received == []
    assert db.session.scalar(sa.select(sa.func.count(OutboxEmail.id))) == 0
    db.session.refresh(sub)
    assert sub.last_digest_period is None


def test_digest_rendered_in_the_subscribers_language(mail_app, smtp_server, at_monday_8am):
    subscribe(create_user("institute", email="en@uni.test", locale="en"))
    subscribe(create_user("institute", email="zh@uni.test"))
    publish(1, bounty_yuan=1_000_000)
    run_digest(Frequency.daily)
    assert "¥1,000,000" in smtp_server.to("en@uni.test")[0].part("plain")
    assert "100 万元" in smtp_server.to("zh@uni.test")[0].part("plain")


def test_long_digest_is_capped_with_a_link_to_the_rest(mail_app, smtp_server, at_monday_8am):
    mail_app.config["DIGEST_MAX_ITEMS"] = 3
    subscribe(create_user("institute", email="many@uni.test"))
    for n in range(5):
        publish(1 + n, title=f"榜单{n}")
    run_digest(Frequency.daily)
    text = smtp_server.to("many@uni.test")[0].part("plain")
    assert "榜单0" in text and "榜单2" in text and "榜单3" not in text
    assert "另有 2 项相关榜单" in text


def test_cli_send_and_jobs_run(mail_app, smtp_server, at_monday_8am, runner, time_machine):
    subscribe(create_user("institute", email="cli@uni.test"))
    publish(1, title="命令行榜单")
    result = runner.invoke(args=["digests", "send", "--period", "daily", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "cli@uni.test" in result.output and smtp_server.received == []
    result = runner.invoke(args=["digests", "send", "--period", "daily"])
    assert result.exit_code == 0, result.output
    assert "1 digests queued" in result.output and "outbox: sent 1" in result.output
    assert len(smtp_server.to("cli@uni.test")) == 1
    # `bounty jobs run` drains whatever is queued (here: a row recorded but not yet sent).
    time_machine.move_to(MONDAY_8AM + timedelta(days=1), tick=False)
    publish(1, title="第二天的榜单")
    assert compose_digests(Frequency.weekly).queued == 0  # nobody is weekly
    assert compose_digests(Frequency.daily).queued == 1
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0, result.output
    assert "outbox: sent 1" in result.output
    assert len(smtp_server.to("cli@uni.test")) == 2


def test_without_mail_server_emails_are_printed(app, at_monday_8am, capfd):
    app.config["MAIL_SERVER"] = None
    subscribe(create_user("institute", email="log@uni.test"))
    publish(1, title="打印出来的榜单")
    run_digest(Frequency.daily)
    out = capfd.readouterr().out
    assert "To: log@uni.test" in out and "打印出来的榜单" in out
    assert db.session.execute(sa.select(OutboxEmail.status)).scalar_one() == OutboxStatus.sent
    assert drain_outbox().sent == 0


def test_late_commit_is_not_lost_and_nothing_repeats(mail_app, smtp_server, at_monday_8am,
                                                     time_machine):
    subscribe(create_user("institute", email="edge@uni.test"))
    publish(2 / 60, title="截止前两分钟发榜")  # in the first digest
    run_digest(Frequency.daily)
    # Stamped a minute before the run, but its transaction committed only after it.
    publish(1 / 60, title="晚提交的榜单")
    time_machine.move_to(MONDAY_8AM + timedelta(days=1), tick=False)
    run_digest(Frequency.daily)
    first, second = smtp_server.to("edge@uni.test")
    assert "截止前两分钟发榜" in first.part("plain")
    assert "晚提交的榜单" in second.part("plain")
    assert "截止前两分钟发榜" not in second.part("plain")
