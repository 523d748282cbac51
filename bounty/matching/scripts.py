"""Bids written in another script than their challenge: their meaning put on one scale.

multilingual-e5-small places an English bid for a Chinese challenge far below the
Chinese bids: its cosine to every Chinese challenge is lower (0.79 against 0.87 for
unrelated pairs), and its latent terms (terms.py) are English tokens' features, which
Chinese texts seldom light up. Relative to other challenges, though, the signal is
there: on the development sets the English bid's own challenge was its nearest
challenge for 36 of 38 English best bids. So a bid in the other script is judged by how
far its meaning score with this challenge stands out among its scores with the
*reference* of challenges (reference.py: this challenge and the latest published ones),
and that standing is put on the scale of the bids in the challenge's own script:

    score = m0 + GAIN * (meaning - mu_bid) / sd_bid * s0

``mu_bid``/``sd_bid`` are the bid's mean and spread of meaning over the reference;
``m0``/``s0`` the same, averaged over the ranked bids in the challenge's script (0 and 1
when there are none). Bids in the challenge's own script keep their meaning scores, so
rankings of Chinese bids for Chinese challenges are unchanged.

GAIN was chosen on the development sets (tests/data/challenge-bids and -holdout to
-holdout5): English best bids stand out less than Chinese ones (median 3.2 against 4.9
standard deviations); 1.0 changed little, 2.0-2.5 was a plateau (mean nDCG@3 of the six
sets 0.866 -> 0.903), 3.0 and more let English bids of other challenges climb.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

# A text is "Latin-script" when Latin letters make at least this share of its letters,
# a CJK character counting as two (it carries about two letters' worth of text). On the
# development sets Chinese bids with their abbreviations, standards and model codes
# stay under 0.4, English bids (some with a Chinese gloss) and code-mixed ones (English
# terms in a Chinese frame) are over 0.5. A short Chinese sentence dense with
# abbreviations can pass it; its bid is then judged by its standing, which is also high
# when it answers the challenge.
LATIN_SHARE = 0.5
GAIN = 2.2
_LATIN = re.compile(r"[A-Za-z]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def latin(text: str) -> bool:
    """Whether ``text`` is written mainly in Latin script (English, not Chinese)."""
    letters = len(_LATIN.findall(text or ""))
    cjk = len(_CJK.findall(text or ""))
    return letters > 0 and letters / (letters + 2 * cjk) >= LATIN_SHARE


def standing(row: np.ndarray) -> tuple[float, float]:
    """A document's mean and spread of meaning over the reference (its row,
    reference.meanings)."""
    return float(np.mean(row)), float(np.std(row)) + 1e-6


def calibrate(scores: Mapping[str, float], rows: Mapping[str, np.ndarray],
              other: set[str]) -> dict[str, float]:
    """``scores`` with those of the ``other``-script documents put on the scale of the
    rest (see the module's docstring); documents without a row keep their score. A row
    is the document's meaning with this challenge and with each other challenge of the
    reference."""
    profiles = {d: standing(rows[d]) for d in scores if d in rows}
    own = [profiles[d] for d in profiles if d not in other]
    m0 = float(np.mean([p[0] for p in own])) if own else 0.0
    s0 = float(np.mean([p[1] for p in own])) if own else 1.0
    out = dict(scores)
    for d in other:
        if d in scores and d in profiles:
            mu, sd = profiles[d]
            out[d] = m0 + GAIN * (scores[d] - mu) / sd * s0
    return out
