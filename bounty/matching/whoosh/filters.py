"""``Filters`` over Whoosh: as a query on the index, and as a test of one pending document."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from whoosh import query

from ..engine import FILTER_FIELDS, Filters
from .schema import naive_utc


def values(v: str | Iterable[str] | None) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str | int):
        return [str(v)]
    return [str(x) for x in v]


def filter_query(filters: Filters | None) -> query.Query | None:
    if filters is None:
        return None
    parts: list[query.Query] = []
    for name in FILTER_FIELDS:
        vals = values(getattr(filters, name))
        if vals:
            parts.append(query.Or([query.Term(name, v) for v in vals]))
    if filters.bounty_min is not None or filters.bounty_max is not None:
        parts.append(query.NumericRange("bounty", filters.bounty_min, filters.bounty_max))
    if filters.deadline_after is not None or filters.deadline_before is not None:
        parts.append(
            query.DateRange(
                "deadline", naive_utc(filters.deadline_after), naive_utc(filters.deadline_before)
            )
        )
    if filters.exclude_ids:
        parts.append(query.Not(query.Or([query.Term("id", str(i)) for i in filters.exclude_ids])))
    if not parts:
        return None
    return query.And(parts) if len(parts) > 1 else parts[0]


def passes(stored: Mapping[str, Any], filters: Filters | None) -> bool:
    """Whether a document with ``stored`` fields passes ``filters`` (as ``filter_query``)."""
    if filters is None:
        return True
    for name in FILTER_FIELDS:
        vals = values(getattr(filters, name))
        if vals and stored.get(name) not in vals:
            return False
    if filters.bounty_min is not None or filters.bounty_max is not None:
        b = stored.get("bounty")
        if b is None or (filters.bounty_min is not None and b < filters.bounty_min) or (
                filters.bounty_max is not None and b > filters.bounty_max):
            return False
    if filters.deadline_after is not None or filters.deadline_before is not None:
        dt = stored.get("deadline")
        after, before = naive_utc(filters.deadline_after), naive_utc(filters.deadline_before)
        if dt is None or (after is not None and dt < after) or (
                before is not None and dt > before):
            return False
    if filters.exclude_ids and stored["id"] in set(map(str, filters.exclude_ids)):
        return False
    return filters.ids is None or stored["id"] in set(values(filters.ids))
