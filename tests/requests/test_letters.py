"""The scanned letter of a paper request (Điều 4.1; ``congthu.requests.letters``):

* what a letter may be: PDF, JPEG or PNG by its bytes whatever its name, not empty, not
  over the limit; hostile names made harmless;
* in the console, over HTTP against a real server (httpx with the session cookie and
  the page's CSRF token): the administrator files a paper request with its letter
  (multipart); the request's page lists it; the download is an attachment, nosniff,
  the bytes as uploaded, given only to those who may read the request (the
  organisation's manager yes; another organisation's manager, the records office and
  an official 404); an organisation manager cannot file a paper request nor attach a
  letter (403, audited); a letter that is HTML named .pdf, empty, or larger than the
  setting (refused from its Content-Length) files nothing; another letter attached
  later; every addition and download in the audit trail; the blob survives the store's
  garbage collection;
* ``congthu request add --letter`` and ``request letter`` (``congthu.cli.main``);
* Chromium: the administrator uploads the letter in the form and downloads it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext

from congthu import audit
from congthu.accounts import roles
from congthu.cli import main
from congthu.directory import Directory
from congthu.requests import letters
from congthu.requests.workflow import Requests
from tests.conftest import ServerThread
from tests.directory.console_client import Client, world
from tests.webmail.conftest import PASSWORD as WEB_PASSWORD
from tests.webmail.conftest import Webmail
from tests.webmail.test_login import totp_code

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20) + b"\xff\xd9"
HTML = b"<html><script>alert(1)</script></html>"


def test_what_a_letter_may_be() -> None:
    limit = 1024
    assert letters.check(PDF, "cong van.pdf", limit).content_type == "application/pdf"
    assert letters.check(PNG, "scan.PNG", limit).content_type == "image/png"
    assert letters.check(JPEG, "x", limit).content_type == "image/jpeg"  # the name says nothing
    assert letters.check(PDF, "anh.jpg", limit).content_type == "application/pdf"
    for data in (HTML, b"", b"GIF89a" + bytes(10), b" %PDF-1.4", PDF + bytes(limit)):
        with pytest.raises(letters.LetterError):
            letters.check(data, "letter.pdf", limit)
    assert letters.clean_name("../../etc/passwd") == "passwd"
    assert letters.clean_name("C:\\Users\\An\\Công văn 12.pdf") == "Công văn 12.pdf"
    assert letters.clean_name("hoa\u202egpj.exe") == "hoagpj.exe"  # a right-to-left override
    assert letters.clean_name("a\x00b\r\nc.pdf") == "abc.pdf"
    assert letters.clean_name("...") == "cong-van" and letters.clean_name("") == "cong-van"
    assert letters.clean_name("Co\u0302ng.pdf") == "Công.pdf"  # NFC
    assert len(letters.clean_name("x" * 500 + ".pdf")) == letters.MAX_NAME


def file_paper(client: Client, org_id: int, data: bytes | None, filename: str = "cong-van.pdf",
               **fields: str) -> httpx.Response:
    form = {"csrf": client.csrf(), "org": str(org_id), "kind": "create", "names": "Phạm Văn Giấy",
            "mailbox_kind": "person", "paper": "1", "note": "Công văn số 12/STP", **fields}
    with client.http as http:
        if data is None:  # the plain form, as before letters (urlencoded)
            return http.post("/quan-tri/yeu-cau", data=form)
        return http.post("/quan-tri/yeu-cau", data=form, files={"cong-van": (filename, data, "application/pdf")})


def request_ids(server: ServerThread) -> list[int]:
    return [r.id for r in server.run(Requests(server.app).listing())]


def test_paper_request_with_its_letter(server: ServerThread) -> None:
    app = server.app
    w = world(server)
    admin = w.clients["admin"]
    r = file_paper(admin, w.org.id, PDF, filename="../Công văn\u202e 12.pdf")
    assert r.status_code == 303, r.text
    request_id = int(r.headers["location"].rsplit("/", 1)[1])
    filed = server.run(Requests(app).get(request_id))
    assert filed.source == "paper" and filed.filed_by == w.address("admin")
    page = admin.get(f"/quan-tri/yeu-cau/{request_id}").text
    links = re.findall(r'<a href="(/quan-tri/yeu-cau/\d+/cong-van/\d+)" download>([^<]*)</a>', page)
    assert len(links) == 1 and links[0][1] == "Công văn 12.pdf"
    href = links[0][0]
    # Who may read the request downloads it, as an attachment never sniffed; nobody else.
    expected = {"admin": 200, "supervisor": 200, "manager": 200, "manager_other": 404, "records": 404,
                "official": 404}
    got = {}
    for who, client in w.clients.items():
        answer = client.get(href)
        got[who] = answer.status_code
        if answer.status_code == 200:
            assert answer.content == PDF and answer.headers["content-type"] == "application/pdf"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["content-disposition"] == \
                f'attachment; filename="yeu-cau-{request_id}-cong-van-1.pdf"'
            assert "sandbox" in answer.headers["content-security-policy"]
        else:
            assert "Công văn" not in answer.text
    assert got == expected
    assert w.clients["admin"].get(f"/quan-tri/yeu-cau/{request_id}/cong-van/999").status_code == 404
    reads = server.run(audit.records(app, action="request.letter_read"))
    assert {x.actor for x in reads} == {w.address(x) for x in ("admin", "supervisor", "manager")}
    added = server.run(audit.records(app, action="request.letter_added"))
    assert [(x.actor, x.target, x.details["type"]) for x in added] == [
        (w.address("admin"), f"request:{request_id}", "application/pdf")]
    # The blob is kept by the store's garbage collection for as long as the letter is.
    server.run(app.store.collect_garbage(grace_seconds=0))
    assert admin.get(href).content == PDF

    # Another letter later (a PNG), by the administrator only.
    with admin.http as http:
        later = http.post(f"/quan-tri/yeu-cau/{request_id}/cong-van", data={"csrf": admin.csrf()},
                          files={"cong-van": ("trang2.png", PNG, "image/png")})
    assert later.status_code == 303
    manager = w.clients["manager"]
    with manager.http as http:
        refused = http.post(f"/quan-tri/yeu-cau/{request_id}/cong-van", data={"csrf": manager.csrf()},
                            files={"cong-van": ("x.png", PNG, "image/png")})
    assert refused.status_code == 403
    kept = server.run(Requests(app).letters_of(request_id))
    assert [(k.filename, k.content_type) for k in kept] == [("Công văn 12.pdf", "application/pdf"),
                                                             ("trang2.png", "image/png")]
    history = admin.get(f"/quan-tri/yeu-cau/{request_id}").text.split('class="history"')[1]
    assert "letter · " + w.address("admin") + " · trang2.png" in history


def _refused_without_a_request(server: ServerThread, response: httpx.Response, status: int,
                               before: list[int]) -> None:
    assert response.status_code == status, response.text[:300]
    assert request_ids(server) == before


def test_bad_letters_and_who_may_file_on_paper(server: ServerThread) -> None:
    app = server.app
    w = world(server)
    admin, manager = w.clients["admin"], w.clients["manager"]
    before = request_ids(server)
    # HTML named .pdf, an empty file: 400, nothing filed; the page says why.
    r = file_paper(admin, w.org.id, HTML)
    _refused_without_a_request(server, r, 400, before)
    assert "PDF, JPEG" in r.text and "<script>alert" not in r.text
    _refused_without_a_request(server, file_paper(admin, w.org.id, b""), 400, before)
    # A letter without paper=1: only paper requests carry one.
    _refused_without_a_request(server, file_paper(admin, w.org.id, PDF, paper=""), 400, before)
    # Larger than [requests] letter_max_mb: refused from its Content-Length.
    app.settings.requests.letter_max_mb = 1
    try:
        _refused_without_a_request(server, file_paper(admin, w.org.id, b"%PDF-" + bytes(2 * 1024 * 1024)), 413,
                                   before)
    finally:
        app.settings.requests.letter_max_mb = 20
    # An organisation manager files for their organisation, never on paper (403, audited).
    _refused_without_a_request(server, file_paper(manager, w.org.id, PDF), 403, before)
    denied = server.run(audit.records(app, action="access.denied"))
    assert [(x.actor, x.details["permission"]) for x in denied] == [(w.address("manager"), "requests.manage")]
    assert "yeu-cau-giay" not in manager.get("/quan-tri/yeu-cau/moi").text
    assert 'id="yeu-cau-giay"' in admin.get("/quan-tri/yeu-cau/moi").text
    # Without a letter, the manager's console request goes through as before.
    r = file_paper(manager, w.org.id, None, paper="")
    assert r.status_code == 303
    assert server.run(Requests(app).get(request_ids(server)[0])).source == "console"


def test_cli_letter(server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = server.app
    org = server.run(Directory(app).add_org("Sở Nội vụ"))[0]
    scan = tmp_path / "cv-15.jpg"
    scan.write_bytes(JPEG)
    fake = tmp_path / "cv.pdf"
    fake.write_bytes(HTML)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--data", str(server.data_dir), "request", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("add", "create", org.address, "--name", "Đỗ Văn Giấy", "--letter", str(scan))
    assert code == 0, err
    assert "cv-15.jpg" in out and "image/jpeg" in out
    request_id = int(out.split()[0])
    kept = server.run(Requests(app).letters_of(request_id))
    assert [(k.filename, k.added_by) for k in kept] == [("cv-15.jpg", "it-center (cli)")]
    assert server.run(letters.read(app, kept[0])) == JPEG
    before = request_ids(server)
    code, _out, err = run("add", "create", org.address, "--name", "Đỗ Văn Giả", "--letter", str(fake))
    assert code == 1 and "PDF, JPEG" in err and "Traceback" not in err
    code, _out, err = run("add", "create", org.address, "--name", "Đỗ Văn Giả", "--letter", str(tmp_path / "no"))
    assert code == 1 and "Traceback" not in err
    assert request_ids(server) == before
    code, out, err = run("letter", str(request_id), str(scan))
    assert code == 0, err
    code, _out, err = run("letter", "9999", str(scan))
    assert code == 1 and "9999" in err
    assert "cv-15.jpg" in run("show", str(request_id))[1]


def test_letter_uploaded_in_chromium(webmail: Webmail, context: BrowserContext, tmp_path: Path) -> None:
    server = webmail.server
    app = server.app
    domain = app.settings.system.domain
    org = server.run(Directory(app).add_org("Sở Tư pháp"))[0]
    admin = webmail.add_user(f"quantri@{domain}")
    server.run(roles.grant(app, admin, roles.ADMIN))
    secret = server.run(app.accounts.totp_begin(admin))
    assert server.run(app.accounts.totp_confirm(admin, totp_code(secret, time.time()), actor="test"))
    page = context.new_page()
    page.goto(webmail.url("/dang-nhap"))
    page.fill("#address", f"quantri@{domain}")
    page.fill("#password", WEB_PASSWORD)
    page.fill("#otp", totp_code(secret, time.time() + 30))
    page.click("button.primary")
    page.wait_for_load_state()
    page.goto(webmail.url("/quan-tri/yeu-cau/moi"))
    page.select_option("#org", str(org.id))
    page.select_option("#kind", "create")
    page.fill("#names", "Vũ Thị Giấy")
    page.check("#paper")
    scan = tmp_path / "Công văn 7.pdf"
    scan.write_bytes(PDF)
    page.set_input_files("#cong-van", str(scan))
    page.click("button.primary")
    page.wait_for_url("**/quan-tri/yeu-cau/*")
    link = page.locator("#cong-van a")
    assert link.inner_text() == "Công văn 7.pdf"
    with page.expect_download() as info:
        link.click()
    download: Any = info.value
    assert download.suggested_filename.startswith("yeu-cau-") and download.suggested_filename.endswith(".pdf")
    assert Path(download.path()).read_bytes() == PDF
