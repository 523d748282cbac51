"""``bounty reindex`` checks the folded postings against the documents' own terms.

A rebuild rewrites the row of every document, but a document whose terms are unchanged
keeps its postings (re-writing 37 million rows for 100,000 unchanged challenges would
take minutes). Rows lost or left over (a restore, a hand edit, a bug) would then
survive the repair, so the rebuild notes a fingerprint of each document's postings as
its terms give them (pending.fingerprint: how many, their terms' characters, their
frequencies weighted by field), and at its end compares it with the fingerprint of
the rows in ``search_postings``, read in one pass. A document that differs gets its
postings deleted and folded again from its row, with a new sequence number, so every
process's resident copy and cached postings take the repaired version in.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import fold
from .tables import FIELDS
from .write import Fingerprints, next_seq

logger = logging.getLogger(__name__)

_WEIGHTED = " + ".join(f"{2 * i + 1} * tf_{f}" for i, f in enumerate(FIELDS))


def repair(conn: Connection, kinds: list[str], fingerprints: Fingerprints) -> int:
    """Fold again the documents of ``kinds`` whose postings differ from their terms'
    (those the rebuild wrote and nobody since), in ``conn``'s transaction, which holds
    the kinds' locks and has folded them; returns how many were repaired."""
    repaired = 0
    for kind in kinds:
        expected = {}
        for docnum, doc_id, seq in conn.execute(sa.text(
                "SELECT docnum, doc_id, seq FROM search_docs WHERE kind = :k AND live"),
                {"k": kind}):
            noted = fingerprints.get((kind, doc_id))
            if noted is not None and noted[0] == seq:
                expected[docnum] = noted[1]
        if not expected:
            continue
        stored = {row[0]: tuple(int(v) for v in row[1:]) for row in conn.execute(sa.text(
            f"SELECT docnum, count(*), sum(char_length(term)), sum({_WEIGHTED}) "
            "FROM search_postings WHERE kind = :k GROUP BY docnum"), {"k": kind})}
        bad = sorted(d for d, fp in expected.items()
                     if stored.get(d, (0, 0, 0)) != fp)
        if bad:
            logger.warning("the postings of %d %s documents differed from their terms: "
                           "folded again", len(bad), kind)
            _fold_again(conn, kind, bad)
            repaired += len(bad)
    return repaired


def _fold_again(conn: Connection, kind: str, docnums: list[int]) -> None:
    seq = next_seq(conn)
    params = {"k": kind, "d": docnums, "s": seq}
    conn.execute(sa.text(
        "DELETE FROM search_postings WHERE kind = :k AND docnum = ANY(:d)"), params)
    conn.execute(sa.text(
        "UPDATE search_docs SET pending = true, seq = :s WHERE docnum = ANY(:d)"), params)
    conn.execute(sa.text("UPDATE search_stats SET last_seq = :s WHERE kind = :k"), params)
    fold.fold(conn, kind)  # their frequencies are counted again after (engine._finish)
