"""Stages as rows: defaults, the admin page, N-of-M approvals, one person one stage,
lead-reviewer-only stages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty.audit import AuditEvent
from bounty.challenges import services as challenges
from bounty.challenges.models import ChallengeState
from bounty.errors import PermissionDenied, TransitionRefused
from bounty.extensions import db
from bounty.review import assignment
from bounty.review.decisions import decide
from bounty.review.models import Outcome, ReviewDecision
from bounty.review.stages import (
    Decider,
    ReviewStage,
    StageData,
    StageKey,
    ensure_default_stages,
    get_stage,
    update_stage,
)

from ..factories import create_challenge, create_user
from .conftest import award_challenge


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _events(action: str) -> int:
    return _count(AuditEvent, AuditEvent.action == action)


def set_stage(key: StageKey, **changes) -> ReviewStage:
    stage = get_stage(key)
    data = StageData(name=stage.name, decider=stage.decider,
                     approvals_needed=stage.approvals_needed,
                     time_limit_days=stage.time_limit_days, is_blind=stage.is_blind,
                     rubric="\n".join(f"{c.name} {c.weight}" for c in stage.criteria))
    for name, value in changes.items():
        setattr(data, name, value)
    return update_stage(stage, create_user("admin"), data)


def test_default_stages_are_seeded_once(app):
    assert ensure_default_stages() == 5
    assert ensure_default_stages() == 0
    stages = db.session.execute(sa.select(ReviewStage).order_by(ReviewStage.position)).scalars()
    assert [(s.key, s.name, s.approvals_needed, s.decider) for s in stages] == [
        (StageKey.vetting, "审题", 1, Decider.reviewer),
        (StageKey.award, "揭榜结果审核", 1, Decider.reviewer),
        (StageKey.acceptance, "验收", 1, Decider.reviewer),
        (StageKey.certification, "首台套认定", 1, Decider.reviewer),
        (StageKey.listing, "科技大市场挂牌", 1, Decider.reviewer),
    ]
    award = get_stage(StageKey.award)
    assert [(c.name, c.weight) for c in award.criteria] == [
        ("技术先进性", 30), ("可行性", 30), ("团队基础", 20), ("报价合理性", 20)]


def test_admin_edits_a_stage_on_the_page(app, sign_in):
    admin = create_user("admin")
    client = sign_in(admin)
    page = client.get("/review/stages").get_data(as_text=True)
    assert "揭榜结果审核" in page and "技术先进性 30" in page
    response = client.post("/review/stages/award", data={
        "award-name": "揭榜结果审核（专家组）", "award-decider": "lead_reviewer",
        "award-approvals_needed": "3", "award-time_limit_days": "7", "award-is_blind": "y",
        "award-rubric": "技术先进性 40\n可行性：60"})
    assert response.status_code == 302
    db.session.expire_all()
    stage = get_stage(StageKey.award)
    assert (stage.name, stage.decider, stage.approvals_needed, stage.time_limit_days,
            stage.is_blind) == ("揭榜结果审核（专家组）", Decider.lead_reviewer, 3, 7, True)
    assert [(c.name, c.weight) for c in stage.criteria] == [("技术先进性", 40), ("可行性", 60)]
    assert _events("update_review_stage") == 1


@pytest.mark.parametrize("field, value, message", [
    ("approvals_needed", "0", "所需通过人数应为 1 至 9。"),
    ("time_limit_days", "400", "办理时限应为 1 至 365 个工作日。"),
    ("rubric", "技术先进性 abc", "评分细则第 1 行应为“指标名称 权重”"),
])
def test_bad_stage_settings_are_refused(app, sign_in, field, value, message):
    client = sign_in(create_user("admin"))
    data = {"vetting-name": "审题", "vetting-decider": "reviewer",
            "vetting-approvals_needed": "2", "vetting-time_limit_days": "5",
            "vetting-rubric": ""}
    data[f"vetting-{field}"] = value
    response = client.post("/review/stages/vetting", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and value in page
    db.session.expire_all()
    assert get_stage(StageKey.vetting).approvals_needed == 1


@pytest.mark.parametrize("role", ["reviewer", "enterprise"])
def test_only_admins_see_stage_settings(app, sign_in, role):
    client = sign_in(create_user(role))
    assert client.get("/review/stages").status_code == 403
    assert client.post("/review/stages/award", data={}).status_code == 403


def test_n_of_m_approvals(app):
    set_stage(StageKey.award, approvals_needed=2)
    challenge, _owner, _bids = award_challenge()
    first, second = create_user("reviewer"), create_user("reviewer")
    decide(challenge, first, Outcome.approve, stage=StageKey.award)
    assert challenge.state == ChallengeState.award_review
    assert assignment.approvals_progress(challenge) == (1, 2)
    with pytest.raises(TransitionRefused, match="您已在本轮审核中作出结论"):
        decide(challenge, first, Outcome.approve, stage=StageKey.award)
    assert challenge.state == ChallengeState.award_review
    decide(challenge, second, Outcome.approve, stage=StageKey.award)
    assert challenge.state == ChallengeState.in_progress
    assert _count(ReviewDecision) == 2
    assert _events("approve_award") == 1 and _events("review_vote") == 1


def test_one_rejection_stops_the_round(app):
    set_stage(StageKey.award, approvals_needed=3)
    challenge, _owner, _bids = award_challenge()
    a, b, c = (create_user("reviewer") for _ in range(3))
    decide(challenge, a, Outcome.approve, stage=StageKey.award)
    decide(challenge, b, Outcome.reject, "报价明显偏离市场水平", stage=StageKey.award)
    assert challenge.state == ChallengeState.failed
    with pytest.raises(TransitionRefused, match="不在此审核阶段"):
        decide(challenge, c, Outcome.approve, stage=StageKey.award)
    tasks = db.session.execute(sa.select(assignment.ReviewTask)).scalars().all()
    assert sorted(t.result.value for t in tasks) == ["approved", "closed", "rejected"]


def test_a_return_ends_the_round_and_the_next_round_starts_afresh(app):
    set_stage(StageKey.award, approvals_needed=2)
    challenge, owner, bids = award_challenge()
    a, b = create_user("reviewer"), create_user("reviewer")
    decide(challenge, a, Outcome.approve, stage=StageKey.award)
    decide(challenge, b, Outcome.return_, "请补充第二名方案的比较说明", stage=StageKey.award)
    assert challenge.state == ChallengeState.evaluating
    challenges.select_bid(challenge, bids[1], owner)
    assert assignment.approvals_progress(challenge) == (0, 2)
    decide(challenge, a, Outcome.approve, stage=StageKey.award)  # a new round: A may approve again
    assert challenge.state == ChallengeState.award_review
    decide(challenge, b, Outcome.approve, stage=StageKey.award)
    assert challenge.state == ChallengeState.in_progress


def test_comment_is_required_for_a_return(app):
    challenge, _owner, _bids = award_challenge()
    with pytest.raises(TransitionRefused, match="必须填写意见"):
        decide(challenge, create_user("reviewer"), Outcome.return_, "  ", stage=StageKey.award)
    assert _count(ReviewDecision) == 0


def test_one_person_cannot_decide_two_separated_stages(app):
    app.config["REVIEW_SEPARATED_STAGES"] = "vetting+award"
    reviewer = create_user("reviewer")
    challenge = create_challenge(state=ChallengeState.vetting)
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.vetting)
    challenge.state = ChallengeState.award_review  # fixture shortcut to the next stage
    db.session.commit()
    with pytest.raises(PermissionDenied, match="「审题」阶段通过该榜单，按审核分离规则"):
        decide(challenge, reviewer, Outcome.approve, stage=StageKey.award)
    with pytest.raises(PermissionDenied, match="审核分离规则"):  # a return is a decision too
        decide(challenge, reviewer, Outcome.return_, "请企业补充评选说明", stage=StageKey.award)
    decide(challenge, create_user("reviewer"), Outcome.return_, "请企业补充评选说明",
           stage=StageKey.award)
    assert challenge.state == ChallengeState.evaluating


def test_lead_reviewer_only_stage(app):
    set_stage(StageKey.vetting, decider=Decider.lead_reviewer)
    challenge = create_challenge(state=ChallengeState.vetting)
    with pytest.raises(PermissionDenied, match="只能由审核组长作出结论"):
        decide(challenge, create_user("reviewer"), Outcome.approve, stage=StageKey.vetting)
    lead = create_user("reviewer", is_lead_reviewer=True)
    decide(challenge, lead, Outcome.approve, stage=StageKey.vetting)
    assert challenge.state == ChallengeState.open


def test_decision_page_shows_progress(app, sign_in):
    set_stage(StageKey.award, approvals_needed=2)
    challenge, _owner, _bids = award_challenge()
    first = create_user("reviewer", name="周审核")
    decide(challenge, first, Outcome.approve, stage=StageKey.award)
    page = sign_in(create_user("reviewer")).get(
        f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "1 / 2 人通过" in page and "周审核（通过）" in page
    assert f'name="version" type="hidden" value="{challenge.version}"' in page
