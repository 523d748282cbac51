"""The reference of challenges a bid's meaning is read against (reference.py), without
the model: its rows, the ranked challenge's own row, and reading it from the store."""

from __future__ import annotations

import numpy as np
import pytest

from bounty.matching import reference as ref
from bounty.matching.reference import Reference, meanings
from bounty.matching.terms import Terms, meaning
from bounty.matching.vectors import MemoryVectorStore
from tests.matching.test_terms import FakeEmbedder, terms, unit


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


def test_a_reference_is_read_from_the_store_and_kept_while_nothing_changes():
    store = MemoryVectorStore(FakeEmbedder.key)
    for i, v in [("1", unit(1, 0, 0)), ("2", unit(0, 0, 1)), ("3", unit(1, 1, 0))]:
        store.put("challenge", i, "query", v)
        store.put_terms("challenge", i, terms(f4=1.0))
    store.put("challenge", "4", "query", unit(1, 0, 1))  # no terms yet: left out
    made = ref.read(store, ["1", "2", "3", "4"])
    assert len(made) == 3
    # challenge 1 ranking its bids finds its own row; another challenge finds none
    assert made.own(unit(1, 0, 0)).tolist() == [True, False, False]
    assert not made.own(unit(0, 1, 0)).any() and not made.own(None).any()
    assert ref.read(store, ["1", "2", "3", "4"]) is made  # every challenge shares it
    assert ref.read(store, ["1", "2"]) is not made
    store.put("challenge", "2", "query", unit(0, 0.1, 1))  # an edited challenge
    assert ref.read(store, ["1", "2", "3", "4"]) is not made
    assert len(ref.read(store, [])) == 0
