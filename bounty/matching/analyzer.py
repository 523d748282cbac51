"""The analyzer for challenge, bid and profile text.

Chinese runs go through jieba (the Rust port ``rjieba``: same dictionary and
algorithm, about 20x faster, and its dictionary is compiled in so start-up
costs ~0.1 s instead of ~1 s); everything else is tokenised by our own rules so
that what jieba's stock Whoosh analyzer drops or mangles survives:

* English words and abbreviations: ``PLC``, ``NB-IoT`` (also ``nb``, ``iot``);
* model and grade codes: ``SUS304`` (also ``sus``), ``IP67``, ``M8``;
* numbers with units: ``0.02mm``, ``0.02 mm``, ``480h``, ``≥98%`` (also ``98%``);
* full-width forms folded to half-width (NFKC) and lower-cased.

The text is folded character by character so every token keeps offsets
into the *original* text, which the highlighter needs.

At index time a long Chinese word also yields the dictionary words inside it
(jieba's search mode: 注塑模具 → 注塑, 模具, 注塑模具). At query time the
synonym file expands a term to its group.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import rjieba

__all__ = [
    "Token",
    "Analyzer",
    "get_analyzer",
    "normalize",
]

_DATA = resources.files("bounty.matching") / "data"
GRAM_MARK = "#"

# Units that may follow a number after a space ("0.02 mm"); glued forms
# ("0.02mm") are caught by the general pattern below.
_UNITS = (
    "mm|cm|dm|km|um|μm|nm|m|mg|kg|g|t|ml|l|h|hr|min|ms|s|hz|khz|mhz|ghz|"
    "kv|mv|v|ma|a|kw|mw|w|kwh|wh|mah|ah|mpa|gpa|kpa|pa|n|kn|nm|db|dpi|rpm|"
    "ppm|ppb|lm|lx|k|°c|℃|%|‰|x|mbps|gbps|kbps|mb|gb|tb"
)
_SPACED_UNIT = re.compile(rf"(?<![\w.])(\d+(?:\.\d+)?)\s+({_UNITS})(?![a-z0-9])")

# A run of ASCII "word" material: letters, digits, joined by - . / _ + ,
# with an optional comparator in front and a percent/degree sign behind.
_WORD = re.compile(
    r"(?P<cmp>[≥≤><±~≈])?"
    r"(?P<core>[a-z0-9μ]+(?:[-._/+][a-z0-9μ]+)*)"
    r"(?P<suffix>%|‰|°c|℃)?"
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# what ``tokens`` visits, in one pass: a Chinese run, else an ASCII word (_WORD's groups)
_SCAN = re.compile(f"(?P<cjk>{_CJK.pattern})|{_WORD.pattern}")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_ALPHA_DIGIT = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


@dataclass(frozen=True, slots=True)
class Token:
    """A normalised term with its character offsets in the original text."""

    text: str
    start: int
    end: int
    sub: bool = False  # a part of a longer token (index-time expansion)


class _Folds(dict[str, str]):
    """Each character's fold (NFKC, then lower case), computed once per character."""

    def __missing__(self, ch: str) -> str:
        folded = self[ch] = unicodedata.normalize("NFKC", ch).lower()
        return folded


_FOLDS = _Folds()
# Blocks whose characters are checked one by one when the pattern is built
# (ASCII to CJK punctuation and kana, half-/full-width forms); characters
# outside them and the CJK ideographs are always looked up in _FOLDS.
_CHECKED_BLOCKS = ((0x0000, 0x3100), (0xFE00, 0x10000))
_CJK_IDEOGRAPHS = ((0x3400, 0x4DC0), (0x4E00, 0xA000))


@functools.cache
def _to_fold() -> re.Pattern[str]:
    """Runs of characters that may change when folded (all but the known-unchanged)."""
    keep = [cp for lo, hi in _CHECKED_BLOCKS for cp in range(lo, hi)
            if _FOLDS[chr(cp)] == chr(cp)]
    keep += [cp for lo, hi in _CJK_IDEOGRAPHS for cp in range(lo, hi)]
    ranges: list[str] = []
    i = 0
    while i < len(keep):
        j = i
        while j + 1 < len(keep) and keep[j + 1] == keep[j] + 1:
            j += 1
        first, last = re.escape(chr(keep[i])), re.escape(chr(keep[j]))
        ranges.append(first if i == j else f"{first}-{last}")
        i = j + 1
    return re.compile(f"[^{''.join(ranges)}]+")


def normalize(text: str) -> tuple[str, list[int]]:
    """Fold full-width forms and case; return the text and an offset map.

    Each character is folded on its own (NFKC, then lower case: ``Ａ`` → ``a``,
    ``℃`` → ``°c``). ``offsets[i]`` is the index in ``text`` of the character
    that produced position ``i`` of the normalised text (plus one sentinel at
    the end). Only runs of characters that may change are visited in Python.
    """
    parts: list[str] = []
    offsets: list[int] = []
    last = 0
    for m in _to_fold().finditer(text):
        i, j = m.span()
        run = m.group()
        pieces: list[str] = []
        if run.isascii():
            folded = run.lower()
        else:
            pieces = [_FOLDS[ch] for ch in run]
            folded = "".join(pieces)
        if folded == run:
            continue
        if i > last:
            parts.append(text[last:i])
            offsets.extend(range(last, i))
        parts.append(folded)
        if len(folded) == j - i:
            offsets.extend(range(i, j))
        else:
            for k, piece in enumerate(pieces, i):
                offsets.extend([k] * len(piece))
        last = j
    if not parts:
        return text, list(range(len(text) + 1))
    parts.append(text[last:])
    offsets.extend(range(last, len(text) + 1))
    return "".join(parts), offsets


def _lines(text: str) -> Iterator[str]:
    """The non-empty, non-comment lines of a data file."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


class Analyzer:
    """Turns text into normalised terms; thread-safe once built."""

    def __init__(
        self,
        userdict: Path | None = None,
        synonyms: Path | None = None,
        stopwords: Path | None = None,
    ) -> None:
        self._paths = (userdict, synonyms, stopwords)  # how to build it again (pickling)
        self._jieba = rjieba.Jieba()
        texts = [(p or _DATA / name).read_text(encoding="utf-8")  # type: ignore[union-attr]
                 for p, name in ((stopwords, "stopwords.txt"), (userdict, "userdict.txt"),
                                 (synonyms, "synonyms.txt"))]
        digest = hashlib.blake2b(digest_size=8)
        for text in texts:
            digest.update(text.encode())
            digest.update(b"\x1f")
        #: changes when the dictionary, synonym or stopword files change, so
        #: stored terms are not reused for documents the files now segment anew
        self.fingerprint = digest.hexdigest()
        stop_text, userdict_text, synonyms_text = texts
        self.stopwords: frozenset[str] = frozenset(
            w for line in _lines(stop_text) for w in line.split()
        )
        for line in _lines(userdict_text):
            parts = line.split()
            freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            self._jieba.add_word(_fold_text(parts[0]), freq, None)
        self.synonyms: dict[str, tuple[str, ...]] = {}
        for line in _lines(synonyms_text):
            group = [_fold_text(w) for w in re.split(r"[/\s,，、]+", line) if w]
            for word in group:
                if _CJK.fullmatch(word) and len(word) > 1:
                    self._jieba.add_word(word, None, None)
            for word in group:
                others = tuple(w for w in group if w != word)
                merged = self.synonyms.get(word, ()) + others
                self.synonyms[word] = tuple(dict.fromkeys(merged))
        self._subword_cache: dict[str, tuple[tuple[str, int], ...]] = {}
        # a Chinese word's index-time terms (itself and its parts, minus stopwords)
        self._word_terms: dict[str, tuple[str, ...]] = {}

    def __reduce__(self) -> tuple:
        """Pickled as the files it was built from (a worker process builds its own)."""
        return (Analyzer, self._paths)

    # -- segmentation ---------------------------------------------------
    def _cut(self, run: str) -> list[tuple[str, int, int]]:
        return self._jieba.tokenize(run, "default", True)

    def _subwords(self, word: str) -> tuple[tuple[str, int], ...]:
        """Dictionary words of length 2 and 3 inside a longer word (search mode)."""
        cached = self._subword_cache.get(word)
        if cached is not None:
            return cached
        found: list[tuple[str, int]] = []
        n = len(word)
        for size in (2, 3):
            if n <= size:
                continue
            for i in range(n - size + 1):
                gram = word[i : i + size]
                if self._jieba.has_word(gram):
                    found.append((gram, i))
        result = tuple(found)
        if len(self._subword_cache) < 200_000:
            self._subword_cache[word] = result
        return result

    def tokens(self, text: str, *, expand: bool = True) -> list[Token]:
        """All tokens of ``text`` with offsets into it.

        ``expand`` adds the parts of compound tokens (index-time behaviour:
        注塑模具 → 注塑/模具, NB-IoT → nb/iot, SUS304 → sus, ≥98% → 98%).
        """
        if not text:
            return []
        norm, offs = normalize(text)
        # "0.02 mm" → "0.02mm" padded to the same length, so offsets still hold
        norm = _SPACED_UNIT.sub(_glue_unit, norm)
        out: list[Token] = []
        stop = self.stopwords

        def emit(term: str, s: int, e: int, sub: bool = False) -> None:
            if term and term not in stop:
                out.append(Token(term.replace(" ", ""), offs[s], offs[e], sub))

        pos = 0
        length = len(norm)
        while pos < length:
            ch = norm[pos]
            if _CJK.match(ch):
                m = _CJK.match(norm, pos)
                assert m is not None
                run = m.group(0)
                for word, s, e in self._cut(run):
                    emit(word, pos + s, pos + e)
                    if expand and len(word) > 2:
                        for gram, i in self._subwords(word):
                            emit(gram, pos + s + i, pos + s + i + len(gram), True)
                pos = m.end()
                continue
            m = _WORD.match(norm, pos)
            if m and m.group("core"):
                self._emit_word(m, emit, expand)
                pos = m.end()
                continue
            pos += 1
        return out

    def _emit_word(self, m: re.Match[str], emit, expand: bool) -> None:  # noqa: ANN001
        core = m.group("core").strip("._/+-")
        start, end = m.start(), m.end()
        cmp_, suffix = m.group("cmp") or "", m.group("suffix") or ""
        if suffix == "℃":
            suffix = "°c"
        # a standalone number without unit: keep it but never its comparator
        whole = cmp_ + core + suffix if (suffix or not _NUMBER.match(core)) else core
        emit(whole, start, end)
        if not expand:
            return
        core_start = m.start("core")
        if cmp_:
            emit(core + suffix, core_start, end, True)
        parts = re.split(r"[-/_+]", core) if re.search(r"[-/_+]", core) else []
        for part in parts:
            if part and part != core and len(part) > 1:
                i = norm_index(m.string, part, core_start)
                emit(part, i, i + len(part), True)
        # letters+digits codes: SUS304 → sus; 304 is kept only in the code.
        if not parts and re.fullmatch(r"[a-z]{2,}\d[\da-z]*", core):
            letters = re.match(r"[a-z]+", core).group(0)  # type: ignore[union-attr]
            emit(letters, core_start, core_start + len(letters), True)

    # -- public API -----------------------------------------------------
    def terms(self, text: str) -> list[str]:
        """Index-time terms, in order, including compound parts: the texts of
        ``tokens(text)``, without their offsets (what a rebuild segments)."""
        if not text:
            return []
        norm = _SPACED_UNIT.sub(_glue_unit, _fold_text(text))
        out: list[str] = []
        stop = self.stopwords
        cached = self._word_terms

        def emit(term: str, _s: int, _e: int, _sub: bool = False) -> None:
            if term and term not in stop:
                out.append(term.replace(" ", ""))

        for m in _SCAN.finditer(norm):
            run = m.group("cjk")
            if run is None:
                self._emit_word(m, emit, True)
                continue
            for word in self._jieba.cut(run, True):
                found = cached.get(word)
                if found is None:
                    found = self._terms_of_word(word)
                out += found
        return out

    def _terms_of_word(self, word: str) -> tuple[str, ...]:
        stop = self.stopwords
        found = [word] if word not in stop else []
        if len(word) > 2:
            found += [gram for gram, _i in self._subwords(word) if gram not in stop]
        result = tuple(found)
        if len(self._word_terms) < 500_000:
            self._word_terms[word] = result
        return result

    def query_terms(self, text: str) -> list[str]:
        """Query-time terms: each distinct term once, in order of appearance."""
        return list(dict.fromkeys(t.text for t in self.tokens(text, expand=True)))

    def grams(self, text: str) -> list[str]:
        """Character bigrams of the Chinese runs of ``text``, marked with ``GRAM_MARK``.

        The backoff for vocabulary mismatch: when jieba cuts a query and a
        document differently (镜架 / 眼镜架, 低功耗 / 功耗低), or a word is not
        in the dictionary, their bigrams still meet. The mark keeps them apart
        from word terms.
        """
        if not text:
            return []
        norm = _fold_text(text)
        out: list[str] = []
        for m in _CJK.finditer(norm):
            run = m.group(0)
            out.extend(GRAM_MARK + run[i : i + 2] for i in range(len(run) - 1))
        return out

    def expand(self, term: str) -> tuple[str, ...]:
        """The synonyms of ``term`` from the synonym file (not the term itself)."""
        return self.synonyms.get(term, ())


def _glue_unit(m: re.Match[str]) -> str:
    glued = m.group(1) + m.group(2)
    return glued + " " * (len(m.group(0)) - len(glued))


def _fold_text(text: str) -> str:
    """``normalize(text)[0]``, without the offset map."""
    def fold(m: re.Match[str]) -> str:
        run = m.group()
        return run.lower() if run.isascii() else "".join([_FOLDS[ch] for ch in run])

    return _to_fold().sub(fold, text)


def norm_index(s: str, part: str, start: int) -> int:
    i = s.find(part, start)
    return i if i >= 0 else start


_instance: Analyzer | None = None
_instance_lock = threading.Lock()


def get_analyzer() -> Analyzer:
    """The process-wide analyzer, built once (dictionary and synonyms loaded)."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = Analyzer()
    return _instance


def join_terms(terms: Iterable[str]) -> str:
    """Terms as a space-separated string (how they are stored and indexed)."""
    return " ".join(terms)
