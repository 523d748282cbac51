"""Two reviewers acting on one item at once: exactly one decision counts, the other
sees a clear message and the current state. Real threads, real sessions."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from bounty.audit import AuditEvent
from bounty.challenges.models import Challenge, ChallengeState
from bounty.extensions import db
from bounty.review.assignment import sync_tasks
from bounty.review.models import ReviewDecision

from ..factories import create_challenge, create_user


def _post_together(clients, url, payloads, before_post=None):
    """POST from each client in its own thread, released at the same moment."""
    barrier = threading.Barrier(len(clients))
    responses: list = [None] * len(clients)
    errors: list = []

    def run(i):
        try:
            barrier.wait(timeout=10)
            responses[i] = clients[i].post(url, data=payloads[i], follow_redirects=True)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    if before_post is not None:
        before_post()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return responses


def _vetting_challenge_and_pages(sign_in):
    challenge = create_challenge(state=ChallengeState.vetting, title="眼镜钛架激光焊接工艺")
    sync_tasks()
    url = f"/review/challenges/{challenge.id}"
    clients = [sign_in(create_user("reviewer")), sign_in(create_user("reviewer"))]
    for client in clients:  # both pages show the same version
        assert f'name="version" type="hidden" value="{challenge.version}"' in client.get(
            url).get_data(as_text=True)
    payloads = [
        {"stage": "vetting", "outcome": "approve", "comment": "", "version": challenge.version},
        {"stage": "vetting", "outcome": "return", "comment": "指标单位不清楚",
         "version": challenge.version},
    ]
    return challenge, url, clients, payloads


def _assert_one_winner(challenge_id, responses):
    db.session.expire_all()
    challenge = db.session.get(Challenge, challenge_id)
    decisions = db.session.execute(sa.select(ReviewDecision)).scalars().all()
    assert len(decisions) == 1
    winner = decisions[0].outcome.value
    assert challenge.state == {"approve": ChallengeState.open,
                               "return": ChallengeState.returned}[winner]
    transitions = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(["approve_vetting", "return_vetting"])))
    assert transitions == 1
    pages = [r.get_data(as_text=True) for r in responses]
    losers = [p for p in pages if "已被他人" in p or "不在此审核阶段" in p]
    assert len(losers) == 1, [p[:200] for p in pages]
    # The loser is shown the current state of the challenge.
    assert challenge.state.label in losers[0]
    return winner


def test_two_reviewers_decide_at_once(app, sign_in):
    """Two threads, two sessions, both posting on the same version of the page.

    On PostgreSQL a third connection holds the challenge's row lock until both
    requests are blocked on it, so the two decisions truly overlap in the
    database; then exactly one wins. SQLite has one writer at a time: there the
    two requests are released together and the database serialises them.
    """
    challenge, url, clients, payloads = _vetting_challenge_and_pages(sign_in)
    release = None
    if db.engine.dialect.name == "postgresql":
        release = _hold_row_lock_until_both_wait(challenge.id)
    responses = _post_together(clients, url, payloads, before_post=release)
    assert all(r.status_code == 200 for r in responses)
    _assert_one_winner(challenge.id, responses)


def _hold_row_lock_until_both_wait(challenge_id: int):
    holder = db.engine.connect()
    holder_tx = holder.begin()
    holder.execute(sa.text("SELECT id FROM challenges WHERE id = :i FOR UPDATE"),
                   {"i": challenge_id})

    def release():
        # Watch from a connection of its own: pg_stat_activity is a per-transaction snapshot.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            deadline = time.monotonic() + 20
            waiting = 0
            while waiting < 2 and time.monotonic() < deadline:
                threading.Event().wait(0.01)
                waiting = watcher.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")).scalar()
        holder_tx.rollback()
        holder.close()
        assert waiting >= 2, "the two decisions never waited on the row lock together"

    return release


def test_a_second_approval_on_a_stale_page_is_refused_with_the_current_state(app, sign_in):
    """N=2: the first approval changes the version, so a page loaded before it is stale."""
    from bounty.review.stages import StageKey

    from .test_stages import set_stage

    set_stage(StageKey.vetting, approvals_needed=2)
    challenge, url, clients, payloads = _vetting_challenge_and_pages(sign_in)
    first = clients[0].post(url, data=payloads[0], follow_redirects=True)
    assert "已提交审核结论" in first.get_data(as_text=True)
    stale = clients[1].post(url, data={**payloads[0]}, follow_redirects=True)
    page = stale.get_data(as_text=True)
    assert "该事项已被他人处理，请刷新页面查看最新状态。" in page
    assert "1 / 2 人通过" in page  # the current state, after the redirect
    db.session.expire_all()
    fresh = clients[1].post(url, data={**payloads[0], "version": challenge.version})
    assert fresh.status_code == 302, fresh.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Challenge, challenge.id).state == ChallengeState.open
