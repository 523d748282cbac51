"""rebuild() writes, byte for byte, the segment Whoosh's own writer writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from whoosh.columns import CompressedBytesColumn
from whoosh.util.numeric import length_to_byte

from bounty.matching.whoosh import WhooshEngine, adapter
from bounty.matching.whoosh.postings import length_bytes

WORDS = ["伺服电机", "注塑模具", "鞋底", "耐磨性", "机器视觉", "缺陷检测", "PLC", "NB-IoT",
         "SUS304", "精度0.02mm", "寿命480h", "良品率≥98%", "ＩＰ６７", "85℃", "降低", "成本",
         "提高", "效率", "工艺", "参数", "优化", "验证"]
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(WORDS) for _ in range(n)) + "。"


def _corpus() -> list[dict]:
    """Enough documents that common terms span several posting blocks (128 each)."""
    rng = random.Random(3)
    docs: list[dict] = []
    for i in range(1, 41):
        docs.append({
            "kind": "challenge", "id": i, "title": _text(rng, 2),
            "body": _text(rng, rng.randint(0, 60)),  # some empty bodies
            "keywords": rng.sample(WORDS, 3) if i % 3 else [],
            "industry": rng.choice(["服装", "眼镜"]), "category": "关键工艺",
            "state": rng.choice(["open", "completed"]),
            "bounty": rng.randint(1, 500) * 10_000 if i % 5 else None,
            "deadline": NOW + timedelta(days=rng.randint(-90, 90)),
            "published_at": NOW - timedelta(days=i),
        })
        for j in range(5):
            docs.append({"kind": "bid", "id": i * 100 + j, "title": _text(rng, 2),
                         "body": _text(rng, rng.randint(1, 80)),
                         "challenge_id": str(i), "org_id": str(rng.randint(1, 9))})
    return docs


def _segment_files(engine: WhooshEngine, kind: str) -> dict[str, bytes]:
    ix = engine.store.storage().open_index(indexname=kind)
    (segment,) = adapter.read_toc(ix).segments
    storage = segment.open_compound_file(ix.storage) if segment.is_compound() else ix.storage
    # file names carry the random segment id; compare by extension
    return {name.split(".", 1)[1]: storage.open_file(name).read() for name in storage.list()}


@pytest.mark.parametrize("encoded_postings", [None, 50])
def test_rebuild_writes_the_same_segment_as_whooshs_writer(tmp_path, monkeypatch,
                                                          encoded_postings):
    """Also with a field's postings encoded a few terms at a time (memory)."""
    from bounty.matching.whoosh import build

    if encoded_postings is not None:
        monkeypatch.setattr(build, "ENCODED_POSTINGS", encoded_postings)
    docs = _corpus()
    plain = WhooshEngine(tmp_path / "plain")
    built = WhooshEngine(tmp_path / "built")
    try:
        for kind in ("challenge", "bid"):
            plain.index([d for d in docs if d["kind"] == kind])
        plain.flush()  # writes reach Whoosh (SegmentWriter.add_document) on a flush
        assert built.rebuild(iter(docs)) == len(docs)
        for kind in ("challenge", "bid"):
            expected, actual = _segment_files(plain, kind), _segment_files(built, kind)
            assert sorted(actual) == sorted(expected)
            assert len(expected["pst"]) > 10_000
            for ext, data in expected.items():
                assert actual[ext] == data, (kind, ext)
        r = built.search("伺服电机 缺陷检测", pagesize=50)
        assert r.total and [h.id for h in r.hits] == [
            h.id for h in plain.search("伺服电机 缺陷检测", pagesize=50).hits]
    finally:
        plain.close()
        built.close()


def test_rebuild_in_bounded_segments_ranks_the_same(tmp_path, monkeypatch):
    """A big rebuild commits a segment every REBUILD_SEGMENT_DOCS documents (memory);
    the results are those of one segment."""
    from bounty.matching.whoosh import build

    docs = _corpus()
    whole = WhooshEngine(tmp_path / "whole")
    whole.rebuild(iter(docs))
    monkeypatch.setattr(build, "REBUILD_SEGMENT_DOCS", 7)
    parts = WhooshEngine(tmp_path / "parts")
    parts.rebuild(iter(docs))
    try:
        ix = parts.store.storage().open_index(indexname="bid")
        assert len(adapter.read_toc(ix).segments) == -(-200 // 7)
        for q in ("伺服电机 鞋底", "PLC 良品率≥98%", "机器视觉"):
            a, b = whole.search(q, pagesize=50), parts.search(q, pagesize=50)
            assert [(h.id, h.score) for h in a.hits] == [(h.id, h.score) for h in b.hits]
            assert a.facets == b.facets and a.total == b.total
            query = {"title": q, "body": q}
            assert ([(h.id, h.score) for h in whole.rank(query, kind="bid", limit=100)]
                    == [(h.id, h.score) for h in parts.rank(query, kind="bid", limit=100)])
    finally:
        whole.close()
        parts.close()


def test_rebuild_by_worker_processes_ranks_the_same(tmp_path):
    """``rebuild(procs=2)``: worker processes write a kind's documents into their own
    segments, committed together; searches, facets, rankings and stored terms are
    those of the one-process rebuild, and a rebuild reusing those terms too."""
    docs = _corpus()
    serial = WhooshEngine(tmp_path / "serial")
    workers = WhooshEngine(tmp_path / "workers")
    try:
        assert serial.rebuild(iter(docs)) == len(docs)
        seen: list[int] = []
        assert workers.rebuild(iter(docs), procs=2, progress=seen.append) == len(docs)
        assert sum(seen) == len(docs)
        for _ in range(2):  # fresh, then reusing the stored terms
            ix = workers.store.storage().open_index(indexname="bid")
            assert 1 <= len(adapter.read_toc(ix).segments) <= 2
            assert not list(workers.generation().glob("*.tmp"))  # the writers' temp folders
            for q in ("伺服电机 鞋底", "PLC 良品率≥98%", "机器视觉"):
                for kind in ("challenge", "bid"):
                    a = serial.search(q, kind=kind, pagesize=100)
                    b = workers.search(q, kind=kind, pagesize=100)
                    assert sorted((h.id, h.score) for h in a.hits) == sorted(
                        (h.id, h.score) for h in b.hits)
                    assert a.facets == b.facets and a.total == b.total
                query = {"title": q, "body": q}
                assert (sorted((h.id, h.score) for h in serial.rank(query, kind="bid", limit=200))
                        == sorted((h.id, h.score)
                                  for h in workers.rank(query, kind="bid", limit=200)))
            assert workers.count("bid") == serial.count("bid")
            workers.rebuild(iter(docs), procs=2)
    finally:
        serial.close()
        workers.close()


def test_rebuild_onto_a_live_index_writes_what_a_fresh_one_writes(tmp_path, monkeypatch):
    """Reusing the live generation (each key found from its term info, updated documents'
    deleted versions skipped, stored bytes copied when the stored fields are the same)
    changes nothing in the files; changed documents get their new terms and fields."""
    docs = _corpus()
    live = WhooshEngine(tmp_path / "live")
    fresh = WhooshEngine(tmp_path / "fresh")
    try:
        live.index(docs[:120])
        live.flush()
        live.index(docs[100:])  # documents 100-119 again: deleted versions in a segment
        live.flush()
        changed = [dict(d) for d in docs]
        changed[6]["state"] = "completed" if changed[6]["state"] == "open" else "open"
        changed[12]["body"] += "鞋底。"
        changed[151]["org_id"] = "99"
        calls: list[str] = []
        terms = live.analyzer.terms
        monkeypatch.setattr(live.analyzer, "terms", lambda t: calls.append(t) or terms(t))
        compressed: list[int] = []  # stored fields compressed, not copied
        add = CompressedBytesColumn.Writer.add
        monkeypatch.setattr(CompressedBytesColumn.Writer, "add",
                            lambda self, d, v: compressed.append(d) or add(self, d, v))
        assert live.rebuild(iter(changed)) == len(docs)
        monkeypatch.undo()
        assert len(compressed) == 3  # the three changed documents
        assert changed[12]["body"] in calls and changed[6]["body"] not in calls
        assert len([c for c in calls if c]) < 10  # only the changed document segmented
        fresh.rebuild(iter(changed))
        for kind in ("challenge", "bid"):
            expected, actual = _segment_files(fresh, kind), _segment_files(live, kind)
            assert sorted(actual) == sorted(expected)
            for ext, data in expected.items():
                assert actual[ext] == data, (kind, ext)
    finally:
        live.close()
        fresh.close()


def test_length_bytes_are_whooshs():
    lengths = np.arange(0, 120_000)
    assert length_bytes(lengths).tolist() == [length_to_byte(int(n)) for n in lengths]
