"""Conflicts of interest: membership history, declarations, refusal, recorded override."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.accounts.memberships import record_membership
from bounty.audit import AuditEvent
from bounty.challenges.models import ChallengeState
from bounty.errors import InvalidField, PermissionDenied
from bounty.extensions import db
from bounty.review.assignment import ReviewTask, assign_task, auto_assign, sync_tasks
from bounty.review.conflicts import (
    ConflictOverride,
    conflict_with,
    declare_conflict,
    override_conflict,
)
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey
from bounty.timeutil import utcnow

from ..factories import create_challenge, create_user
from .conftest import award_challenge


def _task(challenge) -> ReviewTask:
    return db.session.execute(sa.select(ReviewTask).where(
        ReviewTask.challenge_id == challenge.id)).scalars().first()


def _former_member(org, years_ago: float):
    """A reviewer (now in a government body) who left ``org`` ``years_ago`` years ago."""
    reviewer = create_user("reviewer")
    left = utcnow() - timedelta(days=365 * years_ago)
    record_membership(reviewer, org.id, joined_at=left - timedelta(days=700), left_at=left)
    db.session.commit()
    return reviewer


@pytest.mark.parametrize("party", ["enterprise", "bidder"])
@pytest.mark.parametrize("years_ago, conflicted", [(1, True), (2.9, True), (3.1, False)])
def test_former_members_within_three_years_are_barred(app, party, years_ago, conflicted):
    challenge, owner, bids = award_challenge()
    org = owner.organization if party == "enterprise" else bids[1].organization
    reviewer = _former_member(org, years_ago)
    assert (conflict_with(reviewer, challenge) is not None) is conflicted
    if conflicted:
        assert "近三年内曾任职于该单位" in conflict_with(reviewer, challenge)
        with pytest.raises(PermissionDenied, match="利益冲突"):
            decide(challenge, reviewer, Outcome.approve, stage=StageKey.award)
    else:
        decide(challenge, reviewer, Outcome.approve, stage=StageKey.award)
        assert challenge.state == ChallengeState.in_progress


def test_declared_conflict_bars_assignment_and_decision(app, sign_in):
    challenge, _owner, bids = award_challenge()
    sync_tasks()
    reviewer = create_user("reviewer", name="许专家")
    client = sign_in(reviewer)
    bad = client.post("/review/conflicts", data={"uscc": "91330300MA0000000X", "reason": "亲属"})
    assert bad.status_code == 422 and "未找到该统一社会信用代码对应的单位" in bad.get_data(
        as_text=True)
    response = client.post("/review/conflicts", data={
        "uscc": bids[1].organization.uscc, "reason": "配偶在该校任教"})
    assert response.status_code == 302
    profile = client.get("/accounts/profile").get_data(as_text=True)
    assert "利益冲突申报" in profile and "配偶在该校任教" in profile
    refusal = "不能分配给许专家：与「.*」存在利益冲突（已申报利益冲突）"
    with pytest.raises(InvalidField, match=refusal):
        assign_task(_task(challenge), reviewer, create_user("admin"))
    assert auto_assign(create_user("admin")) == []
    page = client.get(f"/review/challenges/{challenge.id}").get_data(as_text=True)
    assert "不能审核该事项" in page and 'name="outcome"' not in page
    refused = client.post(f"/review/challenges/{challenge.id}",
                          data={"stage": "award", "outcome": "approve"}, follow_redirects=True)
    assert "存在利益冲突" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert challenge.state == ChallengeState.award_review


def test_current_member_of_a_party_is_barred(app):
    challenge, owner, _bids = award_challenge()
    # A reviewer account that (wrongly) sits in the enterprise itself.
    insider = create_user("reviewer", organization=owner.organization)
    with pytest.raises(PermissionDenied, match="现任职于该单位"):
        decide(challenge, insider, Outcome.approve, stage=StageKey.award)


def test_admin_override_is_recorded_and_then_allows(app, sign_in):
    challenge, owner, _bids = award_challenge()
    sync_tasks()
    reviewer = _former_member(owner.organization, 1)
    admin = create_user("admin")
    with pytest.raises(PermissionDenied):
        override_conflict(challenge, reviewer, create_user("reviewer"), "理由")
    client = sign_in(admin)
    page = client.get(f"/review/items/challenge/{challenge.id}/conflicts").get_data(
        as_text=True)
    assert "近三年内曾任职于该单位" in page and "登记例外" in page
    missing = client.post(f"/review/items/challenge/{challenge.id}/conflicts",
                          data={"reviewer": reviewer.id, "reason": ""})
    assert missing.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConflictOverride)) == 0
    response = client.post(f"/review/items/challenge/{challenge.id}/conflicts", data={
        "reviewer": reviewer.id, "reason": "该领域仅此一位专家，已离职两年以上且无持股"})
    assert response.status_code == 302
    event = db.session.execute(sa.select(AuditEvent).where(
        AuditEvent.action == "override_conflict")).scalar_one()
    assert event.actor_id == admin.id and "该领域仅此一位专家" in event.comment
    assert event.challenge_id is None  # not on the parties' trail
    assign_task(_task(challenge), reviewer, admin)
    decide(challenge, reviewer, Outcome.approve, stage=StageKey.award)
    assert challenge.state == ChallengeState.in_progress
    # A reviewer can read the conflict page but not override.
    other = sign_in(create_user("reviewer"))
    assert other.post(f"/review/items/challenge/{challenge.id}/conflicts",
                      data={"reviewer": reviewer.id, "reason": "x"}).status_code == 403


def test_override_without_a_conflict_is_refused(app):
    challenge = create_challenge(state=ChallengeState.vetting)
    with pytest.raises(InvalidField, match="没有利益冲突"):
        override_conflict(challenge, create_user("reviewer"), create_user("admin"), "理由")


def test_conflicts_apply_to_certification_too(app):
    from bounty.certification.services import apply_for_certification

    from ..registry.helpers import cert_data, completed_challenge, evidence_files

    challenge, owner, _winner = completed_challenge()
    application = apply_for_certification(challenge, owner, cert_data(), evidence_files())
    reviewer = create_user("reviewer")
    declare_conflict(reviewer, owner.organization, "曾为该企业提供咨询")
    with pytest.raises(PermissionDenied, match="利益冲突"):
        decide(application, reviewer, Outcome.approve)
