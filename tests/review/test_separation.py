"""The review-separation rule: per stage group, configurable, said before anyone types,
kept out of assignments, and a refusal that keeps the reviewer's comment."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bounty import create_app
from bounty.certification import services as cert
from bounty.challenges.models import ChallengeState
from bounty.errors import InvalidField, PermissionDenied
from bounty.extensions import db
from bounty.review.assignment import (
    ReviewTask,
    assign_task,
    auto_assign,
    decision_bar,
    sync_tasks,
)
from bounty.review.decisions import decide
from bounty.review.models import Outcome, ReviewDecision, StageKey
from bounty.review.separation import parse_groups, separated_from

from ..factories import create_challenge, create_user
from ..registry.helpers import cert_data, completed_challenge, evidence_files

S = StageKey


def _approved(challenge, stage: StageKey, reviewer) -> None:
    db.session.add(ReviewDecision(challenge_id=challenge.id, stage=stage,
                                  outcome=Outcome.approve, reviewer_id=reviewer.id))
    db.session.commit()


def _awarded_then_delivered():
    """A challenge waiting at 验收 whose award was approved by ``awarder``."""
    awarder = create_user("reviewer", name="许专家")
    challenge = create_challenge(state=ChallengeState.acceptance_review)
    _approved(challenge, StageKey.award, awarder)
    sync_tasks()  # the worker opens the round of an item set up directly
    return challenge, awarder


@pytest.mark.parametrize(("value", "groups"), [
    (None, ({S.award, S.acceptance}, {S.acceptance, S.certification})),
    ("vetting+award, acceptance+certification",
     ({S.vetting, S.award}, {S.acceptance, S.certification})),
    ([["vetting", "award", "acceptance"]], ({S.vetting, S.award, S.acceptance},)),
    ("none", ()),
    ("", ()),
    ("listing", ()),  # a group of one separates nothing
])
def test_groups_from_config(value, groups):
    assert [set(g) for g in parse_groups(value)] == [set(g) for g in groups]


def test_a_mistyped_stage_stops_the_start(tmp_path):
    with pytest.raises(ValueError, match="unknown stage.*vetting, award"):
        create_app({"BOUNTY_INSTANCE": str(tmp_path), "SECRET_KEY": "x",
                    "REVIEW_SEPARATED_STAGES": "award+acceptence"})


def test_default_separates_award_from_acceptance_and_acceptance_from_certification(app):
    assert separated_from(S.acceptance) == {S.award, S.certification}
    assert separated_from(S.award) == {S.acceptance}
    assert separated_from(S.vetting) == separated_from(S.listing) == frozenset()


def test_the_awarder_may_not_decide_acceptance_at_all(app):
    challenge, awarder = _awarded_then_delivered()
    for outcome in Outcome:
        with pytest.raises(PermissionDenied,
                           match="「揭榜结果审核」阶段通过该榜单，按审核分离规则"):
            decide(challenge, awarder, outcome, "意见", stage=StageKey.acceptance)
    decide(challenge, create_user("reviewer"), Outcome.approve, stage=StageKey.acceptance)
    assert challenge.state == ChallengeState.completed


def test_stages_in_no_common_group_may_be_decided_by_one_person(app):
    reviewer = create_user("reviewer")
    challenge = create_challenge(state=ChallengeState.vetting)
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.vetting)
    challenge.state = ChallengeState.award_review  # fixture shortcut to the next stage
    db.session.commit()
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.award)
    assert challenge.state == ChallengeState.in_progress


def test_switched_off(app):
    app.config["REVIEW_SEPARATED_STAGES"] = "none"
    challenge, awarder = _awarded_then_delivered()
    assert decision_bar(challenge, awarder) is None
    decide(challenge, awarder, Outcome.approve, stage=StageKey.acceptance)


def test_the_admin_sees_the_rule_in_force_on_the_stage_settings(app, sign_in):
    admin = sign_in(create_user("admin"))
    page = admin.get("/review/stages").get_data(as_text=True)
    section = page[page.index('id="separation"'):page.index('id="leads"')]
    assert "<li>揭榜结果审核、验收</li>" in section and "<li>验收、首台套认定</li>" in section
    app.config["REVIEW_SEPARATED_STAGES"] = "none"
    page = admin.get("/review/stages").get_data(as_text=True)
    assert "未启用审核分离" in page


def test_decision_page_says_why_and_who_can_before_anyone_types(app, sign_in):
    challenge, awarder = _awarded_then_delivered()
    inspector = create_user("reviewer", name="赵验收")
    create_user("reviewer", name="钱认定", is_disabled=True)  # not on duty: not offered
    page = sign_in(awarder).get(f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "按审核分离规则，「验收」须由其他审核人员作出结论" in page
    assert "可以作出结论的审核人员：赵验收。" in page
    assert 'name="comment"' not in page  # nothing to type into
    page = sign_in(inspector).get(f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert 'id="decision-bar"' not in page and 'name="comment"' in page


def test_queues_say_it_too(app, sign_in):
    challenge, awarder = _awarded_then_delivered()
    create_user("reviewer", name="赵验收")
    client = sign_in(awarder)
    for url in ("/review/queue/acceptance", "/review/tasks"):
        page = client.get(url, follow_redirects=True).get_data(as_text=True)
        assert challenge.title in page and "按审核分离规则" in page, url
        assert "可以作出结论的审核人员：赵验收。" in page, url


def test_registry_queue_and_page_say_it(app, sign_in):
    challenge, owner, _winner = completed_challenge()
    acceptor = create_user("reviewer", name="赵验收")
    create_user("reviewer", name="钱认定")
    _approved(challenge, StageKey.acceptance, acceptor)
    application = cert.apply_for_certification(challenge, owner, cert_data(), evidence_files())
    client = sign_in(acceptor)
    queue = client.get("/registry/review", follow_redirects=True).get_data(as_text=True)
    assert "可以作出结论的审核人员：钱认定。" in queue
    page = client.get(f"/certifications/{application.id}").get_data(as_text=True)
    assert "「首台套认定」须由其他审核人员作出结论" in page and 'name="comment"' not in page


def test_a_refused_decision_keeps_the_typed_comment(app, sign_in):
    """The rule changed between the page and the POST: the page comes back, with why."""
    challenge, awarder = _awarded_then_delivered()
    app.config["REVIEW_SEPARATED_STAGES"] = "none"
    client = sign_in(awarder)
    assert 'name="comment"' in client.get(f"/review/challenges/{challenge.id}").text
    app.config["REVIEW_SEPARATED_STAGES"] = None
    response = client.post(f"/review/challenges/{challenge.id}", data={
        "stage": "acceptance", "outcome": "return", "comment": "第三方检测报告缺少盐雾试验数据"})
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "按审核分离规则" in page and "第三方检测报告缺少盐雾试验数据</textarea>" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewDecision)) == 1


def test_a_refused_certification_decision_keeps_the_typed_comment(app, sign_in):
    challenge, owner, _winner = completed_challenge()
    acceptor = create_user("reviewer")
    _approved(challenge, StageKey.acceptance, acceptor)
    application = cert.apply_for_certification(challenge, owner, cert_data(), evidence_files())
    response = sign_in(acceptor).post(f"/certifications/{application.id}/decide", data={
        "outcome": "return", "comment": "请补充用户使用报告的盖章页",
        "version": application.version})
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "按审核分离规则" in page and "请补充用户使用报告的盖章页</textarea>" in page
    assert application.state == cert.CertificationState.submitted


def test_an_assignment_never_goes_to_a_barred_reviewer(app):
    challenge, awarder = _awarded_then_delivered()
    lead = create_user("reviewer", is_lead_reviewer=True)
    _approved(challenge, StageKey.award, lead)  # the lead confirmed the award too
    sync_tasks()
    task = db.session.execute(sa.select(ReviewTask)).scalar_one()
    with pytest.raises(InvalidField, match="许专家已在「揭榜结果审核」阶段通过该榜单"):
        assign_task(task, awarder, lead)
    assert auto_assign(lead) == []  # nobody else on duty may take it
    inspector = create_user("reviewer")
    assert [r.id for _t, r in auto_assign(lead)] == [inspector.id]


def test_who_may_not_decide_may_not_score(app, sign_in):
    from bounty.review import scoring

    from .conftest import award_challenge

    app.config["REVIEW_SEPARATED_STAGES"] = "vetting+award"
    challenge, _owner, _bids = award_challenge()
    vetter = create_user("reviewer")
    _approved(challenge, StageKey.vetting, vetter)
    scores = {"技术先进性": 8, "可行性": 8, "团队基础": 8, "报价合理性": 8}
    with pytest.raises(PermissionDenied, match="审核分离规则"):
        scoring.submit_scores(challenge, vetter, scores)
    page = sign_in(vetter).get(f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert 'class="form score-form"' not in page and "审核分离规则" in page
    scoring.submit_scores(challenge, create_user("reviewer"), scores)
