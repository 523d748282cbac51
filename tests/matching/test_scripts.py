"""Bids in another script than their challenge (scripts.py), without the model: which
texts count as Latin-script, the scaling, and the Matcher using it only for those
bids (the reference itself: test_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bounty.matching import scripts
from bounty.matching.engine import Filters
from bounty.matching.hybrid import Matcher
from bounty.matching.reference import Reference
from bounty.matching.vectors import PASSAGE, MemoryVectorStore
from tests.matching.test_terms import FakeEmbedder, FakeEngine, terms, unit


@pytest.mark.parametrize(("text", "expected"), [
    ("Laser welding of titanium eyewear frames with pulse shaping", True),
    ("采用碳化硅 MOSFET 的双向 DC/DC 变换器，开关频率提高到 100kHz，效率不低于 97%，"
     "满足 GB/T 18487.1 的充电接口要求", False),
    ("Partial discharge sensing 局部放电", True),
    ("PD 局部放电在线传感", False),
    ("", False),
    ("12345 ！？", False),
])
def test_latin_script(text, expected):
    assert scripts.latin(text) is expected


def test_a_bid_in_the_other_script_is_scaled_by_how_far_it_stands_out():
    scores = {"zh-best": 0.60, "zh-other": 0.50, "en": 0.45}
    # rows over the reference with these means and spreads: 0.40 / 0.05 and 0.33 / 0.03
    rows = {"zh-best": np.array([0.35, 0.45]), "zh-other": np.array([0.35, 0.45]),
            "en": np.array([0.30, 0.36])}
    out = scripts.calibrate(scores, rows, {"en"})
    assert out["zh-best"] == 0.60 and out["zh-other"] == 0.50  # own script: unchanged
    # 4 standard deviations over its reference, on the scale of the Chinese bids
    assert out["en"] == pytest.approx(0.40 + scripts.GAIN * 4 * 0.05, rel=1e-4)
    assert out["en"] > out["zh-best"]
    # an English bid that does not stand out stays low
    low = scripts.calibrate({**scores, "en": 0.34}, rows, {"en"})
    assert low["en"] < low["zh-other"]
    # only bids in the other script: ranked by their standing alone
    alone = scripts.calibrate({"en": 0.45}, {"en": rows["en"]}, {"en"})
    assert alone["en"] == pytest.approx(scripts.GAIN * 4, rel=1e-4)


@pytest.fixture
def mixed_store():
    store = MemoryVectorStore(FakeEmbedder.key)
    for doc_id, vector, doc_terms in [
        ("zh", unit(1, 0.30, 0), terms(f1=1.0, f2=1.0)),
        ("en", unit(0.6, 0, 1), terms(f7=1.0, f8=1.0)),  # far by both measures
    ]:
        store.put("bid", doc_id, PASSAGE, vector)
        store.put_terms("bid", doc_id, doc_terms)
    return store


def _reference() -> Reference:
    # the challenge itself first, then challenges the English bid is even farther from
    return Reference(
        np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0.9, 0.1), unit(0, 1, 0.05)]),
        [terms(f1=1.0, f2=1.0, f3=1.0), terms(f4=1.0), terms(f5=1.0), terms(f6=1.0)])


def test_the_matcher_scales_only_bids_in_the_other_script(mixed_store):
    engine = FakeEngine()
    matcher = Matcher(engine, mixed_store, FakeEmbedder())
    challenge = {"kind": "challenge", "id": 7, "title": "焊接", "body": "激光焊接"}
    ids = Filters(ids=["zh", "en"])
    matcher.rank(challenge, kind="bid", filters=ids, vector=unit(1, 0, 0), latent=True)
    plain = engine.calls[-1]["dense"]
    assert plain["zh"] > plain["en"]
    matcher.rank(challenge, kind="bid", filters=ids, vector=unit(1, 0, 0), latent=True,
                 other_script={"en"}, reference=_reference())
    scaled = engine.calls[-1]["dense"]
    assert scaled["zh"] == plain["zh"]
    assert scaled["en"] > scaled["zh"]  # its own challenge is the one it stands out for
    # without a reference (none could be read), nothing is scaled
    matcher.rank(challenge, kind="bid", filters=ids, vector=unit(1, 0, 0), latent=True,
                 other_script={"en"}, reference=None)
    assert engine.calls[-1]["dense"] == plain


def test_a_failing_reference_leaves_the_meaning_unscaled(mixed_store, monkeypatch, caplog):
    engine = FakeEngine()
    matcher = Matcher(engine, mixed_store, FakeEmbedder())

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("disk gone")

    monkeypatch.setattr("bounty.matching.hybrid.meanings", broken)
    challenge = {"kind": "challenge", "id": 7, "title": "焊接", "body": "激光焊接"}
    matcher.rank(challenge, kind="bid", filters=Filters(ids=["zh", "en"]),
                 vector=unit(1, 0, 0), latent=True, other_script={"en"},
                 reference=_reference())
    scores = engine.calls[-1]["dense"]
    assert scores["zh"] > scores["en"]
    assert "meaning unscaled" in caplog.text
