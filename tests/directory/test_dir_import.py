"""Import from CSV and XLSX: the sample of ~2,000 staff in 100 organisations, the same
file with ten broken rows, re-import, dry run and the template."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.directory import Directory
from congthu.directory.importer import COLUMNS, Importer, ImportFileError, write_template
from congthu.directory.tables import dir_orgs, dir_people
from congthu.store.tables import mailboxes

ROOT = Path(__file__).resolve().parents[2]


def gen_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_sample_staff", ROOT / "tools" / "gen_sample_staff.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def counts(app: App) -> tuple[int, int, int]:
    def read(conn: Connection) -> tuple[int, int, int]:
        return tuple([conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                      for t in (dir_orgs, dir_people, mailboxes)])

    return await app.db.run_read(read)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
async def test_sample_import_and_broken_rows(eapp: App, tmp_path: Path, suffix: str) -> None:
    gen = gen_module()
    rows = gen.generate(100, 2000, seed=1)
    broken_rows = [dict(r) for r in rows]
    broken_lines = gen.break_rows(broken_rows, 10)
    good, bad = tmp_path / f"staff{suffix}", tmp_path / f"broken{suffix}"
    gen.write(rows, good)
    gen.write(broken_rows, bad)

    # ten broken rows: all ten reported with their line numbers, nothing imported
    report = await Importer(eapp).run(bad)
    assert sorted(line for line, _ in report.errors) == broken_lines
    assert not report.committed and await counts(eapp) == (0, 0, 0)
    text = "\n".join(report.lines())
    for needle in ("thiếu tên", "KHONGCO", "trùng mã cán bộ", "cấp lãnh đạo", "31/02/2020",
                   "postmaster", "loại dòng", "thiếu tổ chức"):
        assert needle in text

    # dry run: every proposal, nothing written
    report = await Importer(eapp).run(good, dry_run=True)
    assert not report.errors and len(report.new_people) == 2000 and len(report.new_orgs) == 100
    assert await counts(eapp) == (0, 0, 0)

    # the real import, in one go
    out = tmp_path / "passwords"
    report = await Importer(eapp).run(good, out_dir=out)
    assert report.committed and not report.errors
    assert await counts(eapp) == (100, 2000, 2100)
    addresses = [p.proposal.local for p in report.new_people if p.proposal]
    assert len(set(addresses)) == 2000
    assert any(p.proposal and p.proposal.clash_with for p in report.new_people)
    # one password file per organisation, for its leader, that logs in
    files = sorted(out.glob("*.csv"))
    assert len(files) == 100 and report.password_files
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    first = list(csv.reader(files[0].open(encoding="utf-8-sig")))
    name, _title, address, password = first[2]
    assert await eapp.accounts.verify_password(address, password) is not None
    # leaders recorded
    d = Directory(eapp)
    org = (await d.list_orgs())[0]
    assert org.leader_id is not None

    # re-import: people updated, not duplicated
    report = await Importer(eapp).run(good, out_dir=tmp_path / "again")
    assert len(report.updated_people) == 2000 and not report.new_people
    assert await counts(eapp) == (100, 2000, 2100)


async def test_reimport_without_codes_matches_by_name_and_updates(eapp: App, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    header = [h for _, h, _ in COLUMNS]

    def write(title: str) -> None:
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerow(["Tổ chức", "STTTT", "Sở Thông tin và Truyền thông"] + [""] * 8)
            w.writerow(["Cán bộ", "", "Nguyễn Thanh Bình", "STTTT", "", title, "1"] + [""] * 4)
            w.writerow(["Cán bộ", "", "Nguyễn Thanh Bình", "sotttt@soctrang.gov.vn", "", "", ""] + [""] * 4)

    write("Giám đốc")
    report = await Importer(eapp).run(path, out_dir=tmp_path / "p")
    assert [line for line, _ in report.errors] == [4]  # same name, same organisation, no codes
    lines = path.read_text(encoding="utf-8").splitlines()[:-1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await Importer(eapp).run(path, out_dir=tmp_path / "p")
    assert report.committed and [p.proposal.local for p in report.new_people if p.proposal] == ["ntbinh"]
    path.write_text(path.read_text(encoding="utf-8").replace("Giám đốc", "Giám đốc Sở"), encoding="utf-8")
    report = await Importer(eapp).run(path, out_dir=tmp_path / "p")
    assert len(report.updated_people) == 1 and not report.new_people
    people = await Directory(eapp).list_people()
    assert [(p.full_name, p.title, p.address) for p in people] == [
        ("Nguyễn Thanh Bình", "Giám đốc Sở", "ntbinh@soctrang.gov.vn")]


async def test_template_round_trip(eapp: App, tmp_path: Path) -> None:
    xlsx = write_template(tmp_path / "mau.xlsx")
    workbook = load_workbook(xlsx)
    assert [c.value for c in workbook.worksheets[0][1]] == [h for _, h, _ in COLUMNS]
    assert "Hướng dẫn" in workbook.sheetnames
    report = await Importer(eapp).run(xlsx, dry_run=True)
    assert not report.errors
    assert [o.proposal.local for o in report.new_orgs if o.proposal] == ["sotttt", "phongcntt.sotttt"]
    assert [p.proposal.local for p in report.new_people if p.proposal] == ["ntbinh", "dvthong"]
    csv_template = write_template(tmp_path / "mau.csv")
    report = await Importer(eapp).run(csv_template, out_dir=tmp_path / "p")
    assert report.committed and len(report.password_files) == 2


async def test_unreadable_files(eapp: App, tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="Thiếu cột"):
        await Importer(eapp).run(bad)
    other = tmp_path / "x.pdf"
    other.write_bytes(b"%PDF")
    with pytest.raises(ImportFileError):
        await Importer(eapp).run(other)
    latin = tmp_path / "l.csv"
    latin.write_bytes("Loại dòng".encode("cp1258", errors="replace") + b"\xff\n")
    with pytest.raises(ImportFileError, match="UTF-8"):
        await Importer(eapp).run(latin)
