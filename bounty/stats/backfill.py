"""Rebuild the statistics' tables from the source tables and the audit log, over a plain
connection: the data migration that introduced them uses it, and so does
``bounty stats rebuild``. This module imports nothing of the application's models.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..timeutil import UTCDateTime

#: source table -> (kind, column a, column b, amount column): what StatsCount counts.
COUNTED = {
    "challenges": ("challenge", "industry", "state", "bounty_yuan"),
    "certification_applications": ("certification", "equipment_category", "state", None),
    "market_listings": ("listing", "transaction_type", "state", None),
    "market_deals": ("deal", None, None, "price_yuan"),
}
#: the audit log's subject types whose stays in each state are kept
TRACKED_SUBJECTS = ("challenge", "certificationapplication", "marketlisting")

counts_table = sa.table(
    "stats_counts", sa.column("kind", sa.String), sa.column("a", sa.String),
    sa.column("b", sa.String), sa.column("count", sa.BigInteger),
    sa.column("amount", sa.BigInteger))
stays_table = sa.table(
    "stats_stage_stays", sa.column("id", sa.Integer), sa.column("subject_type", sa.String),
    sa.column("subject_id", sa.Integer), sa.column("state", sa.String),
    sa.column("entered_at", UTCDateTime()), sa.column("left_at", UTCDateTime()),
    sa.column("days", sa.Float))
audit_table = sa.table(
    "audit_events", sa.column("seq", sa.Integer), sa.column("subject_type", sa.String),
    sa.column("subject_id", sa.Integer), sa.column("from_state", sa.String),
    sa.column("to_state", sa.String), sa.column("created_at", UTCDateTime()))


def days_between(start, end) -> float:
    return (end - start).total_seconds() / 86400


def count_rows(connection) -> list[dict]:
    """Every StatsCount row, counted afresh from the source tables."""
    rows = []
    for table_name, (kind, a, b, amount) in COUNTED.items():
        table = sa.table(table_name, *(sa.column(c) for c in (a, b, amount) if c))
        group = [table.c[c] for c in (a, b) if c]
        total = sa.func.coalesce(sa.func.sum(table.c[amount]), 0) if amount else sa.literal(0)
        query = sa.select(*group, sa.func.count(), total).select_from(table).group_by(*group)
        for row in connection.execute(query):
            values = list(row)
            key_a = str(values.pop(0) or "") if a else ""
            key_b = str(values.pop(0) or "") if b else ""
            rows.append({"kind": kind, "a": key_a, "b": key_b, "count": int(values[0]),
                         "amount": int(values[1])})
    return rows


def stay_rows(connection):
    """Every StageStay row, from the audit log's transitions (from state ≠ to state), in
    order: a transition closes the subject's current stay and opens the next."""
    events = connection.execute(
        sa.select(audit_table.c.subject_type, audit_table.c.subject_id,
                  audit_table.c.from_state, audit_table.c.to_state, audit_table.c.created_at)
        .where(audit_table.c.subject_type.in_(TRACKED_SUBJECTS),
               audit_table.c.to_state.is_not(None))
        .order_by(audit_table.c.subject_type, audit_table.c.subject_id, audit_table.c.seq)
        .execution_options(yield_per=5000))
    current: dict | None = None
    for subject_type, subject_id, from_state, to_state, created_at in events:
        if from_state == to_state:
            continue  # an edit, not a move
        if current is not None and (current["subject_type"], current["subject_id"]) == (
                subject_type, subject_id):
            current["left_at"] = created_at
            current["days"] = days_between(current["entered_at"], created_at)
            yield current
        elif current is not None:
            yield current
        current = {"subject_type": subject_type, "subject_id": subject_id, "state": to_state,
                   "entered_at": created_at, "left_at": None, "days": None}
    if current is not None:
        yield current


def rebuild(connection, batch: int = 5000) -> tuple[int, int]:
    """Empty both tables and fill them afresh; returns (count rows, stay rows)."""
    connection.execute(counts_table.delete())
    connection.execute(stays_table.delete())
    counts = count_rows(connection)
    if counts:
        connection.execute(counts_table.insert(), counts)
    stays = 0
    chunk: list[dict] = []
    for row in stay_rows(connection):
        chunk.append(row)
        if len(chunk) >= batch:
            connection.execute(stays_table.insert(), chunk)
            stays += len(chunk)
            chunk = []
    if chunk:
        connection.execute(stays_table.insert(), chunk)
        stays += len(chunk)
    return len(counts), stays
