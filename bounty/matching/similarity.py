"""Semantic evidence for reviewers: why a bid matches, 相似榜单 and 方案雷同.

Three services over the stored vectors (vectors.py); each answers ``None`` or nothing when
the app has no embedder or the vectors are not there yet, so a page without them renders
as before, without the section.

**Why a bid matches** (:func:`explain_bids`, shown on the evaluation page under each
ranked bid). A bid's stored sentence vectors are scored against the challenge's query
vector. A bid shows its closest sentences, labelled 语义最接近的句子, when its best one
reaches ``EXPLAIN_FLOOR``; then the sentences within ``EXPLAIN_BAND`` of it, at most
``EXPLAIN_SENTENCES``. The rule is the same for every bid, whatever its matched terms,
so a reviewer compares like with like, and a bid with no such sentence shows none: the
words a bid shares with the challenge and the sentence that answers it are different
evidence, and a distractor often has the words without the sentence. The floor was
chosen on full-length texts, as on the page: on ``tests/data/bid-copies`` (60 bids, each
scored against its own challenge and the 11 others) 0.905 shows sentences for 92% of
bids on their own challenge and 2.3% on another; 0.915, the best cut on the short texts
of ``tests/data/challenge-bids``, showed them for only 58% there, because sentences of a
long challenge's query score lower. On challenge-bids at 0.905: 98% of bids judged to
answer (grade 3), 90% of strong partial answers (2), 44% of related bids (1) and 20% of
same-industry distractors (0) show sentences — a distractor's closest sentence is shown
with its similarity and is plainly about something else. Only the bid's proposal is used
(approach, prior results, milestones), never its lab or team lines, which blind review
hides.

**相似榜单** (:func:`similar_challenges`, on a challenge in 审题 for its enterprise and
for reviewers). The challenge's query vector — stored, or its text embedded on the spot
(one query embedding on that request, a fraction of a second) — against the resident
matrix of challenge passage vectors. Candidates at or above ``SIMILAR_MIN`` are re-read
from the database and kept only if they are public and open or published within
``SIMILAR_RECENT`` (any enterprise), or the same enterprise's own challenges in review.
On ``tests/data/similar-challenges`` (48 challenges; 16 duplicate needs of two
enterprises, 32 related and 20 different pairs, each scored in both directions) 0.93
gives precision 0.91 and recall 0.91 over the labelled pairs, and over every ordered
pair of the 48 (2,256) three false alarms, all of them related challenges of the same
product. It is the best F1 of the sweep; 0.9325 would show no false alarm but miss 16%
of the duplicates, and sits right on this small set's edge.

**方案雷同** (:func:`bid_copies`, reviewers only, after the deadline). For each pair of
a challenge's bids, the share of one bid's proposal text (by characters) in sentences
whose closest sentence in the other bid has similarity ≥ ``COPY_SENTENCE_MIN``, taking
the larger of the two directions (a copier may add text of its own). Sentences that
quote the challenge itself are left out of both sides. A pair is flagged at
``COPY_SHARE_MIN`` with at least ``COPY_MIN_CHARS`` such characters. On
``tests/data/bid-copies`` (12 challenges, 84 pairs: 12 lightly edited copies, 12
paraphrased copies, 60 independent answers, many on the same technical route) 0.45
flags 24 of 24 copies and 0 of 60 independent answers; the independent answers reach
at most 0.37 and the paraphrases no less than 0.52, and 0.45 sits in the middle of that
gap. Exact shared character runs and the share of shared 8-character n-grams
(``verbatim``; copies 0.42–0.71, the rest at most 0.10) are shown beside it, not used to
flag. ``COPY_SENTENCE_MIN`` was chosen on the same set: with 0.93 independent answers on
one technical route reach a share of 0.80 and the paraphrases start at 0.83; with 0.97 a
paraphrase falls to 0; 0.95 leaves the gap above.

``bounty match pairs-eval DIR`` recomputes these figures (pair_eval.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations

import numpy as np
import sqlalchemy as sa
from markupsafe import Markup

from ..challenges.models import PUBLIC_STATES, Bid, BidState, Challenge, ChallengeState
from ..challenges.services import can_evaluate_bids, can_view_bid
from ..extensions import db
from ..timeutil import utcnow
from . import get_engine, get_matcher, indexing
from .vectors import Sentences

log = logging.getLogger(__name__)

EXPLAIN_FLOOR = 0.905
EXPLAIN_BAND = 0.02
EXPLAIN_SENTENCES = 2

SIMILAR_MIN = 0.93
SIMILAR_RECENT = timedelta(days=365)
SIMILAR_CANDIDATES = 50
SIMILAR_LIMIT = 8
REVIEW_STATES = frozenset({ChallengeState.vetting, ChallengeState.returned})

COPY_SENTENCE_MIN = 0.95
COPY_SHARE_MIN = 0.45
COPY_MIN_CHARS = 40
COPY_PAIRS_SHOWN = 6
QUOTE_SHARE = 0.5  # a sentence with half its n-grams in the challenge quotes it
NGRAM = 8
RUN_MIN_CHARS = 12
RUNS_SHOWN = 5
_NOT_TEXT = re.compile(r"[\W_]+")
_LEADING_PUNCTUATION = "，。；、：！？）】」,.;:!?)]"


# --------------------------------------------------------------------------- text


def bid_content(bid: Bid) -> str:
    """The proposal a bid's sentences are compared on: approach, prior results and
    milestones as the index writes them (indexing.bid_doc); not its lab or team."""
    milestones = "；".join(f"{m.name} {m.deliverable}" for m in bid.milestones)
    return "\n".join([bid.approach, bid.prior_results, milestones])


def challenge_text(challenge: Challenge) -> str:
    indicators = "；".join(f"{i.name} {i.target}{i.unit}" for i in challenge.indicators)
    return "\n".join([challenge.title, challenge.keywords, challenge.bottleneck, indicators,
                      challenge.background, challenge.expected_outcome])


def content_sentences(stored: Sentences | None, content: str) -> Sentences | None:
    """The stored sentences still found in ``content`` (drops lab and team lines, and
    sentences of an older text whose vectors are not yet recomputed)."""
    if stored is None:
        return None
    keep = [i for i, s in enumerate(stored.texts) if s and s in content]
    if not keep:
        return None
    return Sentences([stored.texts[i] for i in keep], stored.vectors[keep])


def ngrams(text: str, n: int = NGRAM) -> set[str]:
    """Character n-grams of ``text`` without spaces and punctuation."""
    text = _NOT_TEXT.sub("", text or "")
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def quotes(sentence: str, source_grams: set[str]) -> bool:
    """Whether ``sentence`` is mostly a verbatim quote of the source."""
    grams = ngrams(sentence)
    return bool(grams) and len(grams & source_grams) >= QUOTE_SHARE * len(grams)


# --------------------------------------------------------------------------- explanations


@dataclass
class ClosestSentence:
    """One sentence of a bid close to the challenge, highlighted and escaped."""

    text: str
    similarity: float
    html: Markup


def closest(sentences: Sentences, vector: np.ndarray) -> list[tuple[str, float]]:
    """The sentences to show for one bid (see the module docstring), best first."""
    if not len(sentences.texts):
        return []
    sims = sentences.vectors @ vector
    order = np.argsort(-sims, kind="stable")
    best = float(sims[order[0]])
    if best < EXPLAIN_FLOOR:
        return []
    low = max(EXPLAIN_FLOOR, best - EXPLAIN_BAND)
    return [(sentences.texts[i], float(sims[i])) for i in order[:EXPLAIN_SENTENCES]
            if sims[i] >= low]


def explain_bids(vector: np.ndarray | None, bids: Sequence[Bid],
                 matched: Mapping[int, Iterable[str]]) -> dict[int, list[ClosestSentence]]:
    """Each bid's sentences closest to the challenge's query ``vector``, with the bid's
    ``matched`` terms in ``<mark>``; bids without stored sentences are left out.

    Describes only the bids passed in: the caller decides who may see which bids.
    """
    matcher = get_matcher()
    if vector is None or not matcher.semantic or not bids:
        return {}
    try:
        stored = matcher.store.sentences("bid", [str(b.id) for b in bids])
    except Exception:
        log.exception("reading sentence vectors failed; no explanations")
        return {}
    engine = get_engine()
    out: dict[int, list[ClosestSentence]] = {}
    for bid in bids:
        sentences = content_sentences(stored.get(str(bid.id)), bid_content(bid))
        if sentences is None:
            continue
        terms = list(matched.get(bid.id, ()))
        shown = [ClosestSentence(text, sim, engine.highlight(text, terms))
                 for text, sim in closest(sentences, vector)]
        if shown:
            out[bid.id] = shown
    return out


# --------------------------------------------------------------------------- 相似榜单


@dataclass
class SimilarChallenge:
    challenge: Challenge
    similarity: float
    own: bool  # the same enterprise's


@dataclass
class SimilarChallenges:
    """What the 相似榜单 section shows (``items`` may be empty: nothing that similar)."""

    items: list[SimilarChallenge]
    threshold: float = SIMILAR_MIN


def can_view_similar_challenges(challenge: Challenge, user) -> bool:
    """A challenge in 审题 (or returned for revision): its enterprise and reviewers."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if challenge.state not in REVIEW_STATES:
        return False
    return challenge.is_owned_by(user) or user.can_review()


def similar_challenges(challenge: Challenge, user, *, now: datetime | None = None,
                       limit: int = SIMILAR_LIMIT) -> SimilarChallenges | None:
    """Challenges very similar to ``challenge``, most similar first, so duplicate needs
    can be merged into one call.

    Other enterprises' challenges only while public and open or published within
    ``SIMILAR_RECENT``; the enterprise's own also while in review. ``None`` when the
    user may not see the section or there is no vector to compare with.
    """
    if not can_view_similar_challenges(challenge, user):
        return None
    matcher = get_matcher()
    if not matcher.semantic:
        return None
    doc = indexing.challenge_doc(challenge, indexing.EMBEDDED_STATES)
    vector = matcher.doc_query_vector(doc) if doc is not None else None
    if vector is None:
        return None
    near = matcher.dense("challenge", vector, k=SIMILAR_CANDIDATES)
    scores = {int(i): s for i, s in near.items()
              if s >= SIMILAR_MIN and int(i) != challenge.id}
    if not scores:
        return SimilarChallenges([])
    since = (now or utcnow()) - SIMILAR_RECENT
    current = sa.or_(Challenge.state == ChallengeState.open, Challenge.published_at >= since)
    public = sa.and_(Challenge.state.in_(PUBLIC_STATES), current)
    own_in_review = sa.and_(Challenge.organization_id == challenge.organization_id,
                            Challenge.state.in_(REVIEW_STATES))
    rows = db.session.execute(sa.select(Challenge).where(
        Challenge.id.in_(list(scores)), sa.or_(public, own_in_review))).scalars()
    items = [SimilarChallenge(c, scores[c.id], c.organization_id == challenge.organization_id)
             for c in rows]
    items.sort(key=lambda s: (-s.similarity, s.challenge.id))
    return SimilarChallenges(items[:limit])


# --------------------------------------------------------------------------- 方案雷同


@dataclass
class SentencePair:
    a: str
    b: str
    similarity: float


@dataclass
class CopyScore:
    """How much of one bid's proposal the other says again (see the module docstring)."""

    share: float  # the larger direction: characters in near-identical sentences / all
    chars: int  # characters in near-identical sentences, in that direction
    pairs: list[SentencePair] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.share >= COPY_SHARE_MIN and self.chars >= COPY_MIN_CHARS


def copy_score(a: Sentences, b: Sentences, source_grams: set[str] = frozenset()) -> CopyScore:
    """Score two bids' sentences; sentences quoting the challenge (``source_grams``, its
    n-grams) count on neither side."""
    keep_a = [i for i, s in enumerate(a.texts) if not quotes(s, source_grams)]
    keep_b = [j for j, s in enumerate(b.texts) if not quotes(s, source_grams)]
    if not keep_a or not keep_b:
        return CopyScore(0.0, 0)
    sims = a.vectors[keep_a] @ b.vectors[keep_b].T
    len_a = np.array([len(a.texts[i]) for i in keep_a], dtype=float)
    len_b = np.array([len(b.texts[j]) for j in keep_b], dtype=float)
    near_a = sims.max(axis=1) >= COPY_SENTENCE_MIN
    near_b = sims.max(axis=0) >= COPY_SENTENCE_MIN
    shares = [(float(len_a[near_a].sum() / len_a.sum()), int(len_a[near_a].sum())),
              (float(len_b[near_b].sum() / len_b.sum()), int(len_b[near_b].sum()))]
    share, chars = max(shares)
    pairs: dict[tuple[int, int], float] = {}
    for r, i in enumerate(keep_a):
        c = int(sims[r].argmax())
        if sims[r, c] >= COPY_SENTENCE_MIN:
            pairs[(i, keep_b[c])] = float(sims[r, c])
    for c, j in enumerate(keep_b):
        r = int(sims[:, c].argmax())
        if sims[r, c] >= COPY_SENTENCE_MIN:
            pairs[(keep_a[r], j)] = float(sims[r, c])
    # the most telling first: near-identical, then the longest (not a short milestone line)
    shown = sorted(pairs.items(), key=lambda p: (-round(p[1], 2), -len(a.texts[p[0][0]]),
                                                 p[0]))[:COPY_PAIRS_SHOWN]
    return CopyScore(share, chars, [SentencePair(a.texts[i], b.texts[j], s)
                                    for (i, j), s in shown])


def verbatim_share(a: str, b: str, source_grams: set[str] = frozenset()) -> float:
    """Share of the n-grams of the more contained text found in the other (the
    challenge's own n-grams left out)."""
    ga, gb = ngrams(a) - source_grams, ngrams(b) - source_grams
    if not ga or not gb:
        return 0.0
    shared = len(ga & gb)
    return max(shared / len(ga), shared / len(gb))


def shared_runs(a: str, b: str, source: str = "", *, min_chars: int = RUN_MIN_CHARS,
                limit: int = RUNS_SHOWN) -> list[str]:
    """The longest character runs of ``a`` found verbatim in ``b`` (not in ``source``)."""
    runs: list[str] = []
    i = 0
    while i <= len(a) - min_chars:
        if a[i:i + min_chars] not in b:
            i += 1
            continue
        j = i + min_chars
        while j < len(a) and a[i:j + 1] in b:
            j += 1
        run = _whole_tokens(a, i, j)
        if len(run) >= min_chars and run not in source:
            runs.append(run)
        i = j
    return sorted(runs, key=lambda r: (-len(r), r))[:limit]


def _whole_tokens(text: str, start: int, end: int) -> str:
    """``text[start:end]`` without a number or Latin word cut at either end (200MS/s and
    100MS/s share "00MS/s") and without leading punctuation."""
    def token(i: int) -> bool:
        return text[i].isascii() and not text[i].isspace()

    while start < end and 0 < start and token(start) and token(start - 1):
        start += 1
    while end > start and end < len(text) and token(end - 1) and token(end):
        end -= 1
    return text[start:end].strip().lstrip(_LEADING_PUNCTUATION).strip()


@dataclass
class BidCopy:
    """Two bids of one challenge whose proposals are suspiciously alike (``a`` submitted
    first)."""

    a: Bid
    b: Bid
    score: CopyScore
    verbatim: float
    runs: list[str]


@dataclass
class CopyCheck:
    """The 方案雷同 section: flagged pairs, how many bids were compared, how many wait
    for their vectors."""

    pairs: list[BidCopy]
    compared: int
    pending: int
    threshold: float = COPY_SHARE_MIN


def can_view_bid_copies(challenge: Challenge, user, now: datetime | None = None) -> bool:
    """Reviewers who may see all of the challenge's bids: after the deadline only."""
    return (can_evaluate_bids(challenge, user, now) and user.can_review())


def bid_copies(challenge: Challenge, user, now: datetime | None = None) -> CopyCheck | None:
    """Pairs of the challenge's submitted bids that read as copies of each other.

    ``None`` for anyone but a reviewer after the deadline, and without an embedder.
    """
    if not can_view_bid_copies(challenge, user, now):
        return None
    matcher = get_matcher()
    if not matcher.semantic:
        return None
    bids = sorted((b for b in challenge.bids if b.state == BidState.submitted
                   and can_view_bid(b, user, now)),
                  key=lambda b: (b.submitted_at or challenge.bid_deadline, b.id))
    try:
        stored = matcher.store.sentences("bid", [str(b.id) for b in bids]) if bids else {}
    except Exception:
        log.exception("reading sentence vectors failed; no 方案雷同 check")
        return None
    source = challenge_text(challenge)
    source_grams = ngrams(source)
    ready = []
    for bid in bids:
        content = bid_content(bid)
        sentences = content_sentences(stored.get(str(bid.id)), content)
        if sentences is not None:
            ready.append((bid, content, sentences))
    flagged = []
    for (a, text_a, sents_a), (b, text_b, sents_b) in combinations(ready, 2):
        score = copy_score(sents_a, sents_b, source_grams)
        if score.flagged:
            flagged.append(BidCopy(a, b, score, verbatim_share(text_a, text_b, source_grams),
                                   shared_runs(text_a, text_b, source)))
    flagged.sort(key=lambda p: (-p.score.share, p.a.id, p.b.id))
    return CopyCheck(flagged, len(ready), len(bids) - len(ready))
