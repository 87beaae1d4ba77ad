"""A month of activity through the real doors (``activity.py``: IMAP, POP3, the webmail,
submission and MX over SMTP, a "Mật" document, GTUBE and EICAR against private rspamd and
clamd, requests of Điều 4, password changes) and the month's report checked against
what the generator did: every figure of every row, the roll-up of the sub-unit into its
department, the report of one department with its sub-unit as a row, the XLSX (opened
with openpyxl: the figures, the totals as formulas) and the PDF (pypdf's text: the
national motto, the headings with their diacritics; rendered to PNG by pdftoppm)."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pypdf

from congthu.directory import Directory
from congthu.reports.figures import COUNTED, SECTIONS, build
from congthu.reports.pdf import pdf_bytes
from congthu.reports.xlsx import xlsx_bytes
from tests.conftest import need
from tests.content.daemons import Clamd, Rspamd
from tests.folders import folder_index_of
from tests.reports.activity import ROW, SERVER_SETTINGS, generate, target_month
from tests.smtp.conftest import start_server

# Figures the generator cannot know beforehand and the test reads from the store instead.
FROM_STORE = {"storage.used", "storage.quota", "storage.near", "spam.junk"}


def store_figures(server: Any, truth: Any) -> dict[str, dict[str, int]]:
    """Storage and Junk per report row, read from the directory and the store (not from
    the reports): each organisation's mailbox and its people's, sub-units in their row."""
    app = server.app
    directory = Directory(app)
    out: dict[str, dict[str, int]] = {}
    for key, org_id in truth.orgs.items():
        org = server.run(directory.get_org(org_id))
        ids = [org.mailbox_id] + [p.mailbox_id for p in server.run(directory.list_people(org_id))]
        figures = out.setdefault(ROW[key], {})
        for mailbox_id in ids:
            box = server.run(app.store.get_mailbox_by_id(mailbox_id))
            figures["storage.used"] = figures.get("storage.used", 0) + box.used_bytes
            junk = server.run(folder_index_of(app.store, mailbox_id, "Junk"))
            figures["spam.junk"] = figures.get("spam.junk", 0) + len(junk)
    return out


def test_a_month_of_activity_gives_the_known_figures(tmp_path: Path, dns_server: Any, clamd: Clamd,
                                                    rspamd: Rspamd) -> None:
    server = start_server(tmp_path / "data", dns_server, **SERVER_SETTINGS,
                          content={"clamd": clamd.address, "rspamd": rspamd.url, "timeout": 30.0})
    try:
        period = target_month(date.today())
        truth = generate(server, period)
        app = server.app
        now = app.accounts.clock()
        report = server.run(build(app, period, now=now))
        rows = {row.org_id: row for row in report.rows}
        # The system's own mailboxes (none here) aside, one row per department.
        assert set(rows) == {truth.orgs["stttt"], truth.orgs["syt"]}
        for key, figures in truth.rows.items():
            row = rows[truth.orgs[key]]
            for metric in COUNTED:
                if metric in FROM_STORE or metric.startswith("storage"):
                    continue
                assert row.values.get(metric, 0) == figures.get(metric, 0), (key, metric)
        assert truth.total("login.imap") > 0 and truth.total("mail.sent.province") > 0
        assert report.total.values.get("stopped.classified") == 1
        assert report.total.values.get("stopped.spam") == 1 and report.total.values.get("stopped.virus") == 1
        # Storage and Junk against the store's own figures, by the directory's rows.
        for key, figures in store_figures(server, truth).items():
            row = rows[truth.orgs[key]]
            assert row.values.get("spam.junk", 0) == figures["spam.junk"], key
            assert row.values.get("storage.used", 0) == figures["storage.used"], key
        assert report.total.values["storage.used"] == sum(
            b.used_bytes for b in server.run(app.store.list_mailboxes()))
        # Ratios: used / officials, on time / accounts.
        usage = next(c for s in SECTIONS for c in s.columns if c.key == "use.ratio")
        expected = round(100 * truth.total("use.used") / truth.total("use.officials"), 1)
        assert report.total.value(usage) == expected

        # One department: itself, and its sub-unit rolled into it.
        department = server.run(build(app, period, "STTTT", now=now))
        assert [r.org_id for r in department.rows] == [truth.orgs["stttt"], truth.orgs["vp"]]
        for metric in ("login.imap", "login.web", "mail.sent", "mail.received.org", "use.officials"):
            assert department.total.values.get(metric, 0) == truth.rows["stttt"].get(metric, 0), metric
        assert department.rows[1].values.get("login.web", 0) == truth.rows["stttt"].get("login.web", 0)

        check_xlsx(tmp_path, report, truth)
        check_pdf(tmp_path, report)
    finally:
        server.stop()


def check_xlsx(tmp_path: Path, report: Any, truth: Any) -> None:
    path = tmp_path / "bao-cao.xlsx"
    path.write_bytes(xlsx_bytes(report))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[0] == "Tổng hợp" and len(book.sheetnames) == 1 + len(SECTIONS)
    logins = book["II. Đăng nhập theo giao thức"]
    header = [c.value for c in logins[5]]
    assert header[:4] == ["STT", "Cơ quan, đơn vị", "IMAP", "POP3"]
    names = [logins.cell(row=r, column=2).value for r in (6, 7, 8)]
    assert names == ["Sở Thông tin và Truyền thông", "Sở Y tế", "Tổng cộng"]
    assert logins.cell(row=6, column=3).value == truth.rows["stttt"]["login.imap"]
    assert logins.cell(row=8, column=3).value == "=SUM(C6:C7)"  # totals are formulas
    assert logins.cell(row=6, column=8).value == "=C6+D6+E6+F6+G6"  # the row's total too
    use = book["IX. Sử dụng và mật khẩu"]
    assert use.cell(row=8, column=5).value == "=IF(C8=0,0,ROUND(100*D8/C8,1))"
    summary = book["Tổng hợp"]
    assert summary.cell(row=6, column=3).value == "='I. Hộp thư'!C8"


def check_pdf(tmp_path: Path, report: Any) -> None:
    path = tmp_path / "bao-cao.pdf"
    path.write_bytes(pdf_bytes(report, place="Sóc Trăng"))
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    for heading in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BÁO CÁO",
                    "I. HỘP THƯ", "II. ĐĂNG NHẬP THEO GIAO THỨC", "VII. AN TOÀN THÔNG TIN",
                    "Sóc Trăng, ngày", report.period.title_vi, "Nơi nhận:", "Biểu đồ: Đăng nhập theo giao thức"):
        assert heading in text, heading
    pdftoppm = need("pdftoppm", "poppler-utils")
    subprocess.run([pdftoppm, "-r", "50", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "trang")],
                   check=True, timeout=60)
    png = next(tmp_path.glob("trang*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
