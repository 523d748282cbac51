"""Latent terms without the model: storage, the meaning score, the Matcher using them
for a challenge's bids (and only when every bid has them), and upgrades queuing them."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from bounty.challenges.models import ChallengeState
from bounty.extensions import db
from bounty.matching import indexing
from bounty.matching.embedding import embed_doc, queue_stale
from bounty.matching.engine import Filters
from bounty.matching.fusion import MEANING
from bounty.matching.hybrid import Matcher
from bounty.matching.models import DocVector
from bounty.matching.terms import (
    WEIGHTS,
    Terms,
    meaning,
    pack_terms,
    strongest,
    term_scores,
    unpack_terms,
)
from bounty.matching.vectors import PASSAGE, QUERY, TERMS, MemoryVectorStore, embed_text, text_hash
from tests.factories import create_challenge


def terms(**weights: float) -> Terms:
    """Terms from feature number -> weight, e.g. ``terms(f3=1.0, f7=0.5)``."""
    ids = np.array([int(k[1:]) for k in weights], np.int64)
    return Terms(ids, np.array(list(weights.values()), np.float32))


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_terms_are_stored_as_feature_numbers_and_half_floats():
    t = strongest(np.array([5, 9, 300, 16383]), np.array([0.5, 1.25, 0.0, 0.75]))
    assert t.ids.tolist() == [5, 9, 16383]  # a zero weight is no feature
    back = unpack_terms(pack_terms(t), 16384)
    assert back.ids.tolist() == [5, 9, 16383]
    assert back.weights.tolist() == [0.5, 1.25, 0.75]
    assert strongest(np.arange(5), np.array([0.1, 0.5, 0.3, 0.9, 0.2]), limit=2).ids.tolist() \
        == [3, 1]
    assert unpack_terms(b"", 16384) is None
    assert unpack_terms(pack_terms(t)[:-1], 16384) is None  # truncated
    assert unpack_terms(pack_terms(t), 100) is None  # a feature beyond the space
    zero = Terms(np.array([1]), np.array([0.0], np.float32))
    assert unpack_terms(pack_terms(zero), 16384) is None


def test_terms_cosine_and_coverage():
    challenge = terms(f1=1.0, f2=1.0, f3=1.0, f4=1.0)
    scores = term_scores(challenge, {
        "same": terms(f1=1.0, f2=1.0, f3=1.0, f4=1.0),
        "half": terms(f1=1.0, f2=1.0),
        "half_and_more": terms(f1=1.0, f2=1.0, f8=1.0, f9=1.0),
        "weak": terms(f1=0.25, f2=0.25, f3=0.25, f4=0.25),
        "other": terms(f8=1.0),
        "empty": Terms(np.zeros(0, np.int64), np.zeros(0, np.float32)),
    })
    assert scores["same"] == pytest.approx((1.0, 1.0))
    assert scores["half"] == pytest.approx((2 / (2 * 1.4142135), 0.5))
    assert scores["half_and_more"] == pytest.approx((0.5, 0.5))  # more is not less covered
    assert scores["weak"] == pytest.approx((1.0, 0.25))  # same direction, a quarter the weight
    assert scores["other"] == (0.0, 0.0) and scores["empty"] == (0.0, 0.0)


def test_meaning_lets_the_terms_reorder_close_cosines_and_needs_them_everywhere():
    challenge = terms(f1=1.0, f2=1.0, f3=1.0)
    dense = {"paraphrase": 0.90, "stuffer": 0.94}
    docs = {"paraphrase": terms(f1=1.0, f2=1.0, f3=0.8, f5=0.5), "stuffer": terms(f1=1.0, f7=1.0)}
    scored = meaning(dense, challenge, docs)
    assert scored["paraphrase"] > scored["stuffer"]
    cos, cover = term_scores(challenge, {"s": docs["stuffer"]})["s"]
    a, b, c = WEIGHTS
    assert scored["stuffer"] == pytest.approx((a * 0.94 + b * cos + c * cover) / (a + b + c))
    assert meaning(dense, challenge, {"paraphrase": docs["paraphrase"]}) is None
    assert meaning(dense, None, docs) is None
    assert meaning({}, challenge, docs) is None


class FakeEmbedder:
    key = "fake@1"
    dim = 3
    terms_dim = 16

    def __init__(self) -> None:
        self.term_calls: list[tuple[str, bool]] = []

    def embed_queries(self, texts):  # noqa: ANN001, ANN201
        return np.stack([unit(1, 0, 0) for _ in texts])

    def embed_passages(self, texts):  # noqa: ANN001, ANN201
        return np.stack([unit(1, 0, 0) for _ in texts])

    def embed_terms(self, texts, *, for_query=False):  # noqa: ANN001, ANN201
        self.term_calls.extend((t, for_query) for t in texts)
        return [terms(f1=1.0, f2=1.0, f3=1.0) for _ in texts]


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def rank(self, query, *, kind, filters=None, limit=50, dense=None, **options):  # noqa: ANN001, ANN201
        self.calls.append({"dense": dict(dense or {}), **options})
        return []


@pytest.fixture
def bids_store():
    store = MemoryVectorStore(FakeEmbedder.key)
    store.put("bid", "1", PASSAGE, unit(1, 0.30, 0))  # cosine 0.958
    store.put("bid", "2", PASSAGE, unit(1, 0.25, 0))  # cosine 0.970
    store.put_terms("bid", "1", terms(f1=1.0, f2=1.0, f3=1.0))
    store.put_terms("bid", "2", terms(f1=1.0, f9=1.0))
    return store


def test_a_challenge_ranks_its_bids_by_meaning(bids_store):
    engine, embedder = FakeEngine(), FakeEmbedder()
    matcher = Matcher(engine, bids_store, embedder)
    challenge = {"kind": "challenge", "id": 7, "title": "焊接", "body": "激光焊接"}
    matcher.rank(challenge, kind="bid", filters=Filters(ids=["1", "2"]),
                 vector=unit(1, 0, 0), latent=True)
    call = engine.calls[-1]
    assert call["fusion"] is MEANING
    assert call["dense"]["1"] > call["dense"]["2"]  # lower cosine, the challenge's terms
    # the challenge had no stored terms: computed on the query model, then cached
    assert embedder.term_calls == [(embed_text(challenge), True)]
    matcher.rank(challenge, kind="bid", filters=Filters(ids=["1", "2"]),
                 vector=unit(1, 0, 0), latent=True)
    assert len(embedder.term_calls) == 1

    # stored and current: read, not computed
    bids_store.put_terms("challenge", "8", terms(f1=1.0), text_hash(embed_text(
        {**challenge, "id": 8})))
    matcher.rank({**challenge, "id": 8}, kind="bid", filters=Filters(ids=["1", "2"]),
                 vector=unit(1, 0, 0), latent=True)
    assert len(embedder.term_calls) == 1

    # without latent=True (recommendations, institutes): cosines as before
    matcher.rank(challenge, kind="bid", filters=Filters(ids=["1", "2"]), vector=unit(1, 0, 0))
    assert "fusion" not in engine.calls[-1]
    assert engine.calls[-1]["dense"]["2"] > engine.calls[-1]["dense"]["1"]


def test_bids_are_ranked_by_cosine_while_one_has_no_terms(bids_store):
    engine = FakeEngine()
    bids_store.put("bid", "3", PASSAGE, unit(1, 0.2, 0))  # its worker job not done yet
    matcher = Matcher(engine, bids_store, FakeEmbedder())
    matcher.rank({"kind": "challenge", "id": 7, "title": "焊接", "body": "激光焊接"},
                 kind="bid", filters=Filters(ids=["1", "2", "3"]), vector=unit(1, 0, 0),
                 latent=True)
    call = engine.calls[-1]
    assert "fusion" not in call
    assert call["dense"] == pytest.approx({"1": 0.958, "2": 0.970, "3": 0.981}, abs=1e-3)


def test_a_failing_terms_store_leaves_the_cosines(bids_store, monkeypatch, caplog):
    engine = FakeEngine()
    matcher = Matcher(engine, bids_store, FakeEmbedder())

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("disk gone")

    monkeypatch.setattr(bids_store, "terms", broken)
    matcher.rank({"kind": "challenge", "id": 7, "title": "焊接", "body": "激光焊接"},
                 kind="bid", filters=Filters(ids=["1", "2"]), vector=unit(1, 0, 0),
                 latent=True)
    assert "fusion" not in engine.calls[-1]
    assert "ranking by the cosine" in caplog.text


def test_vectors_from_before_latent_terms_are_queued_again(app):
    challenge = create_challenge(state=ChallengeState.open)
    doc = indexing.challenge_doc(challenge)
    digest = text_hash(embed_text(doc))
    embedder = FakeEmbedder()
    for role in (PASSAGE, QUERY):  # what the worker stored before terms existed
        db.session.add(DocVector(kind="challenge", doc_id=str(challenge.id), role=role,
                                 model=embedder.key, text_hash=digest, dim=3,
                                 vector=b"\0" * 6))
    db.session.commit()
    hashes = [("challenge", str(challenge.id), digest)]
    embedder.terms_dim = 0  # a model without a sparse head: nothing is missing
    assert queue_stale(db.session, embedder, hashes) == 0
    embedder.terms_dim = 16
    assert queue_stale(db.session, embedder, hashes) == 1
    db.session.rollback()

    existing = {(r.kind, r.doc_id, r.role): r for r in db.session.scalars(sa.select(DocVector))}
    counts = embed_doc(db.session, embedder, doc, existing)
    assert (counts.embedded, counts.current) == (1, 2)  # only the terms were computed
    db.session.commit()
    row = db.session.scalar(sa.select(DocVector).where(DocVector.role == TERMS))
    assert row.dim == 16 and row.text_hash == digest
    assert unpack_terms(row.vector, row.dim).ids.tolist() == [1, 2, 3]
    assert queue_stale(db.session, embedder, hashes) == 0
