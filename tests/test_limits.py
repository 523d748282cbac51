"""Every text field has a limit stated once, on its column: forms answer 422 with a
message next to the field, and every write through the ORM (CLI, imports) is checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.accounts.models import Role
from bounty.challenges.models import Bid, Challenge, ChallengeState
from bounty.challenges.services import BidData, ChallengeData, create_challenge, save_bid
from bounty.extensions import db as _db
from bounty.limits import InputRefused, column_limit, max_chars
from bounty.timeutil import utcnow

from .factories import create_bid, create_user
from .factories import create_challenge as make_challenge


def _form(**overrides) -> dict:
    deadline = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    data = {"title": "高精度注塑模具温控系统", "industry": "smart_equipment",
            "category": "complete_equipment", "background": "背景", "bottleneck": "瓶颈",
            "indicators-0-name": "", "indicators-0-target": "", "indicators-0-unit": "",
            "expected_outcome": "", "bounty_yuan": "1000000", "bid_deadline": deadline,
            "delivery_months": "12", "ip_terms": "shared", "keywords": "", "save_draft": "1"}
    return {**data, **overrides}


def test_every_user_text_column_states_a_limit(app):
    unbounded = []
    for table in _db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.Text) and column_limit(column) is None:
                unbounded.append(f"{table.name}.{column.name}")
    # outbox bodies and delivery errors are written by the platform, never typed in; the
    # search index's copy of a document's title is bounded where it is typed
    assert sorted(unbounded) == ["outbox_bodies.html_body", "outbox_bodies.text_body",
                                 "outbox_emails.last_error", "search_docs.title"]


def test_a_too_long_field_is_answered_422_next_to_the_field(app, login_as):
    client = login_as(create_user(Role.enterprise))
    limit = max_chars(Challenge.background)
    response = client.post("/challenges/new", data=_form(background="模" * (limit + 1)))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f"最多可填写 {limit} 个字符（现有 {limit + 1} 个）" in html
    assert _db.session.scalar(sa.select(sa.func.count(Challenge.id))) == 0


def test_the_message_is_in_english_for_an_english_user(app, login_as):
    client = login_as(create_user(Role.enterprise, locale="en"))
    response = client.post("/challenges/new", data=_form(title="模" * 201))
    assert response.status_code == 422
    assert "At most 200 characters (this has 201)." in response.get_data(as_text=True)


def test_services_refuse_too_long_text_without_a_form(app):
    user = create_user(Role.enterprise)
    data = ChallengeData(title="t", industry="smart_equipment", category="complete_equipment",
                         background="x" * (max_chars(Challenge.background) + 1), bottleneck="b",
                         expected_outcome="", bounty_yuan=1000, delivery_months=12,
                         bid_deadline=utcnow() + timedelta(days=30), ip_terms="shared")
    with pytest.raises(InputRefused) as refused:
        create_challenge(user, data)
    assert refused.value.field == "background" and refused.value.status_code == 422
    assert _db.session.scalar(sa.select(sa.func.count(Challenge.id))) == 0


def test_a_bid_approach_past_its_limit_is_refused_by_the_service(app):
    challenge = make_challenge(state=ChallengeState.open)
    institute = create_user(Role.institute)
    data = BidData(title="方案", approach="路" * (max_chars(Bid.approach) + 1), team_lead="李",
                   quote_yuan=1000, duration_months=6)
    with pytest.raises(InputRefused):
        save_bid(challenge, institute, data, submit=False)


def test_a_direct_orm_write_is_checked_too(app):
    """As an import or the CLI would write: the flush refuses, nothing is stored."""
    bid = create_bid(make_challenge(state=ChallengeState.open))
    bid.team_members = "人" * (max_chars(Bid.team_members) + 1)
    with pytest.raises(InputRefused):
        _db.session.commit()
    _db.session.rollback()
    bid.lab = "实验室\x00"
    with pytest.raises(InputRefused):
        _db.session.flush()
    _db.session.rollback()


def test_a_nul_in_a_form_is_answered_422(app, login_as):
    client = login_as(create_user(Role.enterprise))
    response = client.post("/challenges/new", data=_form(title="模温\x00控制"))
    assert response.status_code == 422
    assert "NUL" in response.get_data(as_text=True)


def test_a_deadline_in_year_one_is_a_field_message_not_a_crash(app, login_as):
    client = login_as(create_user(Role.enterprise))
    response = client.post("/challenges/new", data=_form(bid_deadline="0001-01-01T00:00"))
    assert response.status_code == 422
    assert "日期须在 2000-01-01 至 2099-12-31 之间" in response.get_data(as_text=True)


def test_a_value_stored_before_the_limits_does_not_block_other_changes(app):
    """A row with an oversized text (from before the limits) can still change state."""
    challenge = make_challenge(state=ChallengeState.open)
    _db.session.execute(sa.text("UPDATE challenges SET background = :big WHERE id = :id"),
                        {"big": "长" * 100_000, "id": challenge.id})
    _db.session.commit()
    _db.session.expire_all()
    challenge = _db.session.get(Challenge, challenge.id)
    challenge.state = ChallengeState.evaluating
    _db.session.commit()
    challenge.background = challenge.background + "再长一点"
    with pytest.raises(InputRefused):
        _db.session.commit()
    _db.session.rollback()
