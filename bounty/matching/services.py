"""Matching for people: challenge search, recommendations, institute suggestions,
invitations and the ranking of a challenge's bids.

Everything here reads the index through :func:`bounty.matching.get_engine` and
then re-reads the rows it names from the database, so a result is always a row
the caller may see in its current state (the index may lag a commit, never the
page). Sealing is the callers' rule (``can_view_bid``); nothing here puts a
bid's text where another organisation could read it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy.orm import defer, joinedload

from ..accounts.models import Organization, OrgKind, Role
from ..audit import record_event
from ..challenges.models import (
    PUBLIC_STATES,
    Bid,
    BidState,
    Category,
    Challenge,
    ChallengeState,
    Industry,
)
from ..errors import DomainError, PermissionDenied, TransitionRefused
from ..extensions import db
from ..signals import institute_invited
from ..timeutil import from_local, utcnow
from ..transactions import atomic
from . import get_engine, get_matcher, indexing, reference, scripts, similarity
from .engine import Filters
from .highlight import SCAN_CHARS
from .models import Invitation
from .similarity import ClosestSentence
from .vectors import embed_text

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_PAGE = 500
SNIPPET_CHARS = 140
SORTS = ("relevance", "newest", "deadline", "bounty")


# --------------------------------------------------------------------------- search


@dataclass
class SearchParams:
    """What the search form asked for; every field optional."""

    q: str = ""
    industry: str | None = None
    category: str | None = None
    state: str | None = None
    bounty_min: int | None = None  # yuan
    bounty_max: int | None = None
    deadline_from: date | None = None  # Asia/Shanghai dates, inclusive
    deadline_to: date | None = None
    sort: str = "relevance"
    page: int = 1

    def filters(self) -> Filters:
        def local_midnight(d: date) -> datetime:
            return from_local(datetime.combine(d, time.min))

        return Filters(
            industry=self.industry,
            category=self.category,
            state=self.state or [s.value for s in PUBLIC_STATES],
            bounty_min=self.bounty_min,
            bounty_max=self.bounty_max,
            deadline_after=local_midnight(self.deadline_from) if self.deadline_from else None,
            deadline_before=(local_midnight(self.deadline_to + timedelta(days=1))
                             - timedelta(microseconds=1)) if self.deadline_to else None,
        )

    def active_filters(self) -> list[str]:
        names = ("industry", "category", "state", "bounty_min", "bounty_max",
                 "deadline_from", "deadline_to")
        return [n for n in names if getattr(self, n) not in (None, "")]


@dataclass
class Facet:
    value: str
    label: str
    count: int


@dataclass
class ChallengeResult:
    challenge: Challenge
    score: float
    title: Markup
    snippet: Markup
    matched: list[str] = field(default_factory=list)


@dataclass
class SearchPage:
    results: list[ChallengeResult]
    total: int
    page: int
    pages: int
    facets: dict[str, list[Facet]]
    terms: list[str]
    # the index could not be read: these are the database's newest matches by title
    degraded: bool = False


def _label(name: str, value: str) -> str:
    enum_cls = {"industry": Industry, "category": Category, "state": ChallengeState}[name]
    try:
        return enum_cls(value).label
    except ValueError:
        return value


def _facets(counts: dict[str, dict[str, int]]) -> dict[str, list[Facet]]:
    return {
        name: [Facet(value, _label(name, value), n) for value, n in values.items()]
        for name, values in counts.items()
    }


# The texts a snippet is taken from, read only as far as a snippet looks
# (highlight.SCAN_CHARS): a document stored before the input limits then costs a
# results page no more than any other.
_SNIPPET_SOURCES = (Challenge.bottleneck, Challenge.background, Challenge.expected_outcome)


def _public_challenges(ids: Iterable[str]) -> dict[int, tuple[Challenge, str]]:
    """The rows behind index hits that are still public, with their snippet text, by id."""
    wanted = [int(i) for i in ids]
    if not wanted:
        return {}
    rows = db.session.execute(
        sa.select(Challenge, *(sa.func.substr(c, 1, SCAN_CHARS) for c in _SNIPPET_SOURCES))
        .options(*(defer(c) for c in _SNIPPET_SOURCES), joinedload(Challenge.organization))
        .where(Challenge.id.in_(wanted), Challenge.state.in_(PUBLIC_STATES))
    )
    return {row[0].id: (row[0], "\n".join(t for t in row[1:] if t)) for row in rows}


def _challenge_result(row: tuple[Challenge, str], score: float,
                      matched: list[str]) -> ChallengeResult:
    engine = get_engine()
    challenge, text = row
    return ChallengeResult(
        challenge=challenge, score=score, matched=matched,
        title=engine.highlight(challenge.title, matched),
        snippet=engine.highlight(text, matched, fragment=SNIPPET_CHARS),
    )


def search_challenges(params: SearchParams, *, pagesize: int = 20) -> SearchPage:
    """Public challenges for a typed query with filters, facets, sorting and pages.

    Odd input (unbalanced quotes, operators, symbols, very long text) is just
    text to the analyzer: it never raises.
    """
    q = (params.q or "")[:MAX_QUERY_CHARS]
    sort = params.sort if params.sort in SORTS else "relevance"
    page = min(max(1, params.page), MAX_PAGE)
    result = get_matcher().search(q, kind="challenge", filters=params.filters(), sort=sort,
                                  page=page, pagesize=pagesize)
    if result.degraded:
        return _search_without_index(q, params, page, pagesize)
    rows = _public_challenges(h.id for h in result.hits)
    results = [_challenge_result(rows[int(h.id)], h.score, h.matched)
               for h in result.hits if int(h.id) in rows]
    return SearchPage(results, result.total, page, result.pages, _facets(result.facets),
                      result.terms)


def _search_without_index(q: str, params: SearchParams, page: int,
                          pagesize: int) -> SearchPage:
    """While the index is rebuilt: public challenges whose title contains the query,
    under the same industry, category and state filters, newest first."""
    f = params.filters()
    query = sa.select(Challenge)
    for column, wanted in ((Challenge.industry, f.industry), (Challenge.category, f.category),
                           (Challenge.state, f.state)):
        if wanted:
            query = query.where(sa.cast(column, sa.String).in_(
                [wanted] if isinstance(wanted, str) else list(wanted)))
    query = query.where(Challenge.state.in_(PUBLIC_STATES))
    if q.strip():
        query = query.where(Challenge.title.contains(q.strip(), autoescape=True))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    ids = db.session.execute(query.with_only_columns(Challenge.id)
                             .order_by(Challenge.id.desc())
                             .offset((page - 1) * pagesize).limit(pagesize)).scalars().all()
    rows = _public_challenges(ids)  # bounded texts, as for indexed results
    results = [_challenge_result(rows[i], 0.0, []) for i in ids if i in rows]
    return SearchPage(results, total, page, max(1, -(-total // pagesize)), {}, [],
                      degraded=True)


def popular_industries(limit: int = 8) -> list[Facet]:
    """Industries with the most open challenges, for the page that found nothing."""
    result = get_matcher().search("", kind="challenge", filters=Filters(state="open"),
                                  pagesize=1)
    return _facets(result.facets).get("industry", [])[:limit]


# --------------------------------------------------------------------------- for institutes


def _minute(now: datetime) -> datetime:
    # whole minutes let the engine reuse its cached filter between requests
    return now.replace(second=0, microsecond=0)


def profile_query(organization: Organization | None, own_bids: Sequence[Bid] = (), *,
                  keywords: str = "") -> dict:
    """An organisation's interests as a query document: its keywords and the ``keywords``
    someone chose (a digest subscription's) weigh most, then its expertise, description
    and its own bids."""
    past = "\n".join(f"{b.title} {b.approach}" for b in own_bids)
    if organization is None:
        return {"title": keywords, "keywords": keywords, "body": past}
    chosen = " ".join(k for k in (keywords, organization.keywords) if k)
    return {
        "title": chosen,
        "keywords": chosen,
        "body": "\n".join([organization.expertise, organization.description, past]),
    }


def recommend_challenges(user, *, limit: int = 10,
                         now: datetime | None = None) -> list[ChallengeResult]:
    """Open challenges for the user's institute, from its profile and its own past bids.

    Challenges it has already bid on are left out. Empty for anyone but an
    institute member.
    """
    if user is None or not user.is_authenticated or user.role != Role.institute:
        return []
    organization = user.organization
    if organization is None:
        return []
    now = now or utcnow()
    own_bids = db.session.execute(
        sa.select(Bid).where(Bid.organization_id == organization.id)
        .order_by(Bid.id.desc()).limit(20)
    ).scalars().all()
    query = profile_query(organization, [b for b in own_bids if b.state != BidState.draft])
    if not any(str(v).strip() for v in query.values()):
        return []
    filters = Filters(state="open", deadline_after=_minute(now),
                      exclude_ids=[str(b.challenge_id) for b in own_bids])
    matcher = get_matcher()
    hits = matcher.rank(query, kind="challenge", filters=filters, limit=limit,
                        vector=matcher.stored_vector("institute", organization.id))
    rows = _public_challenges(h.id for h in hits)
    return [
        _challenge_result(rows[int(h.id)], h.score, h.matched)
        for h in hits
        if int(h.id) in rows and rows[int(h.id)][0].state == ChallengeState.open
        and not rows[int(h.id)][0].bidding_closed(now)
    ]


def invitations_for(user) -> list[Invitation]:
    """Invitations to the user's organisation, to challenges still public, newest first."""
    if user is None or not user.is_authenticated or user.organization_id is None:
        return []
    return list(db.session.execute(
        sa.select(Invitation).join(Challenge, Challenge.id == Invitation.challenge_id)
        .where(Invitation.organization_id == user.organization_id,
               Challenge.state.in_(PUBLIC_STATES))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    ).scalars())


# --------------------------------------------------------------------------- for enterprises


@dataclass
class Suggestion:
    organization: Organization
    score: float
    matched: list[str]
    invited: bool


def can_invite(challenge: Challenge, user, now: datetime | None = None) -> bool:
    """The challenge's own enterprise, while it is open for bids."""
    return (
        challenge.is_owned_by(user)
        and user.is_active
        and challenge.state == ChallengeState.open
        and not challenge.bidding_closed(now)
    )


def suggest_institutes(challenge: Challenge, user, *, limit: int = 8,
                       now: datetime | None = None) -> list[Suggestion]:
    """Verified institutes whose public profile matches the challenge, with the matched terms.

    Only for the challenge's enterprise while it may invite; empty otherwise. Institutes
    already working on a bid for it are left out: there is nothing to invite them to.
    """
    if not can_invite(challenge, user, now):
        return []
    doc = indexing.challenge_doc(challenge)
    if doc is None:
        return []
    bidding = _bidding_organizations(challenge)
    hits = [h for h in get_matcher().rank(doc, kind="institute",
                                          filters=Filters(state="verified"),
                                          limit=limit + len(bidding))
            if int(h.id) not in bidding][:limit]
    ids = [int(h.id) for h in hits]
    orgs = {o.id: o for o in db.session.execute(
        sa.select(Organization).where(Organization.id.in_(ids),
                                      Organization.kind == OrgKind.institute,
                                      Organization.verified_at.is_not(None))
    ).scalars()} if ids else {}
    invited = set(db.session.execute(
        sa.select(Invitation.organization_id).where(Invitation.challenge_id == challenge.id)
    ).scalars())
    return [
        Suggestion(orgs[int(h.id)], h.score, _origins(h.matched), int(h.id) in invited)
        for h in hits if int(h.id) in orgs
    ]


def _bidding_organizations(challenge: Challenge) -> set[int]:
    """Organisations with a bid (a draft or handed in) on the challenge."""
    return set(db.session.execute(
        sa.select(Bid.organization_id).where(Bid.challenge_id == challenge.id,
                                             Bid.state != BidState.withdrawn)
    ).scalars())


def _origins(matched: list[str], limit: int = 8) -> list[str]:
    """Matched terms for display: distinct, longest words first dropped of their parts."""
    shown: list[str] = []
    for term in matched:
        if any(term in other and term != other for other in matched):
            continue  # 模具 inside 注塑模具: show the whole word only
        if term not in shown:
            shown.append(term)
    return shown[:limit]


def invite_institute(challenge: Challenge, organization: Organization, user,
                     now: datetime | None = None) -> Invitation:
    """Invite an institute to bid; recorded in the audit trail, announced by a signal.

    :param challenge: an open challenge of the user's enterprise
    :param organization: a verified institute, not yet invited to this challenge
    :param user: the acting enterprise member
    """
    if not challenge.is_owned_by(user):
        raise PermissionDenied(str(_l("只有发榜企业可以邀请揭榜单位。")))
    if not can_invite(challenge, user, now):
        raise TransitionRefused(str(_l("榜单不在揭榜期内，不能邀请揭榜单位。")))
    if organization.kind != OrgKind.institute or not organization.is_verified:
        raise DomainError(str(_l("只能邀请已认证的高校或科研院所。")))
    already = str(_l("已邀请过该单位。"))
    exists = db.session.execute(
        sa.select(Invitation.id).where(Invitation.challenge_id == challenge.id,
                                       Invitation.organization_id == organization.id)
    ).scalar()
    if exists is not None:
        raise DomainError(already)
    if organization.id in _bidding_organizations(challenge):
        raise DomainError(str(_l("无需邀请该单位。")))
    with atomic(already):
        invitation = Invitation(challenge_id=challenge.id, organization_id=organization.id,
                                invited_by_id=user.id, created_at=now or utcnow())
        db.session.add(invitation)
        db.session.flush()
        record_event(actor=user, action="invite_institute", subject=invitation,
                     challenge_id=challenge.id, comment=organization.name)
        institute_invited.send(invitation, actor=user)
    return invitation


# --------------------------------------------------------------------------- ranking bids


@dataclass
class RankedBid:
    """A bid with its relevance to the challenge, the matched terms highlighted and, where
    its vectors say so, its sentences closest to the challenge (similarity.py)."""

    bid: Bid
    score: float
    matched: list[str]
    title: Markup
    snippet: Markup
    closest: list[ClosestSentence] = field(default_factory=list)


BID_SNIPPET_CHARS = 220


def rank_bids(challenge: Challenge, bids: Iterable[Bid]) -> list[RankedBid]:
    """``bids`` ordered by relevance to ``challenge`` (ties: earliest submitted first).

    Only the bids passed in are ranked or described: the caller decides who may
    see which bids (sealed until the deadline). A bid the index does not know
    yet scores 0 instead of disappearing.
    """
    bids = list(bids)
    if not bids:
        return []
    engine = get_engine()
    matcher = get_matcher()
    doc = indexing.challenge_doc(challenge)
    hits = {}
    vector = None
    if doc is not None:
        vector = matcher.doc_query_vector(doc)
        filters = Filters(challenge_id=str(challenge.id), ids=[str(b.id) for b in bids])
        other, against = _other_script(matcher, doc, vector, bids)
        hits = {int(h.id): h for h in matcher.rank(
            doc, kind="bid", filters=filters, limit=max(len(bids), 50), vector=vector,
            latent=True, other_script=other, reference=against)}
    closest = similarity.explain_bids(vector, bids, {i: h.matched for i, h in hits.items()})
    far_future = datetime.max.replace(tzinfo=UTC)

    def ranked(bid: Bid) -> RankedBid:
        hit = hits.get(bid.id)
        matched = hit.matched if hit else []
        text = "\n".join(t for t in (bid.approach, bid.prior_results) if t)
        return RankedBid(bid=bid, score=hit.score if hit else 0.0, matched=_origins(matched, 12),
                         title=engine.highlight(bid.title, matched),
                         snippet=engine.highlight(text, matched, fragment=BID_SNIPPET_CHARS),
                         closest=closest.get(bid.id, []))

    out = [ranked(b) for b in bids]
    out.sort(key=lambda r: (-r.score, r.bid.submitted_at or far_future, r.bid.id))
    return out


def _other_script(matcher, doc, vector,  # noqa: ANN001
                  bids: Sequence[Bid]) -> tuple[set[str], reference.Reference | None]:
    """The bids written in another script than the challenge (an English answer to a
    Chinese challenge), and the reference of challenges their meaning is scaled
    against (scripts.py, reference.py): the latest published ones."""
    if vector is None or not matcher.semantic:
        return set(), None
    latin = scripts.latin(embed_text(doc))
    other = {str(b.id) for b in bids
             if scripts.latin("\n".join((b.title, b.approach, b.prior_results))) != latin}
    if not other:
        return set(), None
    ids = [str(i) for i in db.session.scalars(
        sa.select(Challenge.id).where(Challenge.state.in_(PUBLIC_STATES))
        .order_by(Challenge.published_at.desc(), Challenge.id.desc())
        .limit(reference.REFERENCE_SIZE))]
    try:
        return other, reference.read(matcher.store, ids)
    except Exception:  # the ranking goes on unscaled
        log.exception("reading the reference challenges failed")
        return set(), None


