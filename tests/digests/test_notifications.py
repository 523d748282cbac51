"""Each notification kind, triggered by its real event, arrives by SMTP; each can be off."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bounty.accounts.models import Role
from bounty.challenges import services as challenges
from bounty.challenges.models import BidState, ChallengeState
from bounty.digests.models import NotificationKind, NotificationPreference, OutboxEmail
from bounty.digests.notifications import notify_item_assigned, notify_item_overdue
from bounty.digests.outbox import drain_outbox
from bounty.extensions import db
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey
from bounty.timeutil import utcnow

from ..factories import create_bid, create_challenge, create_user
from .conftest import subscribe


def _bid_data(title="温控方案"):
    return challenges.BidData(title=title, approach="模型预测控制", team_lead="李教授",
                              quote_yuan=800_000, duration_months=10)


def _only_mail(smtp_server, address):
    drain_outbox()
    mails = smtp_server.to(address)
    assert len(mails) == 1, [m.subject for m in mails]
    return mails[0]


def _colleague(user, role=Role.enterprise, **fields):
    return create_user(role, organization=user.organization, **fields)


def test_vetting_decisions_reach_the_enterprise_with_the_comment(mail_app, smtp_server):
    owner = create_user("enterprise", email="owner@corp.test")
    colleague = _colleague(owner, email="colleague@corp.test")
    reviewer = create_user("reviewer")
    returned = create_challenge(owner, state=ChallengeState.vetting, title="待退回的榜单")
    decide(returned, reviewer, Outcome.return_, "请补充技术指标的测试方法", stage=StageKey.vetting)
    mail = _only_mail(smtp_server, "owner@corp.test")
    assert mail.subject == "榜单「待退回的榜单」被退回修改"
    assert "请补充技术指标的测试方法" in mail.part("plain")
    assert "请补充技术指标的测试方法" in mail.part("html")
    assert f"https://bounty.example.cn/challenges/{returned.id}" in mail.part("plain")
    assert len(smtp_server.to(colleague.email)) == 1

    # Resubmitted and returned again: a second email, not swallowed as a duplicate.
    challenges.submit_challenge(returned, owner)
    decide(returned, reviewer, Outcome.return_, "仍需补充", stage=StageKey.vetting)
    drain_outbox()
    assert [m.subject for m in smtp_server.to("owner@corp.test")] == [
        "榜单「待退回的榜单」被退回修改"] * 2

    rejected = create_challenge(owner, state=ChallengeState.vetting, title="不予通过的榜单")
    decide(rejected, reviewer, Outcome.reject, "不属于关键核心技术", stage=StageKey.vetting)
    approved = create_challenge(owner, state=ChallengeState.vetting, title="通过的榜单")
    decide(approved, reviewer, Outcome.approve, stage=StageKey.vetting)
    drain_outbox()
    subjects = [m.subject for m in smtp_server.to("owner@corp.test")]
    assert "榜单「不予通过的榜单」审题不予通过" in subjects
    assert "榜单「通过的榜单」审题通过，已发榜" in subjects
    reject_mail = next(m for m in smtp_server.to("owner@corp.test") if "不予通过" in m.subject)
    assert "不属于关键核心技术" in reject_mail.part("plain")
    assert reject_mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert not smtp_server.to(reviewer.email)


def test_new_bid_tells_the_enterprise_the_count_only(mail_app, smtp_server):
    owner = create_user("enterprise", email="owner@corp.test")
    challenge = create_challenge(owner, state=ChallengeState.open)
    first = create_user("institute")
    second = create_user("institute")
    challenges.save_bid(challenge, first, _bid_data("绝密方案甲"), submit=False)
    drain_outbox()
    assert smtp_server.received == []  # a draft is nobody's business
    challenges.save_bid(challenge, first, _bid_data("绝密方案甲"), submit=True)
    challenges.save_bid(challenge, first, _bid_data("绝密方案甲改"), submit=True)  # edit: no email
    challenges.save_bid(challenge, second, _bid_data("绝密方案乙"), submit=True)
    drain_outbox()
    mails = smtp_server.to("owner@corp.test")
    assert [("共 1 份" in m.part("plain"), "共 2 份" in m.part("plain")) for m in mails] == [
        (True, False), (False, True)]
    for mail in mails:
        for secret in ("绝密方案", first.organization.name, second.organization.name, "李教授"):
            assert secret not in mail.part("plain") and secret not in mail.part("html")
    assert not smtp_server.to(first.email)


def test_bidding_closed_tells_enterprise_and_bidders(mail_app, smtp_server, time_machine):
    owner = create_user("enterprise", email="owner@corp.test")
    challenge = create_challenge(owner, state=ChallengeState.open, title="截止的榜单")
    bidder = create_user("institute", email="bidder@uni.test")
    drafter = create_user("institute", email="drafter@uni.test")
    create_bid(challenge, bidder)
    create_bid(challenge, drafter, state=BidState.draft)
    unbid = create_challenge(owner, state=ChallengeState.open, title="无人揭榜的榜单")
    time_machine.move_to(challenge.bid_deadline + timedelta(minutes=1), tick=False)
    challenges.close_due_challenges()
    drain_outbox()
    owner_subjects = sorted(m.subject for m in smtp_server.to("owner@corp.test"))
    assert owner_subjects == sorted(["榜单「截止的榜单」揭榜截止，请评选方案",
                                     "榜单「无人揭榜的榜单」揭榜截止，无人揭榜"])
    assert "共收到 1 份" in next(m for m in smtp_server.to("owner@corp.test")
                              if "评选" in m.subject).part("plain")
    assert [m.subject for m in smtp_server.to("bidder@uni.test")] == [
        "榜单「截止的榜单」揭榜已截止"]
    assert smtp_server.to("drafter@uni.test") == []
    assert unbid.state == ChallengeState.failed


def _evaluating_with_two_bids():
    owner = create_user("enterprise", email="owner@corp.test")
    reviewer = create_user("reviewer")
    challenge = create_challenge(owner, state=ChallengeState.open, title="评选的榜单",
                                 deadline_in=timedelta(days=1))
    winner = create_user("institute", email="winner@uni.test")
    loser = create_user("institute", email="loser@uni.test")
    winning_bid = create_bid(challenge, winner)
    create_bid(challenge, loser)
    challenge.state = ChallengeState.evaluating  # the fixture skips the deadline job
    db.session.commit()
    return owner, reviewer, challenge, winning_bid


def test_award_confirmed_tells_winner_and_the_others(mail_app, smtp_server, time_machine):
    owner, reviewer, challenge, winning_bid = _evaluating_with_two_bids()
    challenges.select_bid(challenge, winning_bid, owner)
    drain_outbox()
    assert smtp_server.received == []  # not final until the reviewer confirms
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.award)
    assert _only_mail(smtp_server, "winner@uni.test").subject == \
        "恭喜！您的揭榜方案已中选：「评选的榜单」"
    assert _only_mail(smtp_server, "loser@uni.test").subject == "揭榜结果：「评选的榜单」"


def test_challenge_failed_tells_every_bidder_not_selected(mail_app, smtp_server):
    owner, _reviewer, challenge, _bid = _evaluating_with_two_bids()
    challenges.declare_failed(challenge, owner, "方案均不满足指标")
    drain_outbox()
    assert [m.subject for m in smtp_server.to("winner@uni.test")] == ["揭榜结果：「评选的榜单」"]
    assert [m.subject for m in smtp_server.to("loser@uni.test")] == ["揭榜结果：「评选的榜单」"]


def test_item_assigned_and_overdue(mail_app, smtp_server):
    reviewer = create_user("reviewer", email="reviewer@gov.test")
    due = utcnow() + timedelta(days=2)
    link = "https://bounty.example.cn/review/vetting/7"
    assert notify_item_assigned(reviewer, item_key="vetting:7", title="审题：注塑模温榜单",
                                link=link, due_at=due)
    assert notify_item_overdue(reviewer, item_key="vetting:7", title="审题：注塑模温榜单",
                               link=link, due_at=due)
    # The workbench may call again on every pass: still one email each.
    assert not notify_item_assigned(reviewer, item_key="vetting:7", title="审题：注塑模温榜单",
                                    link=link, due_at=due)
    db.session.commit()
    drain_outbox()
    subjects = [m.subject for m in smtp_server.to("reviewer@gov.test")]
    assert subjects == ["新的待办：审题：注塑模温榜单", "事项已逾期：审题：注塑模温榜单"]
    assert link in smtp_server.received[0].part("plain")


def test_deadline_three_days_away_reminds_visitors_and_drafters(mail_app, smtp_server,
                                                              login_as, runner, time_machine):
    owner = create_user("enterprise", email="owner@corp.test")
    challenge = create_challenge(owner, state=ChallengeState.open, title="快截止的榜单",
                                 deadline_in=timedelta(days=10))
    visitor = create_user("institute", email="visitor@uni.example.com")
    subscribe(visitor)
    passer_by = create_user("institute", email="passer@uni.example.com")  # no subscription
    drafter = create_user("institute", email="drafter@uni.example.com")
    submitter = create_user("institute", email="submitter@uni.example.com")
    subscribe(submitter)
    create_bid(challenge, drafter, state=BidState.draft)
    create_bid(challenge, submitter)
    for user in (visitor, passer_by, submitter):
        assert login_as(user).get(f"/challenges/{challenge.id}").status_code == 200

    runner.invoke(args=["jobs", "run"])
    assert smtp_server.received == []  # ten days away: too early

    time_machine.move_to(challenge.bid_deadline - timedelta(days=2, hours=23), tick=False)
    result = runner.invoke(args=["jobs", "run"])
    assert "deadline reminders recorded: 2" in result.output, result.output
    assert sorted(r.envelope_to[0] for r in smtp_server.received) == [
        "drafter@uni.example.com", "visitor@uni.example.com"]
    assert smtp_server.received[0].subject == "揭榜即将截止：「快截止的榜单」"
    time_machine.move_to(challenge.bid_deadline - timedelta(days=1), tick=False)
    runner.invoke(args=["jobs", "run"])
    assert len(smtp_server.received) == 2  # once per challenge and person


def test_each_kind_can_be_turned_off(mail_app, smtp_server):
    owner = create_user("enterprise", email="owner@corp.test")
    colleague = _colleague(owner, email="quiet@corp.test")
    db.session.add(NotificationPreference(user_id=colleague.id,
                                          kind=NotificationKind.bid_received, enabled=False))
    db.session.commit()
    challenge = create_challenge(owner, state=ChallengeState.open)
    challenges.save_bid(challenge, create_user("institute"), _bid_data(), submit=True)
    drain_outbox()
    assert len(smtp_server.to("owner@corp.test")) == 1
    assert smtp_server.to("quiet@corp.test") == []
    recipients = db.session.execute(sa.select(OutboxEmail.recipient)).scalars().all()
    assert recipients == ["owner@corp.test"]


def test_notification_rolls_back_with_the_refused_change(mail_app, smtp_server):
    from bounty.errors import ConcurrentUpdate

    owner = create_user("enterprise", email="owner@corp.test")
    reviewer = create_user("reviewer")
    challenge = create_challenge(owner, state=ChallengeState.vetting)
    page_version = challenge.version  # the reviewer's page was rendered at this version...
    with db.engine.begin() as connection:  # ...then another reviewer decided first
        connection.execute(sa.text("UPDATE challenges SET version = version + 1 WHERE id = :i"),
                           {"i": challenge.id})
    try:
        decide(challenge, reviewer, Outcome.approve, version=page_version, stage=StageKey.vetting)
    except ConcurrentUpdate:
        pass
    assert db.session.scalar(sa.select(sa.func.count(OutboxEmail.id))) == 0
    assert drain_outbox().sent == 0
