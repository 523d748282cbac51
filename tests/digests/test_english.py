"""Emails and pages for a user whose language is English: no Chinese outside the data."""

from __future__ import annotations

import re
from datetime import timedelta

from bounty.challenges.models import ChallengeState
from bounty.digests.links import unsubscribe_token
from bounty.digests.models import Frequency
from bounty.digests.notifications import notify_item_assigned
from bounty.digests.outbox import drain_outbox
from bounty.digests.tasks import run_digest
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey
from bounty.timeutil import utcnow

from ..factories import create_challenge, create_user
from ..test_i18n import assert_no_cjk
from .conftest import publish, subscribe


def _parts(mail) -> list[str]:
    """Subject, text part, and the HTML part's text (tags and attributes dropped)."""
    html = re.sub(r"<[^>]+>", " ", mail.part("html"))
    return [mail.subject, mail.part("plain"), html]


def test_digest_in_english(mail_app, smtp_server, at_monday_8am):
    mail_app.config["DIGEST_MAX_ITEMS"] = 1
    user = create_user("institute", email="en@uni.test", locale="en", name="Dr. Smith")
    subscribe(user)
    owner = create_user("enterprise")
    first = publish(1, owner, title="注塑模温控制", bounty_yuan=1_000_000)
    publish(2, owner, title="镜框轻量化设计")
    run_digest(Frequency.daily)
    [mail] = smtp_server.to("en@uni.test")
    assert mail.subject == "Today's new challenges: 2 matching your subscription"
    text = mail.part("plain")
    for phrase in ("Hello Dr. Smith,", "In the past day, 2 new challenges matching your "
                   "subscription were published, most relevant first:", "Posted by: ",
                   "Industry: Smart equipment", "Bounty: ¥1,000,000", "Bid deadline: ",
                   "There is 1 more matching challenge; see the full list on the platform: ",
                   "Unsubscribe: https://bounty.example.cn/digests/unsubscribe/"):
        assert phrase in text, phrase
    assert '<html lang="en">' in mail.part("html")
    assert "View the challenge" in mail.part("html")
    assert_no_cjk(_parts(mail), allowed=(first.title, owner.organization.name))


def test_notifications_in_english(mail_app, smtp_server):
    owner = create_user("enterprise", email="owner@corp.test", locale="en", name="Ms. Lee")
    challenge = create_challenge(owner, state=ChallengeState.vetting, title="待退回的榜单")
    decide(challenge, create_user("reviewer"), Outcome.return_, "请补充测试方法",
           stage=StageKey.vetting)
    reviewer = create_user("reviewer", email="reviewer@gov.test", locale="en", name="Mr. Wang")
    notify_item_assigned(reviewer, item_key="vetting:1", title="Vetting #1",
                         link="https://bounty.example.cn/review/1",
                         due_at=utcnow() + timedelta(days=2))
    drain_outbox()

    [returned] = smtp_server.to("owner@corp.test")
    assert returned.subject == "Challenge “待退回的榜单” returned for revision"
    text = returned.part("plain")
    for phrase in ("Hello Ms. Lee,", "was returned for revision at vetting",
                   "Review comments: 请补充测试方法", "View the challenge: https://",
                   "because you turned on “Challenge returned for revision” notifications",
                   "Change subscription and notification settings: https://"):
        assert phrase in text, phrase
    assert_no_cjk(_parts(returned), allowed=(challenge.title, "请补充测试方法"))

    [assigned] = smtp_server.to("reviewer@gov.test")
    assert assigned.subject == "New task: Vetting #1"
    assert "Open the task: https://bounty.example.cn/review/1" in assigned.part("plain")
    assert "(Beijing time)" in assigned.part("plain")
    assert_no_cjk(_parts(assigned))


def test_subscription_pages_in_english(app, db, login_as):
    user = create_user("institute", locale="en")
    client = login_as(user)
    client.post("/lang/en")
    html = client.get("/digests/settings").get_data(as_text=True)
    for phrase in ("Email subscriptions and notifications", "New challenge digest", "Weekly",
                   "Minimum bounty (yuan)", "Bid not selected", "Save settings"):
        assert phrase in html, phrase

    page = client.get(f"/digests/unsubscribe/{unsubscribe_token(user.id, 'bid_selected')}")
    assert f"Unsubscribe {user.email} from “Bid selected” notifications?" in (
        page.get_data(as_text=True).replace("&#34;", '"'))
