"""Screenshots of the webmail's main pages in Vietnamese for docs/webmail.md.

    .venv/bin/python tools/webmail_screenshots.py

Runs a real server on loopback with a throw-away data directory, delivers a few
messages, and drives Debian's Chromium (Playwright, /usr/bin/chromium) through the pages.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import ServerThread, make_data_dir  # noqa: E402
from tests.webmail.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, message  # noqa: E402
from tests.webmail.test_mail import vietnamese_message  # noqa: E402

OUT = REPO / "docs" / "webmail"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = asyncio.run(make_data_dir(Path(tmp) / "data"))
        server = ServerThread(data).start()
        try:
            box = server.add_user("an@example.gov.vn", PASSWORD, "Nguyễn Văn An", must_change=True)
            for subject, sender in (("Giấy mời họp giao ban tháng 12", "Văn phòng Sở <vanphong@example.gov.vn>"),
                                    ("Báo cáo tình hình thực hiện nhiệm vụ", "Lê Văn Cường <cuong@example.gov.vn>"),
                                    ("Thông báo lịch trực Tết Đinh Mùi", "Phòng Tổ chức <tochuc@example.gov.vn>")):
                server.run(server.app.store.deliver(message(subject=subject, sender=sender), [box]))
            server.run(server.app.store.deliver(vietnamese_message(), [box]))
            origin = f"http://127.0.0.1:{server.port('http')}"
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 760})
                page.goto(origin + "/dang-nhap")
                page.fill("#address", "an@example.gov.vn")
                page.screenshot(path=OUT / "dang-nhap.png")
                page.fill("#password", PASSWORD)
                page.click("button.primary")
                page.wait_for_url(origin + "/mat-khau-moi")
                page.screenshot(path=OUT / "doi-mat-khau-lan-dau.png")
                page.fill("#new", "Tr@ng-Xanh-2026-Moi")
                page.fill("#confirm", "Tr@ng-Xanh-2026-Moi")
                page.click("button.primary")
                page.wait_for_load_state()
                page.screenshot(path=OUT / "hop-thu-den.png")
                page.click("text=Lịch làm việc tuần 49")
                page.wait_for_load_state()
                page.screenshot(path=OUT / "doc-thu.png", full_page=True)
                page.goto(origin + "/cai-dat")
                page.screenshot(path=OUT / "cai-dat.png")
                page.goto(origin + "/thu")
                page.fill("#tim", "lich lam viec")
                page.press("#tim", "Enter")
                page.wait_for_load_state()
                page.screenshot(path=OUT / "tim-thu.png")
                server.run(server.app.store.create_folder(box, "Dự án chuyển đổi số"))
                server.run(server.app.store.create_folder(box, "Dự án chuyển đổi số/Năm 2026"))
                page.goto(origin + "/thu/thu-muc")
                page.screenshot(path=OUT / "thu-muc.png", full_page=True)
                compose(page, origin)
                phone = browser.new_page(viewport={"width": 390, "height": 760}, is_mobile=True)
                phone.context.add_cookies(page.context.cookies())
                phone.goto(origin + "/thu")
                phone.screenshot(path=OUT / "dien-thoai.png")
                browser.close()
        finally:
            server.stop()


def compose(page: Page, origin: str) -> None:
    """The compose page in rich text: a reply with bold words, a list and the quotation."""
    page.goto(origin + "/thu")
    page.click("text=Giấy mời họp giao ban tháng 12")
    page.wait_for_load_state()
    page.click("a.reply")
    page.wait_for_load_state()
    page.check("#kieu-html")
    editor = page.locator("#soan-html")
    editor.click()
    page.keyboard.press("Control+Home")
    page.keyboard.type("Kính gửi Văn phòng Sở,")
    page.keyboard.press("Enter")
    page.keyboard.type("Tôi xin ")
    page.keyboard.press("Control+b")
    page.keyboard.type("xác nhận tham dự")
    page.keyboard.press("Control+b")
    page.keyboard.type(" cuộc họp, cùng:")
    page.keyboard.press("Enter")
    page.click("button[data-lenh=insertUnorderedList]")
    page.keyboard.type("bà Trần Thị Bình, Phòng Tổ chức;")
    page.keyboard.press("Enter")
    page.keyboard.type("ông Lê Văn Cường, Văn phòng.")
    page.screenshot(path=OUT / "soan-thu.png", full_page=True)


if __name__ == "__main__":
    main()
