"""Pictures of the reports for docs/reports.md: the PDF's pages (pdftoppm), the XLSX as
LibreOffice renders it (headless, when soffice is installed), the console's dashboard
(Debian's Chromium through Playwright).

    .venv/bin/python -m tests.reports.activity /tmp/thang       # a month with a known truth
    .venv/bin/python tools/report_screenshots.py /tmp/thang/data

The data directory is the one the activity generator leaves; the month is found in its
counters (the month with the most activity).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from congthu.accounts import roles  # noqa: E402
from congthu.reports.counters import VIETNAM  # noqa: E402
from congthu.reports.figures import build  # noqa: E402
from congthu.reports.pdf import pdf_bytes  # noqa: E402
from congthu.reports.periods import month  # noqa: E402
from congthu.reports.tables import report_months  # noqa: E402
from congthu.reports.xlsx import xlsx_bytes  # noqa: E402
from tests.conftest import ServerThread  # noqa: E402
from tests.webmail.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD  # noqa: E402

OUT = REPO / "docs" / "reports"


def main(data: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    server = ServerThread(data).start()
    try:
        app = server.app
        first = server.run(app.db.run_read(lambda c: c.execute(
            select(report_months.c.month).group_by(report_months.c.month)
            .order_by(func.sum(report_months.c.value).desc()).limit(1)).scalar()))
        period = month(first.year, first.month)
        now = datetime.combine(period.last + timedelta(days=1), time(7), VIETNAM).astimezone(UTC)
        app.accounts.clock = lambda: now
        report = server.run(build(app, period, now=now))
        with tempfile.TemporaryDirectory() as tmp:
            pdf = Path(tmp) / "bao-cao.pdf"
            pdf.write_bytes(pdf_bytes(report, place="Sóc Trăng"))
            subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", "1", "-l", "3", str(pdf), str(OUT / "pdf-trang")],
                           check=True)
            xlsx = Path(tmp) / "bao-cao.xlsx"
            xlsx.write_bytes(xlsx_bytes(report))
            if shutil.which("soffice"):
                subprocess.run(["soffice", "--headless", "--norestore", "--convert-to", "pdf", "--outdir", tmp,
                                str(xlsx)], check=True, capture_output=True, timeout=300)
                subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "4", str(Path(tmp) / "bao-cao.pdf"),
                                str(OUT / "xlsx-libreoffice")], check=True)
        address = f"giamsat@{app.settings.system.domain}"
        if server.run(app.store.get_mailbox(address)) is None:
            mailbox_id = server.add_user(address, PASSWORD, "Giám sát Sở")
            server.run(roles.grant(app, mailbox_id, roles.SUPERVISOR))
        origin = f"http://127.0.0.1:{server.port('http')}"
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(origin + "/dang-nhap")
            page.fill("#address", address)
            page.fill("#password", PASSWORD)
            page.click("button.primary")
            page.wait_for_load_state()
            page.goto(f"{origin}/quan-tri/bao-cao?ky={period.key}")
            page.screenshot(path=OUT / "bang-dieu-khien.png", full_page=True)
            browser.close()
    finally:
        server.stop()
    print(f"pictures in {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
