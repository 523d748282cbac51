"""Spreadsheet files from user text, safe to open: no cell is ever a formula.

OWASP's CSV-injection rule: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is prefixed with a single quote, so Excel, LibreOffice and
WPS show it as text instead of evaluating it. Every export writes through here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):  # noqa: ANN001, ANN201 (any cell value)
    """The value to write: text that a spreadsheet could run is quoted; other values as is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _safe_rows(header: Sequence, rows: Iterable[Sequence]):  # noqa: ANN202
    yield [safe_cell(v) for v in header]
    for row in rows:
        yield [safe_cell(v) for v in row]


def to_csv(header: Sequence, rows: Iterable[Sequence]) -> bytes:
    """UTF-8 with a BOM, so that Excel opens Chinese text correctly."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(_safe_rows(header, rows))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: Sequence, rows: Iterable[Sequence]) -> bytes:
    """One sheet, a bold frozen header row; every text cell stored as a string."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in _safe_rows(header, rows):
        # XML cannot carry most control characters; openpyxl would refuse them
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v
                      for v in row])
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would store "=..." as a formula
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
