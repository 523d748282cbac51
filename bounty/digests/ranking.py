"""Which new challenges a subscription wants, and in what order.

The order is the matcher's (bounty/matching): everything else in the digests
calls only :func:`rank_for_subscriber` for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import attrgetter

from ..matching import Filters, get_engine, get_matcher
from ..matching.services import profile_query

_NEWEST = attrgetter("published_at", "id")
_SPLIT = re.compile(r"[\s,，、;；/|]+")
_text_cache: dict[tuple[int, int], tuple[str, str, str]] = {}


def split_keywords(text: str | None) -> list[str]:
    """Keywords as typed ("注塑, 模温 PID"): lower-cased, unique, in order."""
    return list(dict.fromkeys(w for w in _SPLIT.split((text or "").lower()) if w))


def challenge_text(challenge) -> tuple[str, str, str]:
    """(title, keywords, body), lower-cased; cached per challenge version, which any edit bumps."""
    key = (challenge.id, challenge.version)
    cached = _text_cache.get(key)
    if cached is None:
        if len(_text_cache) > 20_000:
            _text_cache.clear()
        body = " ".join((challenge.bottleneck or "", challenge.background or "",
                         challenge.expected_outcome or ""))
        cached = _text_cache[key] = (challenge.title.lower(), (challenge.keywords or "").lower(),
                                     body.lower())
    return cached


def matching(candidates: Sequence, subscription, *, since=None,
             exclude: frozenset[int] = frozenset()) -> list:
    """The candidates the subscription wants: industries and categories (empty = all),
    minimum bounty, at least one keyword when keywords are given, never one's own
    organisation's challenges; published after ``since`` and not in ``exclude``.

    Reads the subscription once, then loops over plain values: it runs for every
    subscriber against every new challenge (10,000 × 500 in the benchmark).
    """
    industries = frozenset(subscription.industries or ())
    categories = frozenset(subscription.categories or ())
    min_bounty = subscription.min_bounty_yuan or 0
    own = subscription.user.organization_id
    keywords = split_keywords(subscription.keywords)
    chosen = []
    for c in candidates:
        if (since is not None and c.published_at <= since) or c.id in exclude \
                or c.bounty_yuan < min_bounty or c.organization_id == own \
                or (industries and c.industry not in industries) \
                or (categories and c.category not in categories):
            continue
        if keywords:
            title, words, body = challenge_text(c)
            if not any(k in title or k in words or k in body for k in keywords):
                continue
        chosen.append(c)
    return chosen


def organization_terms(organization, limit: int = 12) -> list[str]:
    """What an organisation is good at: its keywords, else short phrases of its expertise."""
    if organization is None:
        return []
    words = split_keywords(organization.keywords)
    if not words:
        words = [w for w in split_keywords(re.sub(r"[。．.；;：:（）()]", " ",
                                                  organization.expertise or ""))
                 if 2 <= len(w) <= 12]
    return words[:limit]


def rank_for_subscriber(challenges: Sequence, subscription, *, limit: int | None = None) -> list:
    """Most relevant first, newest first on a tie.

    Relevance is the matcher's: the subscriber's profile query (the subscription's
    keywords with its organisation's keywords and expertise, as for 为您推荐) ranked by
    the engine over these candidates only, in one query. Challenges the index lacks
    (or scores 0) follow, newest first.

    :param limit: rank only this many by relevance (a digest shows no more); the rest
        follow newest first.
    """
    # newest first, then the engine's hits move up in their order (a stable sort)
    by_newest = sorted(challenges, key=_NEWEST, reverse=True)
    engine = get_engine()
    query = profile_query(subscription.user.organization, keywords=subscription.keywords or "")
    if engine is None or not by_newest or not any(v.strip() for v in query.values()):
        return by_newest
    organization = subscription.user.organization
    matcher = get_matcher()
    # the organisation's stored profile vector: embedding 10,000 profiles on every run
    # would cost minutes; the subscription's own keywords already select the candidates
    vector = matcher.stored_vector("institute", organization.id) if organization else None
    hits = matcher.rank(query, kind="challenge",
                        filters=Filters(ids=[str(c.id) for c in by_newest]),
                        limit=min(limit or len(by_newest), len(by_newest)), vector=vector)
    scores = {int(h.id): h.score for h in hits}
    ranked = [c for c in by_newest if c.id in scores]
    ranked.sort(key=lambda c: -scores[c.id])
    return ranked + [c for c in by_newest if c.id not in scores]
