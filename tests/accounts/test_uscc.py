"""validate_uscc against the shared table of real and corrupted codes, and prefix/kind rules."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bounty.accounts.services import uscc_problem
from bounty.accounts.uscc import (
    CHARSET,
    REASON_CHARACTER,
    REASON_CHECK,
    REASON_LENGTH,
    REASON_PREFIX,
    USCCError,
    check_character,
    validate_uscc,
)

# Real codes and corrupted ones, kept in the repository (source: tests/data/README.md).
TABLE = Path(__file__).resolve().parents[1] / "data" / "uscc.tsv"


def _rows() -> list[dict]:
    with TABLE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


# How the table describes each corruption -> the reason validate_uscc must give.
CORRUPTION_REASONS = {
    "check char": REASON_CHECK,
    "body digit": REASON_CHECK,
    "not in charset": REASON_CHARACTER,
    "truncated": REASON_LENGTH,
}


def _expected_reason(entity: str) -> str:
    matches = [reason for words, reason in CORRUPTION_REASONS.items() if words in entity]
    assert len(matches) == 1, f"cannot tell the expected reason for {entity!r}"
    return matches[0]


VALID = [row for row in _rows() if row["expected"] == "valid"]
INVALID = [row for row in _rows() if row["expected"] == "invalid"]


def test_table_has_both_kinds_of_rows():
    assert len(VALID) >= 5 and len(INVALID) >= 4


@pytest.mark.parametrize("row", VALID, ids=[r["code"] for r in VALID])
def test_valid_codes_return_their_kind(row):
    expected = "institute" if row["code"].startswith("12") else "enterprise"
    assert validate_uscc(row["code"]) == expected
    assert uscc_problem(row["code"]) is None


@pytest.mark.parametrize("row", INVALID, ids=[r["code"] for r in INVALID])
def test_invalid_codes_raise_with_the_right_reason(row):
    with pytest.raises(ValueError) as info:
        validate_uscc(row["code"])
    assert isinstance(info.value, USCCError)
    assert info.value.reason == _expected_reason(row["entity"])
    # Every reason has a Chinese wording for the form.
    assert uscc_problem(row["code"])


def _with_check(body: str) -> str:
    return body + check_character(body)


@pytest.mark.parametrize("prefix,kind", [
    ("91", "enterprise"), ("92", "enterprise"), ("93", "enterprise"),
    ("12", "institute"), ("52", "institute"), ("11", "government"),
])
def test_prefix_decides_the_kind(prefix, kind):
    assert validate_uscc(_with_check(prefix + "330300MA2ABCDE1")) == kind


@pytest.mark.parametrize("prefix", ["81", "00", "A1", "94"])
def test_unknown_prefix(prefix):
    with pytest.raises(ValueError, match="unknown prefix") as info:
        validate_uscc(_with_check(prefix + "330300MA2ABCDE1"))
    assert info.value.reason == REASON_PREFIX


@pytest.mark.parametrize("code,reason", [
    ("", REASON_LENGTH),
    ("91330300MA2ABCDE1XX", REASON_LENGTH),
    ("91330300MA2ABCDEI1", REASON_CHARACTER),  # I is not in the charset
    ("91330300ma2abcde1" + "!", REASON_CHARACTER),
])
def test_other_bad_codes(code, reason):
    with pytest.raises(ValueError) as info:
        validate_uscc(code)
    assert info.value.reason == reason


def test_lower_case_and_spaces_are_accepted():
    code = _with_check("91330300MA2ABCDE1")
    assert validate_uscc(f"  {code.lower()} ") == "enterprise"


def test_every_charset_character_can_be_a_check_character():
    assert {check_character(f"9133030{n:010d}") for n in range(2000)} <= set(CHARSET)


@pytest.mark.parametrize("code,kind,fragment", [
    ("91330300MA2ABC", None, "18 位"),
    ("911100008O2100433B", None, "第 10 位“O”"),
    ("914403001922038217", None, "校验位"),
    (_with_check("81330300MA2ABCDE1"), None, "前两位“81”"),
    ("12100000400000624D", "enterprise", "不符"),
    ("914403001922038216", "institute", "不符"),
])
def test_chinese_messages(code, kind, fragment):
    assert fragment in uscc_problem(code, kind)
