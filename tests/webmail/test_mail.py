"""The mail pages in Chromium: folders with Vietnamese names and unread counts, the list,
reading a message with a Vietnamese attachment (downloaded byte for byte under its name),
mark read / unread, flag, delete to Trash and for good, move; and the headers of the
body frame, downloads and the source."""

from __future__ import annotations

import base64
import imaplib
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import BrowserContext, expect

from tests.webmail.conftest import PASSWORD, Webmail, message

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 300 + b"\n%%EOF\n"
ATTACHMENT_NAME = "Lịch làm việc tuần 49 – Sở Nội vụ.pdf"


def vietnamese_message() -> bytes:
    """HTML and plain alternatives and a PDF whose Vietnamese name is in RFC 2231 form,
    split in continuations (section 4.1) as Outlook and Thunderbird write long names."""
    encoded = quote(ATTACHMENT_NAME, safe="")
    cut = encoded.rfind("%", 0, 40)  # each segment is encoded on its own: never split an octet
    halves = encoded[:cut], encoded[cut:]
    html = ("<p>Kính gửi anh <b>An</b>,</p><p>Gửi anh <a href='https://sonoivu.example.gov.vn/lich'>"
            "lịch làm việc</a>.</p><img src='https://tracker.example/pixel.gif'>")
    return (
        "From: =?utf-8?b?VHLhuqduIFRo4buLIELDrG5o?= <binh@example.gov.vn>\r\n"
        "To: Nguyễn Văn An <an@example.gov.vn>\r\n"
        "Subject: =?utf-8?q?L=E1=BB=8Bch_l=C3=A0m_vi=E1=BB=87c_tu=E1=BA=A7n_49?=\r\n"
        "Date: Sat, 05 Dec 2026 09:00:00 +0700\r\nMessage-ID: <lich-49@example.gov.vn>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"ngoai\"\r\n\r\n"
        "--ngoai\r\nContent-Type: multipart/alternative; boundary=\"trong\"\r\n\r\n"
        "--trong\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Kính gửi anh An,\r\n\r\nGửi anh lịch làm việc tuần 49.\r\n"
        "--trong\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(html.encode()).decode().replace("\n", "\r\n") +
        "--trong--\r\n"
        "--ngoai\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment;\r\n filename*0*=UTF-8''{halves[0]};\r\n filename*1*={halves[1]}\r\n\r\n"
        + base64.encodebytes(PDF).decode().replace("\n", "\r\n") +
        "--ngoai--\r\n"
    ).encode()


def test_read_a_message_with_a_vietnamese_attachment(webmail: Webmail, context: BrowserContext,
                                                     tmp_path: Path) -> None:
    box = webmail.add_user("an@example.gov.vn", "Nguyễn Văn An")
    uid = webmail.deliver(box, vietnamese_message())
    inbox = webmail.folder(box, "INBOX").id
    page = context.new_page()
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url))
    webmail.login(page, "an@example.gov.vn")
    # The folder list: Vietnamese names, one unread in the inbox.
    folders = page.locator("nav.folders")
    for name in ("Hộp thư đến", "Thư nháp", "Thư đã gửi", "Thùng rác", "Thư rác", "Lưu trữ"):
        expect(folders).to_contain_text(name)
    expect(folders.locator("a[aria-current=page] .count")).to_contain_text("1")
    row = page.locator("table.messages tbody tr").first
    expect(row).to_have_class("unread")
    expect(row).to_contain_text("Lịch làm việc tuần 49")
    expect(row).to_contain_text("Trần Thị Bình")
    row.locator(".subject a").click()
    page.wait_for_url(webmail.url(f"/thu/{inbox}/{uid}"))
    expect(page.locator("h1#tieu-de")).to_have_text("Lịch làm việc tuần 49")
    expect(page.locator("dd.from")).to_contain_text("Trần Thị Bình <binh@example.gov.vn>")
    # The HTML part in its sandboxed frame, the remote image blocked and said so.
    frame = page.frame_locator("iframe.body")
    expect(frame.locator("b")).to_have_text("An")
    link = frame.locator("a")
    expect(link).to_have_attribute("title", "https://sonoivu.example.gov.vn/lich")
    expect(link).to_have_attribute("target", "_blank")
    expect(page.locator("text=Đã chặn 1 ảnh")).to_be_visible()
    assert page.locator("iframe.body").get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    # The attachment: listed with its name and size, downloaded under that name, intact.
    attachment = page.locator("a.attachment")
    expect(attachment).to_have_text(ATTACHMENT_NAME)
    expect(page.locator(".attachments")).to_contain_text("75,0 KB")
    with page.expect_download() as download_info:
        attachment.click()
    download = download_info.value
    assert download.suggested_filename == ATTACHMENT_NAME
    saved = tmp_path / "saved.pdf"
    download.save_as(saved)
    assert saved.read_bytes() == PDF
    # Opening it marked it read (through the store: IMAP sees \Seen).
    assert "\\Seen" in webmail.flags(box, "INBOX", uid)
    assert all(url.startswith(webmail.origin) for url in requested), requested


def test_download_and_body_headers(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    uid = webmail.deliver(box, vietnamese_message())
    inbox = webmail.folder(box, "INBOX").id
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    body = context.request.get(webmail.url(f"/thu/{inbox}/{uid}/noi-dung"))
    csp = body.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'") and "sandbox" in csp and "script" not in csp
    assert body.headers["x-frame-options"] == "SAMEORIGIN"
    assert "<script" not in body.text() and "tracker.example" not in body.text()
    tep = context.request.get(webmail.url(f"/tep/{inbox}/{uid}/2"))
    assert tep.status == 200
    assert tep.headers["content-type"] == "application/octet-stream"
    assert tep.headers["x-content-type-options"] == "nosniff"
    disposition = tep.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"")
    assert "filename*=UTF-8''L%E1%BB%8Bch%20l%C3%A0m%20vi%E1%BB%87c" in disposition
    assert tep.body() == PDF
    # The HTML part is not an attachment: the download route serves nothing else.
    for section in ("1", "1.1", "1.2", "3", "0", "2.1", "HEADER"):
        assert context.request.get(webmail.url(f"/tep/{inbox}/{uid}/{section}")).status == 404, section
    source = context.request.get(webmail.url(f"/nguon/{inbox}/{uid}"))
    assert source.headers["content-type"] == "text/plain"
    assert source.headers["content-disposition"].startswith("attachment;")
    stored = webmail.server.run(webmail.server.app.store.read_message(
        webmail.server.run(webmail.server.app.store.get_messages(inbox, [uid]))[0].content_id))
    assert source.body() == stored


def test_mark_read_unread_and_flag(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    uids = [webmail.deliver(box, message(subject=f"Thư số {n}", body=f"nội dung {n}")) for n in range(3)]
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    expect(page.locator("tr.unread")).to_have_count(3)
    page.check(f"#chon-{uids[0]}")
    page.check(f"#chon-{uids[2]}")
    page.click("button[value=doc]")
    expect(page.locator("tr.unread")).to_have_count(1)
    assert "\\Seen" in webmail.flags(box, "INBOX", uids[0])
    assert "\\Seen" not in webmail.flags(box, "INBOX", uids[1])
    expect(page.locator("nav.folders a[aria-current=page] .count")).to_contain_text("1")
    page.check(f"#chon-{uids[0]}")
    page.click("button[value=chua-doc]")
    expect(page.locator("tr.unread")).to_have_count(2)
    assert "\\Seen" not in webmail.flags(box, "INBOX", uids[0])
    page.check(f"#chon-{uids[1]}")
    page.click("button[value=gan-co]")
    expect(page.locator("tr.flagged")).to_have_count(1)
    assert "\\Flagged" in webmail.flags(box, "INBOX", uids[1])
    # Select all (the little script) and mark everything read.
    page.check("#chon-tat-ca")
    page.click("button[value=doc]")
    expect(page.locator("tr.unread")).to_have_count(0)


def test_delete_to_trash_then_for_good_and_move(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    first = webmail.deliver(box, message(subject="Thư cần xóa"))
    second = webmail.deliver(box, message(subject="Thư lưu trữ"))
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    page.click("text=Thư cần xóa")
    page.click("button[value=xoa]")
    inbox = webmail.folder(box, "INBOX").id
    page.wait_for_url(webmail.url(f"/thu/{inbox}"))
    assert webmail.uids(box, "INBOX") == [second]
    assert len(webmail.uids(box, "Trash")) == 1
    # Move the other to Archive from the list.
    archive = webmail.folder(box, "Archive").id
    page.check(f"#chon-{second}")
    page.select_option("#dich", str(archive))
    page.click("button[value=chuyen]")
    expect(page.locator("p.empty")).to_be_visible()
    assert webmail.uids(box, "INBOX") == [] and len(webmail.uids(box, "Archive")) == 1
    # In Trash, delete is for good (\Deleted and expunge, as an IMAP client does).
    page.click("nav.folders >> text=Thùng rác")
    expect(page.locator("button[value=xoa]")).to_have_text("Xóa hẳn")
    page.check("#chon-tat-ca")
    page.click("button[value=xoa]")
    expect(page.locator("p.empty")).to_be_visible()
    assert webmail.uids(box, "Trash") == []
    assert first  # the UID in Trash was a new one (MOVE gives new UIDs)


def test_paging_by_fifty(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    for n in range(120):
        webmail.deliver(box, message(subject=f"Thư {n:03d}", body=str(n)))
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    expect(page.locator("table.messages tbody tr")).to_have_count(50)
    expect(page.locator("table.messages tbody tr").first).to_contain_text("Thư 119")
    page.click("a[rel=next]")
    expect(page.locator("table.messages tbody tr").first).to_contain_text("Thư 069")
    page.click("a[rel=next]")
    expect(page.locator("table.messages tbody tr")).to_have_count(20)
    expect(page.locator("nav.pages")).to_contain_text("Trang 3 / 3")
    page.select_option("#sap-xep", "ngay-cu")
    page.click("form.sort button")
    expect(page.locator("table.messages tbody tr").first).to_contain_text("Thư 000")


def test_plain_text_message_is_shown_escaped(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    uid = webmail.deliver(box, message(subject="Văn bản", body="<b>không đậm</b> & dòng hai"))
    inbox = webmail.folder(box, "INBOX").id
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    page.goto(webmail.url(f"/thu/{inbox}/{uid}"))
    expect(page.locator("pre.body-text")).to_have_text("<b>không đậm</b> & dòng hai")
    assert page.locator("iframe").count() == 0


def test_an_imap_client_sees_what_the_webmail_does(webmail: Webmail, context: BrowserContext) -> None:
    """One way to write mail: the webmail's read flag and delete reach an IMAP session
    (imaplib, a real client) through the store and its change feed."""
    box = webmail.add_user("an@example.gov.vn")
    kept = webmail.deliver(box, message(subject="Thư giữ lại"))
    gone = webmail.deliver(box, message(subject="Thư bỏ đi"))
    imap = imaplib.IMAP4("127.0.0.1", webmail.server.port("imap"))
    try:
        imap.login("an@example.gov.vn", PASSWORD)
        imap.select("INBOX")
        page = context.new_page()
        webmail.login(page, "an@example.gov.vn")
        page.check(f"#chon-{kept}")
        page.click("button[value=doc]")
        expect(page.locator("tr.unread")).to_have_count(1)
        page.check(f"#chon-{gone}")
        page.click("button[value=xoa]")
        expect(page.locator("table.messages tbody tr")).to_have_count(1)
        imap.noop()  # the session hears of the expunge and the flag change
        assert imap.response("EXPUNGE")[1] == [str(gone).encode()]
        _typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
        # imaplib files NOOP's untagged FETCH with the answer's: the same line twice.
        assert len({d for d in data if d}) == 1
        assert b"\\Seen" in data[0] and f"UID {kept}".encode() in data[0]
        imap.select("Trash")
        _typ, found = imap.uid("SEARCH", "ALL")
        assert len(found[0].split()) == 1
    finally:
        imap.logout()


def test_keyboard_moves_and_opens(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    webmail.deliver(box, message(subject="Thư cũ hơn"))
    newest = webmail.deliver(box, message(subject="Thư mới nhất"))
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator(f"#chon-{newest}")).to_be_checked()
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url(webmail.url(f"/thu/{webmail.folder(box, 'INBOX').id}/{newest}"))
