"""A bid is read by what it claims: its scope disclaimers are not embedded (claims.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.challenges.models import ChallengeState, Industry
from bounty.extensions import db
from bounty.matching import get_matcher, indexing
from bounty.matching import vectors as vectors_mod
from bounty.matching.claims import claimed, disclaims
from bounty.matching.embedding import embed_keys, run_jobs
from bounty.matching.models import DocVector
from bounty.matching.services import rank_bids
from bounty.matching.vectors import embed_text, sentences, text_hash
from tests.factories import create_bid, create_challenge

PARTIAL = ("针对压铸件气孔问题，采用真空压铸，型腔真空度50mbar，气孔率降到0.5%。"
           "团队为压铸设备企业。本方案只改进压铸工艺，模具热裂和去毛刺不在范围内，"
           "尺寸稳定性未做验证。")


@pytest.mark.parametrize("sentence", [
    "本方案只改进弹簧片，铰链和包覆开胶不在范围内。",
    "本方案不涉及后段烘干工序。",
    "镜片松脱问题尚未解决。",
    "盒体抗压未做验证。",
    "涂层的耐候性没有验证。",
    "我们仅提供传感器，不包括软件。",
    "Sealing of the lid is not covered by this proposal.",
    "This work does not address the drying stage.",
    "The coating is out of scope.",
])
def test_scope_disclaimers_are_recognised(sentence):
    assert disclaims(sentence)


@pytest.mark.parametrize("sentence", [
    "贴完逐只做直流高压绝缘测试。",  # one by one, not "only"
    "每只镜架做一次盐雾试验。",
    "无需改变现有产线，只需更换模具镶件。",
    "开合10000次后闭合保持力3.5N，无断裂。",
    "We replace fusion welding with friction stir welding; no porosity.",
])
def test_claims_are_not_disclaimers(sentence):
    assert not disclaims(sentence)


def test_claimed_text_drops_only_the_disclaiming_sentences():
    assert claimed(PARTIAL) == ("针对压铸件气孔问题，采用真空压铸，型腔真空度50mbar，"
                                "气孔率降到0.5%。团队为压铸设备企业。")
    assert claimed("We use FSW. Sealing is not covered here. Cost is low.") \
        == "We use FSW. Cost is low."
    plain = "采用真空压铸，气孔率降到0.5%。"
    assert claimed(plain) == plain
    only = "本方案不涉及热裂。"
    assert claimed(only) == only  # a text of disclaimers only is read whole
    assert claimed("") == ""


def test_only_answers_are_embedded_by_what_they_claim():
    bid = {"kind": "bid", "title": "真空压铸", "body": PARTIAL}
    challenge = {"kind": "challenge", "title": "压铸件气孔", "body": PARTIAL}
    assert embed_text(bid) == "真空压铸\n" + claimed(PARTIAL)
    assert embed_text(challenge) == "压铸件气孔\n" + PARTIAL  # a challenge's "不…" is a need


@pytest.mark.semantic
def test_a_partial_answer_does_not_cover_what_it_disclaims(app, monkeypatch):
    challenge = create_challenge(
        state=ChallengeState.open, industry=Industry.auto_parts, keywords="",
        title="铝合金压铸壳体气孔、模具热裂与去毛刺",
        bottleneck="变速箱铝合金压铸壳体气孔率高，X光检测不合格率8%；压铸模具型腔3万模次后"
                   "热裂；人工去毛刺效率低、尺寸一致性差。需降低气孔率、延长模具寿命并实现"
                   "自动去毛刺。",
        background="", expected_outcome="")
    challenge.indicators = []
    db.session.commit()
    partial = create_bid(challenge, title="变速箱铝合金压铸壳体真空压铸降低气孔率",
                         approach=PARTIAL)
    full = create_bid(
        challenge, title="变速器铝壳高真空压铸、模具抗热裂与机器人去毛刺",
        approach="高真空压铸配合局部挤压，壳体气孔率0.3%，X光合格率98%；模具型腔改用H13电渣"
                 "重熔钢并离子氮化、随形冷却，热裂推迟到8万模次以后；机器人视觉引导去毛刺，"
                 "节拍40秒，尺寸一致性CPK 1.33。")
    embedder = get_matcher().embedder
    run_jobs(db.engine, embedder)
    stored = db.session.execute(
        sa.select(DocVector.text_hash).where(DocVector.kind == "bid",
                                             DocVector.doc_id == str(partial.id))).scalars()
    assert set(stored) == {text_hash(embed_text(indexing.bid_doc(partial)))}
    assert not any(disclaims(s) for s in sentences(vectors_mod.body_text(
        indexing.bid_doc(partial))))  # nor are they shown as its closest sentences
    ranked = rank_bids(challenge, [partial, full])
    assert [r.bid.id for r in ranked] == [full.id, partial.id]
    claimed_gap = ranked[0].score - ranked[1].score

    # the same bids embedded whole, disclaimers and all: the partial answer comes closer
    monkeypatch.setattr(vectors_mod, "ANSWER_KINDS", ())
    embed_keys(db.session, embedder, [("bid", partial.id), ("bid", full.id)])
    db.session.commit()
    whole = {r.bid.id: r.score for r in rank_bids(challenge, [partial, full])}
    assert whole[partial.id] - whole[full.id] > -claimed_gap
