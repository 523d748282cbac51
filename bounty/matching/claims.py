"""What an answer claims: the sentences of a bid that say what it does not do are not
read as claims.

A sentence embedding and the latent terms (terms.py) read a sentence by the notions it
names, not by what it says of them. "本方案只改进弹簧片，铰链铆接和外包PU革起泡开胶不在范围内"
names the hinge and the covering, so a partial answer that lists the parts of a
challenge it leaves out covered them as if it had solved them, and often outranked a
full answer written in other words (the commonest miss of the relevance sets: a grade-2
answer in one of the top two places). A bid is therefore embedded from its text without
its scope disclaimers: sentences that say the bid does not cover, address, solve or
verify something, or that it only does one thing. Nothing is lost that the bid claims:
what it does is said in its other sentences (a bid made of disclaimers only is read
whole). Only answers are read this way: in a challenge, "不包括…" or "只…" states a
requirement.

The cues are the phrasings of scope in Chinese and English (not tuned word by word on a
judged set: the figures, and the held-out measurement, are in the README's Matching
section). ``只``/``仅`` count only before a verb of scope ("只改进", "仅提供"), and not in
"逐只"/"每只" (one by one, each piece).
"""

from __future__ import annotations

import re

_SCOPE_VERBS = "改进|改造|解决|针对|处理|涉及|负责|提供|做|覆盖|包括"
DISCLAIMER = re.compile(
    r"不在[^。；！？，,]{0,12}范围"
    r"|(?:不|未|没有|尚未)(?:涉及|解决|覆盖|包括|包含)"
    r"|(?:未|没有)(?:做|进行)?(?:验证|试验|测试)"
    r"|未做"
    rf"|(?<![逐每一])(?:只|仅)(?:{_SCOPE_VERBS})"
    r"|\b(?:not|never) (?:covered|addressed|included|solved|verified|tested|in scope)\b"
    r"|\b(?:does|do|did) not (?:cover|address|include|solve|treat|verify)\b"
    r"|\bout(?:side)? (?:of )?(?:the |our )?scope\b"
    r"|\bonly (?:addresses|covers|solves|improves|treats|supplies)\b",
    re.IGNORECASE,
)
# A sentence ends at 。！？；!?; or a line break, or at a full stop followed by a space
# (zero-width, so the pieces join back into the text). vectors.sentences splits with it.
SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])|(?<=\.)(?=\s)")


def disclaims(sentence: str) -> bool:
    """Whether ``sentence`` says what the answer does not do (or only does)."""
    return DISCLAIMER.search(sentence) is not None


def claimed(text: str) -> str:
    """``text`` without the sentences that disclaim; the whole text if every sentence
    does."""
    if not text:
        return text
    pieces = [p for p in SENTENCE_END.split(text) if p]
    kept = [p for p in pieces if not disclaims(p)]
    if not kept or len(kept) == len(pieces):
        return text
    return "".join(kept).strip()
