"""Near-real-time writes: the overlay of pending writes, its flush, and crash replay."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.matching import Filters, get_engine, indexing
from bounty.matching.models import IndexJob
from bounty.matching.whoosh import WhooshEngine
from bounty.matching.whoosh import engine as whoosh_engine
from bounty.matching.whoosh.queue import MemoryQueue
from tests.factories import create_bid, create_challenge
from tests.matching.test_engine import NOW, bid, challenge

TOPICS = ["伺服电机", "鞋底注塑", "机器视觉检测", "PLC控制", "良品率", "模具温控", "能耗"]


def _challenge(i: int) -> dict:
    a, b = TOPICS[i % len(TOPICS)], TOPICS[(i * 3 + 1) % len(TOPICS)]
    return challenge(
        i, f"{a}{b}攻关", f"{b}相关工艺，{a}精度0.02mm，寿命{i * 10}h",
        keywords=[a], industry=["智能装备", "鞋革", "眼镜"][i % 3],
        category=["关键工艺", "核心部件"][i % 2], state=["open", "closed"][i % 4 == 0],
        bounty=(i % 5) * 100_000,  # ties on purpose: sorts must break them the same way
        deadline=NOW + timedelta(days=i % 7), published_at=NOW - timedelta(days=i % 6),
    )


def _bids(i: int) -> dict:
    return bid(i, i % 4, f"{TOPICS[i % len(TOPICS)]}方案", f"采用{TOPICS[(i + 2) % 7]}，团队")


@pytest.fixture
def engine(tmp_path):
    e = WhooshEngine(tmp_path / "index", refresh=0)
    yield e
    e.close()


def _reads(engine: WhooshEngine) -> list:
    """Every read path, with filters, sorts and pages: the results to compare."""
    out: list = [engine.count("challenge"), engine.count("bid")]
    filters = [
        None,
        Filters(industry="鞋革"),
        Filters(state=["open"], category="关键工艺"),
        Filters(bounty_min=100_000, bounty_max=300_000),
        Filters(deadline_after=NOW + timedelta(days=2), deadline_before=NOW + timedelta(days=5)),
        Filters(exclude_ids=["3", "31"]),
        Filters(ids=["2", "5", "8", "31", "33", "40"]),
        Filters(ids=["5", "31", "7"], industry="鞋革"),
    ]
    for text in ["伺服电机", "鞋底 良品率", "PLC 0.02mm", "", "不存在的词"]:
        for f in filters:
            for sort in ("relevance", "newest", "deadline", "bounty"):
                for page in (1, 2):
                    out.append(engine.search(text, filters=f, sort=sort, page=page, pagesize=4))
    for f in filters:
        out.append(engine.rank({"title": "伺服电机良品率", "body": "鞋底注塑 模具温控"},
                               kind="challenge", filters=f, limit=10))
    for c in range(4):
        out.append(engine.rank({"title": TOPICS[c], "body": TOPICS[c + 1]}, kind="bid",
                               filters=Filters(challenge_id=str(c))))
    out.append(engine.rank({"body": " ".join(TOPICS)}, kind="bid", limit=50))
    return out


def _writes(engine: WhooshEngine) -> None:
    """Mixed pending writes over a flushed corpus: inserts, updates, deletes, re-inserts."""
    engine.index([_challenge(i) for i in range(31, 36)])  # new
    # long fields: Whoosh keeps per-document lengths approximately (one byte)
    engine.index([{**_challenge(36), "body": "伺服电机驱动器，鞋底注塑良品率提升。" * 23}])
    engine.index([{**_challenge(2), "title": "伺服电机改进", "bounty": 300_000}])  # update
    engine.remove("challenge", [3, 7, 99])  # delete (99 was never indexed)
    engine.index([_challenge(7)])  # deleted then back
    engine.index([{**_challenge(32), "state": "closed"}])  # a pending doc updated again
    engine.remove("challenge", [33])  # a pending doc deleted
    engine.index([_bids(i) for i in range(21, 25)])
    engine.remove("bid", [1, 2])


def test_reads_before_and_after_flush_are_identical(engine):
    engine.index([_challenge(i) for i in range(1, 30)] + [_bids(i) for i in range(1, 20)])
    engine.flush()
    _writes(engine)
    assert engine.pending() == 6 + 2 + 2 + 4 + 2  # documents with pending writes
    before = _reads(engine)
    assert engine.flush() == 16
    assert engine.pending() == 0
    after = _reads(engine)
    assert len(before) == len(after)
    for b, a in zip(before, after, strict=True):
        assert b == a


def test_pending_writes_on_an_empty_index_match_the_flushed_index(engine):
    _writes(engine)
    before = _reads(engine)
    engine.flush()
    assert _reads(engine) == before


def test_pending_insert_update_delete_visible_to_every_read(engine):
    engine.index([challenge(1, "伺服电机", bounty=100_000), challenge(2, "鞋底材料")])
    engine.flush()
    engine.index([challenge(3, "伺服电机控制器", industry="鞋革", bounty=900_000)])  # insert
    engine.index([challenge(2, "伺服驱动", state="closed")])  # update
    engine.remove("challenge", [1])  # delete
    assert engine.pending() == 3

    result = engine.search("伺服")
    assert sorted(h.id for h in result.hits) == ["2", "3"] and result.total == 2
    assert result.facets["state"] == {"open": 1, "closed": 1}
    assert result.facets["industry"] == {"鞋革": 1, "智能装备": 1}
    assert [h.id for h in engine.search("伺服", sort="bounty").hits] == ["3", "2"]
    assert [h.id for h in engine.search("", filters=Filters(state="closed")).hits] == ["2"]
    assert [h.id for h in engine.search("", filters=Filters(bounty_min=500_000)).hits] == ["3"]
    assert engine.search("伺服", filters=Filters(exclude_ids=["3"])).total == 1
    assert [h.id for h in engine.search("", filters=Filters(ids=["1", "3"])).hits] == ["3"]
    assert engine.search("鞋底").total == 0  # 2's old text is hidden
    assert engine.count("challenge") == 2
    hit = engine.search("控制器").hits[0]
    assert hit.id == "3" and "控制器" in hit.matched and hit.fields["industry"] == "鞋革"
    assert hit.fields["deadline"] == NOW + timedelta(days=3)  # aware again, as from Whoosh
    assert "<mark>控制器</mark>" in engine.highlight("伺服电机控制器", hit.matched)
    ranked = engine.rank({"title": "伺服电机"}, kind="challenge", limit=5)
    assert [h.id for h in ranked] == ["3", "2"]

    engine.flush()
    assert engine.pending() == 0 and engine.count("challenge") == 2
    assert [h.id for h in engine.rank({"title": "伺服电机"}, kind="challenge")] == ["3", "2"]


def test_writes_return_before_whoosh_sees_them(engine):
    engine.index([challenge(1, "伺服电机")])
    fresh = WhooshEngine(engine.root, refresh=0)  # another process on the same index
    try:
        assert fresh.search("伺服").total == 0
        assert engine.search("伺服").total == 1
        engine.flush()
        assert fresh.search("伺服").total == 1
    finally:
        fresh.close()


def test_crash_before_flush_is_replayed(tmp_path):
    queue = MemoryQueue()  # outlives the process, as the app's database does
    e = WhooshEngine(tmp_path / "ix", refresh=0, queue=queue)
    e.index([challenge(1, "伺服电机"), challenge(2, "鞋底")])
    e.flush()
    e.index([challenge(3, "伺服系统")])
    e.remove("challenge", [2])
    # the process dies: no flush, no close; a new process starts on the same index
    restarted = WhooshEngine(tmp_path / "ix", refresh=0, queue=queue)
    try:
        assert restarted.search("伺服").total == 1 and restarted.search("鞋底").total == 1
        assert restarted.replay() == 2  # without a loader: the queued documents
        assert sorted(h.id for h in restarted.search("伺服").hits) == ["1", "3"]
        assert restarted.search("鞋底").total == 0
        assert restarted.replay() == 0
    finally:
        restarted.close()
        e.close(flush=False)


def test_flush_past_the_threshold_without_a_flusher(engine, monkeypatch):
    monkeypatch.setattr(whoosh_engine, "FLUSH_DOCS", 5)
    engine.index([challenge(i, "伺服") for i in range(1, 5)])
    assert engine.pending() == 4
    engine.index([challenge(5, "伺服")])
    assert engine.pending() == 0  # the writer flushed itself
    assert engine.store.view("challenge").doc_count == 5


def test_background_flusher_with_concurrent_writers_and_readers(tmp_path):
    queue = MemoryQueue()
    e = WhooshEngine(tmp_path / "ix", refresh=0.001, queue=queue)  # flushes continuously
    e.index([challenge(i, "伺服电机") for i in range(1, 21)])
    e.flush()
    errors: list[object] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        try:
            for j in range(15):
                # updates of the first 20 (always present) and new documents
                e.index([challenge(1 + (n * 15 + j) % 20, f"伺服电机 第{n}组{j}"),
                         challenge(100 + n * 15 + j, "伺服电机 新")])
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    def reader() -> None:
        while not stop.is_set():
            try:
                result = e.search("伺服电机", pagesize=100, facets=False)
                ids = [h.id for h in result.hits]
                if len(set(ids)) != len(ids) or result.total != len(ids):
                    errors.append(("duplicate or missing", ids))
                if not set(map(str, range(1, 21))) <= set(ids):
                    errors.append(("a document in neither Whoosh nor the overlay", ids))
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    e.close()  # stops the flusher and flushes the rest
    assert not errors
    again = WhooshEngine(tmp_path / "ix", refresh=0, queue=queue)
    try:
        assert again.search("伺服电机", pagesize=100).total == 80
        assert again.queue.pending() == []
    finally:
        again.close()


def test_rebuild_keeps_pending_writes(engine):
    engine.index([challenge(1, "伺服电机"), challenge(2, "伺服驱动")])

    def docs():
        yield challenge(1, "伺服电机")
        yield challenge(2, "伺服驱动")
        engine.index([challenge(3, "伺服新品")])  # pending during the rebuild
        engine.remove("challenge", [2])

    engine.rebuild(docs())
    assert sorted(h.id for h in engine.search("伺服").hits) == ["1", "3"]
    engine.flush()  # into the new generation
    assert sorted(h.id for h in engine.search("伺服").hits) == ["1", "3"]
    assert engine.queue.pending() == []


@pytest.mark.whoosh_index
def test_app_apply_then_crash_before_flush(app):
    challenge_row = create_challenge(state=ChallengeState.open, title="鞋底注塑模具温控")
    create_bid(challenge_row)
    engine = get_engine()
    assert engine.search("鞋底").total == 1  # from the overlay
    # the index jobs stay until the flush has written Whoosh
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexJob)) > 0

    # the process dies before the flush; the next one replays the jobs from the database
    restarted = WhooshEngine(app.config["BOUNTY_INDEX_DIR"], refresh=0,
                             loader=lambda kind, i: indexing.load(db.session, kind, i),
                             queue=engine.queue)  # the same database
    try:
        assert restarted.search("鞋底").total == 0
        kinds = {job.kind for job in restarted.queue.pending()}
        assert {"challenge", "bid"} <= kinds  # (and the organisations the factories made)
        assert restarted.replay() > 0
        assert [h.id for h in restarted.search("鞋底").hits] == [str(challenge_row.id)]
        assert restarted.search("", kind="bid").total == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexJob)) == 0
    finally:
        restarted.close()


@pytest.mark.whoosh_index
def test_app_flush_reloads_from_the_database(app):
    row = create_challenge(state=ChallengeState.open, title="伺服电机操动机构")
    engine = get_engine()
    # another process changed the row after this one applied its job
    db.session.execute(sa.update(type(row)).where(type(row).id == row.id)
                       .values(title="鞋底注塑模具"))
    db.session.commit()
    db.session.expire_all()
    assert engine.search("伺服电机").total == 1  # this process's pending version
    engine.flush()
    assert engine.search("伺服电机").total == 0
    assert [h.id for h in engine.search("鞋底").hits] == [str(row.id)]
