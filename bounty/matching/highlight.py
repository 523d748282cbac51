"""Highlighting that escapes: the document's own markup is never rendered."""

from __future__ import annotations

import re
from collections.abc import Iterable

from markupsafe import Markup, escape

from .analyzer import Analyzer

WINDOW_CHARS = 1_000  # the most text tokenised for one highlight (a snippet is 140-220)
# A fragment is looked for in a window this many times its length: tokenising is most of
# a results page's time, and the best fragment lies near the first match all but always.
FRAGMENT_WINDOWS = 3
# How far into a text matches are looked for: past every field's limit (bounty.limits),
# so only a document stored before the limits has a tail no snippet is taken from.
SCAN_CHARS = 60_000


def _window(text: str, wanted: set[str], size: int) -> tuple[int, int]:
    """[start, end) of at most ``size`` characters: from a little before the earliest
    literal occurrence of a wanted term in the first :data:`SCAN_CHARS` (a plain search,
    no tokenising), else from the start."""
    if len(text) <= size:
        return 0, len(text)
    found = [m.start() for term in wanted
             if (m := re.compile(re.escape(term), re.IGNORECASE).search(
                 text, 0, SCAN_CHARS)) is not None]
    start = max(0, min(found) - size // 10) if found else 0
    return start, min(len(text), start + size)


def highlight(
    analyzer: Analyzer, text: str, terms: Iterable[str], *, fragment: int = 0
) -> Markup:
    """``text`` escaped, with tokens whose term is in ``terms`` wrapped in ``<mark>``.

    With ``fragment`` > 0 only the window of about that many characters with
    the most matches is returned, with ellipses where text was cut.
    """
    text = text or ""
    wanted = {t for t in terms if t}
    # Tokenising is linear in the text: only a bounded window around the first match is
    # looked at, so one huge stored document cannot slow a page of results.
    size = min(WINDOW_CHARS, FRAGMENT_WINDOWS * fragment) if fragment else WINDOW_CHARS
    start, end = _window(text, wanted, size)
    spans: list[tuple[int, int]] = []
    # nothing to mark (the hall without a query): no tokenising, the same text comes out
    for tok in analyzer.tokens(text[start:end], expand=True) if wanted else ():
        if tok.text in wanted and tok.end > tok.start:
            spans.append((start + tok.start, start + tok.end))
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])

    lo, hi = start, end
    if fragment and end - start > fragment:
        best, best_n = 0, -1
        for i, (s, _) in enumerate(merged):
            n = sum(1 for s2, _ in merged[i:] if s2 < s + fragment)
            if n > best_n:
                best, best_n = s, n
        lo = max(start, best - fragment // 5)
        hi = min(end, lo + fragment)
        merged = [[max(s, lo), min(e, hi)] for s, e in merged if e > lo and s < hi]

    out = [Markup("…")] if lo > 0 else []
    pos = lo
    for s, e in merged:
        out.append(escape(text[pos:s]))
        out.append(Markup("<mark>%s</mark>") % text[s:e])
        pos = e
    out.append(escape(text[pos:hi]))
    if hi < len(text):
        out.append(Markup("…"))
    return Markup("").join(out)
