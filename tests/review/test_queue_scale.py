"""The queue and the stage lists at scale: queries that do not grow with the rows, no
write on GET, seek pagination that shows every row once, and a sync in the transaction
of each transition."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bounty.challenges import services as challenges
from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.review import exports
from bounty.review.assignment import ReviewTask, assign_task, sync_tasks
from bounty.review.conflicts import declare_conflict

from ..factories import create_challenge, create_user
from ..queries import recorded_statements, writes_in
from .conftest import award_challenge


def _waiting(n: int, reviewers) -> None:
    """n challenges at 审题 and n at 揭榜结果审核 (with bids), some assigned, one reviewer
    in conflict with each enterprise of the award stage."""
    lead = create_user("reviewer", is_lead_reviewer=True)
    for i in range(n):
        create_challenge(state=ChallengeState.vetting, title=f"审题榜单{i}")
        challenge, _owner, _bids = award_challenge(title=f"揭榜结果{i}")
        declare_conflict(reviewers[1], challenge.organization, "曾合作")
    sync_tasks()
    tasks = db.session.execute(sa.select(ReviewTask).order_by(ReviewTask.id)).scalars().all()
    for task in tasks[::3]:
        assign_task(task, reviewers[0], lead)


@pytest.mark.parametrize("role", ["reviewer", "admin"])
@pytest.mark.parametrize("url", ["/review/tasks", "/review/tasks?view=mine&sort=age"])
def test_queries_do_not_grow_with_rows_and_get_writes_nothing(app, sign_in, role, url):
    if role == "admin" and "mine" in url:
        pytest.skip("nothing is assigned to admins")
    reviewers = [create_user("reviewer", name="甲审核"), create_user("reviewer", name="乙审核")]
    client = sign_in(reviewers[0] if role == "reviewer" else create_user("admin"))

    def run():
        with recorded_statements() as statements:
            response = client.get(url)
            assert response.status_code == 200
        return statements, response.get_data(as_text=True)

    _waiting(2, reviewers)
    few, few_page = run()
    _waiting(8, reviewers)
    many, many_page = run()
    assert writes_in(many) == []
    assert len(many) == len(few), f"{url} sends more queries with more rows"
    rows = re.compile(r'<a href="/(?:review/challenges|review/items/challenge)/\d+')
    assert len(rows.findall(many_page)) > len(rows.findall(few_page)) > 0


def _walk(client, url: str) -> list[str]:
    """Follow the "next page" links; the item links of every page, in order."""
    seen, pages = [], 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(r'href="(/review/challenges/\d+)"', html)
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
        pages += 1
        assert pages < 20
    return seen


def test_seek_pages_show_every_row_once_in_order(app, sign_in, monkeypatch, time_machine):
    from bounty.review import workbench_views

    monkeypatch.setattr(workbench_views, "QUEUE_PAGE", 3)
    reviewer = create_user("reviewer")
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    for i in range(8):
        # two by two at the same moment: the item key breaks the tie
        time_machine.move_to(start + timedelta(hours=i // 2), tick=False)
        create_challenge(state=ChallengeState.vetting, title=f"审题榜单{i}")
    sync_tasks()
    client = sign_in(reviewer)
    ids = [c for c in db.session.execute(sa.select(ReviewTask.challenge_id).order_by(
        ReviewTask.due_at, ReviewTask.item_key)).scalars()]
    for url in ("/review/tasks", "/review/tasks?sort=age&stage=vetting"):
        seen = _walk(client, url)
        assert sorted(set(seen)) == sorted(f"/review/challenges/{i}" for i in ids), url
        assert len(seen) == len(set(seen)) == 8, url
    assert [s.rsplit("/", 1)[1] for s in _walk(client, "/review/tasks")] == \
        [str(i) for i in ids]
    # a cursor of the earlier pagination (time~key~slot) leads to the first page with
    # the same filters; any other key that does not parse is not found, never an error
    for old in ("2026-03-01T00:00:00+00:00~challenge:1~1", "2026-13-01~a~1", "~~~"):
        response = client.get(f"/review/tasks?stage=vetting&after={old}")
        assert response.status_code == 302, old
        assert response.location == "/review/tasks?stage=vetting"
    for junk in ("x", "1.challenge:1", "1.a%20b.1", "9" * 30 + ".challenge:1.1"):
        assert client.get(f"/review/tasks?after={junk}").status_code == 404, junk
    # a page whose rows were all decided meanwhile is empty, with the way back
    last = re.findall(r'href="/review/tasks\?after=([^"&]+)"', client.get(
        "/review/tasks").get_data(as_text=True))[0]
    db.session.execute(sa.update(ReviewTask).values(closed_at=start))
    emptied = client.get(f"/review/tasks?after={last}")
    assert emptied.status_code == 200
    assert 'href="/review/tasks">' in emptied.get_data(as_text=True)


def test_a_transition_opens_and_closes_rounds_in_its_transaction(app):
    challenge = create_challenge()
    challenges.submit_challenge(challenge, challenge.created_by)
    open_tasks = db.session.execute(sa.select(ReviewTask).where(
        ReviewTask.challenge_id == challenge.id)).scalars().all()
    assert [(t.stage.value, t.is_open) for t in open_tasks] == [("vetting", True)]


def test_the_export_reads_across_batches(app, sign_in, monkeypatch):
    monkeypatch.setattr(exports, "BATCH_TASKS", 2)
    for i in range(5):
        create_challenge(state=ChallengeState.vetting, title=f"审题榜单{i}")
    from bounty.review.stages import StageKey

    from .test_stages import set_stage

    set_stage(StageKey.vetting, approvals_needed=3)  # three slots a round: rounds straddle
    sync_tasks()
    export = exports.export_rows(start=None, end=None)
    titles = [row[2] for row in export.rows]
    assert sorted(titles) == sorted(f"审题榜单{i}" for i in range(5))
