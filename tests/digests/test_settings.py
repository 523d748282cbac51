"""The settings page, default subscriptions, scheduler wiring and demo subscribers."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from bounty.accounts.models import OrgKind
from bounty.digests.models import Frequency, NotificationKind, Subscription
from bounty.digests.services import enabled_kinds, ensure_default_subscription, get_subscription
from bounty.extensions import db
from bounty.signals import user_registered
from bounty.transactions import atomic

from ..factories import create_org, create_user


def test_settings_page_saves_subscription_and_notification_choices(app, login_as):
    user = create_user("institute")
    client = login_as(user)
    page = client.get("/digests/settings")
    assert page.status_code == 200 and "新榜单推送" in page.get_data(as_text=True)
    kept = [k.value for k in NotificationKind if k != NotificationKind.deadline_soon]
    response = client.post("/digests/settings", data={
        "frequency": "daily", "industries": ["health", "digital"], "categories": ["first_set"],
        "keywords": "注塑，模温  PID", "min_bounty_yuan": "200000", "notifications": kept})
    assert response.status_code == 302
    subscription = get_subscription(user)
    assert subscription.frequency == Frequency.daily
    assert subscription.industries == ["digital", "health"]
    assert subscription.categories == ["first_set"]
    assert subscription.keywords == "注塑 模温 pid"
    assert subscription.min_bounty_yuan == 200_000
    assert enabled_kinds(user) == set(NotificationKind) - {NotificationKind.deadline_soon}
    page = client.get("/digests/settings").get_data(as_text=True)
    assert 'value="注塑 模温 pid"' in page and 'value="200000"' in page


def test_invalid_settings_are_shown_and_nothing_is_saved(app, login_as):
    user = create_user("institute")
    response = login_as(user).post("/digests/settings", data={
        "frequency": "daily", "keywords": "石墨烯", "min_bounty_yuan": "-5"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "请输入 0 至 100 亿之间的整数" in body and 'value="石墨烯"' in body
    assert get_subscription(user) is None


def test_settings_need_a_login(client):
    response = client.get("/digests/settings")
    assert response.status_code == 302 and "/accounts/login" in response.location


def test_institutes_get_a_default_subscription_on_registration(app):
    org = create_org(OrgKind.institute, keywords="注塑，精密模具；激光")
    institute = create_user("institute", organization=org)
    enterprise = create_user("enterprise")
    with atomic():  # what registration does inside its transaction
        user_registered.send(institute)
        user_registered.send(enterprise)
    subscription = get_subscription(institute)
    assert subscription.frequency == Frequency.weekly
    assert subscription.keywords == "注塑 精密模具 激光"
    assert get_subscription(enterprise) is None
    assert ensure_default_subscription(institute) is subscription  # idempotent


def test_default_keywords_fall_back_to_expertise(app):
    org = create_org(OrgKind.institute, expertise="高分子材料改性。注塑成型工艺；模具温度控制")
    user = create_user("institute", organization=org)
    with atomic():
        ensure_default_subscription(user)
    assert get_subscription(user).keywords == "高分子材料改性 注塑成型工艺 模具温度控制"


def test_scheduler_jobs_fire_at_eight_shanghai(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    from bounty.digests.tasks import add_jobs

    scheduler = BackgroundScheduler(timezone="Asia/Shanghai")
    add_jobs(scheduler, app)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"digest_daily", "digest_weekly", "outbox_drain"}
    tuesday = datetime(2024, 5, 7, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
    daily = jobs["digest_daily"].trigger.get_next_fire_time(None, tuesday)
    weekly = jobs["digest_weekly"].trigger.get_next_fire_time(None, tuesday)
    assert daily.isoformat() == "2024-05-08T08:00:00+08:00"
    assert weekly.isoformat() == "2024-05-13T08:00:00+08:00"  # the next Monday


def test_start_scheduler_runs_the_digest_jobs_once_per_machine(app):
    from bounty.jobs import start_scheduler
    from bounty.schedlock import release_scheduler_lock

    scheduler = start_scheduler(app)
    try:
        assert {job.id for job in scheduler.get_jobs()} >= {
            "close_deadlines", "digest_daily", "digest_weekly", "outbox_drain"}
    finally:
        scheduler.shutdown(wait=False)
        release_scheduler_lock(app)


def test_demo_subscriptions_are_idempotent_and_send_real_digests(mail_app, smtp_server,
                                                                 at_monday_8am, runner):
    from bounty.challenges.models import ChallengeState, Industry
    from bounty.digests.demo import load_demo_subscriptions

    from ..factories import create_challenge

    org = create_org(OrgKind.institute, keywords="模温 注塑")
    institute = create_user("institute", organization=org, email="demo-lab@uni.test")
    enterprise = create_user("enterprise", email="demo-corp@corp.test")
    create_user("reviewer")
    create_challenge(enterprise, state=ChallengeState.open, industry=Industry.health)
    other = create_user("enterprise", email="other-corp@corp.test")
    create_challenge(other, state=ChallengeState.open, industry=Industry.health,
                     title="生命健康榜单")
    first = load_demo_subscriptions()
    assert load_demo_subscriptions() == first
    assert db.session.scalar(sa.select(sa.func.count(Subscription.id))) == 3
    assert any("demo-lab@uni.test daily, industries all, ranked by 模温 注塑" in line
               for line in first)
    assert get_subscription(enterprise).industries == ["health"]
    result = runner.invoke(args=["digests", "send", "--period", "daily"])
    assert "3 digests queued" in result.output, result.output
    assert len(smtp_server.to(institute.email)) == 1
    assert "生命健康榜单" in smtp_server.to(enterprise.email)[0].part("plain")
