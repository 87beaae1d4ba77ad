"""Bulk import in the console (``/quan-tri/danh-ba/nhap``, issue 15) over HTTP (httpx,
multipart upload with the page's CSRF token) against a real server on loopback:

* who: administrators only; the page is 404 for every other role, an upload 403 and
  audited (404 for an official, who has no console);
* a good file (CSV and XLSX in the template) is checked and previewed (new organisations
  and people with their Điều 3 addresses; nothing changes), then imported on
  confirmation, audited, the one-time passwords in files on the server only;
* bad rows are listed against the file's line numbers and nothing can be confirmed;
* hostile files give a clear error and change nothing: a wrong type, a body larger than
  allowed (refused from its Content-Length, unread), an XLSX that is no zip or a zip
  bomb, formulas (CSV and XLSX), bad encodings (Windows-1258, UTF-16), NUL bytes;
* a confirmation of someone else's upload, or a forged form, changes nothing;
* Chromium uploads, sees the preview and confirms (the one browser test).
"""

from __future__ import annotations

import io
import re
import socket
import time
import unicodedata
import zipfile

from openpyxl import Workbook
from playwright.sync_api import BrowserContext, expect

from congthu import audit
from congthu.accounts import roles
from congthu.directory import Directory
from congthu.directory.importer import COLUMNS, MAX_XLSX_UNPACKED
from congthu.directory.web_import import MAX_UPLOAD
from congthu.webmail.sessions import COOKIE
from tests.accounts.helpers import Clock
from tests.conftest import ServerThread
from tests.directory.console_client import ROLES, Client, signed_in, world
from tests.webmail.conftest import PASSWORD as WEBMAIL_PASSWORD
from tests.webmail.conftest import Webmail, browser, context, playwright, webmail
from tests.webmail.test_login import totp_code

__all__ = ["browser", "context", "playwright", "webmail"]

HEADER = [h for _key, h, _meaning in COLUMNS]
GOOD_ROWS = [
    ["Tổ chức", "SNV", "Sở Nội vụ", "", "", "", "", "", "", "", ""],
    ["Tổ chức", "SNV-TCBM", "Phòng Tổ chức bộ máy", "SNV", "", "", "", "", "", "", ""],
    ["Cán bộ", "NV001", "Hoàng Văn Nội", "SNV", "", "Giám đốc", "1", "01/01/2015", "", "x", ""],
    ["Cán bộ", "NV002", "Hoàng Thị Vụ", "SNV-TCBM", "", "Trưởng phòng", "3", "02/01/2015", "", "", "+84 299 3821 000"],
]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig", delimiter: str = ",") -> bytes:
    lines = [delimiter.join(f'"{c}"' for c in row) for row in [HEADER, *rows]]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def windows_1258(text: str) -> bytes:
    """Text as a Vietnamese Windows spreadsheet saves "CSV" (code page 1258: tone marks
    as combining characters after the base letter)."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            out += unicodedata.normalize("NFD", char).encode("cp1258", "replace")
    return bytes(out)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def lines_in_error(body: str) -> list[int]:
    table = re.search(r'id="dong-loi">(.*?)</table>', body, re.S)
    assert table is not None, body[:2000]
    return [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", table.group(1))]


def test_who_may_import(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    expected = {"admin": (200, 200), "supervisor": (404, 403), "manager": (404, 403), "manager_other": (404, 403),
                "records": (404, 403), "official": (404, 404)}
    got = {}
    for who in ROLES:
        c = w.clients[who]
        page = c.get("/quan-tri/danh-ba/nhap")
        upload = c.upload("/quan-tri/danh-ba/nhap", "danh-ba.csv", csv_bytes(GOOD_ROWS))
        got[who] = (page.status_code, upload.status_code)
        if who == "admin":
            assert 'id="xac-nhan"' in upload.text
    assert got == expected
    assert server.run(Directory(app).list_people()) == []  # previews only
    denied = server.run(audit.records(app, action="access.denied"))
    assert {r.actor for r in denied} == {w.address(x) for x in ("supervisor", "manager", "manager_other", "records")}
    # English second, with the language switch's cookie.
    english = Client(server, w.clients["admin"].cookie, lang="en")
    assert "Import the directory from a file" in english.get("/quan-tri/danh-ba/nhap").text
    r = english.upload("/quan-tri/danh-ba/nhap", "danh-ba.csv", csv_bytes(GOOD_ROWS))
    assert r.status_code == 200 and "Would import: 2 new organisations, 2 new people" in r.text
    # The template is offered to administrators.
    r = w.clients["admin"].get("/quan-tri/danh-ba/nhap/mau.xlsx")
    assert r.status_code == 200 and r.content.startswith(b"PK") and "attachment" in r.headers["content-disposition"]
    assert w.clients["manager"].get("/quan-tri/danh-ba/nhap/mau.xlsx").status_code == 404


def confirm_token(body: str) -> str:
    found = re.search(r'name="token" value="([0-9a-f]{32})"', body)
    assert found is not None, body[:2000]
    return found.group(1)


def test_preview_then_import(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    d = Directory(app)
    admin = w.clients["admin"]
    for name, content in (("danh-ba.csv", csv_bytes(GOOD_ROWS)), ("danh-ba.xlsx", xlsx_bytes(GOOD_ROWS))):
        r = admin.upload("/quan-tri/danh-ba/nhap", name, content)
        assert r.status_code == 200, r.text[:2000]
        assert f"sonv@{d.domain}" in r.text and f"hvnoi@{d.domain}" in r.text and "Điều 3" in r.text
        assert 'id="tom-tat"' in r.text
    assert all(o.name != "Sở Nội vụ" for o in server.run(d.list_orgs()))  # nothing imported by a preview
    token = confirm_token(r.text)
    # Another administrator's session cannot confirm this upload.
    second = server.add_user(f"admin2@{d.domain}", "Mk@12345678xyz", "admin2")
    server.run(roles.grant(app, second, roles.ADMIN))
    secret = server.run(app.accounts.totp_begin(second))
    assert server.run(app.accounts.totp_confirm(second, totp_code(secret, time.time()), actor="test"))
    assert signed_in(server, second).post("/quan-tri/danh-ba/nhap/xac-nhan", token=token).status_code == 410
    forged = Client(server, admin.cookie, forged=True)
    assert forged.post("/quan-tri/danh-ba/nhap/xac-nhan", token=token).status_code == 403
    assert all(o.name != "Sở Nội vụ" for o in server.run(d.list_orgs()))
    r = admin.post("/quan-tri/danh-ba/nhap/xac-nhan", token=token, filename="danh-ba.xlsx")
    assert r.status_code == 200 and 'id="da-nhap"' in r.text
    people = {p.full_name: p for p in server.run(d.list_people())}
    assert people["Hoàng Văn Nội"].address == f"hvnoi@{d.domain}" and people["Hoàng Thị Vụ"].title == "Trưởng phòng"
    files = re.findall(r"<code>([^<]+\.csv)</code>", r.text)
    assert files and all((app.data_dir / f).stat().st_mode & 0o077 == 0 for f in files)
    # The one-time passwords are in the files only, never on the page.
    written = "".join((app.data_dir / f).read_text(encoding="utf-8-sig") for f in files)
    passwords = re.findall(r'"([^"]{12,})"\r?\n', written)
    assert passwords and not any(p in r.text for p in passwords)
    # The token is spent: a second confirmation finds nothing.
    assert admin.post("/quan-tri/danh-ba/nhap/xac-nhan", token=token).status_code == 410
    done = server.run(audit.records(app, action="directory.imported"))
    assert [(r.actor, r.details["people"]) for r in done] == [(w.address("admin"), 2)]


def test_bad_rows_and_hostile_files(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    d = Directory(app)
    admin = w.clients["admin"]
    before = (len(server.run(d.list_orgs())), len(server.run(d.list_people())))

    def refused(name: str, content: bytes, status: int, *needles: str) -> str:
        r = admin.upload("/quan-tri/danh-ba/nhap", name, content)
        assert r.status_code == status, (name, r.status_code, r.text[:1500])
        assert 'id="xac-nhan"' not in r.text, name
        for needle in needles:
            assert needle in r.text, (name, needle)
        return r.text

    # Bad rows: each one against its line in the file (the header is line 1).
    bad = [list(r) for r in GOOD_ROWS]
    bad[2][6] = "một"  # line 4: the rank is not a number
    bad[3][2] = ""  # line 5: no name
    body = refused("sai.csv", csv_bytes(bad), 400, "cấp lãnh đạo")
    assert lines_in_error(body) == [4, 5]
    # Formulas instead of values, in CSV (= and @) and in XLSX (a real formula cell).
    formula = [list(r) for r in GOOD_ROWS]
    formula[2][5] = '=HYPERLINK("http://attacker.example","Bấm")'
    formula[3][5] = "@SUM(1+1)"
    body = refused("cong-thuc.csv", csv_bytes(formula), 400, "công thức")
    assert lines_in_error(body) == [4, 5]
    cells: list[list[object]] = [list(r) for r in GOOD_ROWS]
    cells[3][6] = "=1+2"
    body = refused("cong-thuc.xlsx", xlsx_bytes(cells), 400, "công thức")
    assert lines_in_error(body) == [5]
    # Files that are not what they say.
    refused("danh-ba.exe", b"MZ\x90\x00", 400, ".xlsx", ".csv")
    refused("danh-ba.xls", b"\xd0\xcf\x11\xe0", 400, ".xlsx")
    refused("danh-ba.xlsx", b"this is not a zip file at all", 400, "XLSX")
    refused("danh-ba.csv", xlsx_bytes(GOOD_ROWS), 400, "XLSX")
    refused("danh-ba.csv", windows_1258(csv_bytes(GOOD_ROWS).decode("utf-8-sig")), 400, "UTF-8", "dòng 1")
    refused("danh-ba.csv", csv_bytes(GOOD_ROWS, "utf-16"), 400, "UTF-16")
    refused("danh-ba.csv", b"a,b\x00c\r\n", 400, "CSV")
    refused("danh-ba.csv", b"", 400, "rỗng")
    refused("danh-ba.csv", "Tên,Điện thoại\r\nA,1\r\n".encode(), 400, "Thiếu cột")
    # A zip bomb: a few hundred kilobytes that unpack past the limit.
    bomb = io.BytesIO()
    zeros = b"\0" * (1 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
        for _ in range(MAX_XLSX_UNPACKED // (1 << 20) + 1):
            part.write(zeros)
    assert len(bomb.getvalue()) < 2 * 1024 * 1024
    refused("bom.xlsx", bomb.getvalue(), 400, "giải nén")
    # Too large: refused from the Content-Length before the body is read.
    status, text = declared_too_large(server, admin)
    assert status == 413 and "MB" in text
    # No file chosen.
    r = admin.upload("/quan-tri/danh-ba/nhap", "", b"")
    assert r.status_code == 400
    assert (len(server.run(d.list_orgs())), len(server.run(d.list_people()))) == before
    assert not [p for p in (app.data_dir / "nhap-danh-ba").iterdir()]  # refused uploads are not kept


def declared_too_large(server: ServerThread, admin: Client) -> tuple[int, str]:
    """A multipart POST that announces more than MAX_UPLOAD and sends only its start."""
    boundary = "xxBOUNDARYxx"
    start = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{admin.csrf()}\r\n"
             f"--{boundary}\r\nContent-Disposition: form-data; name=\"tep\"; filename=\"lon.csv\"\r\n\r\n").encode()
    head = (f"POST /quan-tri/danh-ba/nhap HTTP/1.1\r\nHost: 127.0.0.1:{server.port('http')}\r\n"
            f"Cookie: {COOKIE}={admin.cookie}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {MAX_UPLOAD * 2}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port("http")), timeout=30) as sock:
        sock.sendall(head + start)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.decode("utf-8", "replace")


def test_import_in_chromium(webmail: Webmail, context: BrowserContext) -> None:
    server = webmail.server
    app = server.app
    d = Directory(app)
    domain = app.settings.system.domain
    admin = webmail.add_user(f"quantri@{domain}")
    server.run(roles.grant(app, admin, roles.ADMIN))
    clock = Clock(app.accounts.clock())
    app.accounts.clock = clock
    secret = server.run(app.accounts.totp_begin(admin))
    assert server.run(app.accounts.totp_confirm(admin, totp_code(secret, clock().timestamp()), actor="test"))
    clock.advance(seconds=30)  # a code is taken once: the sign-in uses the next one
    page = context.new_page()
    page.goto(webmail.url("/dang-nhap"))
    page.fill("#address", f"quantri@{domain}")
    page.fill("#password", WEBMAIL_PASSWORD)
    page.fill("#otp", totp_code(secret, clock().timestamp()))
    page.click("button.primary")
    page.wait_for_url(webmail.url("/thu/**"))
    page.goto(webmail.url("/quan-tri/danh-ba"))
    page.click("#nhap-tu-tep")
    page.set_input_files("#tep", files=[{"name": "danh-ba.csv", "mimeType": "text/csv",
                                         "buffer": csv_bytes(GOOD_ROWS)}])
    page.click("#kiem-tra")
    expect(page.locator("#tom-tat")).to_contain_text("2 người mới")
    expect(page.locator("#nguoi-moi")).to_contain_text(f"hvnoi@{domain}")
    assert server.run(app.store.get_mailbox(f"hvnoi@{domain}")) is None  # previewed, not saved
    page.click("#nhap")
    expect(page.locator("#da-nhap")).to_contain_text("2 người mới")
    assert server.run(d.get_person(f"hvnoi@{domain}")).full_name == "Hoàng Văn Nội"
