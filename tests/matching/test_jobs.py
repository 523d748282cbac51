"""The index_jobs table as the full-text engine's queue: rows until Whoosh holds them,
kept for a running rebuild, never the embedding worker's rows."""

from __future__ import annotations

import os
import socket

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.matching import get_engine, indexing
from bounty.matching.models import IndexJob, IndexRebuild
from bounty.matching.whoosh import WhooshEngine
from tests.factories import create_challenge
from tests.matching.test_engine import challenge

# the Whoosh index's files and queue (the PostgreSQL index has neither)
pytestmark = pytest.mark.whoosh_index


def _lexical() -> list[tuple[str, str, bool]]:
    rows = db.session.execute(
        sa.select(IndexJob.kind, IndexJob.doc_id, IndexJob.flushed_at)
        .where(IndexJob.target == "lexical").order_by(IndexJob.id)).all()
    return [(kind, doc_id, flushed is not None) for kind, doc_id, flushed in rows]


def _ids(engine, text: str) -> list[str]:  # noqa: ANN001
    return sorted(h.id for h in engine.search(text).hits)


def test_a_crashed_rebuild_does_not_keep_flushed_jobs(app):
    engine = get_engine()
    queue = engine.queue
    # a rebuild registered by a process of this host that is gone
    db.session.add(IndexRebuild(host=socket.gethostname(), pid=2147483647))
    db.session.commit()
    engine.index([challenge(1, "伺服电机")])
    engine.flush()
    assert queue.held() == []  # no live rebuild: deleted
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexRebuild)) == 0
    rebuild = queue.begin_rebuild()
    engine.index([challenge(2, "鞋底")])
    engine.flush()
    assert [(j.kind, j.doc_id) for j in queue.held()] == [("challenge", "2")]
    assert queue.pending() == []  # in Whoosh: nothing to replay
    queue.end_rebuild(rebuild)
    assert queue.held() == []


def test_a_rebuild_of_another_live_process_keeps_flushed_jobs(app):
    engine = get_engine()
    db.session.add(IndexRebuild(host=socket.gethostname(), pid=os.getpid()))
    db.session.commit()
    engine.index([challenge(1, "伺服电机")])
    engine.flush()
    assert _lexical() == [("challenge", "1", True)]
    assert engine.replay() == 0  # flushed jobs are not replayed


def test_writes_committed_during_a_reindex_are_kept(app):
    """`bounty reindex` in its own process while the app commits and flushes writes."""
    server = get_engine()  # the app: its commits queue jobs that its flushes settle
    kept = create_challenge(state=ChallengeState.open, title="伺服电机操动机构")
    withdrawn = create_challenge(state=ChallengeState.open, title="伺服电机 已撤回")
    server.flush()
    assert _lexical() == []
    reindex = WhooshEngine(app.config["BOUNTY_INDEX_DIR"], refresh=0, queue=server.queue,
                           loader=lambda kind, i: indexing.load(db.session, kind, i))
    late = []

    def docs():
        with Session(db.engine) as session:  # what the database held when the rebuild read it
            read = list(indexing.all_docs(session))
        yield from read
        # meanwhile the app commits writes and flushes them to the live (old) generation
        late.append(create_challenge(state=ChallengeState.open, title="伺服电机 新发布"))
        withdrawn.state = ChallengeState.rejected
        db.session.commit()
        server.flush()
        assert ("challenge", str(late[0].id), True) in _lexical()  # kept for the rebuild

    try:
        reindex.rebuild(docs())
        expected = sorted([str(kept.id), str(late[0].id)])
        for e in (reindex, server):
            assert _ids(e, "伺服电机") == expected
        # the rebuild copied the flushed jobs over, then deleted them
        assert _lexical() == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexRebuild)) == 0
        # the app's next write lands in the new generation
        again = create_challenge(state=ChallengeState.open, title="伺服电机 再发布")
        server.flush()
        assert _ids(reindex, "伺服电机") == sorted([*expected, str(again.id)])
    finally:
        reindex.close()


def test_the_full_text_side_leaves_vector_jobs_alone(app):
    engine = get_engine()
    db.session.add_all([IndexJob(target="vector", kind="challenge", doc_id=str(i), op="upsert")
                        for i in (1, 2)])
    db.session.commit()
    vector = db.session.execute(sa.select(IndexJob.id, IndexJob.flushed_at, IndexJob.claimed_at)
                                .where(IndexJob.target == "vector")).all()
    create_challenge(state=ChallengeState.open, title="伺服电机")
    engine.flush()
    rebuild = engine.queue.begin_rebuild()
    engine.index([challenge(7, "鞋底")])
    engine.flush()
    assert {j.doc_id for j in engine.queue.held()} == {"7"}
    engine.queue.end_rebuild(rebuild)
    engine.remove("challenge", [7])
    engine.close(flush=False)  # a crash: the removal is left to replay
    restarted = WhooshEngine(app.config["BOUNTY_INDEX_DIR"], refresh=0, queue=engine.queue,
                             loader=lambda kind, i: indexing.load(db.session, kind, i))
    try:
        assert restarted.replay() == 1
        with Session(db.engine) as session:
            restarted.rebuild(indexing.all_docs(session))
        assert _lexical() == []
        assert db.session.execute(
            sa.select(IndexJob.id, IndexJob.flushed_at, IndexJob.claimed_at)
            .where(IndexJob.target == "vector")).all() == vector
    finally:
        restarted.close()
