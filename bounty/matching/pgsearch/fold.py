"""Folding pending documents into the postings and document frequencies, in bulk.

A write leaves its documents pending (pending.py): their rows hold their terms, and
queries read them from there. A fold writes the postings and frequencies of the
oldest pending documents of a kind, deletes those of the folded versions they replaced
(``search_retired``) and moves ``search_stats.folded_seq`` past them, in one
transaction holding the kind's lock: what a query sees is the same before and after.

Who folds: the process that wrote, in a background thread, once ``FOLD_AT`` documents
of a kind are pending (``PgEngine``), ``FOLD_BATCH`` documents a transaction, so a
writer of the kind waits for at most one batch (134 ms for 32 bids at 100,000
challenges; a write itself is ~4 ms); a write that finds ``PENDING_MAX`` pending (the
folds do not keep up, or the writing process died) folds a batch itself; and a rebuild
folds each batch it writes. Like a GIN index's pending list, it is storage work: no
query waits for it, and nothing is lost if a process dies before it runs. Queries pay
for pending documents in memory and time (pending.py): at most ``PENDING_MAX`` a kind.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .pending import Counts, term_counts
from .tables import FIELDS

FOLD_AT = 32
FOLD_BATCH = 32
PENDING_MAX = 512

# Long arrays go as one string each, split by the server: psycopg's per-element
# adaptation of a list cost more than the rest of a bulk write together.
SEP = "\x1f"  # the unit separator: never in a term (the analyzer splits on whitespace)
TEXTS = "string_to_array(:{0}, chr(31))"
INTS = "CAST(string_to_array(:{0}, ',') AS {1}[])"


def _texts(values: Any) -> str:
    return SEP.join(values)


def _ints(values: Any) -> str:
    return ",".join(map(str, values))


def fold(conn: Connection, kind: str, *, limit: int | None = None) -> int:
    """Fold the pending documents of ``kind`` (the oldest ``limit`` or a few more: those
    written with the last of them; all by default) in ``conn``'s transaction, whose
    caller holds the kind's lock (write.lock_kinds); returns how many were folded."""
    folded, top = conn.execute(sa.text(
        "SELECT folded_seq, last_seq FROM search_stats WHERE kind = :k"), {"k": kind}).one()
    upto = top
    if limit is not None:
        cut = conn.execute(sa.text(
            "SELECT seq FROM search_docs WHERE kind = :k AND pending ORDER BY seq "
            "OFFSET :n LIMIT 1"), {"k": kind, "n": max(limit - 1, 0)}).scalar()
        upto = top if cut is None else cut
    if upto <= folded:
        return 0
    params = {"k": kind, "u": upto}
    retired = conn.execute(sa.text(
        "SELECT docnum, terms FROM search_retired WHERE kind = :k AND seq <= :u"),
        params).all()
    rows = conn.execute(sa.text(
        "UPDATE search_docs SET pending = false WHERE kind = :k AND pending AND seq <= :u "
        "RETURNING docnum, terms"), params).all()
    df: dict[str, list[int]] = {}
    dropped = [(docnum, _count(df, term_counts(terms), -1)) for docnum, terms in retired
               if terms]
    added = [(docnum, _count(df, term_counts(terms), +1)) for docnum, terms in rows]
    _drop_postings(conn, kind, dropped)
    _add_postings(conn, kind, added)
    _add_dfs(conn, kind, df)
    conn.execute(sa.text("DELETE FROM search_retired WHERE kind = :k AND seq <= :u"), params)
    conn.execute(sa.text(
        "UPDATE search_stats SET folded_seq = :u, pending = (SELECT count(*) FROM "
        "search_docs WHERE kind = :k AND pending) WHERE kind = :k"), params)
    return len(rows) + len(retired)


def _count(df: dict[str, list[int]], counts: Counts, sign: int) -> Counts:
    for term, tfs in counts.items():
        d = df.setdefault(term, [0] * len(FIELDS))
        for i, n in enumerate(tfs):
            if n:
                d[i] += sign
    return counts


def _drop_postings(conn: Connection, kind: str, dropped: list[tuple[int, Counts]]) -> None:
    pairs = [(term, docnum) for docnum, counts in dropped for term in counts]
    if pairs:
        terms, docnums = zip(*pairs, strict=True)
        conn.execute(sa.text(
            f"DELETE FROM search_postings p USING unnest({TEXTS.format('t')}, "
            f"{INTS.format('d', 'bigint')}) AS x(term, docnum) "
            "WHERE p.kind = :k AND p.term = x.term AND p.docnum = x.docnum"),
            {"k": kind, "t": _texts(terms), "d": _ints(docnums)})


def _add_postings(conn: Connection, kind: str, added: list[tuple[int, Counts]]) -> None:
    cols: list[list[Any]] = [[] for _ in range(2 + len(FIELDS))]
    for docnum, counts in added:
        for term, tfs in counts.items():
            cols[0].append(term)
            cols[1].append(docnum)
            for i, n in enumerate(tfs):
                cols[2 + i].append(n)
    if cols[0]:
        conn.execute(sa.text(
            "INSERT INTO search_postings (kind, term, docnum, "
            + ", ".join(f"tf_{f}" for f in FIELDS) + ") SELECT :k, * FROM unnest("
            + TEXTS.format("c0") + ", " + INTS.format("c1", "bigint") + ", "
            + ", ".join(INTS.format(f"c{2 + i}", "smallint") for i in range(len(FIELDS)))
            + ")"),
            {"k": kind, "c0": _texts(cols[0]),
             **{f"c{i}": _ints(c) for i, c in enumerate(cols) if i > 0}})


def _add_dfs(conn: Connection, kind: str, df: dict[str, list[int]]) -> None:
    changed = sorted((t, d) for t, d in df.items() if any(d))
    if changed:
        conn.execute(sa.text(
            "INSERT INTO search_terms (kind, term, " + ", ".join(f"df_{f}" for f in FIELDS)
            + ") SELECT :k, * FROM unnest(" + TEXTS.format("t") + ", "
            + ", ".join(INTS.format(f"d{i}", "int") for i in range(len(FIELDS)))
            + ") ON CONFLICT (kind, term) DO UPDATE SET "
            + ", ".join(f"df_{f} = search_terms.df_{f} + excluded.df_{f}" for f in FIELDS)),
            {"k": kind, "t": _texts(t for t, _ in changed),
             **{f"d{i}": _ints(d[i] for _, d in changed) for i in range(len(FIELDS))}})
