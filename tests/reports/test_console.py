"""The reports in the console (``/quan-tri/bao-cao``) over real HTTP, signed in through the
webmail's sign-in: who sees what, as a matrix. Administrators (with TOTP) and the
Department's supervisors see the whole system and every organisation; an organisation's
manager sees their organisation and its sub-units (404 for any other, as the requests
console does); an official without a console role gets 404 everywhere. The files
(PDF, XLSX, HTML) come through the same check; a bad period is a 400 page, not a
traceback."""

from __future__ import annotations

import http.cookiejar
import io
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import openpyxl
import pypdf

from congthu.accounts import roles
from congthu.directory import Directory
from tests.accounts.helpers import Clock
from tests.conftest import ServerThread
from tests.webmail.test_login import totp_code

PASSWORD = "Mk@12345678"


class Browser:
    """Cookies, the sign-in form's token, real HTTP on the server's HTTP port."""

    def __init__(self, server: ServerThread) -> None:
        self.base = f"http://127.0.0.1:{server.port('http')}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, bytes, str]:
        try:
            with self.opener.open(self.base + path, timeout=60) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("Content-Type", "")

    def sign_in(self, address: str, otp: str = "") -> None:
        _status, page, _type = self.get("/dang-nhap")
        token = re.search(rb'name="csrf" value="([^"]+)"', page)
        assert token is not None
        fields = {"address": address, "password": PASSWORD, "csrf": token.group(1).decode(), "otp": otp}
        request = urllib.request.Request(self.base + "/dang-nhap", data=urllib.parse.urlencode(fields).encode())
        with self.opener.open(request, timeout=60) as response:
            assert "/dang-nhap" not in response.url, f"sign-in refused for {address}"


def test_who_sees_which_reports(server: ServerThread) -> None:
    app = server.app
    directory = Directory(app)
    stttt = server.run(directory.add_org("Sở Thông tin và Truyền thông", code="STTTT"))[0]
    vp = server.run(directory.add_org("Văn phòng Sở", parent=stttt.id))[0]
    syt = server.run(directory.add_org("Sở Y tế", code="SYT"))[0]
    domain = app.settings.system.domain
    ids = {name: server.add_user(f"{name}@{domain}") for name in
           ("quantri", "giamsat", "quanly.stttt", "quanly.vp", "quanly.syt", "canbo")}
    server.run(roles.grant(app, ids["quantri"], roles.ADMIN))
    server.run(roles.grant(app, ids["giamsat"], roles.SUPERVISOR))
    server.run(roles.grant(app, ids["quanly.stttt"], roles.ORG_MANAGER, stttt.id))
    server.run(roles.grant(app, ids["quanly.vp"], roles.ORG_MANAGER, vp.id))
    server.run(roles.grant(app, ids["quanly.syt"], roles.ORG_MANAGER, syt.id))
    clock = Clock(datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
    app.accounts.clock = clock
    secret = server.run(app.accounts.totp_begin(ids["quantri"]))
    assert server.run(app.accounts.totp_confirm(ids["quantri"], totp_code(secret, app.accounts.clock().timestamp()),
                                                actor="test"))
    targets = {"whole": "", "stttt": str(stttt.id), "vp": str(vp.id), "syt": str(syt.id)}
    everything = {"whole", "stttt", "vp", "syt"}
    allowed = {
        "quantri": everything, "giamsat": everything,
        "quanly.stttt": {"whole", "stttt", "vp"},  # "whole" is their own organisation's report
        "quanly.vp": {"whole", "vp"}, "quanly.syt": {"whole", "syt"}, "canbo": set(),
    }
    for who, may in allowed.items():
        browser = Browser(server)
        clock.advance(seconds=30)  # a new TOTP step for each sign-in (a code is used once)
        otp = totp_code(secret, clock().timestamp()) if who == "quantri" else ""
        browser.sign_in(f"{who}@{domain}", otp)
        for target, org in targets.items():
            query = f"?ky=2026-11&to-chuc={org}" if org else "?ky=2026-11"
            status, page, _type = browser.get("/quan-tri/bao-cao" + query)
            assert status == (200 if target in may else 404), (who, target, status)
            status, data, kind = browser.get(f"/quan-tri/bao-cao/tai{query}&dinh-dang=xlsx")
            assert status == (200 if target in may else 404), (who, target, "xlsx", status)
            if status == 200:
                assert kind.startswith("application/vnd.openxmlformats")
                assert openpyxl.load_workbook(io.BytesIO(data)).sheetnames[0] == "Tổng hợp"
        if who.startswith("quanly."):
            # The default report is the manager's organisation, and no other is offered.
            status, page, _type = browser.get("/quan-tri/bao-cao")
            text = page.decode()
            assert status == 200 and "Toàn hệ thống" not in text
            assert ("Sở Y tế" in text) == (who == "quanly.syt")
    admin = Browser(server)
    clock.advance(seconds=30)
    admin.sign_in(f"quantri@{domain}", totp_code(secret, clock().timestamp()))
    status, page, _type = admin.get("/quan-tri/bao-cao?ky=2026-Q4")
    text = page.decode()
    assert status == 200 and "<svg" in text and "quý IV năm 2026" in text and "Toàn hệ thống" in text
    assert "cdn" not in text.lower() and "<script src=\"http" not in text
    status, data, kind = admin.get(f"/quan-tri/bao-cao/tai?ky=2026&to-chuc={stttt.id}&dinh-dang=pdf")
    assert status == 200 and kind == "application/pdf"
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    for bad in ("?ky=2026-13", "?ky=abc", "?tu=2026-12-01&den=2026-11-01", "?ky=2026-Q5"):
        status, page, _type = admin.get("/quan-tri/bao-cao" + bad)
        assert status == 400 and "Kỳ báo cáo không hợp lệ" in page.decode(), bad
    for bad in ("?to-chuc=999999", "?to-chuc=abc", "?to-chuc=" + "9" * 40):
        status, _page, _type = admin.get("/quan-tri/bao-cao" + bad)
        assert status == 404, bad
    status, _page, _type = admin.get(f"/quan-tri/bao-cao/tai?to-chuc={stttt.id}&dinh-dang=docx")
    assert status == 404
