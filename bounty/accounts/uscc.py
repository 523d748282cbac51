"""统一社会信用代码 (USCC, GB 32100-2015): format and check character."""

from __future__ import annotations

import unicodedata

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# First two characters: registration authority (登记管理部门) and organisation type.
# Maps a prefix to the kind of organisation the platform knows it as.
PREFIX_KINDS = {
    "91": "enterprise",  # 工商: 企业
    "92": "enterprise",  # 工商: 个体工商户
    "93": "enterprise",  # 工商: 农民专业合作社
    "11": "government",  # 机构编制: 机关
    "12": "institute",  # 机构编制: 事业单位 (public universities, research institutes)
    "13": "institute",  # 机构编制: 中央编办直接管理机构编制的群众团体
    "19": "institute",  # 机构编制: 其他
    "51": "institute",  # 民政: 社会团体
    "52": "institute",  # 民政: 民办非企业单位 (new-type R&D institutions, private universities)
    "53": "institute",  # 民政: 基金会
    "59": "institute",  # 民政: 其他
}


class USCCError(ValueError):
    """Why a code is not a valid USCC; ``reason`` is one of the REASON_* names."""

    def __init__(self, reason: str, message: str, **details):
        super().__init__(message)
        self.reason = reason
        self.details = details


REASON_TYPE = "type"
REASON_LENGTH = "length"
REASON_CHARACTER = "character"
REASON_CHECK = "check"
REASON_PREFIX = "prefix"


def check_character(body: str) -> str:
    """The 18th character for a 17-character body."""
    total = sum(CHARSET.index(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def clean_uscc(code: str) -> str:
    """A code as typed or pasted, cleaned: full-width characters made half-width, every
    space (also inside, as in "9133 0304 ...") dropped, letters in upper case."""
    return "".join(unicodedata.normalize("NFKC", code or "").split()).upper()


def validate_uscc(code: str) -> str:
    """Return the organisation kind a USCC implies, or raise ValueError with the reason.

    The error is a :class:`USCCError` (a ValueError) whose message is a short English
    sentence and whose ``reason`` names the failed check, so forms can translate it.
    """
    if not isinstance(code, str):
        raise USCCError(REASON_TYPE, "the code must be a string")
    code = clean_uscc(code)
    if len(code) != 18:
        raise USCCError(REASON_LENGTH, f"wrong length: {len(code)} characters, 18 expected",
                        length=len(code))
    for position, char in enumerate(code, start=1):
        if char not in CHARSET:
            raise USCCError(REASON_CHARACTER,
                            f"character {char!r} at position {position} is not allowed",
                            char=char, position=position)
    if check_character(code[:17]) != code[17]:
        raise USCCError(REASON_CHECK, "bad check character")
    kind = PREFIX_KINDS.get(code[:2])
    if kind is None:
        raise USCCError(REASON_PREFIX, f"unknown prefix {code[:2]!r}", prefix=code[:2])
    return kind
