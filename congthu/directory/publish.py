"""Publication of the directory on the provincial portal (Điều 9.8, 11.3): a static HTML
page (Vietnamese, grouped by organisation, searchable in the page without accents), CSV,
XLSX, vCard 3.0 and JSON. Which fields are public is ``directory.public_fields``
(default: name, title, organisation, address; "phone" may be added).

Files are written to a temporary name and renamed, so the portal never serves half a file.
In the CSV and XLSX, text that a spreadsheet would take for a formula stays text
(``spreadsheet.py``, OWASP CSV injection).
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from congthu.directory.directory import Directory
from congthu.directory.spreadsheet import append_row, csv_text
from congthu.text import fold

if TYPE_CHECKING:
    from congthu.app import App

FIELDS = ["name", "title", "organisation", "address", "phone"]
HEADERS = {"name": "Họ và tên", "title": "Chức vụ", "organisation": "Cơ quan, đơn vị",
           "address": "Địa chỉ thư điện tử", "phone": "Điện thoại"}
BASENAME = "danh-ba"


@dataclass(frozen=True)
class Entry:
    kind: str  # "org" or "person"
    name: str
    title: str
    organisation: str
    address: str
    phone: str
    family: str = ""
    given: str = ""
    middle: str = ""

    def public(self, fields: list[str]) -> dict[str, str]:
        return {f: getattr(self, f) for f in fields}


async def collect(app: App) -> tuple[list[tuple[int, Any, list[Entry]]], list[str]]:
    """(organisations in tree order with their people, public fields)."""
    directory = Directory(app)
    fields = [f for f in app.settings.directory.public_fields if f in FIELDS] or ["name", "address"]
    tree = await directory.org_tree()
    people = await directory.list_people()
    by_org: dict[int | None, list[Entry]] = {}
    for p in people:
        by_org.setdefault(p.org_id, []).append(Entry(
            "person", p.full_name, p.title, p.org_name, p.address, p.phone, p.family_name, p.given_name,
            p.middle_name))
    groups = []
    for depth, org in tree:
        entries = [Entry("org", org.name, "", org.name, org.address, "")] + by_org.get(org.id, [])
        groups.append((depth, org, entries))
    return groups, fields


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def render_csv(groups: list[tuple[int, Any, list[Entry]]], fields: list[str]) -> bytes:
    rows: list[list[str]] = [[HEADERS[f] for f in fields]]
    for _depth, _org, entries in groups:
        rows.extend([getattr(e, f) for f in fields] for e in entries)
    # Cells that would be formulas are escaped (spreadsheet.py).
    return csv_text(rows).encode("utf-8-sig")  # BOM: Excel shows the accents


def render_xlsx(groups: list[tuple[int, Any, list[Entry]]], fields: list[str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    # Write-only: the rows go straight to the file's XML, not 50,000 × 5 cells kept in
    # memory (column widths must then come before the rows).
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Danh bạ")
    for i, f in enumerate(fields):
        sheet.column_dimensions[chr(ord("A") + i)].width = 45 if f in ("organisation", "address") else 30
    header = []
    for f in fields:
        cell = WriteOnlyCell(sheet, value=HEADERS[f])
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for _depth, _org, entries in groups:
        for e in entries:
            append_row(sheet, [getattr(e, f) for f in fields])  # text, never a formula
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _vcard_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _fold_line(line: str) -> str:
    """RFC 6350 section 3.2: lines longer than 75 octets are folded."""
    if len(line.encode("utf-8")) <= 75:
        return line  # most lines: no need to walk them character by character
    out, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > 75:
            out.append(current.decode("utf-8"))
            current = b" "
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n".join(out)


def render_vcard(groups: list[tuple[int, Any, list[Entry]]], fields: list[str]) -> bytes:
    """vCard 3.0 (RFC 2426), UTF-8: one card per person and per organisation mailbox."""
    cards = []
    for _depth, _org, entries in groups:
        for e in entries:
            lines = ["BEGIN:VCARD", "VERSION:3.0"]
            name = e.name if "name" in fields or e.kind == "org" else e.address
            lines.append(f"FN:{_vcard_escape(name)}")
            if e.kind == "person" and "name" in fields:
                lines.append("N:" + ";".join(_vcard_escape(x) for x in (e.family, e.given, e.middle, "", "")))
            else:
                lines.append(f"N:{_vcard_escape(name)};;;;")
            if "organisation" in fields or e.kind == "org":
                lines.append(f"ORG:{_vcard_escape(e.organisation)}")
            if "title" in fields and e.title:
                lines.append(f"TITLE:{_vcard_escape(e.title)}")
            if "address" in fields and e.address:
                lines.append(f"EMAIL;TYPE=INTERNET,WORK:{e.address}")
            if "phone" in fields and e.phone:
                lines.append(f"TEL;TYPE=WORK:{_vcard_escape(e.phone)}")
            if e.kind == "org":
                lines.append("X-ADDRESSBOOKSERVER-KIND:group")
            lines.append("END:VCARD")
            cards.append("\r\n".join(_fold_line(x) for x in lines))
    return ("\r\n".join(cards) + "\r\n").encode("utf-8")


def render_json(groups: list[tuple[int, Any, list[Entry]]], fields: list[str], generated: str) -> bytes:
    data = {
        "generated": generated,
        "fields": fields,
        "organisations": [
            {"name": org.name, "address": org.address if "address" in fields else None, "level": depth,
             "people": [e.public(fields) for e in entries if e.kind == "person"]}
            for depth, org, entries in groups
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


# The in-page search folds accents like congthu.text.fold: NFD, drop combining marks,
# đ/Đ → d, lower case, single spaces. Rows carry their folded text in data-k. The query
# may also come in the URL (?q=...), so a link can open a search.
_SCRIPT = r"""
function fold(s) {
  return s.replace(/[đĐ]/g, 'd').normalize('NFD').replace(/[\u0300-\u036f]/g, '')
          .toLowerCase().replace(/\s+/g, ' ').trim();
}
function search(q) {
  var terms = fold(q).split(' ').filter(function (t) { return t; });
  var shown = 0;
  document.querySelectorAll('section.org').forEach(function (sec) {
    var any = false;
    sec.querySelectorAll('tr[data-k]').forEach(function (tr) {
      var k = tr.getAttribute('data-k');
      var ok = terms.every(function (t) { return k.indexOf(t) >= 0; });
      tr.hidden = !ok;
      if (ok) { any = true; shown++; }
    });
    sec.hidden = !any;
  });
  document.getElementById('count').textContent = shown + ' kết quả';
  return shown;
}
document.addEventListener('DOMContentLoaded', function () {
  var box = document.getElementById('q');
  box.addEventListener('input', function () { search(box.value); });
  var q = new URLSearchParams(location.search).get('q');
  if (q) { box.value = q; search(q); }
});
"""

_STYLE = """
body { font-family: system-ui, "Segoe UI", Roboto, Arial, sans-serif; margin: 2em auto; max-width: 70em;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.15em; margin: 1.4em 0 .3em; }
input#q { font-size: 1.1em; padding: .4em; width: 100%; box-sizing: border-box; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25em .5em;
border-bottom: 1px solid #ddd; } th { background: #f3f3f3; }
.org-row td { font-weight: 600; } .meta { color: #666; font-size: .9em; }
"""


def render_html(groups: list[tuple[int, Any, list[Entry]]], fields: list[str], generated: str,
                title: str, operator: str) -> bytes:
    esc = html.escape
    head = "".join(f"<th>{esc(HEADERS[f])}</th>" for f in fields)
    sections = []
    for depth, org, entries in groups:
        rows = []
        for e in entries:
            # Only the public fields: a field not published must not be in the page's source.
            key = fold(" ".join(getattr(e, f) for f in fields))
            cells = []
            for f in fields:
                value = getattr(e, f)
                if f == "address" and value:
                    cells.append(f'<td><a href="mailto:{esc(value)}">{esc(value)}</a></td>')
                else:
                    cells.append(f"<td>{esc(value)}</td>")
            css = ' class="org-row"' if e.kind == "org" else ""
            rows.append(f'<tr data-k="{esc(key)}"{css}>{"".join(cells)}</tr>')
        level = min(depth + 2, 6)
        sections.append(
            f'<section class="org" style="margin-left:{depth * 1.5}em">'
            f"<h{level}>{esc(org.name)}</h{level}>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
        )
    page = f"""<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{esc(title)}</h1>
<p class="meta">{esc(operator)} · cập nhật {esc(generated)} ·
<a href="{BASENAME}.csv">CSV</a> · <a href="{BASENAME}.xlsx">Excel</a> · <a href="{BASENAME}.vcf">vCard</a> ·
<a href="{BASENAME}.json">JSON</a></p>
<label for="q">Tìm theo tên, địa chỉ hoặc cơ quan (gõ có dấu hoặc không dấu):</label>
<input id="q" type="search" placeholder="vd. nguyen thanh binh, ntbinh, so thong tin" autocomplete="off">
<p id="count" class="meta"></p>
{''.join(sections)}
<script>{_SCRIPT}</script>
</body>
</html>
"""
    return page.encode("utf-8")


async def publish(app: App, dest: Path | str | None = None) -> list[Path]:
    """Write index.html, danh-ba.csv, danh-ba.xlsx, danh-ba.vcf and danh-ba.json."""
    target = Path(dest) if dest else app.path(app.settings.directory.publish_dir or "public/danh-ba")
    target.mkdir(parents=True, exist_ok=True)
    groups, fields = await collect(app)
    generated = datetime.now().astimezone().strftime("%d/%m/%Y %H:%M")
    title = f"Danh bạ thư điện tử công vụ — {app.settings.system.domain}"

    def render_and_write() -> list[Path]:
        # In a thread: rendering 50,000 entries must not hold up the server's event loop.
        outputs = {
            "index.html": render_html(groups, fields, generated, title, app.settings.system.operator),
            f"{BASENAME}.csv": render_csv(groups, fields),
            f"{BASENAME}.xlsx": render_xlsx(groups, fields),
            f"{BASENAME}.vcf": render_vcard(groups, fields),
            f"{BASENAME}.json": render_json(groups, fields, generated),
        }
        written = []
        for name, data in outputs.items():
            path = target / name
            _atomic_write(path, data)
            written.append(path)
        return written

    return await asyncio.to_thread(render_and_write)
