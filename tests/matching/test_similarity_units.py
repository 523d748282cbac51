"""similarity.py without the model: the scores on hand-made vectors, and the pages with
BOUNTY_EMBEDDER=none (no closest sentences, no 相似榜单, no 方案雷同 section)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.matching import similarity
from bounty.matching.vectors import Sentences
from tests.factories import create_bid, create_challenge, create_user


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_only_the_proposal_is_compared_never_the_lab_or_team_lines():
    stored = Sentences(["采用激光焊接工艺。", "激光加工研究所", "周教授、钱博士"],
                       np.stack([unit(1, 0), unit(0, 1), unit(1, 1)]))
    content = "采用激光焊接工艺。\n发明专利 2 项\n"
    kept = similarity.content_sentences(stored, content)
    assert kept.texts == ["采用激光焊接工艺。"]
    assert kept.vectors.shape == (1, 2)
    assert similarity.content_sentences(stored, "全新的文本") is None
    assert similarity.content_sentences(None, content) is None


def test_closest_sentences_need_the_floor_and_stay_in_the_band():
    query = unit(1, 0, 0)
    near = [unit(1, 0.3, 0), unit(1, 0.35, 0), unit(1, 0.4, 0)]  # 0.958, 0.944, 0.928
    sents = Sentences(["甲句。", "乙句。", "丙句。", "丁句。"], np.stack([*near, unit(0, 1, 0)]))
    assert [t for t, _ in similarity.closest(sents, query)] == ["甲句。", "乙句。"]
    far = Sentences(["远句。"], np.stack([unit(1, 1, 0)]))  # 0.707: below the floor
    assert similarity.closest(far, query) == []


def test_copy_score_counts_characters_in_near_identical_sentences_both_ways():
    a = Sentences(["一二三四五六七八九十甲乙丙丁。", "短句子一二三。"],
                  np.stack([unit(1, 0, 0), unit(0, 1, 0)]))
    b = Sentences(["一二三四五六七八九十甲乙丙丁！", "完全不同的内容在这里。",
                   "另一句不同的话在这里。"],
                  np.stack([unit(1, 0.01, 0), unit(0, 0, 1), unit(0, 0.2, 1)]))
    score = similarity.copy_score(a, b)
    # a: 15 of 22 characters have a near-identical partner; b: 15 of 41
    assert score.share == pytest.approx(15 / 22)
    assert score.chars == 15
    assert [(p.a, p.b) for p in score.pairs] == [("一二三四五六七八九十甲乙丙丁。",
                                                   "一二三四五六七八九十甲乙丙丁！")]
    assert not score.flagged  # too few characters to call it copying


def test_sentences_quoting_the_challenge_are_not_copying():
    quote = "焊点拉脱力不低于150N，变色区宽度不超过0.3mm。"
    own = "采用准连续光纤激光器替代氩弧焊，速度快热影响区小。"
    a = Sentences([quote, own], np.stack([unit(1, 0, 0), unit(0, 1, 0)]))
    b = Sentences([quote, "另一种完全不同的技术路线与实施方法说明。"],
                  np.stack([unit(1, 0, 0), unit(0, 0, 1)]))
    assert similarity.copy_score(a, b).share > 0.5  # the quote, taken as their own text
    grams = similarity.ngrams("钛镜架焊接：焊点拉脱力不低于150N，变色区宽度不超过0.3mm")
    assert similarity.copy_score(a, b, grams).share == 0.0


def test_shared_runs_and_verbatim_share():
    a = "采用光纤耦合脉冲激光器，单脉冲能量3–5J、脉宽4ms，对鼻托进行点焊。另有不同内容。"
    b = "我们也采用光纤耦合脉冲激光器，单脉冲能量3–5J、脉宽4ms，对鼻托进行点焊！"
    assert similarity.shared_runs(a, b) == [
        "采用光纤耦合脉冲激光器，单脉冲能量3–5J、脉宽4ms，对鼻托进行点焊"]
    assert similarity.shared_runs(a, b, source=a) == []  # all of it is the challenge's
    assert similarity.verbatim_share(a, b) > 0.7
    assert similarity.verbatim_share(a, "毫不相干") == 0.0


def _evaluated_world():
    owner = create_user("enterprise")
    challenge = create_challenge(owner, state=ChallengeState.evaluating,
                                 deadline_in=timedelta(days=-1))
    bids = [create_bid(challenge, approach="采用模型预测控制与分区加热，控温精度 ±0.3℃。"),
            create_bid(challenge, approach="采用模型预测控制与分区加热，控温精度 ±0.3℃！")]
    return owner, challenge, bids


def test_without_an_embedder_the_pages_render_without_the_sections(app, login_as):
    assert app.config["BOUNTY_EMBEDDER"] == "none"
    owner, challenge, bids = _evaluated_world()
    reviewer = create_user("reviewer")
    for user in (owner, reviewer):
        page = login_as(user).get(f"/challenges/{challenge.id}/bids")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert bids[0].title in html
        assert "语义最接近的句子" not in html and "方案雷同检查" not in html
    assert similarity.bid_copies(challenge, reviewer) is None

    challenge.state = ChallengeState.award_review
    challenge.winning_bid_id = bids[0].id
    db.session.commit()
    html = login_as(reviewer).get(f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "企业选定的揭榜方案" in html and "方案雷同检查" not in html

    vetting = create_challenge(owner, state=ChallengeState.vetting)
    create_challenge(state=ChallengeState.open)  # same default text, another enterprise
    for user, url in ((owner, f"/challenges/{vetting.id}"),
                      (reviewer, f"/review/challenges/{vetting.id}")):
        page = login_as(user).get(url)
        assert page.status_code == 200
        assert "相似榜单" not in page.get_data(as_text=True)
    assert similarity.similar_challenges(vetting, owner) is None
