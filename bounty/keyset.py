"""Keyset (seek) pagination for list pages: a page is the rows after (or before) a key.

A list sorted by unique columns, e.g. newest first by ``(created_at, id)`` or the review
queue earliest due first by ``(due_at, item_key, slot)``, pages with ``?after=KEY`` (the
next page: rows sorting after the last row shown) and ``?before=KEY`` (the previous one),
where KEY is that row's sort values joined by dots, e.g. ``1733140442607098.123``
(microseconds since the epoch, then the id; a text value is percent-quoted). The database
seeks to the key on an index instead of counting past OFFSET rows, so the 200th page costs
what the first does; the URL names the rows it starts from, so it stays bookmarkable while
rows are added. A key that is malformed or past the last row answers 404, like a page
number past the last page (:func:`bounty.inputs.page_arg`); a work queue, whose rows leave
it as they are done, may show the empty page instead (``empty_ok``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from flask import abort, request

from .extensions import db

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NUMBER = re.compile(r"-?\d{1,20}")
_TEXT = re.compile(r"[A-Za-z0-9_:%~-]{1,120}")
_MAX_KEY = 300  # characters: a few columns' worth


@dataclass
class KeysetPage:
    """One page of rows, with the keys of its neighbours (``None``: there is none).

    ``total`` is None when not counted; ``keyed`` says the page was asked for from a key
    (it is not the first), so an empty one can link back to the first.
    """

    items: list[Any]
    total: int | None
    next_key: str | None
    prev_key: str | None
    keyed: bool = False

    @property
    def has_next(self) -> bool:
        return self.next_key is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_key is not None


def _type_of(column: sa.ColumnElement) -> Any:
    return getattr(column.type, "impl_instance", column.type)


def _encode(value: Any) -> str:
    if isinstance(value, datetime):  # whole microseconds: exact, unlike float seconds
        return str((value - _EPOCH) // _MICROSECOND)
    if isinstance(value, str):  # the dot separates the values: quote it too
        return quote(value, safe=":~-_").replace(".", "%2E")
    return str(int(value))


def _decode(text: str, column: sa.ColumnElement) -> Any:
    kind = _type_of(column)
    if isinstance(kind, sa.String):
        if not _TEXT.fullmatch(text):
            raise ValueError(text)
        return unquote(text)
    if not _NUMBER.fullmatch(text):
        raise ValueError(text)
    if isinstance(kind, sa.DateTime):
        return _EPOCH + int(text) * _MICROSECOND
    return int(text)


def key_of(row: Any, columns: Sequence[sa.ColumnElement]) -> str:
    """The bookmark of ``row`` under the sort ``columns`` (ORM attributes of its model)."""
    return ".".join(_encode(getattr(row, c.key)) for c in columns)


def _parse(text: str, columns: Sequence[sa.ColumnElement]) -> tuple:
    parts = text.split(".")
    if len(text) > _MAX_KEY or len(parts) != len(columns):
        abort(404)
    try:
        return tuple(_decode(p, c) for p, c in zip(parts, columns, strict=True))
    except (OverflowError, ValueError):
        abort(404)


def seek(query: sa.Select, columns: Sequence[sa.ColumnElement], limit: int, *,
         after: tuple | None = None, before: tuple | None = None,
         descending: bool = True) -> sa.Select:
    """``query`` in the order of ``columns`` (descending, or ascending), ``limit`` rows from
    the key ``after``, or the ``limit`` rows before the key ``before`` (read backwards):
    one range of an index on ``columns`` (tests/test_list_indexes.py explains it)."""
    row = sa.tuple_(*columns)
    forward = [c.desc() if descending else c.asc() for c in columns]
    backward = [c.asc() if descending else c.desc() for c in columns]
    if before is not None:
        return query.where(row > before if descending else row < before).order_by(
            *backward).limit(limit)
    if after is not None:
        query = query.where(row < after if descending else row > after)
    return query.order_by(*forward).limit(limit)


def keyset_page(query: sa.Select, columns: Sequence[sa.ColumnElement], per_page: int,
                *, descending: bool = True, count: bool = True,
                empty_ok: bool = False) -> KeysetPage:
    """The page of ``query`` that the request's ``after`` / ``before`` names, sorted by
    ``columns`` (descending unless told otherwise; together unique, e.g. ending in the id).

    ``query`` selects one ORM entity and has no ORDER BY of its own. With ``count``, the
    total number of rows is counted too (for "共 N 条"). With ``empty_ok``, a key past the
    last row gives an empty page instead of a 404.
    """
    after, before = request.args.get("after"), request.args.get("before")

    def rows_of(statement: sa.Select) -> list:
        return list(db.session.execute(statement).unique().scalars())

    if before:
        rows = rows_of(seek(query, columns, per_page + 1, before=_parse(before, columns),
                            descending=descending))
        more_before = len(rows) > per_page
        rows = rows[:per_page][::-1]
        more_after = True
    else:
        key = _parse(after, columns) if after else None
        rows = rows_of(seek(query, columns, per_page + 1, after=key, descending=descending))
        more_after = len(rows) > per_page
        rows = rows[:per_page]
        more_before = bool(after)
    if not rows and (after or before) and not empty_ok:
        abort(404)  # past the last row (or before the first), as past the last page
    total = None
    if count:
        total = db.session.scalar(
            sa.select(sa.func.count()).select_from(query.subquery())) or 0
    return KeysetPage(
        items=rows, total=total,
        next_key=key_of(rows[-1], columns) if rows and more_after else None,
        prev_key=key_of(rows[0], columns) if rows and more_before else None,
        keyed=bool(after or before))
