"""Which new challenges a subscription wants, and in what order.

A stop-gap: the matcher (bounty/matching, issue 3) will replace
:func:`rank_for_subscriber` with its index-backed relevance; everything else
in the digests calls only that function for the order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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


def profile_terms(subscription) -> list[str]:
    """The subscriber's profile: its organisation's terms."""
    return organization_terms(subscription.user.organization)


def rank_for_subscriber(challenges: Sequence, subscription) -> list:
    """Most relevant first: subscription keywords (title 3, keywords 2, body 1) plus the
    subscriber's profile terms (1 each in title or keywords); newest first on a tie."""
    keywords = split_keywords(subscription.keywords)
    profile = profile_terms(subscription)

    def score(challenge) -> int:
        title, words, body = challenge_text(challenge)
        total = 0
        for k in keywords:
            total += 3 * (k in title) + 2 * (k in words) + (k in body)
        for term in profile:
            total += term in title or term in words
        return total

    return sorted(challenges,
                  key=lambda c: (-score(c), -c.published_at.timestamp(), -c.id))
