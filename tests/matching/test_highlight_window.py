"""Highlighting tokenises a bounded window, however long the stored text."""

from __future__ import annotations

from bounty.matching import highlight as hl
from bounty.matching.analyzer import get_analyzer


class CountingAnalyzer:
    """The real analyzer, recording how much text it was asked to tokenise."""

    def __init__(self) -> None:
        self.inner = get_analyzer()
        self.lengths: list[int] = []

    def tokens(self, text, **kwargs):  # noqa: ANN001, ANN201
        self.lengths.append(len(text))
        return self.inner.tokens(text, **kwargs)


BIG = "无关内容，" * 100_000 + "伺服电机控制" + "无关内容，" * 500_000  # 3 MB of text


def test_a_huge_text_is_tokenised_only_around_the_first_match():
    analyzer = CountingAnalyzer()
    html = hl.highlight(analyzer, "伺服电机在前。" + BIG, ["伺服电机"], fragment=140)
    assert max(analyzer.lengths) <= hl.WINDOW_CHARS
    assert "<mark>伺服电机</mark>" in html and len(html) < 400 and html.endswith("…")


def test_a_match_past_the_scan_limit_gives_the_beginning_unmarked():
    analyzer = CountingAnalyzer()
    html = hl.highlight(analyzer, BIG, ["伺服电机"], fragment=140)
    assert max(analyzer.lengths) <= hl.WINDOW_CHARS
    assert html.startswith("无关内容") and "<mark>" not in html


def test_a_match_in_the_middle_of_a_long_allowed_text_is_found():
    analyzer = CountingAnalyzer()
    text = "无关内容，" * 6_000 + "伺服电机" + "无关内容，" * 2_000  # 40,000 characters
    html = hl.highlight(analyzer, text, ["伺服电机"], fragment=140)
    assert "<mark>伺服电机</mark>" in html and html.startswith("…")
    assert max(analyzer.lengths) <= hl.WINDOW_CHARS


def test_short_texts_are_highlighted_whole_as_before():
    html = hl.highlight(get_analyzer(), "伺服电机<b>控制</b>", ["伺服电机"])
    assert str(html) == "<mark>伺服电机</mark>&lt;b&gt;控制&lt;/b&gt;"


def test_a_fragment_is_sought_in_a_window_a_few_times_its_length():
    analyzer = CountingAnalyzer()
    text = "伺服电机" + "无关内容，" * 400 + "伺服电机" * 30  # the densest run is far away
    html = hl.highlight(analyzer, text, ["伺服电机"], fragment=140)
    assert max(analyzer.lengths) <= hl.FRAGMENT_WINDOWS * 140
    assert str(html).startswith("<mark>伺服电机</mark>") and html.endswith("…")
