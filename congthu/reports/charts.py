"""The report's charts: the totals of a section as bars, drawn as inline SVG for the
console's dashboard (no script, no library, nothing fetched: the console's CSP allows
no outside source) and with reportlab's graphics for the PDF (``pdf.py``).
"""

from __future__ import annotations

from html import escape

from congthu.reports.figures import Row, Section

__all__ = ["bars", "svg_bars"]

COLOURS = ("#1f5f99", "#c0392b", "#2e8b57", "#d68910", "#6c3483", "#117a65")


def bars(section: Section, row: Row) -> list[tuple[str, float]]:
    """(label, value) of the section's counted columns for one row (the total)."""
    return [(c.vi, row.value(c)) for c in section.columns if c.kind == "count"]


def svg_bars(items: list[tuple[str, float]], title: str, width: int = 520) -> str:
    """Horizontal bars with their labels and values, as an <svg> element."""
    bar_h, gap, label_w = 22, 8, 230
    height = 30 + len(items) * (bar_h + gap)
    top = max((v for _l, v in items), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    span = width - label_w - 70
    for i, (label, value) in enumerate(items):
        y = 30 + i * (bar_h + gap)
        w = int(span * value / top) if value else 0
        colour = COLOURS[i % len(COLOURS)]
        shown = f"{int(value):,}".replace(",", ".")
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="12">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)
