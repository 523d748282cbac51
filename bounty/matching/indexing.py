"""The index follows the database: documents from rows, and session hooks.

``after_flush`` records the dirty keys of challenges, bids and organisations
as ``IndexJob`` rows in the same transaction, so they commit or roll back with
the change. Those rows are the engine's durable queue (jobs.py): ``after_commit``
hands the ``lexical`` ones to the engine (loading each row afresh), which makes
them visible at once; the engine's next flush writes them to Whoosh and deletes
them. A crash before that leaves them for ``engine.replay()`` at start-up.
A transactional engine (``SEARCH_BACKEND=postgres``) takes no job: ``before_commit``
writes the dirty documents' index rows with the session's own connection, so they
commit or roll back with the change.

Only public challenges and submitted bids are documents: a draft, vetting or
rejected challenge and a draft or withdrawn bid are removed from the index.
Sealing is enforced by the callers (ranking is asked only by those the
foundation lets see the bids), and bids are never part of search results.
An institute's profile holds only public facts (its expertise, keywords and
the challenges it publicly won), never its bids' text: the enterprise sees the
terms that matched an institute, and those must not leak a sealed bid.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from sqlalchemy import event
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import Organization, OrgKind
from ..challenges.models import PUBLIC_STATES, Bid, BidState, Challenge, ChallengeState
from ..timeutil import utcnow
from .engine import Doc

PENDING_KEY = "bounty.matching.pending"
# keys whose documents a transactional engine (pgsearch) writes before the commit
WRITE_KEY = "bounty.matching.write"
VECTOR_PENDING_KEY = "bounty.matching.vector_pending"
LEXICAL, VECTOR = "lexical", "vector"  # IndexJob.target: the full-text index, the embedder
# sent after a commit that queued vector jobs: the embedding worker wakes up
vector_jobs_committed = Namespace().signal("vector-jobs-committed")
# States in which a challenge's winner is public (as on the challenge page).
AWARDED_STATES = (ChallengeState.in_progress, ChallengeState.acceptance_review,
                  ChallengeState.completed)
_hooks_installed = False


# Challenges in review have vectors too (相似榜单 at submission and vetting); they are
# never in the full-text index, so no search can return them.
EMBEDDED_STATES = PUBLIC_STATES | {ChallengeState.vetting, ChallengeState.returned}


def challenge_doc(c: Challenge, states=PUBLIC_STATES) -> Doc | None:  # noqa: ANN001
    if c.state not in states:
        return None
    indicators = "；".join(f"{i.name} {i.target}{i.unit}" for i in c.indicators)
    return {
        "kind": "challenge", "id": c.id, "title": c.title,
        "body": "\n".join([c.bottleneck, indicators, c.background, c.expected_outcome]),
        "keywords": c.keywords, "industry": str(c.industry), "category": str(c.category),
        "state": str(c.state), "bounty": c.bounty_yuan, "deadline": c.bid_deadline,
        "published_at": c.published_at, "org_id": str(c.organization_id),
    }


def bid_doc(b: Bid) -> Doc | None:
    if b.state != BidState.submitted:
        return None
    milestones = "；".join(f"{m.name} {m.deliverable}" for m in b.milestones)
    return {
        "kind": "bid", "id": b.id, "title": b.title,
        "body": "\n".join([b.approach, b.prior_results, milestones, b.lab, b.team_members]),
        "challenge_id": str(b.challenge_id), "org_id": str(b.organization_id),
        "state": str(b.state), "published_at": b.submitted_at,
    }


def institute_doc(org: Organization, session: Session | None = None,
                  awards: list[tuple[str, str]] | None = None) -> Doc | None:
    """An institute's profile document; its public awards are read with ``session``, or
    given (``awards``: titles and keywords, newest first) by a caller that read them all."""
    if org.kind != OrgKind.institute:
        return None
    if awards is None and session is not None:
        awards = session.execute(
            _won().where(Bid.organization_id == org.id).limit(MAX_AWARDS)
        ).tuples().all()
    text = "；".join(f"{title} {keywords}" for _, title, keywords in awards or ())
    return {
        "kind": "institute", "id": org.id, "title": org.name,
        "body": "\n".join([org.expertise, org.description, text]),
        "keywords": org.keywords, "org_id": str(org.id),
        "state": "verified" if org.verified_at else "unverified",
    }


MAX_AWARDS = 50  # challenges won that a profile lists


def _won() -> sa.Select:
    """(winner's organisation, title, keywords) of publicly awarded challenges, newest first."""
    return (sa.select(Bid.organization_id, Challenge.title, Challenge.keywords)
            .join(Bid, Bid.id == Challenge.winning_bid_id)
            .where(Challenge.state.in_(AWARDED_STATES)).order_by(Challenge.id.desc()))


MODELS: dict[str, Any] = {"challenge": Challenge, "bid": Bid, "institute": Organization}


def load(session: Session, kind: str, doc_id: str, *, embedding: bool = False) -> Doc | None:
    """The current document for ``(kind, id)``, or ``None`` if it must not be indexed
    (``embedding``: or embedded, which also takes challenges in review)."""
    obj = session.get(MODELS[kind], int(doc_id))
    if obj is None:
        return None
    if kind == "challenge":
        return challenge_doc(obj, EMBEDDED_STATES if embedding else PUBLIC_STATES)
    if kind == "bid":
        return bid_doc(obj)
    return institute_doc(obj, session)


# What ``bounty reindex`` reads: the indexable rows of each kind, with what their
# documents need loaded alongside (one query per batch, none per row).
_INDEXABLE = {
    "challenge": lambda: sa.select(Challenge).where(Challenge.state.in_(PUBLIC_STATES))
    .options(selectinload(Challenge.indicators)),
    "bid": lambda: sa.select(Bid).where(Bid.state == BidState.submitted)
    .options(selectinload(Bid.milestones)),
    "institute": lambda: sa.select(Organization).where(Organization.kind == OrgKind.institute),
}
BATCH = 500


def all_docs(session: Session):
    """Every indexable document, for ``bounty reindex``, in batches of rows."""
    awards: dict[int, list] = {}
    for kind, query in _INDEXABLE.items():
        if kind == "institute":  # every profile's awards in one query
            for row in session.execute(_won()).tuples():
                if len(awards.setdefault(row[0], [])) < MAX_AWARDS:
                    awards[row[0]].append(row)
        model = MODELS[kind]
        rows = session.scalars(query().order_by(model.id).execution_options(yield_per=BATCH))
        for obj in rows:
            if kind == "challenge":
                doc = challenge_doc(obj)
            elif kind == "bid":
                doc = bid_doc(obj)
            else:
                doc = institute_doc(obj, awards=awards.get(obj.id, []))
            if doc is not None:
                yield doc


def count_docs(session: Session) -> int:
    """How many documents :func:`all_docs` yields (the progress total of a rebuild)."""
    return sum(session.scalar(sa.select(sa.func.count()).select_from(query().subquery())) or 0
               for query in _INDEXABLE.values())


def count_rows(session: Session) -> int:
    return sum(session.scalar(sa.select(sa.func.count()).select_from(m)) or 0
               for m in MODELS.values())


def _keys(session: Session, obj: Any) -> list[tuple[str, str]]:
    if isinstance(obj, Challenge):
        keys = [("challenge", str(obj.id))]
        if obj.winning_bid_id is not None:
            # the winner's profile lists the challenges it publicly won
            winner = session.execute(
                sa.select(Bid.organization_id).where(Bid.id == obj.winning_bid_id)
            ).scalar()
            if winner is not None:
                keys.append(("institute", str(winner)))
        return keys
    if isinstance(obj, Bid):
        return [("bid", str(obj.id))]
    if isinstance(obj, Organization):
        return [("institute", str(obj.id))]
    return []


def install_hooks(get_engine, session_factory, embeds=lambda: False) -> None:  # noqa: ANN001
    """Make the index follow commits of ``session_factory`` sessions (once per process).

    ``embeds()`` tells whether the current app embeds documents: then every upsert also
    queues a ``vector`` job for the embedding worker, in the same transaction.
    """
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    from .models import IndexJob

    jobs = IndexJob.__table__

    @event.listens_for(session_factory, "after_flush")
    def _after_flush(session: Session, _ctx) -> None:  # noqa: ANN001
        keys: dict[tuple[str, str], str] = {}
        for obj in [*session.new, *session.dirty]:
            for key in _keys(session, obj):
                keys.setdefault(key, "upsert")
        for obj in session.deleted:
            own, *related = _keys(session, obj) or [None]
            if own is not None:
                keys[own] = "delete"
            for key in related:
                keys.setdefault(key, "upsert")
        engine = get_engine()
        if not keys or engine is None:
            return
        # in this transaction: the record of pending work commits with the change
        now = utcnow()
        rows = [{"target": LEXICAL, "kind": k, "doc_id": i, "op": op, "created_at": now}
                for (k, i), op in sorted(keys.items())]
        if getattr(engine, "transactional", False):
            # the engine's own rows are written before the commit (below), no job
            session.info.setdefault(WRITE_KEY, set()).update(keys)
        else:
            ids = session.connection().execute(
                sa.insert(jobs).returning(jobs.c.id), rows).scalars().all()
            session.info.setdefault(PENDING_KEY, []).extend(ids)
        if embeds():
            session.connection().execute(sa.insert(jobs), [
                {**row, "target": VECTOR} for row in rows if row["op"] == "upsert"])
            session.info[VECTOR_PENDING_KEY] = True

    @event.listens_for(session_factory, "before_commit")
    def _before_commit(session: Session) -> None:
        engine = get_engine()
        if not getattr(engine, "transactional", False):
            return
        session.flush()  # the commit flushes after this hook: its keys are needed now
        # reading the documents may flush (and so note more keys): until none is left
        while keys := session.info.pop(WRITE_KEY, None):
            ops = [(kind, doc_id, load(session, kind, doc_id)) for kind, doc_id in sorted(keys)]
            engine.write(session.connection(), ops)
            session.flush()

    @event.listens_for(session_factory, "after_commit")
    def _after_commit(session: Session) -> None:
        ids = session.info.pop(PENDING_KEY, None)
        engine = get_engine()
        if ids and engine is not None:
            apply_jobs(engine, ids)
        if session.info.pop(VECTOR_PENDING_KEY, None):
            vector_jobs_committed.send(session)

    @event.listens_for(session_factory, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(PENDING_KEY, None)  # the job rows rolled back with the change
        session.info.pop(WRITE_KEY, None)
        session.info.pop(VECTOR_PENDING_KEY, None)


def apply_jobs(engine, ids: list[int]) -> int:  # noqa: ANN001
    """Hand the lexical index jobs ``ids``, just committed, to ``engine``; its flush
    deletes them. Each document is re-read, so a job is right however late it runs."""
    from ..extensions import db
    from .models import IndexJob

    with Session(db.engine) as session:
        pending = session.execute(
            sa.select(IndexJob.id, IndexJob.kind, IndexJob.doc_id)
            .where(IndexJob.target == LEXICAL, IndexJob.id.in_(ids)).order_by(IndexJob.id)
        ).all()
        jobs: dict[tuple[str, str], list[int]] = {}
        for job_id, kind, doc_id in pending:
            jobs.setdefault((kind, doc_id), []).append(job_id)
        if jobs:
            engine.apply([(kind, doc_id, load(session, kind, doc_id)) for kind, doc_id in jobs],
                         jobs=jobs.values())
        return len(pending)
