"""The running counts and stage stays follow every change, in its transaction, and agree
with a recount from the source tables and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bounty.challenges import services
from bounty.challenges.models import ChallengeState, Industry
from bounty.extensions import db
from bounty.review.decisions import decide
from bounty.review.models import Outcome, StageKey
from bounty.stats import services as stats
from bounty.stats.backfill import count_rows, rebuild, stay_rows
from bounty.stats.models import StageStay, StatsCount

from ..factories import create_challenge, create_user
from ..queries import recorded_statements, writes_in
from .test_stats import T0, dataset  # noqa: F401  (a fixture)


def _counts() -> set[tuple]:
    return {(r.kind, r.a, r.b, r.count, r.amount) for r in db.session.execute(
        sa.select(StatsCount).where(StatsCount.count != 0)).scalars()}


def _stays() -> set[tuple]:
    return {(r.subject_type, r.subject_id, r.state, r.entered_at,
             None if r.days is None else round(r.days, 6)) for r in db.session.execute(
        sa.select(StageStay)).scalars()}


def _recounted() -> tuple[set, set]:
    with db.engine.connect() as connection:
        counts = {(r["kind"], r["a"], r["b"], r["count"], r["amount"])
                  for r in count_rows(connection) if r["count"]}
        stays = {(r["subject_type"], r["subject_id"], r["state"], r["entered_at"],
                  None if r["days"] is None else round(r["days"], 6))
                 for r in stay_rows(connection)}
    return counts, stays


def test_the_running_figures_agree_with_a_recount(dataset):  # noqa: F811
    db.session.commit()
    assert (_counts(), _stays()) == _recounted()
    assert _counts() and _stays()


def test_the_demo_keeps_them_in_step(app):
    from bounty.demo import load_demo

    load_demo()
    db.session.commit()
    counts, stays = _recounted()
    assert _counts() == counts and _stays() == stays
    assert len(stays) > 50
    # and a rebuild (the migration's backfill) gives the same figures
    before = stats.compute(staff=True)
    with db.engine.begin() as connection:
        rebuild(connection)
    db.session.expire_all()
    assert stats.compute(staff=True) == before


def test_edits_moves_and_rollbacks(app, time_machine):
    time_machine.move_to(T0, tick=False)
    challenge = create_challenge(industry=Industry.apparel, bounty_yuan=100_000)
    assert ("challenge", "apparel", "draft", 1, 100_000) in _counts()
    challenge.bounty_yuan, challenge.industry = 250_000, Industry.eyewear
    db.session.commit()
    assert ("challenge", "eyewear", "draft", 1, 250_000) in _counts()
    assert not any(row[:2] == ("challenge", "apparel") for row in _counts())
    db.session.expire_all()  # an update of attributes the session had not loaded
    challenge.state = ChallengeState.failed
    db.session.commit()
    assert ("challenge", "eyewear", "failed", 1, 250_000) in _counts()
    challenge.state = ChallengeState.open
    db.session.flush()
    db.session.rollback()  # the counts roll back with the change
    assert ("challenge", "eyewear", "failed", 1, 250_000) in _counts()
    assert (_counts(), _stays()) == _recounted()


def test_a_transition_closes_one_stay_and_opens_the_next(app, time_machine):
    time_machine.move_to(T0, tick=False)
    challenge = create_challenge()
    services.submit_challenge(challenge, challenge.created_by)
    time_machine.move_to(T0 + timedelta(days=3), tick=False)
    decide(challenge, create_user("reviewer"), Outcome.approve, stage=StageKey.vetting)
    rows = db.session.execute(sa.select(StageStay.state, StageStay.days).where(
        StageStay.subject_id == challenge.id).order_by(StageStay.id)).all()
    assert [(state, None if days is None else round(days, 3)) for state, days in rows] == [
        ("vetting", 3.0), ("open", None)]
    assert {s.label: s.median_days for s in stats.stage_times()}["审题"] == 3.0


def test_the_page_reads_a_fixed_number_of_queries_and_writes_nothing(dataset, client):  # noqa: F811
    def run():
        with recorded_statements() as statements:
            assert client.get("/stats").status_code == 200
        return statements

    few = run()
    for n in range(6):
        challenge = create_challenge(industry=list(Industry)[n], bounty_yuan=10_000 + n)
        services.submit_challenge(challenge, challenge.created_by)
        decide(challenge, create_user("reviewer"), Outcome.approve, stage=StageKey.vetting)
    many = run()
    assert writes_in(many) == [] and len(many) == len(few)


@pytest.mark.parametrize("even", [True, False])
def test_medians_of_odd_and_even_counts(app, time_machine, even):
    vetter = create_user("reviewer")
    days = [1, 2, 4, 8] if even else [1, 2, 4]
    for n, length in enumerate(days):
        time_machine.move_to(T0 + timedelta(days=30 * n), tick=False)
        challenge = create_challenge()
        services.submit_challenge(challenge, challenge.created_by)
        time_machine.move_to(T0 + timedelta(days=30 * n + length), tick=False)
        decide(challenge, vetter, Outcome.approve, stage=StageKey.vetting)
    times = {s.label: (s.median_days, s.count) for s in stats.stage_times()}
    assert times["审题"] == ((3.0, 4) if even else (2.0, 3))
