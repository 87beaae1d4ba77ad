"""Cells of the spreadsheets the directory writes (the published CSV and XLSX, the
one-time password files): text stays text, never a formula.

A cell beginning with "=", "+", "-", "@", a tab or a carriage return is read as a formula
by office spreadsheets (OWASP "CSV Injection"): a title such as
``=HYPERLINK("http://…")`` would become a live link, or worse, in every copy of the
public directory. So, following OWASP's advice:

* in CSV, such a cell gets a leading single quote (shown as text; the quote is the
  spreadsheet's own "this is text" mark), and every cell is quoted, inner quotes doubled;
* in XLSX, such a cell is written as a string cell (never type "f") with the "quote
  prefix" style, so it stays text even when someone edits it in the spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: object) -> bool:
    """Would a spreadsheet read this cell as a formula?"""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: object) -> str:
    """A cell as CSV text that no spreadsheet reads as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if is_formula_like(text) else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV: every cell quoted, formula-like cells escaped (``csv_cell``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()


def text_cell(sheet: Any, value: object) -> object:
    """``value`` as openpyxl's ``append`` takes it (a write-only sheet too): a formula-like
    text as a string cell with the "quote prefix" style, anything else as it is."""
    if not is_formula_like(value):
        return value
    from openpyxl.cell import WriteOnlyCell  # here: the CLI starts without openpyxl

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def append_row(sheet: Any, values: Sequence[object]) -> None:
    """Append a row to an openpyxl sheet, formula-like text as text (``quotePrefix``).
    The cells are made before the row is appended, not looked up after it: openpyxl's
    ``sheet.max_row`` and ``sheet[row]`` scan every cell of the sheet, which made a
    publication of 50,000 people quadratic (some eight minutes of CPU at a server's
    first start)."""
    sheet.append([text_cell(sheet, v) for v in values])
