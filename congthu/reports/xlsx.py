"""The report as an XLSX workbook (openpyxl): a summary sheet, then one sheet per section
(I, II, ...) with Vietnamese headers, one row per organisation and the totals as
formulas (``=SUM(...)``; ratios as ``=IF(total=0,0,ROUND(100*a/b,1))``), so the
workbook stays right when someone corrects a figure by hand.
"""

from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from congthu.reports.figures import MB, SECTIONS, Column, Report, Row, Section

__all__ = ["workbook", "xlsx_bytes"]

_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD = PatternFill("solid", fgColor="DDE6F0")
_FONT = "Times New Roman"
_TITLE_ROWS = 3  # the heading's lines; the table's header is two rows below


def _sheet_title(section: Section) -> str:
    # Sheet names: at most 31 characters, none of []:*?/\
    return re.sub(r"[\[\]:*?/\\]", " ", f"{section.number}. {section.vi}")[:31]


def _cell_value(row: Row, column: Column) -> float | int:
    if column.kind == "bytes":
        return round(row.values.get(column.key, 0) / MB, 2)
    value = row.value(column)
    return int(value) if column.kind != "percent" else value


def _heading(ws: Worksheet, report: Report, title: str, width: int) -> int:
    lines = [
        ("BÁO CÁO TÌNH HÌNH VẬN HÀNH HỆ THỐNG THƯ ĐIỆN TỬ CÔNG VỤ", True),
        (f"{report.org_name} - {report.period.title_vi}", False),
        (title, True),
    ]
    for number, (text, bold) in enumerate(lines, start=1):
        ws.cell(row=number, column=1, value=text).font = Font(name=_FONT, bold=bold, size=13)
        ws.merge_cells(start_row=number, start_column=1, end_row=number, end_column=max(width, 1))
        ws.cell(row=number, column=1).alignment = Alignment(horizontal="center")
    assert len(lines) == _TITLE_ROWS
    return _TITLE_ROWS + 2


_FORMATS = {"percent": "0.0", "bytes": "#,##0.00"}


def _styles(wb: Workbook) -> None:
    """The named styles of the tables, made once: a style per cell would cost a second
    for a province's hundreds of rows."""
    for name, bold, fmt, fill, align in (
            ("ct_head", True, "General", _HEAD, Alignment(horizontal="center", vertical="center", wrap_text=True)),
            ("ct_text", False, "General", None, None), ("ct_text_total", True, "General", None, None),
            *[(f"ct_{kind}{'_total' if total else ''}", total, _FORMATS.get(kind, "#,##0"), None, None)
              for kind in ("count", "bytes", "percent") for total in (False, True)]):
        style = NamedStyle(name=name, font=Font(name=_FONT, bold=bold), border=_BOX, number_format=fmt)
        if fill is not None:
            style.fill = fill
        if align is not None:
            style.alignment = align
        wb.add_named_style(style)


def _section_sheet(wb: Workbook, report: Report, section: Section) -> None:
    ws = wb.create_sheet(_sheet_title(section))
    columns = section.columns
    top = _heading(ws, report, f"{section.number}. {section.vi}", len(columns) + 2)
    headers = ["STT", "Cơ quan, đơn vị", *[c.vi for c in columns]]
    for j, text in enumerate(headers, start=1):
        ws.cell(row=top, column=j, value=text).style = "ct_head"
    ws.row_dimensions[top].height = 45
    letter = {c.key: get_column_letter(j) for j, c in enumerate(columns, start=3)}
    kinds = ["count" if c.kind == "sum" else c.kind for c in columns]
    first = top + 1
    for i, row in enumerate(report.rows):
        r = first + i
        ws.cell(row=r, column=1, value=i + 1).style = "ct_count"
        ws.cell(row=r, column=2, value=row.label).style = "ct_text"
        for j, column in enumerate(columns, start=3):
            if column.kind in ("sum", "percent"):
                value: object = _formula(column, letter, r)
            else:
                value = _cell_value(row, column)
            ws.cell(row=r, column=j, value=value).style = f"ct_{kinds[j - 3]}"
    last = first + len(report.rows) - 1
    total_row = last + 1
    ws.cell(row=total_row, column=1).style = "ct_text_total"
    ws.cell(row=total_row, column=2, value="Tổng cộng").style = "ct_text_total"
    for j, column in enumerate(columns, start=3):
        col = get_column_letter(j)
        if column.kind == "percent":
            value = _formula(column, letter, total_row)
        elif report.rows:
            value = f"=SUM({col}{first}:{col}{last})"
        else:
            value = 0
        ws.cell(row=total_row, column=j, value=value).style = f"ct_{kinds[j - 3]}_total"
    ws.column_dimensions["A"].width = 6
    ws.column_dimensions["B"].width = 42
    for j in range(3, len(headers) + 1):
        ws.column_dimensions[get_column_letter(j)].width = 16
    ws.freeze_panes = ws.cell(row=first, column=3)
    _print_setup(ws, landscape=True)


def _print_setup(ws: Worksheet, *, landscape: bool) -> None:
    """A4, one page wide (as LibreOffice and Excel print or export it to PDF)."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _formula(column: Column, letter: dict[str, str], r: int) -> str:
    if column.kind == "sum":
        return "=" + "+".join(f"{letter[k]}{r}" for k in column.of)
    top, bottom = (f"{letter[k]}{r}" for k in column.of)
    return f"=IF({bottom}=0,0,ROUND(100*{top}/{bottom},1))"


def _summary(wb: Workbook, report: Report) -> None:
    ws = wb.active
    assert ws is not None
    ws.title = "Tổng hợp"
    top = _heading(ws, report, "Tổng hợp", 3)
    for j, text in enumerate(("Mục", "Chỉ tiêu", "Số liệu"), start=1):
        ws.cell(row=top, column=j, value=text).style = "ct_head"
    r = top + 1
    for section in SECTIONS:
        total_row = _TITLE_ROWS + 3 + len(report.rows)  # the section sheet's total row (_section_sheet)
        sheet = _sheet_title(section)
        for j, column in enumerate(section.columns, start=3):
            ws.cell(row=r, column=1, value=section.number).style = "ct_text"
            ws.cell(row=r, column=2, value=f"{section.vi}: {column.vi}").style = "ct_text"
            kind = "count" if column.kind == "sum" else column.kind
            ws.cell(row=r, column=3, value=f"='{sheet}'!{get_column_letter(j)}{total_row}").style = f"ct_{kind}"
            r += 1
    ws.column_dimensions["A"].width = 7
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["C"].width = 16
    note_row = r + 1
    for i, note in enumerate(report.notes):
        ws.cell(row=note_row + i, column=1, value=f"Ghi chú: {note}").font = Font(name=_FONT, italic=True)
    ws.cell(row=note_row + len(report.notes), column=1,
            value=f"Lập lúc {report.made_at:%d/%m/%Y %H:%M} UTC").font = Font(name=_FONT, italic=True)
    _print_setup(ws, landscape=False)


def workbook(report: Report) -> Workbook:
    wb = Workbook()
    _styles(wb)
    _summary(wb, report)
    for section in SECTIONS:
        _section_sheet(wb, report, section)
    wb.properties.title = f"Báo cáo {report.period.title_vi} - {report.org_name}"
    wb.properties.creator = "Công Thư"
    return wb


def xlsx_bytes(report: Report) -> bytes:
    out = io.BytesIO()
    workbook(report).save(out)
    return out.getvalue()
