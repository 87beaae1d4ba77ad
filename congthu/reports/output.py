"""The report in each of its formats: ``render(report, "pdf" | "xlsx" | "html")``.

The HTML is the console dashboard's body (``templates/report_tables.html``) in a page of
its own, the charts inline SVG: a file that opens anywhere, without the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from congthu.reports.charts import bars, svg_bars
from congthu.reports.counters import VIETNAM
from congthu.reports.figures import SECTIONS, Report, shown

__all__ = ["FORMATS", "TEMPLATES", "render", "shown_sections"]

FORMATS = ("pdf", "xlsx", "html")
TEMPLATES = Path(__file__).parent / "templates"
WORDS = {"report.org": "Cơ quan, đơn vị", "report.total": "Tổng cộng", "report.note": "Ghi chú"}


def shown_sections(report: Report, lang: str = "vi", links: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """What the HTML shows of each section: titles, cells, totals, the chart's SVG."""
    out = []
    for section in SECTIONS:
        columns = section.columns
        out.append({
            "number": section.number, "title": section.vi if lang == "vi" else section.en,
            "columns": [c.vi if lang == "vi" else c.en for c in columns],
            "rows": [{"label": r.label, "link": (links or {}).get(r.org_id or -1, ""),
                      "cells": [shown(r.value(c), c) for c in columns]} for r in report.rows],
            "total": [shown(report.total.value(c), c) for c in columns],
            "chart": svg_bars(bars(section, report.total), section.vi if lang == "vi" else section.en)
            if section.chart else "",
        })
    return out


def _html(report: Report) -> bytes:
    # jinja2 at first use, for start-up time (see render)
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    page = env.get_template("report_standalone.html").render(
        report=report, parts=shown_sections(report), t=WORDS.__getitem__,
        made=report.made_at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M"))
    return page.encode("utf-8")


def render(report: Report, fmt: str, *, place: str = "") -> bytes:
    # reportlab and openpyxl are imported by the format that needs them, for start-up
    # time: `congthu report` is one of thirty commands that all load this module.
    if fmt == "pdf":
        from congthu.reports.pdf import pdf_bytes

        return pdf_bytes(report, place=place)
    if fmt == "xlsx":
        from congthu.reports.xlsx import xlsx_bytes

        return xlsx_bytes(report)
    if fmt == "html":
        return _html(report)
    raise ValueError(f"unknown format {fmt!r}")
