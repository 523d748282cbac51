"""The review pages' and the statistics' main queries walk their indexes (EXPLAIN, on
SQLite and on PostgreSQL): a queue page, a stage list, an export batch, a median."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from bounty.accounts.models import User
from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.keyset import seek
from bounty.review import exports
from bounty.review.assignment import (
    QueueFilter,
    QueueView,
    ReviewTask,
    queue_order,
    queue_query,
)
from bounty.review.stages import StageKey
from bounty.stats.models import StageStay
from bounty.timeutil import utcnow

from ..factories import create_challenge, create_user


class Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement):
        self.statement = statement


@compiles(Explain)
def _explain(element, compiler, **kw):
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    text = prefix + compiler.process(element.statement, **kw)
    compiler._result_columns = []  # the rows are the plan's text, not the statement's columns
    return text


def plan(statement) -> str:
    """The plan's text. PostgreSQL is told to avoid sequential scans and sorts, which on
    the small tables of a test it would rightly prefer: the question is whether an index
    can serve the filter and the order, as it must at scale."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
    rows = connection.execute(Explain(statement)).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.fixture
def rows(app):
    """A few hundred tasks, stays and challenges, analysed, so the planners have figures."""
    challenge = create_challenge(state=ChallengeState.vetting)
    create_challenge(state=ChallengeState.award_review)
    reviewers = [create_user("reviewer").id for _ in range(20)]
    now = utcnow()
    db.session.execute(sa.insert(ReviewTask), [
        {"item_key": f"challenge:{challenge.id}", "stage": StageKey.vetting, "round": n,
         "slot": 1, "challenge_id": challenge.id, "opened_at": now - timedelta(hours=n),
         "due_at": now + timedelta(hours=n), "closed_at": now if n % 4 else None,
         "assignee_id": reviewers[n % 20]}
        for n in range(1, 400)])
    return reviewers
    # each of 100 subjects of three kinds went through four states and is in the last
    states = ("draft", "vetting", "open", "evaluating")
    db.session.execute(sa.insert(StageStay), [
        {"subject_type": ("challenge", "certificationapplication", "marketlisting")[n % 3],
         "subject_id": n, "state": state, "entered_at": now,
         "left_at": None if k == 3 else now, "days": None if k == 3 else (n + k) / 7}
        for n in range(1, 101) for k, state in enumerate(states)])
    db.session.commit()
    with db.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")


def uses(text: str, table: str, indexes: set[str]) -> bool:
    """The plan reads ``table`` through one of ``indexes`` and never scans it whole."""
    whole = (f"SCAN {table}" in text.replace(f"SCAN {table} USING", "")
             or f"Seq Scan on {table}" in text)
    return not whole and any(index in text for index in indexes)


# SQLite may prefer the open slots of ix_review_tasks_open and a sort of those few;
# PostgreSQL reads a partial index of the open slots in order (for "mine", its own, or
# the open slots by due time filtered by assignee: either reads open slots only).
@pytest.mark.parametrize("flt, indexes", [
    (QueueFilter(), {"ix_review_tasks_queue_due", "ix_review_tasks_open"}),
    (QueueFilter(sort="age"), {"ix_review_tasks_queue_age", "ix_review_tasks_open"}),
    (QueueFilter(view=QueueView.mine), {"ix_review_tasks_assignee_due",
                                        "ix_review_tasks_queue_due"}),
])
def test_a_queue_page(rows, flt, indexes):
    user = db.session.get(User, rows[3])
    text = plan(seek(queue_query(user, flt), queue_order(flt), 51, descending=False))
    assert uses(text, "review_tasks", indexes), text
    if db.engine.dialect.name == "postgresql":
        assert "ix_review_tasks_open" not in text


def test_an_export_batch(rows):
    where = exports._task_filters(None, utcnow().date() - timedelta(days=90), utcnow().date())
    statement = (sa.select(ReviewTask.id).where(*where).order_by(*exports._ORDER)
                 .limit(exports.BATCH_TASKS))
    assert "ix_review_tasks_export" in plan(statement)


def test_a_median_and_a_stay(rows):
    median = (sa.select(StageStay.days).where(
        StageStay.subject_type == "challenge", StageStay.state == "vetting",
        StageStay.days.is_not(None)).order_by(StageStay.days).offset(16).limit(2))
    assert "ix_stats_stage_stays_days" in plan(median)
    current = sa.select(StageStay.id).where(
        StageStay.subject_type == "certificationapplication", StageStay.subject_id == 7,
        StageStay.left_at.is_(None))
    text = plan(current)
    # on a handful of rows PostgreSQL may as well walk the other index of the same
    # table on subject_type: what matters is that no full scan is needed
    assert "ix_stats_stage_stays_subject" in text or (
        db.engine.dialect.name == "postgresql" and "Index Cond" in text
        and "subject_type" in text)
