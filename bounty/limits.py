"""How much text each field takes, stated once per field on its model column.

A ``String(n)`` column takes ``n`` characters; a ``Text`` column states its limit with
:func:`bounded_text`. Forms read the limit with :func:`fits` and every write through
the ORM is checked by :func:`check_row` before it is flushed, so the CLI, imports and
jobs are bounded like the pages are. NUL characters are refused everywhere (PostgreSQL
cannot store them).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.orm import Session, mapped_column
from wtforms import ValidationError
from wtforms.validators import Length

from .errors import InvalidField

MAX_CHARS = "max_chars"  # the key in a column's ``info``


class InputRefused(InvalidField):
    """Text too long or with a character no field takes: answered 422."""

    status_code = 422


def bounded_text(max_chars: int, **kwargs):  # noqa: ANN201 (a mapped_column)
    """A ``Text`` column that takes at most ``max_chars`` characters."""
    info = {**kwargs.pop("info", {}), MAX_CHARS: max_chars}
    return mapped_column(sa.Text, info=info, **kwargs)


def column_limit(column: sa.Column) -> int | None:
    """The most characters the column takes, or None when it states no limit."""
    if MAX_CHARS in column.info:
        return column.info[MAX_CHARS]
    return getattr(column.type, "length", None) if isinstance(column.type, sa.String) else None


def max_chars(attribute) -> int:  # noqa: ANN001 (a mapped attribute such as Challenge.title)
    """The limit of a model attribute; a column without one is a programming error."""
    limit = column_limit(attribute.property.columns[0])
    if limit is None:
        raise LookupError(f"{attribute} states no length limit")
    return limit


TOO_LONG = _l("最多可填写 %(max)d 个字符（现有 %(length)d 个）。")
NUL_REFUSED = _l("输入中含有不允许的控制字符（NUL），请删除后重试。")


def refuse_nul(form, field) -> None:  # noqa: ANN001 (a WTForms inline validator)
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError(str(NUL_REFUSED))


def fits(attribute) -> Length:  # noqa: ANN001
    """The form validator for a field stored in ``attribute``: at most its column's limit."""
    return Length(max=max_chars(attribute), message=TOO_LONG)


def check_text(value: str | None, limit: int | None, field: str | None = None) -> None:
    """Refuse ``value`` when longer than ``limit`` or when it holds a NUL character.

    :raises InputRefused: with a message for the user and the field's name.
    """
    if not isinstance(value, str):
        return
    if "\x00" in value:
        raise InputRefused(str(NUL_REFUSED), field)
    if limit is not None and len(value) > limit:
        raise InputRefused(str(TOO_LONG % {"max": limit, "length": len(value)}), field)


def check_row(obj) -> None:  # noqa: ANN001 (any mapped object)
    """Check the text columns of a row about to be written: all of a new row, the changed
    ones of an existing row (a value stored before the limits does not block other edits,
    and nothing is loaded to check it)."""
    state = sa.inspect(obj)
    for prop in state.mapper.column_attrs:
        column = prop.columns[0]
        if not isinstance(column.type, sa.String) or prop.key in state.unloaded:
            continue
        if state.persistent and not state.attrs[prop.key].history.has_changes():
            continue
        check_text(state.dict.get(prop.key), column_limit(column), prop.key)


def _before_flush(session: Session, _context, _instances) -> None:
    for obj in (*session.new, *session.dirty):
        check_row(obj)


def install() -> None:
    """Check rows on every flush of every session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
