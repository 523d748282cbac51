"""What a document becomes in Whoosh: the schema, a document's fields, stored values.

Text fields hold terms produced by our analyzer (stored too, with a hash of
the source text), so Whoosh only splits on spaces; a rebuild reuses the stored
terms of unchanged documents instead of segmenting again.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from whoosh import fields
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.util.numeric import byte_to_length, length_to_byte

from ..analyzer import Analyzer, get_analyzer
from ..engine import FILTER_FIELDS, Doc
from ..ranking import DOC_FIELD_WEIGHTS, TERMS_VERSION, doc_terms


def make_schema() -> fields.Schema:
    terms = SpaceSeparatedTokenizer()
    return fields.Schema(
        key=fields.ID(unique=True, stored=True),
        id=fields.ID(stored=True),
        title=fields.TEXT(analyzer=terms, phrase=False),
        keywords=fields.TEXT(analyzer=terms, phrase=False),
        body=fields.TEXT(analyzer=terms, phrase=False),
        grams=fields.TEXT(analyzer=terms, phrase=False),
        industry=fields.ID(stored=True, sortable=True),
        category=fields.ID(stored=True, sortable=True),
        state=fields.ID(stored=True, sortable=True),
        org_id=fields.ID(stored=True),
        challenge_id=fields.ID(stored=True),
        bounty=fields.NUMERIC(bits=64, stored=True, sortable=True),
        deadline=fields.DATETIME(stored=True, sortable=True),
        published_at=fields.DATETIME(stored=True, sortable=True),
        data=fields.STORED(),  # title, terms per field, source hash
    )


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ; ".join(str(v) for v in value)
    return str(value)


def source_hash(doc: Mapping[str, Any], analyzer: Analyzer | None = None) -> str:
    """A digest of what ``doc``'s terms depend on: its text, the analysis code's version
    and the analyzer's data files."""
    h = hashlib.blake2b(digest_size=12)
    h.update(TERMS_VERSION.encode())
    h.update((analyzer or get_analyzer()).fingerprint.encode())
    for name in DOC_FIELD_WEIGHTS:
        h.update(text(doc.get(name)).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def naive_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def prepare(
    analyzer: Analyzer, doc: Doc, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Whoosh fields of ``doc``, reusing ``previous`` terms if unchanged."""
    digest = source_hash(doc, analyzer)
    if previous is not None and previous.get("hash") == digest:
        # field names as the analysis gives them (interned), so the stored fields pickle
        # to the bytes a fresh rebuild writes (pickle shares an object used twice)
        terms = {sys.intern(f): t for f, t in previous["terms"].items()}
    else:
        terms = {f: " ".join(ts) for f, ts in doc_terms(analyzer, doc).items()}
    kind, doc_id = str(doc["kind"]), str(doc["id"])
    out: dict[str, Any] = {
        "key": f"{kind}:{doc_id}",
        "id": doc_id,
        "data": {"title": text(doc.get("title")), "terms": terms, "hash": digest},
    }
    out.update(terms)
    for name in FILTER_FIELDS:
        if doc.get(name) is not None:
            out[name] = str(doc[name])
    if doc.get("bounty") is not None:
        out["bounty"] = int(doc["bounty"])
    for name in ("deadline", "published_at"):
        dt = naive_utc(doc.get(name))
        if dt is not None:
            out[name] = dt
    return out


def whoosh_length(n: int) -> int:
    """A field length as Whoosh stores it per document (one byte, approximate)."""
    return byte_to_length(length_to_byte(n))


def column_value(schema: fields.Schema, name: str, stored: Mapping[str, Any]) -> Any:
    """The value Whoosh's column ``name`` returns for a document with ``stored``."""
    field = schema[name]
    value = stored.get(name)
    try:
        raw = field.to_column_value(value) if value is not None else (
            field.column_type.default_value())
        return field.from_column_value(raw)
    except (OverflowError, ValueError):  # Whoosh cannot decode a missing date either
        return None
