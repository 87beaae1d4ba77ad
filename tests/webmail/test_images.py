"""Images and previews of hostile mail, over HTTP with the real sign-in and CSRF
(``tests.webmail.client``), and two checks in Chromium where the browser matters.

- inline ``cid:`` images (RFC 2392) written into the body frame as ``data:`` URLs, only
  PNG/JPEG/GIF/WebP recognised by their bytes; a ``cid:`` naming another message's part,
  a path, an SVG with script, an HTML file declared image/png and a 100,000 x 100,000
  pixel PNG are never shown;
- remote images blocked until the reader asks for the message or the sender, and then
  only public https ones (never 127.0.0.1, a private network, a local name, http:), under
  a frame CSP that adds https: images only for that view;
- image attachments shown in the page from our origin with the type of their bytes;
- PDF attachments rendered to PNG by poppler's pdftoppm (real), bounded;
- file names with control characters and the RTL override neutralised.
"""

from __future__ import annotations

import base64
import io
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import BrowserContext
from reportlab.pdfgen import canvas  # a dependency of congthu (the reports' PDF)

from tests.webmail.client import WebClient
from tests.webmail.conftest import Webmail

ADDRESS = "an@example.gov.vn"


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG of red pixels."""
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def bomb_png() -> bytes:
    """A PNG whose header declares 100,000 x 100,000 pixels (a decompression bomb): a few
    hundred bytes that a browser would decode into 30 GB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="parent.pwned=1"><script>parent.pwned=1</script>'
       b'<image href="https://127.0.0.1/x"/></svg>')


def pdf(pages: int = 2) -> bytes:
    out = io.BytesIO()
    drawing = canvas.Canvas(out)
    for n in range(pages):
        drawing.drawString(100, 750, f"Trang {n + 1}")
        drawing.showPage()
    drawing.save()
    return out.getvalue()


def related(html: str, parts: list[tuple[str, str, bytes]], subject: str = "Ảnh trong thư",
            sender: str = "Bình <binh@example.gov.vn>") -> bytes:
    """multipart/related: the HTML, then each (Content-ID, type, bytes) in base64."""
    lines = [f"From: {sender}", f"To: {ADDRESS}", "Subject: =?utf-8?b?" + base64.b64encode(subject.encode()).decode()
             + "?=", "MIME-Version: 1.0", 'Content-Type: multipart/related; boundary="b1"', "", "--b1",
             "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", html]
    for cid, media_type, data in parts:
        lines += ["--b1", f"Content-Type: {media_type}", f"Content-ID: <{cid}>", "Content-Transfer-Encoding: base64",
                  "Content-Disposition: inline", "", base64.encodebytes(data).decode().rstrip("\n")]
    lines.append("--b1--")
    return ("\r\n".join(lines) + "\r\n").encode()


def with_files(files: list[tuple[str, str, bytes]], html: str = "", subject: str = "Tệp") -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "binh@example.gov.vn"
    msg["To"] = ADDRESS
    msg["Subject"] = subject
    if html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content("Gửi anh các tệp.")
    for name, media_type, data in files:
        maintype, subtype = media_type.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def an(webmail: Webmail) -> Iterator[tuple[int, WebClient]]:
    box = webmail.add_user(ADDRESS, "Nguyễn Văn An")
    client = WebClient(webmail, ADDRESS)
    try:
        yield box, client
    finally:
        client.close()


def inbox_id(webmail: Webmail, box: int) -> int:
    return int(webmail.folder(box, "INBOX").id)


def test_inline_images_only_real_ones_of_the_same_message(webmail: Webmail, an: tuple[int, WebClient]) -> None:
    box, client = an
    other = webmail.deliver(box, related('<p><img src="cid:secret@x"></p>', [("secret@x", "image/png", png(3, 3))]))
    html = ('<p>Logo <img src="cid:logo@x" alt="logo"> path <img src="cid:../../../etc/passwd">'
            ' traversal <img src="cid:..%2F..%2F1%2F2"> svg <img src="cid:svg@x"> bomb <img src="cid:bomb@x">'
            ' fake <img src="cid:fake@x"> other message <img src="cid:secret@x">'
            ' section <img src="cid:2"> data <img src="data:image/png;base64,iVBORw0KGgo="></p>')
    uid = webmail.deliver(box, related(html, [
        ("logo@x", "image/png", png()), ("svg@x", "image/svg+xml", SVG), ("bomb@x", "image/png", bomb_png()),
        ("fake@x", "image/png", b"<html><script>parent.pwned=1</script></html>")]))
    folder = inbox_id(webmail, box)
    frame = client.get(f"/thu/{folder}/{uid}/noi-dung")
    assert frame.status_code == 200
    expected = "data:image/png;base64," + base64.b64encode(png()).decode()
    assert frame.text.count("<img") == 9 and frame.text.count(' src="') == 1, frame.text
    assert f'src="{expected}"' in frame.text
    assert "<svg" not in frame.text and "image/svg" not in frame.text and "script" not in frame.text
    assert "passwd" not in frame.text and "secret" not in frame.text
    csp = frame.headers["content-security-policy"]
    assert "img-src data:;" in csp and "https:" not in csp and "script-src" not in csp and "sandbox" in csp
    page = client.get(f"/thu/{folder}/{uid}")
    assert "Đã chặn 8 ảnh" in page.text
    # The image route serves only image parts whose bytes are an image the page may show.
    assert client.get(f"/thu/{folder}/{uid}/anh/2").status_code == 200
    # (A bare ".." is resolved by the client before sending: the encoded forms reach us.)
    for section in ("3", "4", "5", "1", "9", "2.1", "%2e%2e", "%2e%2e%2f1", "1%2F..%2F2", "2%00"):
        answer = client.get(f"/thu/{folder}/{uid}/anh/{section}")
        assert answer.status_code == 404, (section, answer.status_code)
        assert answer.headers["x-content-type-options"] == "nosniff"
    # Another message's part is reached only through that message (and it is ours).
    assert client.get(f"/thu/{folder}/{other}/anh/2").status_code == 200


def test_image_route_headers_and_other_mailboxes(webmail: Webmail, an: tuple[int, WebClient]) -> None:
    box, client = an
    uid = webmail.deliver(box, with_files([("ảnh.png", "image/png", png()), ("vẽ.svg", "image/svg+xml", SVG),
                                           ("lớn.png", "image/png", bomb_png()),
                                           ("giả.png", "image/png", b"<html><body>x</body></html>")]))
    folder = inbox_id(webmail, box)
    answer = client.get(f"/thu/{folder}/{uid}/anh/2")
    assert answer.status_code == 200 and answer.content == png()
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert answer.headers["content-disposition"].startswith("inline;")
    assert answer.headers["cross-origin-resource-policy"] == "same-origin"
    for section in ("3", "4", "5"):  # SVG, a pixel bomb, HTML calling itself PNG
        assert client.get(f"/thu/{folder}/{uid}/anh/{section}").status_code == 404
    page = client.get(f"/thu/{folder}/{uid}").text
    assert page.count('class="image-preview"') == 1 and f'src="/thu/{folder}/{uid}/anh/2"' in page
    # Another mailbox cannot reach it; no session, no image.
    webmail.add_user("chi@example.gov.vn", "Chi")
    chi = WebClient(webmail, "chi@example.gov.vn")
    try:
        assert chi.get(f"/thu/{folder}/{uid}/anh/2").status_code == 404
    finally:
        chi.close()
    assert httpx.get(webmail.url(f"/thu/{folder}/{uid}/anh/2")).status_code == 403


def test_remote_images_on_request_per_message_and_per_sender(webmail: Webmail,
                                                              an: tuple[int, WebClient]) -> None:
    box, client = an
    html = ('<p>Tin <img src="https://cdn.example.com/a.png" alt="a"> <img src="https://127.0.0.1:9/t.png">'
            ' <img src="https://10.0.0.5/t.png"> <img src="https://intranet/t.png"> <img src="http://cdn.example.com/b.png">'
            ' <img src="https://[::1]/t.png"> <img src="https://2130706433/t.png"> <img src="https://x@cdn.example.com/c.png">'
            ' <img src="https://cdn.example.com:8443/d.png"></p>')
    uid = webmail.deliver(box, related(html, [], subject="Bản tin"))
    second = webmail.deliver(box, related(html, [], subject="Bản tin 2"))
    stranger = webmail.deliver(box, related(html, [], subject="Lạ", sender="la@example.com"))
    folder = inbox_id(webmail, box)
    page = client.get(f"/thu/{folder}/{uid}").text
    assert "Hiện ảnh từ bên ngoài" in page and f'href="/thu/{folder}/{uid}?anh-ngoai=1"' in page
    assert "Đã chặn 9 ảnh" in page
    blocked = client.get(f"/thu/{folder}/{uid}/noi-dung")
    assert "cdn.example.com" not in blocked.text and "https:" not in blocked.headers["content-security-policy"]
    # Asked for this message: only the public https image on the default port.
    shown = client.get(f"/thu/{folder}/{uid}/noi-dung?anh-ngoai=1")
    assert shown.text.count(' src="') == 1 and 'src="https://cdn.example.com/a.png"' in shown.text
    assert "img-src data: https:;" in shown.headers["content-security-policy"]
    for forbidden in ("127.0.0.1", "10.0.0.5", "intranet", "http://cdn", "[::1]", "2130706433", "x@", ":8443"):
        assert forbidden not in shown.text, forbidden
    shown_page = client.get(f"/thu/{folder}/{uid}?anh-ngoai=1").text
    assert f'src="/thu/{folder}/{uid}/noi-dung?anh-ngoai=1"' in shown_page
    # The choice for one message is not remembered.
    assert "cdn.example.com" not in client.get(f"/thu/{folder}/{second}/noi-dung").text
    # Per sender: a POST without the token changes nothing; with it, every message of that sender.
    assert client.post(f"/thu/{folder}/{uid}/anh-ngoai", {"bat": "1"}, token=False).status_code == 403
    assert "cdn.example.com" not in client.get(f"/thu/{folder}/{second}/noi-dung").text
    assert client.post(f"/thu/{folder}/{uid}/anh-ngoai", {"bat": "1"}).status_code == 303
    assert 'src="https://cdn.example.com/a.png"' in client.get(f"/thu/{folder}/{second}/noi-dung").text
    assert "Thôi tự động hiện ảnh từ binh@example.gov.vn" in client.get(f"/thu/{folder}/{second}").text
    assert "cdn.example.com" not in client.get(f"/thu/{folder}/{stranger}/noi-dung").text
    # Another user of the same server still sees them blocked.
    chi_box = webmail.add_user("chi@example.gov.vn", "Chi")
    chi_uid = webmail.deliver(chi_box, related(html, [], subject="Bản tin"))
    chi = WebClient(webmail, "chi@example.gov.vn")
    try:
        assert "cdn.example.com" not in chi.get(f"/thu/{inbox_id(webmail, chi_box)}/{chi_uid}/noi-dung").text
        # Chi cannot change An's choices through An's message ids.
        assert chi.post(f"/thu/{folder}/{uid}/anh-ngoai", {"bat": "0"}).status_code == 404
    finally:
        chi.close()
    assert 'src="https://cdn.example.com/a.png"' in client.get(f"/thu/{folder}/{second}/noi-dung").text
    assert client.post(f"/thu/{folder}/{uid}/anh-ngoai", {"bat": "0"}).status_code == 303
    assert "cdn.example.com" not in client.get(f"/thu/{folder}/{second}/noi-dung").text


def test_pdf_previews_rendered_on_the_server(webmail: Webmail, an: tuple[int, WebClient]) -> None:
    box, client = an
    uid = webmail.deliver(box, with_files([
        ("Báo cáo quý.pdf", "application/pdf", pdf(2)),
        ("giả.pdf", "application/pdf", b"<html><script>alert(1)</script></html>"),
        ("hỏng.pdf", "application/pdf", b"%PDF-1.7\n" + b"\x00garbage" * 1000),
    ]))
    folder = inbox_id(webmail, box)
    page = client.get(f"/thu/{folder}/{uid}").text
    assert f'href="/thu/{folder}/{uid}/xem/2"' in page
    preview = client.get(f"/thu/{folder}/{uid}/xem/2")
    assert preview.status_code == 200 and "2 / 2 trang đầu" in preview.text
    assert f'src="/thu/{folder}/{uid}/xem/2/1"' in preview.text and f'src="/thu/{folder}/{uid}/xem/2/2"' in preview.text
    first = client.get(f"/thu/{folder}/{uid}/xem/2/1")
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert first.headers["content-type"] == "image/png" and first.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/thu/{folder}/{uid}/xem/2/3").status_code == 404  # no page 3
    assert client.get(f"/thu/{folder}/{uid}/xem/2/11").status_code == 404  # beyond the bound
    assert client.get(f"/thu/{folder}/{uid}/xem/3").status_code == 404  # not a PDF at all
    broken = client.get(f"/thu/{folder}/{uid}/xem/4")
    assert broken.status_code == 200 and "Không xem trước được" in broken.text
    assert client.get(f"/thu/{folder}/{uid}/xem/4/1").status_code == 404
    assert client.get(f"/thu/{folder}/{uid}/anh/2").status_code == 404  # a PDF is not an image


def test_hostile_file_names(webmail: Webmail, an: tuple[int, WebClient]) -> None:
    box, client = an
    names = ["hóa đơn\u202efdp.exe", "a\x07b\r\nc.pdf", "../../etc/passwd", 'x"><script>parent.pwned=1</script>.txt',
             "\u2067gnp.exe\u2069.txt"]
    # Written by hand: the email package refuses a line break in a parameter.
    parts = "".join(
        f'--b2\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; '
        f"filename*=utf-8''{quote(name, safe='')}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(f'tệp {n}'.encode()).decode()}\r\n" for n, name in enumerate(names))
    raw = (f"From: binh@example.gov.vn\r\nTo: {ADDRESS}\r\nSubject: Tep\r\nMIME-Version: 1.0\r\n"
           f'Content-Type: multipart/mixed; boundary="b2"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\n'
           f"Gui anh.\r\n{parts}--b2--\r\n").encode()
    uid = webmail.deliver(box, raw)
    folder = inbox_id(webmail, box)
    page = client.get(f"/thu/{folder}/{uid}").text
    for bad in ("\u202e", "\u2067", "\u2069", "\x07", "<script>", "/etc/passwd"):
        assert bad not in page, repr(bad)
    assert "hóa đơn_fdp.exe" in page
    for section in range(2, 7):
        answer = client.get(f"/tep/{folder}/{uid}/{section}")
        assert answer.status_code == 200
        disposition = answer.headers["content-disposition"]
        assert disposition.startswith("attachment;") and "%E2%80%AE" not in disposition.upper()
        assert "%E2%81%A7" not in disposition.upper() and "/" not in disposition.split("filename=")[1].split(";")[0]
        assert answer.content == f"tệp {section - 2}".encode()


class Listener:
    """A loopback TCP port that counts connections: the 'attacker' a message points at."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_browser_inline_image_shown_and_no_request_to_loopback(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS, "An")
    attacker = Listener()
    try:
        html = (f'<p>Logo <img src="cid:logo@x" alt="logo"> <img src="https://127.0.0.1:{attacker.port}/t.png">'
                f' <img src="http://127.0.0.1:{attacker.port}/u.png"> <img src="https://localhost:{attacker.port}/v.png"></p>')
        uid = webmail.deliver(box, related(html, [("logo@x", "image/png", png())]))
        folder = inbox_id(webmail, box)
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        webmail.login(page, ADDRESS)
        page.goto(webmail.url(f"/thu/{folder}/{uid}"))
        frame = page.frame_locator("iframe.body")
        logo = frame.locator("img[alt=logo]")
        logo.wait_for()
        page.wait_for_load_state("load")
        assert logo.evaluate("e => e.naturalWidth") == 2
        page.click("a.show-images")
        page.wait_for_load_state("load")
        frame.locator("img[alt=logo]").wait_for()
        page.wait_for_timeout(500)
        assert frame.locator("img[alt=logo]").evaluate("e => e.naturalWidth") == 2
        assert attacker.count == 0
        assert not [url for url in requested if str(attacker.port) in url], requested
        assert page.evaluate("() => window.pwned") is None
    finally:
        attacker.close()
