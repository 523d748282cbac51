"""The index follows the database through the app's session hooks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.challenges.models import BidState, Challenge, ChallengeState
from bounty.extensions import db
from bounty.matching import Filters, get_engine, replay_pending
from bounty.matching.models import IndexJob
from tests.factories import create_bid, create_challenge


def test_index_follows_commits(app):
    open_ch = create_challenge(state=ChallengeState.open, title="鞋底注塑模具温控")
    draft = create_challenge(state=ChallengeState.draft, title="鞋底材料草稿")
    engine = get_engine()
    assert [h.id for h in engine.search("鞋底").hits] == [str(open_ch.id)]

    bid = create_bid(open_ch)
    withdrawn = create_bid(open_ch, state=BidState.withdrawn)
    ranked = engine.rank({"title": open_ch.title, "body": open_ch.bottleneck}, kind="bid",
                         filters=Filters(challenge_id=str(open_ch.id)))
    assert [h.id for h in ranked] == [str(bid.id)]
    assert str(withdrawn.id) not in {h.id for h in engine.search("模温", kind="bid").hits}

    bid.state = BidState.withdrawn
    db.session.commit()
    assert engine.rank({"title": open_ch.title}, kind="bid",
                       filters=Filters(challenge_id=str(open_ch.id))) == []

    db.session.delete(draft)
    open_ch.state = ChallengeState.failed
    db.session.commit()
    assert engine.search("鞋底").hits[0].fields["state"] == "failed"
    engine.flush()  # the jobs stay until their documents are in Whoosh
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexJob)) == 0


def test_crash_between_commit_and_index_is_replayed_at_start(app, monkeypatch):
    engine = get_engine()
    if getattr(engine, "transactional", False):
        pytest.skip("no queue to replay: the index rows commit with the change")
    challenge = create_challenge(state=ChallengeState.open, title="鞋底注塑模具温控")
    assert engine.search("鞋底").total == 1
    engine.flush()  # the index holds the challenge: no job left

    def power_cut(ops, jobs):  # the process dies after the database commit, before the index write
        raise SystemExit("power cut")

    monkeypatch.setattr(engine, "apply", power_cut)
    challenge.state = ChallengeState.rejected  # unpublished: must leave every result
    with pytest.raises(SystemExit):
        db.session.commit()
    monkeypatch.undo()
    db.session.remove()  # the crashed process's session is gone
    assert db.session.get(Challenge, challenge.id).state == ChallengeState.rejected
    jobs = db.session.execute(sa.select(IndexJob)).scalars().all()
    assert [(j.kind, j.doc_id) for j in jobs] == [("challenge", str(challenge.id))]
    assert engine.search("鞋底").total == 1  # stale until start-up

    assert replay_pending(app) == 1  # what init_app runs at start-up
    assert engine.search("鞋底").total == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexJob)) == 0


def test_rolled_back_change_leaves_no_job(app):
    challenge = create_challenge(state=ChallengeState.open, title="伺服电机")
    get_engine().flush()  # its jobs are done
    challenge.title = "改了又回滚"
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexJob)) == 0
    assert get_engine().search("伺服电机").total == 1


def test_reindex_command(app):
    create_challenge(state=ChallengeState.open, title="伺服电机操动机构")
    result = app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert "reindexed" in result.output
    assert get_engine().search("伺服电机").total == 1


@pytest.mark.parametrize("workers", [False, True], ids=["one-process", "worker-processes"])
def test_reindex_progress_total_is_the_documents_indexed(app, monkeypatch, workers):
    """The progress total (``count_docs``) is what the rebuild indexes: public challenges,
    submitted bids and institutes, not drafts, withdrawn bids or enterprises; the same
    with worker processes (forced here below their threshold)."""
    from sqlalchemy.orm import Session

    from bounty.accounts.models import OrgKind
    from bounty.matching import healing, indexing
    from tests.factories import create_org

    open_ch = create_challenge(state=ChallengeState.open, title="伺服电机操动机构")
    create_challenge(state=ChallengeState.draft, title="草稿")
    create_challenge(state=ChallengeState.completed, title="鞋底注塑模具")
    create_bid(open_ch)
    create_bid(open_ch, state=BidState.withdrawn)
    create_org(OrgKind.institute)
    create_org(OrgKind.enterprise)
    if workers:
        monkeypatch.setattr(healing, "PARALLEL_MIN_DOCS", 1)
        monkeypatch.setattr(healing, "REBUILD_PROCS", 2)
        monkeypatch.setattr(healing.os, "cpu_count", lambda: 2)
    with Session(db.engine) as session:
        total = indexing.count_docs(session)
        assert total == sum(1 for _ in indexing.all_docs(session))
    seen: list[int] = []
    n, _queued = healing.rebuild_from_database(get_engine(), progress=seen.append)
    engine = get_engine()
    assert n == total == sum(seen)
    assert n == sum(engine.count(kind) for kind in engine.kinds)
    assert engine.count("challenge") == 2
    assert engine.count("bid") == 1
    assert engine.search("伺服电机").total == 1
