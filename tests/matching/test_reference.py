"""The reference of challenges a bid's meaning is read against (reference.py), without
the model: its rows, which rows are rivals, and a bid losing its shortfall to a rival."""

from __future__ import annotations

import numpy as np
import pytest

from bounty.matching import reference as ref
from bounty.matching.engine import Filters
from bounty.matching.hybrid import Matcher
from bounty.matching.reference import Reference, meanings, outranked
from bounty.matching.terms import Terms, meaning
from bounty.matching.vectors import PASSAGE, MemoryVectorStore
from tests.matching.test_terms import FakeEmbedder, FakeEngine, terms, unit


def test_a_row_is_the_meaning_with_each_reference_challenge():
    reference = Reference(np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(1, 1, 0)]),
                          [terms(f1=1.0, f2=0.5), terms(f3=1.0), terms(f1=0.2, f3=0.4)])
    vector, doc_terms = unit(1, 0.5, 0), terms(f1=1.0, f3=0.5)
    row = meanings(reference, vector, doc_terms)
    each = [meaning({"d": float(v @ vector)}, t, {"d": doc_terms})["d"]
            for v, t in zip(reference.vectors, reference.terms, strict=True)]
    assert row == pytest.approx(each, abs=1e-6)


def test_terms_beyond_the_reference_features_are_ignored():
    reference = Reference(np.stack([unit(1, 0, 0)]), [terms(f1=1.0)])
    far = Terms(np.array([1, 40_000], np.int64), np.array([1.0, 2.0], np.float32))
    assert np.isfinite(meanings(reference, unit(1, 0, 0), far)).all()


def test_rivals_are_neither_the_challenge_nor_its_duplicates():
    own, duplicate, other = unit(1, 0, 0), unit(1, 0.2, 0), unit(0, 1, 0)
    reference = Reference(np.stack([own, duplicate, other]),
                          [terms(f1=1.0), terms(f1=1.0), terms(f2=1.0)],
                          passages=np.stack([own, duplicate, other]))
    assert float(duplicate @ own) >= ref.SIMILAR_MIN
    assert reference.rivals(own).tolist() == [False, False, True]
    # without passage vectors nothing is told a duplicate; the challenge itself still is
    bare = Reference(reference.vectors, reference.terms)
    assert bare.rivals(own).tolist() == [False, True, True]
    assert not bare.rivals(None).any()


def test_a_bid_loses_its_shortfall_to_its_best_rival():
    rivals = np.array([False, True, True])
    rows = {"answer": np.array([0.70, 0.50, 0.40]), "elsewhere": np.array([0.65, 0.85, 0.40])}
    out = outranked({"answer": 0.70, "elsewhere": 0.65}, rows, rivals)
    assert out["answer"] == 0.70  # no rival means more to it
    assert out["elsewhere"] == pytest.approx(0.65 - ref.RIVAL_WEIGHT * 0.20)
    # no rival at all, or no row: nothing changes
    assert outranked({"elsewhere": 0.65}, rows, np.zeros(3, bool)) == {"elsewhere": 0.65}
    assert outranked({"new": 0.5}, rows, rivals) == {"new": 0.5}


@pytest.fixture
def store():
    store = MemoryVectorStore(FakeEmbedder.key)
    for doc_id, vector, doc_terms in [
        # answers the challenge, a little less close than the other bid
        ("answer", unit(1, 0.35, 0), terms(f1=1.0, f2=1.0)),
        # closer to the challenge by the model, closer still to another challenge
        ("elsewhere", unit(1, 0, 0.45), terms(f1=1.0, f2=1.0, f3=1.0, f4=2.0, f5=2.0)),
    ]:
        store.put("bid", doc_id, PASSAGE, vector)
        store.put_terms("bid", doc_id, doc_terms)
    return store


def test_the_matcher_ranks_below_a_bid_that_answers_a_rival_challenge(store):
    engine = FakeEngine()
    matcher = Matcher(engine, store, FakeEmbedder())
    challenge = {"kind": "challenge", "id": 7, "title": "焊接", "body": "激光焊接"}
    ids = Filters(ids=["answer", "elsewhere"])
    # this challenge, then one whose need is what "elsewhere" answers
    need = terms(f1=1.0, f2=1.0, f3=1.0, f4=2.0, f5=2.0)
    rival = Reference(np.stack([unit(1, 0, 0), unit(1, 0, 0.45)]),
                      [terms(f1=1.0, f2=1.0, f3=1.0), need],
                      passages=np.stack([unit(1, 0, 0), unit(1, 0, 0.45)]))
    matcher.rank(challenge, kind="bid", filters=ids, vector=unit(1, 0, 0), latent=True)
    plain = engine.calls[-1]["dense"]
    assert plain["elsewhere"] > plain["answer"]
    matcher.rank(challenge, kind="bid", filters=ids, vector=unit(1, 0, 0), latent=True,
                 reference=rival)
    read = engine.calls[-1]["dense"]
    assert read["answer"] == plain["answer"]
    assert read["answer"] > read["elsewhere"]
    # the same challenge, a duplicate of this one's need: no rival, nothing changes
    duplicate = Reference(rival.vectors, rival.terms,
                          passages=np.stack([unit(1, 0, 0), unit(1, 0.1, 0)]))
    matcher.rank(challenge, kind="bid", filters=ids, vector=unit(1, 0, 0), latent=True,
                 reference=duplicate)
    assert engine.calls[-1]["dense"] == plain


def test_a_reference_is_read_from_the_store_and_kept_while_nothing_changes():
    store = MemoryVectorStore(FakeEmbedder.key)
    for i, v in [("1", unit(1, 0, 0)), ("2", unit(0, 0, 1)), ("3", unit(1, 1, 0))]:
        store.put("challenge", i, "query", v)
        store.put("challenge", i, PASSAGE, v)
        store.put_terms("challenge", i, terms(f4=1.0))
    store.put("challenge", "4", "query", unit(1, 0, 1))  # no terms yet: left out
    made = ref.read(store, ["1", "2", "3", "4"])
    assert len(made) == 3
    # challenge 1 ranking its bids: its own row is no rival, the others are
    assert made.own(unit(1, 0, 0)).tolist() == [True, False, False]
    assert made.rivals(unit(1, 0, 0)).tolist() == [False, True, True]
    assert ref.read(store, ["1", "2", "3", "4"]) is made  # every challenge shares it
    assert ref.read(store, ["1", "2"]) is not made
    store.put("challenge", "2", PASSAGE, unit(0, 0.1, 1))  # an edited challenge
    assert ref.read(store, ["1", "2", "3", "4"]) is not made
    assert len(ref.read(store, [])) == 0
