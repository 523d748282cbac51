"""analyzer.normalize folds exactly as the original per-character fold did."""

from __future__ import annotations

import random
import sys
import unicodedata
from pathlib import Path

import pytest

from bounty.matching.analyzer import _fold_text, get_analyzer, normalize

# the analyzer test strings (tests/matching/test_engine.py) and a few more
SAMPLES = [
    "采用PLC控制", "NB-IoT模组", "TPU薄膜", "SUS304不锈钢", "防护等级IP67", "M8螺栓",
    "精度0.02mm", "精度 0.02 mm", "寿命480h", "良品率≥98%", "ＰＬＣ与ＩＰ６７", "０．０２ｍｍ",
    "注塑模具", "智能锁", "ＮＢ－ＩｏＴ模组 精度 0.02 mm", "鞋底的材料", "85℃，10μA；Ⅻ型 ﬁber ㎜",
    "", "ASCII only", "ΣΑΣ ΟΔΟΣ", "İstanbul", "\u3000全角空格\u3000", "가나다 ｶﾞ ㍿",
]


def reference_normalize(text: str) -> tuple[str, list[int]]:
    """The original implementation, one character at a time (the specification)."""
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        folded = ch.lower() if ch.isascii() else unicodedata.normalize("NFKC", ch).lower()
        out.append(folded)
        offsets.extend([i] * len(folded))
    offsets.append(len(text))
    return "".join(out), offsets


@pytest.mark.parametrize("text", SAMPLES)
def test_normalize_matches_reference_on_analyzer_strings(text):
    assert normalize(text) == reference_normalize(text)


def test_normalize_matches_reference_on_random_text():
    rng = random.Random(20261101)
    pools = [(0x20, 0x7F), (0x80, 0x3100), (0x3000, 0xA000), (0xF900, 0x10000),
             (0x10000, sys.maxunicode + 1)]
    for _ in range(2000):
        chars = []
        for _ in range(rng.randint(0, 40)):
            lo, hi = rng.choice(pools)
            cp = rng.randrange(lo, hi)
            if not 0xD800 <= cp <= 0xDFFF:
                chars.append(chr(cp))
        text = "".join(chars)
        assert normalize(text) == reference_normalize(text), ascii(text)


def test_normalize_matches_reference_on_every_bmp_character():
    # each character alone and in a run with an expanding one (℃ → °c)
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        text = "A" + chr(cp) + "℃" + chr(cp) + "中"
        assert normalize(text) == reference_normalize(text), hex(cp)


def test_index_terms_are_the_tokens_texts():
    """``Analyzer.terms`` (what a rebuild segments, without offsets) gives exactly the
    texts of ``tokens``: on the analyzer strings, random mixes of the characters the
    rules care about, and the benchmark corpus's long bodies."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from matching_bench import corpus

    analyzer = get_analyzer()
    rng = random.Random(14)
    alphabet = ("ａＢＣ０１２３ＩＰ６７≥≤℃°Ｃ%‰ -./_+,，、。 mm kg SUS304 NB-IoT 注塑模具智能锁"
                "眼镜架低功耗的 0.02 mm 480h ≥98% Ⅻ ﬁ ㎡ ½ é İ ß \t\n")
    texts = SAMPLES + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
                       for _ in range(2000)]
    texts += [d["body"] for d in corpus(5, 4)]
    for text in texts:
        assert analyzer.terms(text) == [t.text for t in analyzer.tokens(text)], text
        assert _fold_text(text) == normalize(text)[0]
