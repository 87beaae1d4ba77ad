"""The report as a PDF in the form of a Vietnamese administrative report (Decree
30/2020/NĐ-CP, Phụ lục I), made with reportlab, without a browser:

* A4 portrait, margins top and bottom 20 mm, left 30 mm, right 15 mm;
* Times New Roman, or the metrically identical Liberation Serif of Debian's
  ``fonts-liberation2`` where Times is not installed (``find_fonts``; a clear error if
  neither is), so the Vietnamese diacritics are the font's own glyphs, embedded;
* the heading: on the left the governing body (upper case) and the issuing body (upper
  case, bold, a short rule beneath), the number "Số: .../BC-..."; on the right the
  national motto "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" (bold, upper case) and "Độc lập -
  Tự do - Hạnh phúc" (bold, a rule beneath), the place and date in italics;
* the kind "BÁO CÁO" and its summary, centred and bold; numbered sections (I, II, ...)
  each with its totals, its table per organisation, and charts;
* "Nơi nhận:" and the signature block.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from congthu.reports.charts import bars
from congthu.reports.counters import VIETNAM
from congthu.reports.figures import SECTIONS, Report, Section, shown

__all__ = ["FontsMissing", "find_fonts", "pdf_bytes"]

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/msttcorefonts"),
    Path("/usr/share/fonts/truetype/times"),
    Path("/usr/share/fonts/truetype/liberation2"),
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/TTF"),
)
# (regular, bold, italic, bold italic) file names, in order of preference.
FONT_FILES = (
    ("Times_New_Roman.ttf", "Times_New_Roman_Bold.ttf", "Times_New_Roman_Italic.ttf",
     "Times_New_Roman_Bold_Italic.ttf"),
    ("times.ttf", "timesbd.ttf", "timesi.ttf", "timesbi.ttf"),
    ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf", "LiberationSerif-Italic.ttf",
     "LiberationSerif-BoldItalic.ttf"),
)
MAX_TABLE_COLUMNS = 6  # figures per table row across the 165 mm of text width


class FontsMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "Không tìm thấy phông Times New Roman hoặc Liberation Serif để lập báo cáo PDF (Nghị định "
            "30/2020): cài gói fonts-liberation2 (apt-get install fonts-liberation2) / no Times New Roman "
            "or Liberation Serif font found for the PDF report: install fonts-liberation2")


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path
    italic: Path
    bold_italic: Path


def find_fonts(dirs: tuple[Path, ...] = FONT_DIRS) -> Fonts:
    """The TTF files of Times New Roman, else Liberation Serif; FontsMissing if none."""
    for names in FONT_FILES:
        for directory in dirs:
            paths = [directory / n for n in names]
            if all(p.is_file() for p in paths):
                return Fonts(*paths)
    raise FontsMissing()


def _register(fonts: Fonts) -> str:
    family = "CongThuSerif"
    if family not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(family, str(fonts.regular)))
        pdfmetrics.registerFont(TTFont(f"{family}-Bold", str(fonts.bold)))
        pdfmetrics.registerFont(TTFont(f"{family}-Italic", str(fonts.italic)))
        pdfmetrics.registerFont(TTFont(f"{family}-BoldItalic", str(fonts.bold_italic)))
        pdfmetrics.registerFontFamily(family, normal=family, bold=f"{family}-Bold", italic=f"{family}-Italic",
                                      boldItalic=f"{family}-BoldItalic")
    return family


class _Styles:
    def __init__(self, family: str) -> None:
        def style(name: str, size: float, *, bold: bool = False, italic: bool = False,
                  align: int = TA_LEFT, leading: float | None = None, **more: object) -> ParagraphStyle:
            font = family + ("-BoldItalic" if bold and italic else "-Bold" if bold else "-Italic" if italic else "")
            return ParagraphStyle(name, fontName=font, fontSize=size, leading=leading or size * 1.25,
                                  alignment=align, **more)  # type: ignore[arg-type]

        self.head = style("head", 12, align=TA_CENTER)
        self.head_bold = style("head_bold", 12, bold=True, align=TA_CENTER)
        self.motto = style("motto", 13.5, bold=True, align=TA_CENTER)
        self.date = style("date", 13.5, italic=True, align=TA_CENTER)
        self.kind = style("kind", 14, bold=True, align=TA_CENTER, spaceBefore=12)
        self.summary = style("summary", 14, bold=True, align=TA_CENTER, spaceAfter=10)
        self.section = style("section", 13.5, bold=True, spaceBefore=10, spaceAfter=4)
        self.body = style("body", 13.5, align=TA_JUSTIFY, firstLineIndent=10 * mm, spaceAfter=4, leading=18)
        self.cell = style("cell", 10, leading=12)
        self.cell_bold = style("cell_bold", 10, bold=True, leading=12)
        self.cell_head = style("cell_head", 10, bold=True, align=TA_CENTER, leading=12)
        self.recipients_title = style("rt", 12, bold=True, italic=True)
        self.recipients = style("rc", 11)
        self.sign = style("sign", 13.5, bold=True, align=TA_CENTER)
        self.note = style("note", 11, italic=True)


def _heading(report: Report, st: _Styles, place: str) -> Table:
    made = report.made_at.astimezone(VIETNAM)
    left = []
    if report.parent_name:
        left.append(Paragraph(report.parent_name.upper(), st.head))
    left.append(Paragraph(report.org_name.upper(), st.head_bold))
    left.append(Paragraph("________", st.head_bold))
    left.append(Paragraph("Số:        /BC-", st.head))
    right = [Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st.head_bold),
             Paragraph("Độc lập - Tự do - Hạnh phúc", st.motto),
             Paragraph("_______________________", st.motto),
             Paragraph(f"{place or '..........'}, ngày {made.day:02d} tháng {made.month:02d} năm {made.year}",
                       st.date)]
    table = Table([[left, right]], colWidths=[75 * mm, 90 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _totals_text(section: Section, report: Report) -> str:
    parts = [f"{c.vi}: <b>{shown(report.total.value(c), c)}</b>" for c in section.columns]
    return "Tổng hợp: " + "; ".join(parts) + "."


def _tables(section: Section, report: Report, st: _Styles, family: str) -> list[Table]:
    out = []
    columns = list(section.columns)
    count = -(-len(columns) // MAX_TABLE_COLUMNS)  # tables of about equal widths
    size = -(-len(columns) // count)
    for start in range(0, len(columns), size):
        chunk = columns[start:start + size]
        head = [Paragraph("TT", st.cell_head), Paragraph("Cơ quan, đơn vị", st.cell_head),
                *[Paragraph(c.vi, st.cell_head) for c in chunk]]
        data: list[list[object]] = [head]
        # Figures as plain strings (the table's font, right-aligned): a Paragraph per cell
        # costs ten times more, and a province has hundreds of rows.
        for i, row in enumerate(report.rows, start=1):
            data.append([str(i), Paragraph(row.label, st.cell), *[shown(row.value(c), c) for c in chunk]])
        data.append(["", Paragraph("Tổng cộng", st.cell_bold), *[shown(report.total.value(c), c) for c in chunk]])
        figure_w = (165 - 10 - 55) / len(chunk)
        table = Table(data, colWidths=[10 * mm, 55 * mm, *[figure_w * mm] * len(chunk)], repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
            ("FONTNAME", (0, 1), (-1, -1), family),
            ("FONTNAME", (0, -1), (-1, -1), f"{family}-Bold"),
            ("FONTSIZE", (0, 1), (-1, -1), 10),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ]))
        out.append(table)
    return out


def _chart(section: Section, report: Report, family: str) -> Drawing | None:
    items = bars(section, report.total)
    if not items:
        return None
    height = 40 + 22 * len(items)
    drawing = Drawing(165 * mm, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 62 * mm, 12
    chart.width, chart.height = 90 * mm, height - 30
    chart.data = [[v for _l, v in reversed(items)]]
    chart.categoryAxis.categoryNames = [label for label, _v in reversed(items)]
    chart.categoryAxis.labels.fontName = family
    chart.categoryAxis.labels.fontSize = 10
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.categoryAxis.labels.dx = -4
    chart.valueAxis.labels.fontName = family
    chart.valueAxis.labels.fontSize = 9
    chart.valueAxis.valueMin = 0
    chart.valueAxis.forceZero = True
    chart.bars[0].fillColor = colors.HexColor("#1f5f99")
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = family
    chart.barLabels.fontSize = 9
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    drawing.add(chart)
    drawing.add(String(0, height - 12, f"Biểu đồ: {section.vi} (tổng cộng)", fontName=f"{family}-Italic",
                       fontSize=11))
    return drawing


def pdf_bytes(report: Report, *, place: str = "", fonts: Fonts | None = None) -> bytes:
    """The report as PDF bytes; FontsMissing without Times New Roman or Liberation Serif."""
    family = _register(fonts or find_fonts())
    st = _Styles(family)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=30 * mm, rightMargin=15 * mm, topMargin=20 * mm,
                            bottomMargin=20 * mm, title=f"Báo cáo {report.period.title_vi} - {report.org_name}",
                            author=report.org_name, subject="Báo cáo tình hình vận hành hệ thống thư điện tử",
                            creator="Công Thư")
    story: list[object] = [_heading(report, st, place), Spacer(1, 6 * mm), Paragraph("BÁO CÁO", st.kind),
                           Paragraph(f"Tình hình vận hành, sử dụng hệ thống thư điện tử công vụ<br/>"
                                     f"{report.period.title_vi}", st.summary)]
    story.append(Paragraph(
        f"Thực hiện Điều 9 và Điều 11 của Quy chế quản lý, sử dụng hệ thống thư điện tử công vụ, "
        f"{report.org_name} báo cáo tình hình vận hành và sử dụng hệ thống thư điện tử công vụ của "
        f"{report.scope_vi} {report.period.title_vi} (từ ngày {report.period.first:%d/%m/%Y} đến ngày "
        f"{report.period.last:%d/%m/%Y}) như sau:", st.body))
    for section in SECTIONS:
        parts: list[object] = [Paragraph(f"{section.number}. {section.vi.upper()}", st.section),
                               Paragraph(_totals_text(section, report), st.body)]
        tables = _tables(section, report, st, family)
        story.append(KeepTogether([*parts, tables[0]]))
        for table in tables[1:]:
            story += [Spacer(1, 3 * mm), table]
        if section.chart:
            drawing = _chart(section, report, family)
            if drawing is not None:
                story += [Spacer(1, 3 * mm), drawing]
    for note in report.notes:
        story.append(Paragraph(f"Ghi chú: {note}", st.note))
    closing = Table([[
        [Paragraph("Nơi nhận:", st.recipients_title), Paragraph("- Cơ quan chủ quản (để báo cáo);", st.recipients),
         Paragraph("- Lưu: VT.", st.recipients)],
        [Paragraph("THỦ TRƯỞNG CƠ QUAN", st.sign), Spacer(1, 25 * mm)],
    ]], colWidths=[75 * mm, 90 * mm])
    closing.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [Spacer(1, 8 * mm), KeepTogether([closing])]
    doc.build(story)  # type: ignore[arg-type]
    return out.getvalue()
