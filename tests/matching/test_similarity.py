"""Semantic evidence with the real model: a bid's closest sentences, 相似榜单 and 方案雷同,
and who sees them. Texts come from the labelled sets in tests/data."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import numpy as np
import pytest

from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.matching import similarity
from bounty.matching.services import rank_bids
from bounty.timeutil import utcnow
from tests.factories import create_user
from tests.matching.semantic_helpers import (
    BIDS,
    CHALLENGES,
    embed_pending,
    make_bid,
    make_challenge,
)

pytestmark = pytest.mark.semantic


@pytest.fixture(scope="module", autouse=True)
def _embed_each_text_once():
    """The real model, each text embedded once per module: the same bids and challenges
    come back in several tests (a speed-up only; vectors are the model's own)."""
    from bounty.matching.embedder import load_embedder

    embedder = load_embedder("e5-small")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("embed_queries", "embed_passages"):
            real, memo = getattr(embedder, name), {}

            def embed(texts, real=real, memo=memo):  # noqa: ANN001, ANN202
                missing = [t for t in dict.fromkeys(texts) if t not in memo]
                if missing:
                    memo.update(zip(missing, real(missing), strict=True))
                return np.stack([memo[t] for t in texts]) if texts else real(texts)

            mp.setattr(embedder, name, embed)
        yield


def section(html: str, element_id: str) -> str:
    """The HTML of the <section> or <div> with this id/class, or '' if absent."""
    found = re.search(rf'<(section|div) [^>]*(?:id|class)="{element_id}".*?</\1>', html, re.S)
    return found.group(0) if found else ""


# --------------------------------------------------------------------------- explanations


def test_a_paraphrased_bid_shows_its_closest_sentences_escaped(app, login_as):
    owner = create_user("enterprise")
    challenge = make_challenge("S04a", owner, state=ChallengeState.evaluating,
                               deadline_in=timedelta(days=-1))
    attack = "<script>alert('x')</script>"
    paraphrase = make_bid(challenge, "B04p", approach=BIDS["B04p"]["approach"].replace(
        "交给深度卷积网络判断", f"交给深度卷积网络{attack}判断"))
    unrelated = make_bid(challenge, "B10i2", lab="高电压与绝缘技术实验室")
    embed_pending()

    ranked = {r.bid.id: r for r in rank_bids(challenge, [paraphrase, unrelated])}
    assert ranked[paraphrase.id].closest and not ranked[unrelated.id].closest
    shown = ranked[paraphrase.id].closest
    assert 1 <= len(shown) <= similarity.EXPLAIN_SENTENCES
    content = similarity.bid_content(paraphrase)
    assert all(s.text in content and s.similarity >= similarity.EXPLAIN_FLOOR for s in shown)

    html = login_as(owner).get(f"/challenges/{challenge.id}/bids").get_data(as_text=True)
    assert "语义最接近的句子" in html
    closest = "".join(re.findall(r'<div class="closest">.*?</div>', html, re.S))
    assert shown[0].text.replace(attack, "")[:12] in closest.replace("<mark>", "").replace(
        "</mark>", "")
    if any(attack in s.text for s in shown):
        assert "&lt;script&gt;" in closest
    assert "<script>alert" not in html  # anywhere: title, snippet, sentences
    assert "高电压与绝缘技术实验室" not in closest  # lab lines are never an explanation


def test_the_explanation_escapes_a_closest_sentence_with_markup(app, login_as):
    owner = create_user("enterprise")
    challenge = make_challenge("S02a", owner, state=ChallengeState.evaluating,
                               deadline_in=timedelta(days=-1))
    bid = make_bid(challenge, "B02p", approach="<b>整锁待机电流做到25微安</b>，指纹传感器平时断电，"
                                               "手指触碰电容感应电路后两级唤醒处理器和指纹模组。")
    embed_pending()
    [ranked] = rank_bids(challenge, [bid])
    assert any("<b>" in s.text for s in ranked.closest)
    html = login_as(owner).get(f"/challenges/{challenge.id}/bids").get_data(as_text=True)
    closest = "".join(re.findall(r'<div class="closest">.*?</div>', html, re.S))
    assert "&lt;b&gt;" in closest and "<b>" not in closest


# --------------------------------------------------------------------------- 相似榜单


def test_similar_challenges_for_the_enterprise_and_the_reviewer(app, login_as):
    owner = create_user("enterprise")
    other = create_user("enterprise")
    third = create_user("enterprise")
    duplicate = make_challenge("S01b", other, state=ChallengeState.open)
    unrelated = make_challenge("S10a", other, state=ChallengeState.open)
    in_review = make_challenge("S01b", third, state=ChallengeState.vetting)
    old = make_challenge("S01b", third, state=ChallengeState.completed)
    old.published_at = utcnow() - timedelta(days=400)
    own_returned = make_challenge("S01b", owner, state=ChallengeState.returned)
    embed_pending()
    submitted = make_challenge("S01a", owner, state=ChallengeState.vetting)
    # no vector of its own yet: its text is embedded on the spot
    found = similarity.similar_challenges(submitted, owner)
    ids = [s.challenge.id for s in found.items]
    assert duplicate.id in ids and own_returned.id in ids
    assert unrelated.id not in ids  # unrelated
    assert in_review.id not in ids  # another enterprise's, not public
    assert old.id not in ids  # published more than a year ago
    assert all(s.similarity >= similarity.SIMILAR_MIN for s in found.items)
    assert [s.own for s in found.items if s.challenge.id == own_returned.id] == [True]

    embed_pending()
    reviewer = create_user("reviewer")
    for user, url in ((owner, f"/challenges/{submitted.id}"),
                      (reviewer, f"/review/challenges/{submitted.id}")):
        html = section(login_as(user).get(url).get_data(as_text=True), "similar-challenges")
        assert "相似榜单" in html, url
        assert f"/challenges/{duplicate.id}\"" in html and duplicate.organization.name in html
        assert "本单位" in html and "相似度 0.9" in html
        for hidden in (unrelated, in_review, old):
            assert f"/challenges/{hidden.id}\"" not in html

    # nobody else gets the section: not the other enterprise, not an institute
    assert similarity.similar_challenges(submitted, other) is None
    assert similarity.similar_challenges(submitted, create_user("institute")) is None
    assert login_as(other).get(f"/challenges/{submitted.id}").status_code == 404
    # published, it is no longer in 审题: the section goes
    submitted.state = ChallengeState.open
    submitted.published_at = utcnow()
    db.session.commit()
    assert similarity.similar_challenges(submitted, owner) is None
    assert "相似榜单" not in login_as(owner).get(f"/challenges/{submitted.id}").get_data(
        as_text=True)


# --------------------------------------------------------------------------- 方案雷同


@pytest.fixture
def copied(app):
    """A challenge past its deadline with an original, its light copy and two independent
    answers (bid-copies group 03), embedded."""
    owner = create_user("enterprise")
    challenge = make_challenge("S03a", owner, state=ChallengeState.evaluating,
                               deadline_in=timedelta(days=-1))
    marked = BIDS["B03o"]["approach"].replace("减少卷入气体。", "减少卷入气体<i>（关键）</i>。")
    bidders = {key: create_user("institute") for key in ("B03o", "B03c", "B03i1", "B03i2")}
    bids = {"B03o": make_bid(challenge, "B03o", bidders["B03o"], approach=marked),
            "B03c": make_bid(challenge, "B03c", bidders["B03c"], approach=BIDS["B03c"][
                "approach"].replace("减少卷入气体。", "减少卷入气体<i>（关键）</i>。")),
            "B03i1": make_bid(challenge, "B03i1", bidders["B03i1"]),
            "B03i2": make_bid(challenge, "B03i2", bidders["B03i2"])}
    embed_pending()
    return challenge, owner, bidders, bids


def test_a_light_copy_is_flagged_and_independent_answers_are_not(copied, login_as):
    challenge, owner, bidders, bids = copied
    reviewer = create_user("reviewer")
    check = similarity.bid_copies(challenge, reviewer)
    assert check.compared == 4 and check.pending == 0
    assert [(p.a.id, p.b.id) for p in check.pairs] == [(bids["B03o"].id, bids["B03c"].id)]
    [pair] = check.pairs
    assert pair.score.share >= similarity.COPY_SHARE_MIN and pair.score.pairs
    assert pair.runs and pair.verbatim > 0.3

    html = section(login_as(reviewer).get(f"/challenges/{challenge.id}/bids").get_data(
        as_text=True), "bid-copies")
    assert "方案雷同检查" in html and "雷同比例" in html
    assert bids["B03o"].title in html and bids["B03c"].title in html
    assert bids["B03i1"].title not in html and bids["B03i2"].title not in html
    assert "&lt;i&gt;" in html and "<i>" not in html  # shared passages are escaped

    # the award review shows it too, to the reviewer confirming the enterprise's choice
    challenge.state = ChallengeState.award_review
    challenge.winning_bid_id = bids["B03c"].id
    db.session.commit()
    html = section(login_as(reviewer).get(f"/review/challenges/{challenge.id}").get_data(
        as_text=True), "bid-copies")
    assert bids["B03o"].title in html and bids["B03c"].title in html


def test_at_a_blind_award_review_the_pair_is_named_by_aliases(copied, login_as):
    from bounty.review.stages import StageKey
    from tests.review.test_stages import set_stage

    challenge, owner, bidders, bids = copied
    set_stage(StageKey.award, is_blind=True)
    challenge.state = ChallengeState.award_review
    challenge.winning_bid_id = bids["B03c"].id
    db.session.commit()
    reviewer = create_user("reviewer")
    for url in (f"/review/challenges/{challenge.id}", f"/challenges/{challenge.id}/bids"):
        html = section(login_as(reviewer).get(url).get_data(as_text=True), "bid-copies")
        assert "方案A" in html and "方案B" in html, url
        for bid in bids.values():
            for secret in (bid.organization.name, bid.lab, bid.team_members):
                assert secret not in html, (url, secret)


def test_only_reviewers_see_copied_bids_and_only_after_the_deadline(copied, login_as):
    challenge, owner, bidders, bids = copied
    reviewer = create_user("reviewer")
    admin = create_user("admin")
    # after the deadline: the enterprise sees the bids, but the finding is the reviewers'
    assert similarity.bid_copies(challenge, owner) is None
    page = login_as(owner).get(f"/challenges/{challenge.id}/bids")
    assert page.status_code == 200 and "方案雷同检查" not in page.get_data(as_text=True)
    for user in (admin, *bidders.values()):
        assert similarity.bid_copies(challenge, user) is None
    # bidders never see each other's bids, nor the pairs, even their own copy
    for key, user in bidders.items():
        client = login_as(user)
        assert client.get(f"/challenges/{challenge.id}/bids").status_code == 404
        assert "方案雷同检查" not in client.get(f"/bids/{bids[key].id}").get_data(as_text=True)

    # sealed before the deadline: nobody but each bidder sees a bid; no pairs for anyone
    before = challenge.bid_deadline - timedelta(hours=1)
    for user in (reviewer, owner, *bidders.values()):
        assert similarity.bid_copies(challenge, user, now=before) is None
    challenge.state = ChallengeState.open
    challenge.bid_deadline = utcnow() + timedelta(days=3)
    db.session.commit()
    assert login_as(reviewer).get(f"/challenges/{challenge.id}/bids").status_code == 404
    assert similarity.bid_copies(challenge, reviewer) is None
    html = login_as(reviewer).get(f"/challenges/{challenge.id}").get_data(as_text=True)
    assert "方案雷同检查" not in html and bids["B03o"].title not in html


def test_bids_without_vectors_yet_are_counted_not_compared(copied):
    challenge, owner, bidders, bids = copied
    late = make_bid(challenge, "B03p")  # its vectors are not computed yet
    check = similarity.bid_copies(challenge, create_user("reviewer"))
    assert check.compared == 4 and check.pending == 1
    assert late.id not in {p.b.id for p in check.pairs} | {p.a.id for p in check.pairs}


def test_pairs_eval_scores_a_small_set(tmp_path):
    from click.testing import CliRunner

    from bounty.matching.cli import match_cli

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "challenges.jsonl").write_text("\n".join(
        json.dumps(CHALLENGES[k], ensure_ascii=False) for k in ("S01a", "S01b", "S10a")),
        encoding="utf-8")
    (tmp_path / "c" / "pairs.tsv").write_text(
        "a\tb\tlabel\nS01a\tS01b\tduplicate\nS01a\tS10a\tdifferent\n", encoding="utf-8")
    result = CliRunner().invoke(match_cli, ["pairs-eval", str(tmp_path / "c"), "--no-cache"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["labelled"]["recall"] == 1.0 and out["labelled"]["precision"] == 1.0
