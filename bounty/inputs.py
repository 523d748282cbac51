"""Request input the database cannot take, refused before it gets there.

One place for each: ids in URLs (a bounded ``int`` converter, and :func:`visible_or_404`
to load the row one names), ids in forms and query
strings (:func:`parse_id`, :func:`coerce_id`), page numbers (:func:`page_arg`), dates
(:func:`check_date` and the :class:`DateInRange` validator), NUL characters
(:func:`refuse_nul_input`, a request hook) and redirect targets
(:func:`safe_redirect_target`). Each answers 404 or 422 with a message, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.routing import IntegerConverter
from wtforms import ValidationError

from .extensions import db
from .limits import NUL_REFUSED, InputRefused

T = TypeVar("T")

# Ids are 32-bit on PostgreSQL (SERIAL / INTEGER): anything above names no row.
MAX_ID = 2**31 - 1
# Past this a page number is a probe, not a reader (and its OFFSET overflows SQLite).
MAX_PAGE = 10_000
# Dates the platform deals in; outside them the conversion to UTC overflows.
DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2099, 12, 31)
DATE_OUT_OF_RANGE = _l("日期须在 %(min)s 至 %(max)s 之间。")


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to the ids the database can hold: larger ones are a 404."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def parse_id(raw) -> int | None:  # noqa: ANN001
    """A positive id from form or query text, or None when it cannot name a row."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if 0 < raw <= MAX_ID else None
    raw = (raw or "").strip() if isinstance(raw, str) else ""
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(MAX_ID)):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def coerce_id(value) -> int:  # noqa: ANN001
    """WTForms ``coerce`` for a field that names a row: anything that cannot is invalid."""
    parsed = parse_id(value)
    if parsed is None:
        raise ValueError("not an id")
    return parsed


def page_arg(name: str = "page") -> int:
    """The page asked for in the query string: 1 when absent or not a positive number,
    404 beyond :data:`MAX_PAGE`."""
    raw = request.args.get(name, "")
    if not raw.isascii() or not raw.isdigit():
        return 1
    if len(raw) > len(str(MAX_PAGE)) or int(raw) > MAX_PAGE:
        abort(404)
    return max(1, int(raw))


def date_problem(value: date | datetime | None) -> str | None:
    """Why a date cannot be used, in the user's language; None when it can."""
    if value is None:
        return None
    day = value.date() if isinstance(value, datetime) else value
    if DATE_MIN <= day <= DATE_MAX:
        return None
    return str(DATE_OUT_OF_RANGE % {"min": DATE_MIN.isoformat(), "max": DATE_MAX.isoformat()})


def check_date(value: date | datetime | None, field: str | None = None) -> None:
    """Raise :class:`InputRefused` (422) for a date outside the platform's range."""
    problem = date_problem(value)
    if problem:
        raise InputRefused(problem, field)


class DateInRange:
    """WTForms validator: a date or datetime between :data:`DATE_MIN` and :data:`DATE_MAX`."""

    def __call__(self, form, field) -> None:  # noqa: ANN001
        problem = date_problem(field.data)
        if problem:
            raise ValidationError(problem)


def is_local_path(target: str) -> bool:
    """True for a path on this site ("/review/tasks?x=1"), never for one that could leave it."""
    # Browsers treat "\\" like "/" and drop tabs and newlines, so "/\\evil.com" or
    # "/\t/evil.com" would become "//evil.com": refuse them outright.
    if not target or any(ord(char) < 0x21 or char == "\\" for char in target):
        return False
    parts = urlsplit(target)
    return (target.startswith("/") and not target.startswith("//")
            and not parts.scheme and not parts.netloc)


def safe_redirect_target(target: str | None, fallback: str) -> str:
    """Where to send the user after an action: ``target`` when it is a local path (or a
    URL of this very host, as a Referer is), else ``fallback``."""
    if target and has_request_context() and target.startswith(request.host_url):
        target = "/" + target[len(request.host_url):]
    return target if target and is_local_path(target) else fallback


def _has_nul(data) -> bool:  # noqa: ANN001 (a werkzeug MultiDict)
    return any("\x00" in key or any(isinstance(v, str) and "\x00" in v for v in values)
               for key, values in data.lists())


def refuse_nul_input() -> None:
    """Before every request: a NUL character anywhere in the input is answered 422.

    PostgreSQL cannot store NUL in text, and no field of ours has a use for it.
    """
    if "\x00" in request.path or _has_nul(request.args):
        abort(422, description=str(NUL_REFUSED))
    if request.method in ("POST", "PUT", "PATCH") and (
        _has_nul(request.form)
        or any("\x00" in (f.filename or "") for files in request.files.listvalues()
               for f in files)
    ):
        abort(422, description=str(NUL_REFUSED))


def init_app(app: Flask) -> None:
    """Install the converter (before any route is added) and the NUL hook."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_nul_input)


def visible_or_404(model: type[T], ident: int, may_see: Callable[[T, Any], bool]) -> T:
    """The ``model`` row with the id from the URL when ``may_see(row, user)`` holds for the
    current user; 404 otherwise, so ids reveal nothing (a sealed bid, a draft challenge)."""
    row = db.session.get(model, ident)
    if row is None or not may_see(row, current_user._get_current_object()):
        abort(404)
    return row
