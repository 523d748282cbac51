"""Keep the statistics' tables current in the transaction of each change.

Two session hooks, so that every write path is counted -- services, the demo, the CLI,
a direct set-up in a test -- and nothing has to remember to call us:

* the counts (:class:`StatsCount`): before a flush, what each counted row contributed
  (from the values loaded, else read from the database before they change); after it,
  what it contributes now; the difference is added with one atomic upsert per key,
  so concurrent transactions never lose an update;
* the stays (:class:`StageStay`): each transition recorded in the audit log in this
  flush (a tracked subject, from state ≠ to state) closes the subject's current stay
  and opens the next, at the event's own time -- exactly what
  :func:`bounty.stats.backfill.stay_rows` rebuilds from the whole log.
"""

from __future__ import annotations

import enum
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..audit import AuditEvent
from .backfill import COUNTED, TRACKED_SUBJECTS, days_between
from .models import StageStay, StatsCount

_OLD = "bounty.stats.old"


def _spec(obj) -> tuple | None:
    table = getattr(type(obj), "__table__", None)
    return COUNTED.get(table.name) if table is not None else None


def _text(value) -> str:
    if value is None:
        return ""
    return value.name if isinstance(value, enum.Enum) else str(value)


def _contribution(spec: tuple, values: dict) -> tuple[tuple[str, str, str], int]:
    kind, a, b, amount = spec
    key = (kind, _text(values.get(a)) if a else "", _text(values.get(b)) if b else "")
    return key, int(values.get(amount) or 0) if amount else 0


def _columns(spec: tuple) -> list[str]:
    return [c for c in spec[1:] if c]


def _loaded_old_values(obj, spec: tuple) -> dict | None:
    """The values as the database has them now, if the session knows them all."""
    state = sa.inspect(obj)
    values = {}
    for name in _columns(spec):
        history = state.attrs[name].history
        if history.deleted:
            values[name] = history.deleted[0]
        elif history.unchanged:
            values[name] = history.unchanged[0]
        else:
            return None  # not loaded (expired): ask the database
    return values


@sa.event.listens_for(Session, "before_flush")
def _remember_old(session, _flush_context, _instances) -> None:
    old = []
    for obj in list(session.dirty) + list(session.deleted):
        spec = _spec(obj)
        if spec is None or sa.inspect(obj).identity is None:
            continue
        values = _loaded_old_values(obj, spec)
        if values is None:
            table = type(obj).__table__
            row = session.connection().execute(
                sa.select(*(table.c[c] for c in _columns(spec)))
                .where(table.c.id == obj.id)).mappings().first()
            if row is None:
                continue
            values = dict(row)
        old.append((obj, spec, values))
    session.info[_OLD] = old


@sa.event.listens_for(Session, "after_flush")
def _apply_changes(session, _flush_context) -> None:
    old = session.info.pop(_OLD, [])
    deltas: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])

    def add(spec, values, sign: int) -> None:
        key, amount = _contribution(spec, values)
        deltas[key][0] += sign
        deltas[key][1] += sign * amount

    for obj in session.new:
        spec = _spec(obj)
        if spec is not None:
            add(spec, {c: getattr(obj, c) for c in _columns(spec)}, +1)
    for obj, spec, values in old:
        add(spec, values, -1)
        if obj not in session.deleted:
            add(spec, {c: getattr(obj, c) for c in _columns(spec)}, +1)
    connection = session.connection()
    for (kind, a, b), (count, amount) in deltas.items():
        if count or amount:
            _add_to_count(connection, kind, a, b, count, amount)
    transitions = sorted(
        (e for e in session.new if isinstance(e, AuditEvent)
         and e.subject_type in TRACKED_SUBJECTS and e.to_state is not None
         and e.from_state != e.to_state), key=lambda e: e.seq)
    for event in transitions:
        _move(connection, event)


def _add_to_count(connection, kind: str, a: str, b: str, count: int, amount: int) -> None:
    table = StatsCount.__table__
    insert = (postgresql.insert if connection.dialect.name == "postgresql"
              else sqlite.insert)(table)
    connection.execute(insert.values(kind=kind, a=a, b=b, count=count, amount=amount)
                       .on_conflict_do_update(
                           index_elements=[table.c.kind, table.c.a, table.c.b],
                           set_={"count": table.c.count + insert.excluded.count,
                                 "amount": table.c.amount + insert.excluded.amount}))


def _move(connection, event: AuditEvent) -> None:
    table = StageStay.__table__
    current = connection.execute(
        sa.select(table.c.id, table.c.entered_at).where(
            table.c.subject_type == event.subject_type,
            table.c.subject_id == event.subject_id, table.c.left_at.is_(None))
        .order_by(table.c.id.desc()).limit(1)).first()
    if current is not None:
        connection.execute(table.update().where(table.c.id == current.id).values(
            left_at=event.created_at, days=days_between(current.entered_at, event.created_at)))
    connection.execute(table.insert().values(
        subject_type=event.subject_type, subject_id=event.subject_id, state=event.to_state,
        entered_at=event.created_at))
