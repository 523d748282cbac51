"""The search index's tables (``SEARCH_BACKEND=postgres``), beside the data.

* ``search_docs``: one row per document (kind, id): its filter and sort columns, its
  title and analyzer terms per field (``terms``, reused by a rebuild while ``hash`` is
  unchanged) and the length of each field in terms. ``live`` false is a removal's
  tombstone (a rebuild running meanwhile must not bring the document back); ``seq``
  orders writes against a rebuild.
* ``search_postings``: the inverted index, one row per (kind, term, document) with the
  term's frequency in each field: BM25F needs per-field frequencies, which a tsvector
  cannot give to SQL (see the README).
* ``search_terms``: document frequencies per field of each term, and ``search_stats``:
  documents and total field lengths per kind. The statistics change in the transaction
  that changes the documents, so IDF and average lengths always describe what is
  committed.
* Postings and frequencies are written later, in bulk (fold.py): a document whose
  terms changed is ``pending`` until then, its terms read from its row (pending.py),
  and ``search_retired`` keeps the terms of a folded document's version that a write
  replaced or removed, whose postings and frequencies are still counted.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from ...extensions import db
from ...limits import MAX_CHARS

FIELDS = ("title", "keywords", "body", "grams")  # the scored fields (ranking.DOC_FIELD_WEIGHTS)

metadata = db.metadata

# The longest term kept in the postings: a PostgreSQL btree key holds at most 2,704 bytes,
# and the analyzer keeps a run of Latin letters or digits whole, however long (a 6,000-
# letter "word" pasted into a challenge). Longer terms are left out of the postings
# (pending.term_counts): nobody searches such a term; the document's other terms are
# indexed and its field lengths count it, as Whoosh's do.
MAX_TERM_CHARS = 200

SEQ = sa.Sequence("search_seq", metadata=metadata)

docs = sa.Table(
    "search_docs", metadata,
    sa.Column("docnum", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("doc_id", sa.String(64), nullable=False),
    sa.Column("live", sa.Boolean(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("industry", sa.String(64)),
    sa.Column("category", sa.String(64)),
    sa.Column("state", sa.String(32)),
    sa.Column("org_id", sa.String(64)),
    sa.Column("challenge_id", sa.String(64)),
    sa.Column("bounty", sa.BigInteger()),
    sa.Column("deadline", sa.DateTime(timezone=True)),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    # the document's own title (a challenge's, a bid's, an institute's name), copied from
    # a column with its own limit
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("terms", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    sa.Column("hash", sa.String(32), nullable=False),
    *(sa.Column(f"len_{f}", sa.Integer(), nullable=False) for f in FIELDS),
    # its terms are not in the postings and frequencies yet (fold.py)
    sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("kind", "doc_id", name="uq_search_docs_kind_doc_id"),
    sa.Index("ix_search_docs_kind_state", "kind", "state"),
    sa.Index("ix_search_docs_kind_challenge_id", "kind", "challenge_id"),
    # what each process's resident columns (columns.py) have not seen yet
    sa.Index("ix_search_docs_kind_seq", "kind", "seq"),
    sa.Index("ix_search_docs_pending", "kind", "seq", postgresql_where=sa.text("pending"),
             sqlite_where=sa.text("pending")),
)

postings = sa.Table(
    "search_postings", metadata,
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("term", sa.Text(), nullable=False, info={MAX_CHARS: MAX_TERM_CHARS}),
    sa.Column("docnum", sa.BigInteger(), nullable=False),
    *(sa.Column(f"tf_{f}", sa.SmallInteger(), nullable=False) for f in FIELDS),
    # the frequencies in the key's index too: a term's postings are read by an
    # index-only scan, not one heap page per document (94 -> 47 ms for a query whose
    # terms have 27,000 postings)
    sa.PrimaryKeyConstraint("kind", "term", "docnum", name="pk_search_postings",
                            postgresql_include=[f"tf_{f}" for f in FIELDS]),
)

terms = sa.Table(
    "search_terms", metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("term", sa.Text(), primary_key=True, info={MAX_CHARS: MAX_TERM_CHARS}),
    *(sa.Column(f"df_{f}", sa.Integer(), nullable=False) for f in FIELDS),
)

stats = sa.Table(
    "search_stats", metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("docs", sa.BigInteger(), nullable=False),
    # the sequence number a running rebuild of the kind started at (None: none runs)
    sa.Column("rebuild_seq", sa.BigInteger()),
    *(sa.Column(f"len_{f}", sa.BigInteger(), nullable=False) for f in FIELDS),
    # the latest write's sequence number; documents written after folded_seq are pending
    # (their postings and frequencies not written yet), about ``pending`` of them
    sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("folded_seq", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("pending", sa.Integer(), nullable=False, server_default="0"),
)

retired = sa.Table(
    "search_retired", metadata,
    # a folded document that a write at ``seq`` changed or removed: ``terms`` are those
    # of its folded version (still in the postings and frequencies until the next fold);
    # none for a pending document removed outright (nothing of it was folded)
    sa.Column("docnum", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("terms", sa.JSON().with_variant(JSONB(), "postgresql")),
    sa.Index("ix_search_retired_kind_seq", "kind", "seq"),
)

TABLES = (docs, postings, terms, stats, retired)
