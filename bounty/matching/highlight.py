"""Highlighting that escapes: the document's own markup is never rendered."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from .analyzer import Analyzer


def highlight(
    analyzer: Analyzer, text: str, terms: Iterable[str], *, fragment: int = 0
) -> Markup:
    """``text`` escaped, with tokens whose term is in ``terms`` wrapped in ``<mark>``.

    With ``fragment`` > 0 only the window of about that many characters with
    the most matches is returned, with ellipses where text was cut.
    """
    text = text or ""
    wanted = {t for t in terms if t}
    spans: list[tuple[int, int]] = []
    for tok in analyzer.tokens(text, expand=True):
        if tok.text in wanted and tok.end > tok.start:
            spans.append((tok.start, tok.end))
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])

    lo, hi = 0, len(text)
    if fragment and len(text) > fragment:
        best, best_n = 0, -1
        for i, (s, _) in enumerate(merged):
            n = sum(1 for s2, _ in merged[i:] if s2 < s + fragment)
            if n > best_n:
                best, best_n = s, n
        lo = max(0, best - fragment // 5)
        hi = min(len(text), lo + fragment)
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
