from datetime import UTC, date, datetime, timedelta

import pytest

from bounty.certification import services as cert
from bounty.challenges import services
from bounty.challenges.models import ChallengeState, Industry
from bounty.market import services as market
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey
from bounty.stats import services as stats

from ..factories import create_challenge, create_user
from ..market.test_market import _deal
from ..registry.helpers import (  # noqa: F401  (fresh_requests is an autouse fixture)
    cert_data,
    completed_challenge,
    evidence_files,
    fresh_requests,
    listing_data,
    pdf_upload,
)

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def dataset(app, time_machine):
    """Two challenges vetted in 2 and 4 days, one still in 审题, one completed, one 流榜,
    a draft; one certificate (3 days); two listings (1 and 3 days), one traded."""
    time_machine.move_to(T0, tick=False)
    vetter = create_user("reviewer")
    c1 = create_challenge(industry=Industry.smart_equipment, bounty_yuan=1_000_000)
    c2 = create_challenge(industry=Industry.apparel, bounty_yuan=200_000)
    services.submit_challenge(c1, c1.created_by)
    time_machine.move_to(T0 + timedelta(days=2), tick=False)
    decide(c1, vetter, Outcome.approve, stage=StageKey.vetting)
    services.submit_challenge(c2, c2.created_by)
    time_machine.move_to(T0 + timedelta(days=6), tick=False)
    decide(c2, vetter, Outcome.approve, stage=StageKey.vetting)
    c3 = create_challenge(industry=Industry.footwear, bounty_yuan=300_000)
    services.submit_challenge(c3, c3.created_by)
    create_challenge(industry=Industry.eyewear, bounty_yuan=50_000)  # a draft: never counted
    create_challenge(industry=Industry.apparel, bounty_yuan=100_000, state=ChallengeState.failed)
    c4, owner, winner = completed_challenge(industry=Industry.smart_equipment,
                                            bounty_yuan=1_500_000)
    application = cert.apply_for_certification(c4, owner, cert_data(), evidence_files())
    first = market.create_listing(c4, owner, listing_data(), [pdf_upload()])
    second = market.create_listing(c4, winner, listing_data(negotiable=True), [pdf_upload()])
    time_machine.move_to(T0 + timedelta(days=7), tick=False)
    decide(first, create_user("reviewer"), Outcome.approve)
    market.record_deal(first, owner, _deal(price_yuan=280_000, contract_date=date(2026, 3, 8)))
    time_machine.move_to(T0 + timedelta(days=9), tick=False)
    decide(application, create_user("reviewer"), Outcome.approve)
    decide(second, create_user("reviewer"), Outcome.approve)


def test_public_figures(dataset):
    figures = stats.compute(staff=False)
    assert figures.challenge_total == 4
    assert dict(figures.by_industry) == {"服装": 2, "智能装备": 2}
    assert dict(figures.by_state) == {"揭榜中": 2, "已完成": 1, "流榜": 1}
    assert figures.bounty_total == 2_800_000 and figures.bounty_awarded == 1_500_000
    assert (figures.awarded, figures.failed, figures.award_rate) == (1, 1, 0.5)
    times = {s.label: (s.median_days, s.count) for s in figures.stage_times}
    assert times["审题"] == (3.0, 2)
    assert times["首台（套）认定"] == (9.0 - 6.0, 1)
    assert times["科技大市场挂牌审核"] == (2.0, 2)
    assert times["揭榜结果审核"] == (None, 0)
    assert figures.certificates == 1 and dict(figures.certificates_by_category) == {"成套装备": 1}
    assert figures.listings_public == 2 and dict(figures.listings_by_type) == {"许可": 2}
    assert (figures.deals, figures.deal_total) == (1, 280_000)
    assert figures.pending == {}


def test_reviewers_also_count_challenges_in_vetting(dataset):
    figures = stats.compute(staff=True)
    assert figures.challenge_total == 5 and figures.bounty_total == 3_100_000
    assert dict(figures.by_state)["审题中"] == 1
    assert figures.pending == {"certifications": 0, "listings": 0}


def test_stats_page_for_public_and_reviewer(dataset, client, login_as):
    page = client.get("/stats")
    assert page.status_code == 200
    html = page.text
    assert '<dd id="challenge-total">4</dd>' in html
    assert "280,000 元" in html or "28 万元" in html
    assert "50.0%" in html
    assert html.count("<svg") == 4 and "<script" not in html
    assert "审题中" not in html
    assert '<table id="registry-counts">' in html and "认定 · 成套装备" in html
    staff_page = login_as(create_user("reviewer")).get("/stats").text
    assert '<dd id="challenge-total">5</dd>' in staff_page and "审题中" in staff_page
    # the reviewers' wider total is not called what home calls the public one
    assert "<dt>悬赏总额</dt>" in html
    assert "<dt>悬赏总额（含审题中、退回和不予通过）</dt>" in staff_page
    assert "<dt>悬赏总额</dt>" not in staff_page


def test_empty_platform(app, client):
    figures = stats.compute()
    assert figures.challenge_total == 0 and figures.award_rate is None
    page = client.get("/stats")
    assert page.status_code == 200
    # a sentence, not an empty table, where nothing is certified or listed yet
    assert '<p class="empty" id="registry-counts">' in page.text
    assert '<table id="registry-counts">' not in page.text


def test_chart_escapes_labels_and_scales_bars():
    svg = str(stats.bar_chart([("<script>alert(1)</script>", 10), ("b&c", 5), ("零", 0)],
                              "标题 <b>"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "b&amp;c" in svg
    assert "&lt;b&gt;" in svg
    assert 'width="300"' in svg and 'width="150"' in svg and 'width="0"' in svg


def test_home_and_statistics_show_one_bounty_total(dataset, client):
    figures = stats.compute(staff=False)
    home = client.get("/").get_data(as_text=True)
    page = client.get("/stats").get_data(as_text=True)
    shown = "280 万元"  # the published challenges' bounties: 100 + 20 + 10 (流榜) + 150 万元
    assert figures.bounty_total == 2_800_000 == services.bounty_total()
    assert f"<strong>{shown}</strong> 悬赏总额" in home
    assert f'<dd id="bounty-total">{shown}</dd>' in page


def test_the_demo_spends_time_in_each_stage(app):
    from bounty.demo import load_demo

    load_demo()
    medians = {s.label: s.median_days for s in stats.stage_times() if s.count}
    assert set(medians) >= {"审题", "揭榜期", "评选", "揭榜结果审核", "攻关", "验收"}
    assert all(days and days >= 1 for days in medians.values()), medians
