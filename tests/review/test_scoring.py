"""Expert scoring at 揭榜结果审核: independent until submitted, weighted mean, spread,
disagreement."""

from __future__ import annotations

import re

import pytest

from bounty.errors import InvalidField, TransitionRefused
from bounty.review import scoring
from bounty.review.stages import StageKey, get_stage

from ..factories import create_user
from .conftest import award_challenge

CRITERIA = ("技术先进性", "可行性", "团队基础", "报价合理性")  # weights 30 30 20 20


def _form(values, comment=""):
    stage = get_stage(StageKey.award)
    data = {f"score-{c.id}": str(v) for c, v in zip(stage.criteria, values, strict=True)}
    data["comment"] = comment
    return data


def test_scores_are_hidden_until_one_submits_ones_own(app, sign_in):
    challenge, _owner, _bids = award_challenge()
    url = f"/review/challenges/{challenge.id}"
    first, second = create_user("reviewer", name="甲专家"), create_user("reviewer", name="乙专家")
    a, b = sign_in(first), sign_in(second)
    page = a.get(url).get_data(as_text=True)
    assert "专家评分" in page and "已有 0 位审核人员提交评分" in page
    for name in CRITERIA:
        assert name in page
    response = a.post(f"{url}/scores", data=_form([9, 8, 7, 6], "技术路线先进"))
    assert response.status_code == 302
    # 9*.3 + 8*.3 + 7*.2 + 6*.2 = 7.7
    own = a.get(url).get_data(as_text=True)
    assert "甲专家" in own and "7.7" in own and "技术路线先进" in own

    before = b.get(url).get_data(as_text=True)
    assert "已有 1 位审核人员提交评分" in before
    assert "技术路线先进" not in before and "甲专家" not in before
    assert not re.search(r"<td>\s*9\s*</td>", before)
    b.post(f"{url}/scores", data=_form([6, 6, 7, 8], "团队偏弱"))
    after = b.get(url).get_data(as_text=True)
    assert "甲专家" in after and "乙专家" in after and "技术路线先进" in after
    # 乙: 6*.3 + 6*.3 + 7*.2 + 8*.2 = 6.6; mean 7.15, spread 1.1; no criterion apart by > 3
    assert 'class="score-mean">7.15<' in after and 'class="score-spread">1.1<' in after
    assert "评分分歧较大" not in after


def test_disagreement_is_flagged(app):
    challenge, _owner, _bids = award_challenge()
    scoring.submit_scores(challenge, create_user("reviewer"), dict(zip(CRITERIA, [10, 10, 9, 9],
                                                                       strict=True)))
    scoring.submit_scores(challenge, create_user("reviewer"), dict(zip(CRITERIA, [3, 4, 9, 9],
                                                                       strict=True)))
    round_no = scoring.current_round(challenge, StageKey.award)
    summary = scoring.summarize(scoring.sheets_of(challenge, StageKey.award, round_no))
    assert [s.weighted for s in summary.sheets] == [9.6, 5.7]
    assert summary.mean == 7.65 and summary.spread == 3.9
    assert [(c.name, c.mean, c.spread) for c in summary.criteria] == [
        ("技术先进性", 6.5, 7), ("可行性", 7.0, 6), ("团队基础", 9.0, 0), ("报价合理性", 9.0, 0)]
    assert summary.disagreement


def test_a_sheet_is_final_and_scores_are_0_to_10(app):
    challenge, _owner, _bids = award_challenge()
    reviewer = create_user("reviewer")
    with pytest.raises(InvalidField, match="请为报价合理性打分"):
        scoring.submit_scores(challenge, reviewer, {"技术先进性": 5, "可行性": 5,
                                                    "团队基础": 5, "报价合理性": 11})
    scoring.submit_scores(challenge, reviewer, dict.fromkeys(CRITERIA, 5))
    with pytest.raises(TransitionRefused, match="评分提交后不能修改"):
        scoring.submit_scores(challenge, reviewer, dict.fromkeys(CRITERIA, 9))


def test_admins_see_all_scores_reviewers_who_have_not_scored_do_not(app):
    challenge, _owner, _bids = award_challenge()
    scoring.submit_scores(challenge, create_user("reviewer"), dict.fromkeys(CRITERIA, 8))
    round_no = scoring.current_round(challenge, StageKey.award)
    assert scoring.can_see_scores(challenge, StageKey.award, round_no, create_user("admin"))
    assert not scoring.can_see_scores(challenge, StageKey.award, round_no,
                                      create_user("reviewer"))
    assert not scoring.can_see_scores(challenge, StageKey.award, round_no,
                                      challenge.created_by)


def test_no_scoring_without_a_rubric(app, sign_in):
    from bounty.challenges.models import ChallengeState

    from ..factories import create_challenge

    challenge = create_challenge(state=ChallengeState.vetting)
    page = sign_in(create_user("reviewer")).get(
        f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "专家评分" not in page
    with pytest.raises(TransitionRefused, match="没有评分细则"):
        scoring.submit_scores(challenge, create_user("reviewer"), {})
