"""The matcher without the web app: analyzer, index, queue, rebuild, eval."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import Markup

from bounty.matching.analyzer import get_analyzer
from bounty.matching.cli import match_cli
from bounty.matching.engine import Filters
from bounty.matching.whoosh import WhooshEngine
from bounty.matching.whoosh.queue import MemoryQueue

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def challenge(i: int, title: str, body: str = "", **kw) -> dict:
    doc = {
        "kind": "challenge",
        "id": i,
        "title": title,
        "body": body,
        "keywords": kw.pop("keywords", []),
        "industry": "智能装备",
        "category": "关键工艺",
        "state": "open",
        "bounty": 100_000 * i,
        "deadline": NOW + timedelta(days=i),
        "published_at": NOW - timedelta(days=i),
    }
    doc.update(kw)
    return doc


def bid(i: int, challenge_id: int, title: str, body: str = "") -> dict:
    return {"kind": "bid", "id": i, "title": title, "body": body,
            "challenge_id": str(challenge_id), "org_id": "7"}


@pytest.fixture(params=["whoosh", "postgres"])
def engine(request, tmp_path):
    """Each backend behind the same interface (PostgreSQL's where the tests run on it)."""
    if request.param == "postgres":
        yield request.getfixturevalue("pg_engine")
        return
    e = WhooshEngine(tmp_path / "index")
    yield e
    e.close()


@pytest.fixture
def whoosh_engine(tmp_path):
    e = WhooshEngine(tmp_path / "index")
    yield e
    e.close()


# -- analyzer ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("采用PLC控制", ["plc"]),
        ("NB-IoT模组", ["nb-iot", "nb", "iot"]),
        ("TPU薄膜", ["tpu", "薄膜"]),
        ("SUS304不锈钢", ["sus304", "sus", "不锈钢"]),
        ("防护等级IP67", ["ip67"]),
        ("M8螺栓", ["m8", "螺栓"]),
        ("精度0.02mm", ["0.02mm"]),
        ("精度 0.02 mm", ["0.02mm"]),
        ("寿命480h", ["480h"]),
        ("良品率≥98%", ["良品率", "≥98%", "98%"]),
        ("ＰＬＣ与ＩＰ６７", ["plc", "ip67"]),  # full-width folded
        ("０．０２ｍｍ", ["0.02mm"]),
        ("注塑模具", ["注塑模具", "模具"]),  # kept whole by the domain dictionary
        ("智能锁", ["智能锁"]),
    ],
)
def test_analyzer_keeps_technical_tokens(text, expected):
    terms = get_analyzer().terms(text)
    for term in expected:
        assert term in terms, (text, terms)


def test_analyzer_offsets_point_into_original_text():
    text = "ＮＢ－ＩｏＴ模组 精度 0.02 mm"
    for tok in get_analyzer().tokens(text):
        assert text[tok.start:tok.end]


def test_stopwords_dropped_and_synonyms_loaded():
    a = get_analyzer()
    assert "的" not in a.terms("鞋底的材料")
    assert {"良品率", "合格率"} <= set(a.expand("良率"))
    assert "大底" in a.expand("鞋底")
    assert "功耗" in a.expand("能耗")
    assert "图像识别" in a.expand("机器视觉")
    assert "伺服电机" in a.expand("伺服")


# -- index follows writes ----------------------------------------------------------

def test_insert_update_delete(engine):
    engine.index([challenge(1, "伺服电机控制器"), challenge(2, "鞋底耐磨材料")])
    assert [h.id for h in engine.search("伺服").hits] == ["1"]
    engine.index([challenge(1, "眼镜架表面处理")])
    assert engine.search("伺服").total == 0
    assert [h.id for h in engine.search("眼镜架").hits] == ["1"]
    engine.remove("challenge", [1, 999])
    assert engine.search("眼镜架").total == 0
    assert engine.count("challenge") == 1


def test_synonym_matches_other_wording(engine):
    engine.index([challenge(1, "智能锁功耗优化"), challenge(2, "服装排版")])
    assert [h.id for h in engine.search("能耗").hits] == ["1"]


def test_filters_facets_sort_and_pages(engine):
    engine.index([
        challenge(i, f"伺服电机第{i}代", industry="电气机械" if i % 2 else "智能装备",
                  state="open" if i < 5 else "failed")
        for i in range(1, 8)
    ])
    r = engine.search("伺服电机", filters=Filters(state="open"), pagesize=2)
    assert r.total == 4 and r.pages == 2 and len(r.hits) == 2
    assert r.facets["industry"] == {"电气机械": 2, "智能装备": 2}
    by_bounty = engine.search("伺服电机", sort="bounty", filters=Filters(state="open"))
    assert [h.id for h in by_bounty.hits] == ["4", "3", "2", "1"]
    by_deadline = engine.search("", sort="deadline", filters=Filters(bounty_min=300_000))
    assert [h.id for h in by_deadline.hits][:2] == ["3", "4"]
    assert by_deadline.hits[0].fields["deadline"].tzinfo is not None


@pytest.mark.parametrize(
    "q",
    ['"unbalanced', "AND OR NOT (", "*?~^[]{}", "title:伺服", "\x00\ud800", "<script>", "ｘ" * 500],
)
def test_hostile_queries_never_error(engine, q):
    engine.index([challenge(1, "伺服电机")])
    engine.search(q)
    engine.rank({"title": q}, kind="challenge")


def test_rank_bids_of_one_challenge_only(engine):
    engine.index([
        bid(1, 10, "伺服电机驱动的断路器操动机构", "分合闸时间分散性0.3ms"),
        bid(2, 10, "鞋底材料", "耐磨"),
        bid(3, 11, "伺服电机断路器", "其他榜单的方案"),
    ])
    hits = engine.rank({"title": "断路器伺服操动机构", "body": "分合闸时间分散性≤0.5ms"},
                       kind="bid", filters=Filters(challenge_id="10"))
    assert [h.id for h in hits] == ["1"]
    assert hits[0].score > 0 and "伺服" in hits[0].matched


def test_rank_and_search_within_given_ids(engine):
    engine.index([challenge(i, f"伺服电机第{i}代", state="open" if i < 4 else "failed")
                  for i in range(1, 6)])
    engine.remove("challenge", [2])
    within = Filters(ids=["2", "3", "4", "99"])
    assert sorted(h.id for h in engine.rank({"title": "伺服电机"}, kind="challenge",
                                            filters=within)) == ["3", "4"]
    within.state = "open"
    assert [h.id for h in engine.search("伺服", filters=within).hits] == ["3"]
    assert engine.search("", filters=Filters(ids=[])).total == 0


def test_cached_term_scores_follow_writes(engine):
    engine.index([challenge(1, "伺服电机"), challenge(2, "鞋底材料")])
    ids = Filters(ids=["1", "2"])
    assert [h.id for h in engine.rank({"title": "伺服"}, kind="challenge", filters=ids)] == ["1"]
    engine.index([challenge(2, "伺服驱动伺服电机", keywords=["伺服"])])
    again = engine.rank({"title": "伺服"}, kind="challenge", filters=ids)
    assert [h.id for h in again] == ["2", "1"]
    engine.remove("challenge", [2])
    assert [h.id for h in engine.rank({"title": "伺服"}, kind="challenge", filters=ids)] == ["1"]


def test_highlight_escapes_document_markup(engine):
    html = engine.highlight('<img src=x onerror="alert(1)">伺服电机<b>控制</b>', ["伺服电机"])
    assert isinstance(html, Markup)
    assert "<img" not in html and "<b>" not in html
    assert "&lt;img" in html and "<mark>伺服电机</mark>" in html


def test_highlight_fragment():
    from bounty.matching.highlight import highlight

    text = "无关内容。" * 50 + "伺服电机" + "无关内容。" * 50
    html = highlight(get_analyzer(), text, ["伺服电机"], fragment=40)
    assert html.startswith("…") and html.endswith("…") and "<mark>伺服电机</mark>" in html


# -- concurrency, rebuild, crash ---------------------------------------------------

def test_concurrent_writes_from_threads(engine):
    errors: list[BaseException] = []

    def work(n):
        try:
            for j in range(5):
                engine.index([challenge(n * 100 + j, f"伺服电机 第{n}组")])
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert engine.search("伺服电机").total == 30


def test_two_engines_on_one_directory_share_the_writer(tmp_path):
    a, b = WhooshEngine(tmp_path / "ix"), WhooshEngine(tmp_path / "ix")
    threads = [threading.Thread(target=e.index, args=([challenge(i, "伺服")],))
               for i, e in enumerate([a, b] * 4, start=1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # each engine (process) sees its own writes at once, the other's after its flush
    assert a.search("伺服").total == b.search("伺服").total == 4
    flushes = [threading.Thread(target=e.flush) for e in (a, b)]  # contend for Whoosh's lock
    for t in flushes:
        t.start()
    for t in flushes:
        t.join()
    assert a.search("伺服").total == b.search("伺服").total == 8
    a.close()
    b.close()


def test_reindex_while_searching(engine):
    """Searches see the old index or the new one whole, never a part of it."""
    engine.index([challenge(i, "伺服电机") for i in range(1, 21)])
    stop = threading.Event()
    failures: list[object] = []

    def searcher():
        while not stop.is_set():
            try:
                if engine.search("伺服电机").total not in (20, 25):
                    failures.append("partial")
            except BaseException as exc:  # pragma: no cover
                failures.append(exc)

    t = threading.Thread(target=searcher)
    t.start()
    try:
        gen_before = engine.generation()
        engine.rebuild(challenge(i, "伺服电机") for i in range(1, 26))
    finally:
        stop.set()
        t.join()
    assert not failures
    if isinstance(engine, WhooshEngine):
        assert engine.generation() != gen_before
    assert engine.search("伺服电机").total == 25


def test_rebuild_reuses_stored_terms(engine, monkeypatch):
    engine.index([challenge(1, "伺服电机")])
    calls = []
    original = engine.analyzer.terms
    monkeypatch.setattr(engine.analyzer, "terms", lambda t: calls.append(t) or original(t))
    engine.rebuild([challenge(1, "伺服电机"), challenge(2, "鞋底")])
    assert "伺服电机" not in calls and "鞋底" in calls


def test_rebuild_segments_again_after_the_dictionary_changes(tmp_path):
    """Editing the synonym file (which also feeds jieba's dictionary) invalidates stored terms."""
    from bounty.matching.analyzer import _DATA, Analyzer

    first = WhooshEngine(tmp_path / "ix", analyzer=Analyzer())
    first.index([challenge(1, "卡钳异响问题")])
    first.close()
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text((_DATA / "synonyms.txt").read_text(encoding="utf-8")
                        + "\n卡钳异响/制动异响\n", encoding="utf-8")
    edited = Analyzer(synonyms=synonyms)
    assert edited.fingerprint != first.analyzer.fingerprint
    second = WhooshEngine(tmp_path / "ix", analyzer=edited)
    try:
        assert second.search("卡钳异响").terms[0] != "卡钳异响"  # stored: old segmentation
        second.rebuild([challenge(1, "卡钳异响问题")])
        result = second.search("卡钳异响")
        assert result.terms[0] == "卡钳异响" and [h.id for h in result.hits] == ["1"]
        assert "卡钳异响" in result.hits[0].matched
    finally:
        second.close()


def test_writes_during_rebuild_are_kept(engine):
    engine.index([challenge(1, "伺服电机")])

    def docs():
        yield challenge(1, "伺服电机")
        engine.index([challenge(2, "伺服电机 新发布")])  # arrives mid-rebuild
        engine.remove("challenge", [1])

    engine.rebuild(docs())
    assert [h.id for h in engine.search("伺服电机").hits] == ["2"]


def test_writes_another_process_flushes_during_a_rebuild_are_kept(tmp_path):
    """`bounty reindex` runs in its own process while the web server keeps writing."""
    queue = MemoryQueue()  # the processes share the queue (the app's is the database)
    reindex = WhooshEngine(tmp_path / "ix", queue=queue)
    server = WhooshEngine(tmp_path / "ix", queue=queue)
    try:
        server.index([challenge(1, "伺服电机"), challenge(3, "伺服电机 已撤回")])
        server.flush()

        def docs():  # what the database held when the rebuild read it
            yield challenge(1, "伺服电机")
            yield challenge(3, "伺服电机 已撤回")
            # meanwhile the server commits writes to the live (old) generation
            server.index([challenge(2, "伺服电机 新发布")])
            server.remove("challenge", [3])
            server.flush()

        reindex.rebuild(docs())
        for e in (reindex, server):
            assert sorted(h.id for h in e.search("伺服电机").hits) == ["1", "2"]
        # the queue forgot the flushed jobs once no rebuild needed them
        assert queue.held() == []
        # the server's next write lands in the new generation
        server.index([challenge(4, "伺服电机 再发布")])
        server.flush()
        assert sorted(h.id for h in reindex.search("伺服电机").hits) == ["1", "2", "4"]
    finally:
        reindex.close()
        server.close()


def test_replay_after_crash(tmp_path, monkeypatch):
    queue = MemoryQueue()  # outlives the process, as the app's database does
    e = WhooshEngine(tmp_path / "ix", refresh=0, queue=queue)
    e.index([challenge(1, "伺服电机"), challenge(2, "鞋底")])
    e.flush()

    def crash(*a, **k):
        raise SystemExit("power cut")

    e.remove("challenge", [1])  # committed in the database, queued, not yet in Whoosh
    e.index([challenge(3, "伺服系统")])
    assert [h.id for h in e.search("伺服").hits] == ["3"]  # reads see the pending writes
    monkeypatch.setattr(e, "_write", crash)
    monkeypatch.setattr(e.store, "commit", crash)
    with pytest.raises(SystemExit):
        e.flush()  # the process dies during the flush
    monkeypatch.undo()
    assert [h.id for h in e.search("伺服").hits] == ["3"]  # still pending, still visible
    e.close(flush=False)

    db = {"2": challenge(2, "鞋底"), "3": challenge(3, "伺服系统")}
    restarted = WhooshEngine(tmp_path / "ix", loader=lambda kind, i: db.get(i), refresh=0,
                             queue=queue)
    assert restarted.search("伺服").total == 1  # still the stale state
    assert restarted.replay() == 2
    assert [h.id for h in restarted.search("伺服").hits] == ["3"]
    assert restarted.replay() == 0
    restarted.close()


# -- evaluation ------------------------------------------------------------------

def test_match_eval_on_tiny_set(tmp_path):
    run = tmp_path / "run.txt"
    result = CliRunner().invoke(match_cli, [
        "eval", str(DATA / "tiny-eval"), "--system", "lexical", "--baseline", "--run", str(run)])
    assert result.exit_code == 0, result.output
    ours, base = (json.loads(line) for line in result.output.splitlines())
    assert ours["system"] == "lexical"
    # q1 ranks d1 (grade 1) above d3 (grade 2): DCG = 1 + 3/log2(3) = 2.8928,
    # ideal = 3 + 1/log2(3) = 3.6309, NDCG = 0.7967; q2 is perfect: mean 0.8984.
    assert ours["ndcg@3"] == pytest.approx(0.8984, abs=1e-4)
    assert ours["mrr@10"] == 1.0 and ours["recall@50"] == 1.0 and ours["queries"] == 2
    assert set(ours) >= {"ndcg@10", "p50_ms", "p95_ms"}
    assert base["system"] == "baseline"
    lines = run.read_text().splitlines()
    assert lines[0].split() == ["q1", "Q0", "d1", "1", lines[0].split()[4], "lexical"]


def test_character_bigrams_back_off_when_segmentation_differs(engine):
    analyzer = get_analyzer()
    assert analyzer.grams("碳纤增强 PLC") == ["#碳纤", "#纤增", "#增强"]
    assert "碳纤" not in analyzer.terms("碳纤维增强复合材料")  # jieba: 碳纤维, not 碳纤
    engine.index([
        challenge(1, "碳纤维复合材料镜架", "碳纤维增强复合材料，轻量化"),
        challenge(2, "铝合金压铸件", "压铸气孔控制"),
    ])
    result = engine.search("碳纤")
    assert [h.id for h in result.hits] == ["1"]
    assert all(not t.startswith("#") for h in result.hits for t in h.matched)


def test_many_small_writes_merge_and_stay_correct(tmp_path):
    e = WhooshEngine(tmp_path / "index")
    for i in range(40):  # enough commits to trigger background merges
        e.index([challenge(i, f"伺服电机{i}号", "伺服")])
    e.remove("challenge", range(0, 40, 2))
    e.index([challenge(1, "伺服电机一号改", "伺服")])
    e.close()  # waits for merges
    e = WhooshEngine(tmp_path / "index")
    try:
        result = e.search("伺服", pagesize=100)
        assert sorted(int(h.id) for h in result.hits) == list(range(1, 40, 2))
        assert result.total == 20
        assert e.search("一号改").hits[0].id == "1"
    finally:
        e.close()


def test_update_in_an_old_segment_reuses_its_reader(whoosh_engine):
    engine = whoosh_engine
    engine.index([challenge(i, f"伺服电机{i}号") for i in range(1, 6)])
    engine.flush()
    view = engine.store.view("challenge")
    (first,) = view._segment_bases
    engine.index([challenge(3, "鞋底耐磨材料")])  # deletes from the first segment
    engine.flush()
    result = engine.search("伺服电机", pagesize=10)
    assert sorted(h.id for h in result.hits) == ["1", "2", "4", "5"]
    assert engine.search("鞋底").hits[0].id == "3"
    # the first segment's files were not opened again; only its deletions changed
    assert engine.store.view("challenge")._segment_bases[0] is first


def test_sorting_by_a_column_finds_the_same_documents_and_scores_the_page(engine):
    engine.index([challenge(i, "伺服电机" if i % 2 else "鞋底", bounty=i * 10_000)
                  for i in range(1, 9)])
    by_relevance = engine.search("伺服电机")
    by_bounty = engine.search("伺服电机", sort="bounty")
    assert by_bounty.total == by_relevance.total == 4
    assert [h.id for h in by_bounty.hits] == ["7", "5", "3", "1"]
    assert all(h.score > 0 and h.matched for h in by_bounty.hits)
    assert by_bounty.facets == by_relevance.facets
