"""``Filters`` as SQL over ``search_docs d``."""

from __future__ import annotations

from typing import Any

from ..engine import FILTER_FIELDS, Filters
from ..whoosh.filters import values
from .write import aware_utc


def where(filters: Filters | None, params: dict[str, Any]) -> str:
    """``filters`` as SQL over ``search_docs d`` (its parameters added to ``params``)."""
    parts = ["d.live"]
    f = filters or Filters()
    for name in FILTER_FIELDS:
        vals = values(getattr(f, name))
        if vals:
            params[f"f_{name}"] = vals
            parts.append(f"d.{name} = ANY(:f_{name})")
    if f.bounty_min is not None:
        params["f_bmin"] = int(f.bounty_min)
        parts.append("d.bounty >= :f_bmin")
    if f.bounty_max is not None:
        params["f_bmax"] = int(f.bounty_max)
        parts.append("d.bounty <= :f_bmax")
    if f.deadline_after is not None:
        params["f_dafter"] = aware_utc(f.deadline_after)
        parts.append("d.deadline >= :f_dafter")
    if f.deadline_before is not None:
        params["f_dbefore"] = aware_utc(f.deadline_before)
        parts.append("d.deadline <= :f_dbefore")
    if f.exclude_ids:
        params["f_exclude"] = [str(i) for i in f.exclude_ids]
        parts.append("NOT (d.doc_id = ANY(:f_exclude))")
    if f.ids is not None:
        params["f_ids"] = values(f.ids)
        parts.append("d.doc_id = ANY(:f_ids)")
    return " AND ".join(parts)
