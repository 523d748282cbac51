"""Writing the index in the caller's transaction: documents, postings and statistics.

Every write locks its kind's ``search_stats`` row first (``FOR UPDATE``), so writers of
one kind take their turns and statistics never lose an update; kinds are locked in
name order, so two writers never wait on each other in a cycle. Everything a write
changes is in the caller's transaction: a rollback leaves no trace of it.
"""

from __future__ import annotations

from collections import Counter
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
from .tables import FIELDS, MAX_TERM_CHARS, docs

Op = tuple[str, str, Doc | None]
TF_MAX = 32767  # smallint


# Long arrays go as one string each, split by the server: psycopg's per-element
# adaptation of a list cost more than the rest of a bulk write together.
SEP = "\x1f"  # the unit separator: never in a term (the analyzer splits on whitespace)
TEXTS = "string_to_array(:{0}, chr(31))"
INTS = "CAST(string_to_array(:{0}, ',') AS {1}[])"


def texts(values: Iterable[str]) -> str:
    return SEP.join(values)


def ints(values: Iterable[int]) -> str:
    return ",".join(map(str, values))


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


def term_counts(terms: Mapping[str, str]) -> dict[str, list[int]]:
    """Each term's frequency in each field (FIELDS order)."""
    out: dict[str, list[int]] = {}
    for i, f in enumerate(FIELDS):
        for term, n in Counter(terms.get(f, "").split()).items():
            if len(term) <= MAX_TERM_CHARS:
                out.setdefault(term, [0] * len(FIELDS))[i] = min(n, TF_MAX)
    return out


class _Changes:
    """What one kind's write does to postings and statistics, applied in a few statements."""

    def __init__(self) -> None:
        self.df: dict[str, list[int]] = {}
        self.docs = 0
        self.lengths = [0] * len(FIELDS)
        self.dropped: list[tuple[str, int]] = []  # (term, docnum) postings to delete
        self.added: list[tuple[int, dict[str, list[int]]]] = []  # docnum, term counts

    def count(self, row: Mapping[str, Any], sign: int) -> dict[str, list[int]]:
        counts = term_counts(row["terms"])
        dfs = self.df
        for term, tfs in counts.items():
            df = dfs.get(term)
            if df is None:
                dfs[term] = [sign if n else 0 for n in tfs]
            else:
                for i, n in enumerate(tfs):
                    if n:
                        df[i] += sign
        self.docs += sign
        for i, f in enumerate(FIELDS):
            self.lengths[i] += sign * row[f"len_{f}"]
        return counts

    def drop(self, row: Mapping[str, Any]) -> None:
        self.dropped.extend((t, row["docnum"]) for t in self.count(row, -1))

    def add(self, docnum: int, row: Mapping[str, Any]) -> None:
        self.added.append((docnum, self.count(row, +1)))


def lock_kinds(conn: Connection, kinds: Iterable[str]) -> dict[str, int | None]:
    """Lock the statistics rows of ``kinds`` (made if missing), in name order; returns the
    sequence number each kind's running rebuild started at (``None``: no rebuild)."""
    out = {}
    for kind in sorted(set(kinds)):
        conn.execute(sa.text(
            "INSERT INTO search_stats (kind, docs, rebuild_seq, "
            + ", ".join(f"len_{f}" for f in FIELDS) + ") VALUES (:k, 0, NULL"
            + ", 0" * len(FIELDS) + ") ON CONFLICT (kind) DO NOTHING"), {"k": kind})
        out[kind] = conn.execute(sa.text(
            "SELECT rebuild_seq FROM search_stats WHERE kind = :k FOR UPDATE"), {"k": kind}
        ).scalar()
    return out


def next_seq(conn: Connection) -> int:
    return int(conn.execute(sa.text("SELECT nextval('search_seq')")).scalar_one())


def write(conn: Connection, analyzer: Analyzer, ops: Iterable[Op], *,
          since: int | None = None) -> int:
    """Apply ``(kind, id, doc-or-None)`` operations in ``conn``'s transaction (the last
    one on a document wins); returns how many documents changed.

    ``since``: a rebuild's writes, which leave alone documents written after the
    rebuild's sequence number ``since`` (their write is newer than the rebuild's read).
    """
    latest: dict[tuple[str, str], Doc | None] = {}
    for kind, doc_id, doc in ops:
        latest.pop((str(kind), str(doc_id)), None)
        latest[(str(kind), str(doc_id))] = doc
    if not latest:
        return 0
    by_kind: dict[str, dict[str, Doc | None]] = {}
    for (kind, doc_id), doc in latest.items():
        by_kind.setdefault(kind, {})[doc_id] = doc
    rebuilds = lock_kinds(conn, by_kind)
    seq = next_seq(conn)
    return sum(_write_kind(conn, analyzer, kind, items, seq, since, rebuilds[kind])
               for kind, items in sorted(by_kind.items()))


def _write_kind(conn: Connection, analyzer: Analyzer, kind: str,
                items: Mapping[str, Doc | None], seq: int, since: int | None,
                rebuild: int | None) -> int:
    old = {r["doc_id"]: r for r in conn.execute(sa.text(
        "SELECT docnum, doc_id, live, seq, hash, terms, "
        + ", ".join(f"len_{f}" for f in FIELDS)
        + " FROM search_docs WHERE kind = :k AND doc_id = ANY(:ids)"),
        {"k": kind, "ids": list(items)}).mappings()}
    changes = _Changes()
    upserts: list[dict[str, Any]] = []  # rows whose postings change
    touched: list[dict[str, Any]] = []  # rows whose terms are unchanged
    deleted: list[int] = []
    tombstones: list[str] = []
    for doc_id, doc in items.items():
        prev = old.get(doc_id)
        if since is not None and prev is not None and prev["seq"] > since:
            continue  # written after the rebuild read it: newer than the rebuild's copy
        live = prev if prev is not None and prev["live"] else None
        if doc is None:
            if live is not None:
                changes.drop(live)
            if rebuild is not None:
                tombstones.append(doc_id)  # a running rebuild must not bring it back
            elif prev is not None:
                deleted.append(prev["docnum"])
            continue
        row = prepare(analyzer, doc, live)
        row["seq"] = seq
        if live is not None and live["hash"] == row["hash"]:
            touched.append({**row, "docnum": live["docnum"]})
            continue
        if live is not None:
            changes.drop(live)
        upserts.append(row)
    _apply(conn, kind, seq, changes, upserts, touched, deleted, tombstones)
    return len(upserts) + len(touched) + len(deleted) + len(tombstones)


_insert = insert(docs)
# one statement for any number of rows (compiled once; psycopg sends them in batches)
UPSERT = _insert.on_conflict_do_update(
    index_elements=["kind", "doc_id"],
    set_={c.name: _insert.excluded[c.name] for c in docs.c
          if c.name not in ("docnum", "kind", "doc_id")},
).returning(docs.c.docnum, docs.c.doc_id)

_META = ("live", "seq", "industry", "category", "state", "org_id", "challenge_id",
         "bounty", "deadline", "published_at", "title")


def _apply(conn: Connection, kind: str, seq: int, changes: _Changes,
           upserts: list[dict[str, Any]], touched: list[dict[str, Any]],
           deleted: list[int], tombstones: list[str]) -> None:
    if changes.dropped:
        terms, docnums = zip(*changes.dropped, strict=True)
        conn.execute(sa.text(
            f"DELETE FROM search_postings p USING unnest({TEXTS.format('t')}, "
            f"{INTS.format('d', 'bigint')}) AS x(term, docnum) "
            "WHERE p.kind = :k AND p.term = x.term AND p.docnum = x.docnum"),
            {"k": kind, "t": texts(terms), "d": ints(docnums)})
    if deleted:
        conn.execute(sa.text("DELETE FROM search_docs WHERE docnum = ANY(:d)"),
                     {"d": deleted})
    if tombstones:
        conn.execute(sa.text(
            "INSERT INTO search_docs (kind, doc_id, live, seq, title, terms, hash, "
            + ", ".join(f"len_{f}" for f in FIELDS) + ") "
            "SELECT :k, x, false, :s, '', CAST('{}' AS jsonb), ''" + ", 0" * len(FIELDS)
            + " FROM unnest(CAST(:ids AS text[])) AS x "
            "ON CONFLICT (kind, doc_id) DO UPDATE SET live = false, seq = excluded.seq, "
            "terms = excluded.terms, hash = '', "
            + ", ".join(f"len_{f} = 0" for f in FIELDS)),
            {"k": kind, "s": seq, "ids": tombstones})
    if touched:
        conn.execute(docs.update().where(docs.c.docnum == sa.bindparam("b_docnum"))
                     .values({c: sa.bindparam(f"b_{c}") for c in _META}),
                     [{"b_docnum": r["docnum"], **{f"b_{c}": r[c] for c in _META}}
                      for r in touched])
    if upserts:
        docnums = dict((i, n) for n, i in conn.execute(UPSERT, upserts))
        for row in upserts:
            changes.add(docnums[row["doc_id"]], row)
    if changes.added:
        cols: list[list[Any]] = [[] for _ in range(2 + len(FIELDS))]
        for docnum, counts in changes.added:
            for term, tfs in counts.items():
                cols[0].append(term)
                cols[1].append(docnum)
                for i, n in enumerate(tfs):
                    cols[2 + i].append(n)
        conn.execute(sa.text(
            "INSERT INTO search_postings (kind, term, docnum, "
            + ", ".join(f"tf_{f}" for f in FIELDS) + ") SELECT :k, * FROM unnest("
            + TEXTS.format("c0") + ", " + INTS.format("c1", "bigint") + ", "
            + ", ".join(INTS.format(f"c{2 + i}", "smallint") for i in range(len(FIELDS)))
            + ")"),
            {"k": kind, "c0": texts(cols[0]), **{f"c{i}": ints(c) for i, c in enumerate(cols)
                                                  if i > 0}})
    df = sorted((t, d) for t, d in changes.df.items() if any(d))
    if df:
        conn.execute(sa.text(
            "INSERT INTO search_terms (kind, term, " + ", ".join(f"df_{f}" for f in FIELDS)
            + ") SELECT :k, * FROM unnest(" + TEXTS.format("t") + ", "
            + ", ".join(INTS.format(f"d{i}", "int") for i in range(len(FIELDS)))
            + ") ORDER BY 2 ON CONFLICT (kind, term) DO UPDATE SET "
            + ", ".join(f"df_{f} = search_terms.df_{f} + excluded.df_{f}" for f in FIELDS)),
            {"k": kind, "t": texts(t for t, _ in df),
             **{f"d{i}": ints(d[i] for _, d in df) for i in range(len(FIELDS))}})
    if changes.docs or any(changes.lengths):
        conn.execute(sa.text(
            "UPDATE search_stats SET docs = docs + :n, "
            + ", ".join(f"len_{f} = len_{f} + :l{i}" for i, f in enumerate(FIELDS))
            + " WHERE kind = :k"),
            {"k": kind, "n": changes.docs,
             **{f"l{i}": n for i, n in enumerate(changes.lengths)}})
