"""Keyset (seek) pagination for list pages: a page is the rows after (or before) a key.

A list sorted newest first by ``(created_at, id)`` pages with ``?after=KEY`` (the next
page: rows sorting after the last row shown) and ``?before=KEY`` (the previous one), where
KEY is that row's sort values, e.g. ``1733140442607098.123`` (microseconds since the epoch,
then the id). The database seeks to the key on an index instead of counting past OFFSET
rows, so the 200th page costs what the first does; the URL names the rows it starts from,
so it stays bookmarkable while rows are added. A key that is malformed or past the last
row answers 404, like a page number past the last page (:func:`bounty.inputs.page_arg`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import abort, request

from .extensions import db

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_KEY = re.compile(r"-?\d{1,20}(\.-?\d{1,20}){0,3}")


@dataclass
class KeysetPage:
    """One page of rows, with the keys of its neighbours (``None``: there is none)."""

    items: list[Any]
    total: int
    next_key: str | None
    prev_key: str | None

    @property
    def has_next(self) -> bool:
        return self.next_key is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_key is not None


def _encode(value: Any) -> str:
    if isinstance(value, datetime):  # whole microseconds: exact, unlike float seconds
        return str((value - _EPOCH) // _MICROSECOND)
    return str(int(value))


def _decode(text: str, column: sa.ColumnElement) -> Any:
    if isinstance(getattr(column.type, "impl_instance", column.type), sa.DateTime):
        return _EPOCH + int(text) * _MICROSECOND
    return int(text)


def key_of(row: Any, columns: Sequence[sa.ColumnElement]) -> str:
    """The bookmark of ``row`` under the sort ``columns`` (ORM attributes of its model)."""
    return ".".join(_encode(getattr(row, c.key)) for c in columns)


def _parse(text: str, columns: Sequence[sa.ColumnElement]) -> tuple:
    parts = text.split(".")
    if not _KEY.fullmatch(text) or len(parts) != len(columns):
        abort(404)
    try:
        return tuple(_decode(p, c) for p, c in zip(parts, columns, strict=True))
    except (OverflowError, ValueError):
        abort(404)


def seek(query: sa.Select, columns: Sequence[sa.ColumnElement], limit: int, *,
         after: tuple | None = None, before: tuple | None = None) -> sa.Select:
    """``query`` from the key ``after`` (descending) or ``before`` (ascending), ``limit`` rows:
    one range of an index on ``columns`` (tests/test_list_indexes.py explains it)."""
    row = sa.tuple_(*columns)
    if before is not None:
        return query.where(row > sa.tuple_(*before)).order_by(
            *(c.asc() for c in columns)).limit(limit)
    if after is not None:
        query = query.where(row < sa.tuple_(*after))
    return query.order_by(*(c.desc() for c in columns)).limit(limit)


def keyset_page(query: sa.Select, columns: Sequence[sa.ColumnElement], per_page: int,
                *, count: bool = True) -> KeysetPage:
    """The page of ``query`` that the request's ``after`` / ``before`` names, sorted by
    ``columns`` descending (the last one unique, e.g. the id).

    ``query`` selects one ORM entity and has no ORDER BY of its own. With ``count``, the
    total number of rows is counted too (for "共 N 条").
    """
    after, before = request.args.get("after"), request.args.get("before")
    if before:
        rows = list(db.session.scalars(seek(query, columns, per_page + 1,
                                            before=_parse(before, columns))))
        more_before = len(rows) > per_page
        rows = rows[:per_page][::-1]
        more_after = True
    else:
        key = _parse(after, columns) if after else None
        rows = list(db.session.scalars(seek(query, columns, per_page + 1, after=key)))
        more_after = len(rows) > per_page
        rows = rows[:per_page]
        more_before = bool(after)
    if not rows and (after or before):
        abort(404)  # past the last row (or before the first), as past the last page
    total = 0
    if count:
        total = db.session.scalar(
            sa.select(sa.func.count()).select_from(query.subquery())) or 0
    return KeysetPage(
        items=rows, total=total,
        next_key=key_of(rows[-1], columns) if rows and more_after else None,
        prev_key=key_of(rows[0], columns) if rows and more_before else None)
