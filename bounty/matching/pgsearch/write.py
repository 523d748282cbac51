"""Writing the index in the caller's transaction: documents and statistics.

Every write locks its kind's ``search_stats`` row first (``FOR UPDATE``), so writers of
one kind take their turns and statistics never lose an update; kinds are locked in
name order, so two writers never wait on each other in a cycle. Everything a write
changes is in the caller's transaction: a rollback leaves no trace of it.

A write stores each document's row (its terms included), the kind's document count and
field lengths, and for a folded document it changes or removes, the terms of its folded
version (``search_retired``); the postings and document frequencies follow in bulk
(fold.py), and until then queries read them from the rows (pending.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from ..analyzer import Analyzer
from ..engine import FILTER_FIELDS, Doc
from ..ranking import doc_terms
from ..whoosh.schema import source_hash, text
from . import fold
from .pending import fingerprint, term_counts
from .tables import FIELDS, docs

Op = tuple[str, str, Doc | None]


def aware_utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def prepare(analyzer: Analyzer, doc: Doc, previous: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """The ``search_docs`` row of ``doc`` (without ``docnum``/``seq``), reusing the terms
    of ``previous`` (a row) when the text they came from is unchanged."""
    digest = source_hash(doc, analyzer)
    if previous is not None and previous.get("hash") == digest:
        terms = dict(previous["terms"])
    else:
        terms = {f: " ".join(ts) for f, ts in doc_terms(analyzer, doc).items()}
    row: dict[str, Any] = {
        "kind": str(doc["kind"]), "doc_id": str(doc["id"]), "live": True,
        "title": text(doc.get("title")), "terms": terms, "hash": digest,
        "bounty": int(doc["bounty"]) if doc.get("bounty") is not None else None,
        "deadline": aware_utc(doc.get("deadline")),
        "published_at": aware_utc(doc.get("published_at")),
    }
    for name in FILTER_FIELDS:
        row[name] = str(doc[name]) if doc.get(name) is not None else None
    for f in FIELDS:
        row[f"len_{f}"] = len(terms.get(f, "").split())
    return row


def lock_kinds(conn: Connection, kinds: Iterable[str]) -> dict[str, int | None]:
    """Lock the statistics rows of ``kinds`` (made if missing), in name order; returns the
    sequence number each kind's running rebuild started at (``None``: no rebuild)."""
    out = {}
    for kind in sorted(set(kinds)):
        row = None
        while row is None:
            row = conn.execute(sa.text(
                "SELECT rebuild_seq FROM search_stats WHERE kind = :k FOR UPDATE"),
                {"k": kind}).first()
            if row is None:
                conn.execute(sa.text(
                    "INSERT INTO search_stats (kind, docs, rebuild_seq, "
                    + ", ".join(f"len_{f}" for f in FIELDS) + ") VALUES (:k, 0, NULL"
                    + ", 0" * len(FIELDS) + ") ON CONFLICT (kind) DO NOTHING"), {"k": kind})
        out[kind] = row[0]
    return out


def next_seq(conn: Connection) -> int:
    return int(conn.execute(sa.text("SELECT nextval('search_seq')")).scalar_one())


Fingerprints = dict[tuple[str, str], tuple[int, tuple[int, int, int]]]


def write(conn: Connection, analyzer: Analyzer, ops: Iterable[Op], *,
          since: int | None = None, fingerprints: Fingerprints | None = None
          ) -> tuple[int, dict[str, int]]:
    """Apply ``(kind, id, doc-or-None)`` operations in ``conn``'s transaction (the last
    one on a document wins); returns how many documents changed, and how many of each
    kind written are pending (a write that finds PENDING_MAX folds FOLD_BATCH of them).

    ``since``: a rebuild's writes, which leave alone documents written after the
    rebuild's sequence number ``since`` (their write is newer than the rebuild's read).
    ``fingerprints``: a rebuild's, told (kind, id) -> (sequence number, fingerprint of
    the postings) of every live document written (repair.py).
    """
    latest: dict[tuple[str, str], Doc | None] = {}
    for kind, doc_id, doc in ops:
        latest.pop((str(kind), str(doc_id)), None)
        latest[(str(kind), str(doc_id))] = doc
    if not latest:
        return 0, {}
    by_kind: dict[str, dict[str, Doc | None]] = {}
    for (kind, doc_id), doc in latest.items():
        by_kind.setdefault(kind, {})[doc_id] = doc
    rebuilds = lock_kinds(conn, by_kind)
    seq = next_seq(conn)
    changed, pending = 0, {}
    for kind, items in sorted(by_kind.items()):
        n, pending[kind] = _write_kind(conn, analyzer, kind, items, seq, since,
                                         rebuilds[kind], fingerprints)
        changed += n
        if pending[kind] >= fold.PENDING_MAX:  # nobody folds: this write does, a batch
            fold.fold(conn, kind, limit=fold.FOLD_BATCH)
    return changed, pending


class _Stats:
    """What one kind's write does to its statistics and its pending documents."""

    def __init__(self) -> None:
        self.docs = 0
        self.lengths = [0] * len(FIELDS)
        self.retired: dict[int, Any] = {}  # docnum -> folded version's terms (None: none)

    def count(self, row: Mapping[str, Any], sign: int) -> None:
        self.docs += sign
        for i, f in enumerate(FIELDS):
            self.lengths[i] += sign * row[f"len_{f}"]


def _write_kind(conn: Connection, analyzer: Analyzer, kind: str,
                items: Mapping[str, Doc | None], seq: int, since: int | None,
                rebuild: int | None, fingerprints: Fingerprints | None) -> tuple[int, int]:
    old = {r["doc_id"]: r for r in conn.execute(sa.text(
        "SELECT docnum, doc_id, live, pending, seq, hash, terms, "
        + ", ".join(f"len_{f}" for f in FIELDS)
        + " FROM search_docs WHERE kind = :k AND doc_id = ANY(:ids)"),
        {"k": kind, "ids": list(items)}).mappings()}
    stats = _Stats()
    upserts: list[dict[str, Any]] = []  # rows whose terms change
    touched: list[dict[str, Any]] = []  # rows whose terms are unchanged
    deleted: list[int] = []
    tombstones: list[str] = []
    for doc_id, doc in items.items():
        prev = old.get(doc_id)
        if since is not None and prev is not None and prev["seq"] > since:
            continue  # written after the rebuild read it: newer than the rebuild's copy
        live = prev if prev is not None and prev["live"] else None
        folded = live if live is not None and not live["pending"] else None
        if doc is None:
            if live is not None:
                stats.count(live, -1)
            if folded is not None:  # its postings go at the next fold; queries skip them
                stats.retired[folded["docnum"]] = folded["terms"]
            if rebuild is not None:
                tombstones.append(doc_id)  # a running rebuild must not bring it back
            elif prev is not None:
                deleted.append(prev["docnum"])
                # queries holding it as pending learn it is gone
                stats.retired.setdefault(prev["docnum"], None)
            continue
        row = prepare(analyzer, doc, live)
        row["seq"] = seq
        if fingerprints is not None:
            fingerprints[(kind, doc_id)] = (seq, fingerprint(term_counts(row["terms"])))
        if live is not None and live["hash"] == row["hash"]:
            touched.append({**row, "docnum": live["docnum"]})  # its postings stand
            continue
        if live is not None:
            stats.count(live, -1)
        if folded is not None:
            stats.retired[folded["docnum"]] = folded["terms"]
        stats.count(row, +1)
        upserts.append({**row, "pending": True})
    _apply(conn, kind, seq, stats, upserts, touched, deleted, tombstones)
    written = len(upserts) + len(touched) + len(deleted) + len(tombstones)
    pending = conn.execute(sa.text(
        "UPDATE search_stats SET docs = docs + :n, last_seq = :s, pending = pending + :w, "
        + ", ".join(f"len_{f} = len_{f} + :l{i}" for i, f in enumerate(FIELDS))
        + " WHERE kind = :k RETURNING pending"),
        {"k": kind, "n": stats.docs, "s": seq,
         "w": len(upserts) + len(stats.retired),
         **{f"l{i}": n for i, n in enumerate(stats.lengths)}}).scalar_one()
    return written, int(pending)


_insert = insert(docs)
# one statement for any number of rows (compiled once; psycopg sends them in batches)
UPSERT = _insert.on_conflict_do_update(
    index_elements=["kind", "doc_id"],
    set_={c.name: _insert.excluded[c.name] for c in docs.c
          if c.name not in ("docnum", "kind", "doc_id")},
)

_META = ("live", "seq", "industry", "category", "state", "org_id", "challenge_id",
         "bounty", "deadline", "published_at", "title")


def _apply(conn: Connection, kind: str, seq: int, stats: _Stats,
           upserts: list[dict[str, Any]], touched: list[dict[str, Any]],
           deleted: list[int], tombstones: list[str]) -> None:
    if stats.retired:
        conn.execute(sa.text(
            "INSERT INTO search_retired (docnum, kind, seq, terms) "
            "SELECT x.docnum, :k, :s, x.terms FROM "
            "jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(docnum bigint, terms jsonb) "
            # an earlier change of the document left its folded version's terms there
            "ON CONFLICT (docnum) DO UPDATE SET seq = excluded.seq"),
            {"k": kind, "s": seq, "rows": json.dumps(
                [{"docnum": d, "terms": t} for d, t in stats.retired.items()],
                ensure_ascii=False)})
    if deleted:
        conn.execute(sa.text("DELETE FROM search_docs WHERE docnum = ANY(:d)"),
                     {"d": deleted})
    if tombstones:
        conn.execute(sa.text(
            "INSERT INTO search_docs (kind, doc_id, live, pending, seq, title, terms, hash, "
            + ", ".join(f"len_{f}" for f in FIELDS) + ") "
            "SELECT :k, x, false, false, :s, '', CAST('{}' AS jsonb), ''"
            + ", 0" * len(FIELDS) + " FROM unnest(CAST(:ids AS text[])) AS x "
            "ON CONFLICT (kind, doc_id) DO UPDATE SET live = false, pending = false, "
            "seq = excluded.seq, "
            "terms = excluded.terms, hash = '', "
            + ", ".join(f"len_{f} = 0" for f in FIELDS)),
            {"k": kind, "s": seq, "ids": tombstones})
    if touched:
        conn.execute(docs.update().where(docs.c.docnum == sa.bindparam("b_docnum"))
                     .values({c: sa.bindparam(f"b_{c}") for c in _META}),
                     [{"b_docnum": r["docnum"], **{f"b_{c}": r[c] for c in _META}}
                      for r in touched])
    if upserts:
        conn.execute(UPSERT, upserts)
