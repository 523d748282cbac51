"""Spreadsheet files from user text, safe to open: no cell is ever a formula.

OWASP's CSV-injection rule: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is prefixed with a single quote, so Excel, LibreOffice and
WPS show it as text instead of evaluating it. Every export writes through here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

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
    return b"".join(iter_csv(header, rows))


def iter_csv(header: Sequence, rows: Iterable[Sequence], chunk_rows: int = 200
             ) -> Iterator[bytes]:
    """:func:`to_csv` in chunks of ``chunk_rows`` rows, for a streamed response: the
    rows are consumed as they come, never held."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for n, row in enumerate(_safe_rows(header, rows), start=1):
        writer.writerow(row)
        if n % chunk_rows == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def write_xlsx(target, title: str, header: Sequence, rows: Iterable[Sequence]) -> None:
    """:func:`to_xlsx` in openpyxl's write-only mode, to ``target`` (a path or a binary
    file): rows go out as they come, so memory does not grow with them."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    for index, row in enumerate(_safe_rows(header, rows)):
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value)
                                 if isinstance(value, str) else value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would store "=..." as a formula
            if index == 0:
                cell.font = bold
            cells.append(cell)
        sheet.append(cells)
    workbook.save(target)


def to_xlsx(title: str, header: Sequence, rows: Iterable[Sequence]) -> bytes:
    """One sheet, a bold frozen header row; every text cell stored as a string."""
    buffer = io.BytesIO()
    write_xlsx(buffer, title, header, rows)
    return buffer.getvalue()
