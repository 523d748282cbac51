"""Count the SQL statements a block of code sends, for tests that a page's queries do
not grow with its rows and that a GET writes nothing."""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from bounty.extensions import db

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def recorded_statements():
    """Yield a list that fills with every statement sent on the app's engine meanwhile
    (savepoints and transaction control left out)."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        text = statement.lstrip()
        if not text.upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN",
                                        "COMMIT", "PRAGMA")):
            statements.append(text)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def writes_in(statements: list[str]) -> list[str]:
    return [s for s in statements if s.upper().startswith(WRITES)]
