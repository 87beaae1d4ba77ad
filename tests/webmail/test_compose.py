"""Writing mail in Chromium: the compose page sends through the submission checks of port
587 (``congthu.smtp.submit``), keeps a copy in Sent, shows refusals in Vietnamese;
attachments with Vietnamese names and the Điều 8.1 limit (refused in the page before
upload, and by the server); reply, reply-all, forward inline and forward as attachment
byte for byte (Điều 12.4); drafts saved by the page's script that survive closing the
tab; recipient completion from the directory without accents."""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from congthu.directory import Directory
from congthu.mime import analyse
from congthu.smtp.submit import submit
from congthu.text import unaccent
from congthu.webmail.writing import Draft as Form
from congthu.webmail.writing import build
from tests.webmail.conftest import PASSWORD, Webmail, message, start_webmail
from tests.webmail.xss_corpus import corpus

FILE_NAME = "Báo cáo tổng kết năm 2026 – Sở Nội vụ.pdf"
FILE_DATA = b"%PDF-1.4\n" + bytes(range(256)) * 200 + b"\n%%EOF\n"


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def compose(page: Page, webmail: Webmail, to: str, subject: str, body: str, *, cc: str = "", bcc: str = "",
            files: list[tuple[str, bytes]] | None = None) -> None:
    page.goto(webmail.url("/thu/soan"))
    page.fill("#den", to)
    if cc:
        page.fill("#dong-gui", cc)
    if bcc:
        page.fill("#an", bcc)
    page.fill("#tieu-de", subject)
    page.fill("#than-thu", body)
    if files:
        page.set_input_files("#tep", [FilePayload(name=n, mimeType="application/pdf", buffer=d) for n, d in files])


def send(page: Page) -> None:
    page.click("button[value=gui]")
    page.wait_for_load_state()


def test_send_with_vietnamese_attachment_and_sent_copy(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    binh = webmail.add_user("binh@soctrang.gov.vn", "Trần Thị Bình")
    chi = webmail.add_user("chi@soctrang.gov.vn", "Lê Thị Chi")
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    expect(page.locator("a.compose-link")).to_have_text("Soạn thư")
    compose(page, webmail, "Trần Thị Bình <binh@soctrang.gov.vn>", "Lịch họp tuần 50",
            "Kính gửi chị Bình,\nxin gửi báo cáo.\nTrân trọng.", bcc="chi@soctrang.gov.vn",
            files=[(FILE_NAME, FILE_DATA)])
    for label in ("Tới", "Đồng gửi (Cc)", "Gửi ẩn (Bcc)", "Tiêu đề", "Nội dung", "Tệp đính kèm"):
        expect(page.locator("form#soan")).to_contain_text(label)
    send(page)
    sent = webmail.folder(an, "Sent")
    assert page.url == webmail.url(f"/thu/{sent.id}?da-gui=1")
    expect(page.locator("p.done")).to_have_text("Đã gửi thư.")
    # Bình's copy: From the mailbox under its Vietnamese name (RFC 2047), the attachment
    # under its Vietnamese name (RFC 2231) byte for byte, no Bcc, Date and Message-ID.
    [uid] = webmail.uids(binh, "INBOX")
    raw = webmail.raw(binh, "INBOX", uid)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = parsed(raw)
    assert str(msg["From"]) == "Nguyễn Văn An <an@soctrang.gov.vn>"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # encoded words, not raw UTF-8 headers
    assert str(msg["Subject"]) == "Lịch họp tuần 50"
    assert msg["Bcc"] is None and b"chi@" not in raw.split(b"\r\n\r\n", 1)[0].split(b"Received:")[0]
    assert msg["Date"] and msg["Message-ID"]
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "Kính gửi chị Bình," in body.get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == FILE_NAME
    assert attachment.get_content() == FILE_DATA
    # Chi got it too (Bcc); An's copy in Sent is \Seen and shows the Bcc.
    assert len(webmail.uids(chi, "INBOX")) == 1
    [sent_uid] = webmail.uids(an, "Sent")
    assert "\\Seen" in webmail.flags(an, "Sent", sent_uid)
    copy = parsed(webmail.raw(an, "Sent", sent_uid))
    assert "chi@soctrang.gov.vn" in str(copy["Bcc"])
    assert copy["Message-ID"] == msg["Message-ID"]
    # Bình reads it in the webmail: the attachment listed under its name.
    other = context.browser.new_context(locale="vi-VN") if context.browser else context
    page2 = other.new_page()
    webmail.login(page2, "binh@soctrang.gov.vn")
    page2.goto(webmail.url(f"/thu/{webmail.folder(binh, 'INBOX').id}/{uid}"))
    expect(page2.locator("a.attachment")).to_have_text(FILE_NAME)
    expect(page2.locator("dd.from")).to_contain_text("Nguyễn Văn An <an@soctrang.gov.vn>")


def test_refusals_are_shown_in_vietnamese(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    binh = webmail.add_user("binh@soctrang.gov.vn")
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    cases = [
        # Điều 7.8: a classified marking, refused by the content pipeline.
        ("binh@soctrang.gov.vn", "[MẬT] Kế hoạch công tác", "Thư mang dấu độ mật"),
        # Điều 7.7: a foreign free-mail recipient.
        ("ban@gmail.com", "Gửi bạn", "Điều 7.7"),
        # An unknown local mailbox.
        ("khongco@soctrang.gov.vn", "Thử", "Không có hộp thư khongco@soctrang.gov.vn"),
        # Not an address.
        ("binh at example", "Thử", "Địa chỉ không hợp lệ"),
    ]
    for to, subject, shown in cases:
        compose(page, webmail, to, subject, "Nội dung thư.")
        send(page)
        alert = page.locator("#loi-gui")
        expect(alert).to_contain_text(shown)
        expect(page.locator("#tieu-de")).to_have_value(subject)  # the form is kept
        assert "Traceback" not in page.content()
    # Send-as: a From the user may not use (a tampered form) gets port 587's refusal.
    compose(page, webmail, "binh@soctrang.gov.vn", "Giả danh", "Nội dung.")
    page.eval_on_selector("#tu option", "o => { o.value = 'giamdoc@soctrang.gov.vn'; }")
    send(page)
    expect(page.locator("#loi-gui")).to_contain_text(
        "Thư chưa được gửi: Bạn không được gửi thư với địa chỉ giamdoc@soctrang.gov.vn")
    assert webmail.uids(binh, "INBOX") == []
    assert webmail.uids(an, "Sent") == []


def test_rate_limit_is_the_submission_limit(tmp_path: Path, context: BrowserContext) -> None:
    with start_webmail(tmp_path / "data", smtp={"messages_per_hour": 1}) as webmail:
        webmail.add_user("an@soctrang.gov.vn")
        binh = webmail.add_user("binh@soctrang.gov.vn")
        page = context.new_page()
        webmail.login(page, "an@soctrang.gov.vn")
        compose(page, webmail, "binh@soctrang.gov.vn", "Thư một", "Một.")
        send(page)
        expect(page.locator("p.done")).to_be_visible()
        compose(page, webmail, "binh@soctrang.gov.vn", "Thư hai", "Hai.")
        send(page)
        expect(page.locator("#loi-gui")).to_contain_text("Đã gửi quá 1 thư trong một giờ")
        assert len(webmail.uids(binh, "INBOX")) == 1


def test_16_mb_file_refused_before_upload_and_by_the_server(webmail: Webmail, context: BrowserContext,
                                                           tmp_path: Path) -> None:
    webmail.add_user("an@soctrang.gov.vn")
    binh = webmail.add_user("binh@soctrang.gov.vn")
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    page.goto(webmail.url("/thu/soan"))
    expect(page.locator("#tep-gioi-han")).to_have_text("Mỗi tệp tối đa 15 MB (Điều 8.1 Quy chế).")
    assert page.get_attribute("#tep", "data-max-bytes") == str(15 * 1024 * 1024)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    # A file on disk, chosen by its path as a user would: Chromium reads it itself (a
    # buffer would be carried base64 through the driver's pipe, 16 MB each way).
    big = tmp_path / "Hồ sơ dự án.zip"
    with big.open("wb") as out:
        out.truncate(16 * 1024 * 1024)
    page.set_input_files("#tep", big)
    expect(page.locator("#loi-tep")).to_have_text(
        "Tệp „Hồ sơ dự án.zip” lớn hơn 15 MB (Điều 8.1 Quy chế), không thể đính kèm.")
    assert page.eval_on_selector("#tep", "i => i.files.length") == 0
    assert not [u for u in posts if u.endswith("/thu/soan")]
    # The server enforces it too, for a client without the script: the same form, with
    # this session's cookie, sent by httpx straight from the file.
    csrf = page.get_attribute("input[name=csrf]", "value")
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    with httpx.Client(base_url=webmail.origin, cookies=cookies, timeout=60) as client, big.open("rb") as data:
        answer = client.post("/thu/soan", data={
            "csrf": csrf or "", "den": "binh@soctrang.gov.vn", "tieu-de": "Hồ sơ", "noi-dung": "x", "action": "gui"},
            files={"tep": ("Hồ sơ dự án.zip", data, "application/zip")})
    assert answer.status_code == 400
    assert "Tệp „Hồ sơ dự án.zip” lớn hơn 15 MB" in answer.text
    assert webmail.uids(binh, "INBOX") == []


def test_forward_as_attachment_keeps_the_original_byte_for_byte(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    webmail.add_user("binh@soctrang.gov.vn", "Trần Thị Bình")
    chi = webmail.add_user("chi@soctrang.gov.vn", "Lê Thị Chi")
    # Bình sends Ann a message with a Vietnamese attachment, from the webmail.
    page = context.new_page()
    webmail.login(page, "binh@soctrang.gov.vn")
    compose(page, webmail, "an@soctrang.gov.vn", "Báo cáo quý IV", "Gửi anh báo cáo.", files=[(FILE_NAME, FILE_DATA)])
    send(page)
    context.clear_cookies()
    # Ann forwards it as an attachment to Chi.
    [uid] = webmail.uids(an, "INBOX")
    original = webmail.raw(an, "INBOX", uid)
    inbox = webmail.folder(an, "INBOX").id
    webmail.login(page, "an@soctrang.gov.vn")
    page.goto(webmail.url(f"/thu/{inbox}/{uid}"))
    page.click("a.forward-attached")
    expect(page.locator("#tieu-de")).to_have_value("Fwd: Báo cáo quý IV")
    expect(page.locator("#thu-dinh-kem")).to_contain_text("Báo cáo quý IV.eml")
    page.fill("#den", "chi@soctrang.gov.vn")
    page.fill("#than-thu", "Chuyển chị Chi thư gốc.")
    send(page)
    expect(page.locator("p.done")).to_be_visible()
    [chi_uid] = webmail.uids(chi, "INBOX")
    forwarded = webmail.raw(chi, "INBOX", chi_uid)
    assert original in forwarded
    msg = parsed(forwarded)
    [part] = [p for p in msg.walk() if p.get_content_type() == "message/rfc822"]
    assert part.get_filename() == "Báo cáo quý IV.eml"
    # Chi downloads the attached message: the stored bytes exactly.
    context.clear_cookies()
    webmail.login(page, "chi@soctrang.gov.vn")
    page.goto(webmail.url(f"/thu/{webmail.folder(chi, 'INBOX').id}/{chi_uid}"))
    attachment = page.locator("a.attachment", has_text="Báo cáo quý IV.eml")
    with page.expect_download() as info:
        attachment.click()
    assert Path(info.value.path()).read_bytes() == original


def test_reply_reply_all_and_forward_inline(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    binh = webmail.add_user("binh@soctrang.gov.vn", "Trần Thị Bình")
    chi = webmail.add_user("chi@soctrang.gov.vn", "Lê Thị Chi")
    dung = webmail.add_user("dung@soctrang.gov.vn")
    uid = webmail.deliver(an, message(subject="Lịch làm việc", body="Họp lúc 9 giờ.", sender="Trần Thị Bình <binh@soctrang.gov.vn>",
                                      to="an@soctrang.gov.vn, chi@soctrang.gov.vn",
                                      extra="References: <goc@example.gov.vn>\r\n"))
    original = parsed(webmail.raw(an, "INBOX", uid))
    inbox = webmail.folder(an, "INBOX").id
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    page.goto(webmail.url(f"/thu/{inbox}/{uid}"))
    page.click("a.reply-all")
    expect(page.locator("#den")).to_have_value("Trần Thị Bình <binh@soctrang.gov.vn>")
    expect(page.locator("#dong-gui")).to_have_value("chi@soctrang.gov.vn")
    expect(page.locator("#tieu-de")).to_have_value("Re: Lịch làm việc")
    expect(page.locator("#than-thu")).to_have_value(
        "\n\nNgày Sat, 05 Dec 2026 09:00:00 +0700, Trần Thị Bình <binh@soctrang.gov.vn> viết:\n> Họp lúc 9 giờ.\n")
    page.fill("#than-thu", "Em sẽ dự.")
    send(page)
    [got] = webmail.uids(binh, "INBOX")
    reply = parsed(webmail.raw(binh, "INBOX", got))
    assert reply["In-Reply-To"] == original["Message-ID"]
    assert str(reply["References"]) == f"<goc@example.gov.vn> {original['Message-ID']}"
    assert str(reply["Subject"]) == "Re: Lịch làm việc"
    assert len(webmail.uids(chi, "INBOX")) == 1
    assert "\\Answered" in webmail.flags(an, "INBOX", uid)
    # Reply: only the author; "Re:" is not doubled.
    page.goto(webmail.url(f"/thu/{inbox}/{uid}"))
    page.click("a.reply")
    expect(page.locator("#dong-gui")).to_have_value("")
    # Forward inline: the text and the original's headers in the body.
    page.goto(webmail.url(f"/thu/{inbox}/{uid}"))
    page.click("a.forward")
    expect(page.locator("#tieu-de")).to_have_value("Fwd: Lịch làm việc")
    page.fill("#den", "dung@soctrang.gov.vn")
    send(page)
    [fwd] = webmail.uids(dung, "INBOX")
    text = parsed(webmail.raw(dung, "INBOX", fwd)).get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert "---------- Thư chuyển tiếp ----------" in content and "Họp lúc 9 giờ." in content


def test_draft_survives_closing_the_tab(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    binh = webmail.add_user("binh@soctrang.gov.vn")
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    # The page's clock is the test's: the autosave's 4-second timer is moved on at once
    # rather than waited for (the requests it makes are real).
    page.clock.install()
    page.goto(webmail.url("/thu/soan"))
    page.fill("#den", "binh@soctrang.gov.vn")
    page.fill("#tieu-de", "Dự thảo công văn")
    page.locator("#than-thu").press_sequentially("Kính gửi Sở Tài chính, đề nghị ")
    # The autosave runs every 4 seconds; its answer names the draft.
    page.clock.run_for(4000)
    expect(page.locator("#trang-thai-nhap")).to_have_attribute("data-draft", re.compile(r"^\d+$"))
    first = page.get_attribute("#trang-thai-nhap", "data-draft")
    page.locator("#than-thu").press_sequentially("cấp kinh phí.")
    page.clock.run_for(4000)
    expect(page.locator("#trang-thai-nhap")).not_to_have_attribute("data-draft", first or "")
    drafts = webmail.folder(an, "Drafts")
    # One version kept: the previous one is expunged.
    expect_one = webmail.uids(an, "Drafts")
    assert len(expect_one) == 1
    assert set(webmail.flags(an, "Drafts", expect_one[0])) >= {"\\Draft", "\\Seen"}
    page.close()
    page = context.new_page()
    page.goto(webmail.url(f"/thu/{drafts.id}"))
    expect(page.locator("table.messages tbody tr")).to_have_count(1)
    page.locator("table.messages .subject a").click()
    page.click("a.continue-draft")
    expect(page.locator("#than-thu")).to_have_value("Kính gửi Sở Tài chính, đề nghị cấp kinh phí.")
    expect(page.locator("#den")).to_have_value("binh@soctrang.gov.vn")
    expect(page.locator("#tieu-de")).to_have_value("Dự thảo công văn")
    send(page)
    expect(page.locator("p.done")).to_be_visible()
    assert len(webmail.uids(binh, "INBOX")) == 1
    assert webmail.uids(an, "Drafts") == []


def test_recipient_completion_without_accents(webmail: Webmail, context: BrowserContext) -> None:
    app = webmail.server.app

    async def people() -> None:
        directory = Directory(app)
        await directory.add_org("Sở Nội vụ", address="sonoivu@soctrang.gov.vn")
        await directory.add_person("Trần Thanh Bình", "sonoivu@soctrang.gov.vn", title="Chuyên viên",
                                   address="ttbinh@soctrang.gov.vn")

    webmail.server.run(people())
    webmail.add_user("an@soctrang.gov.vn")
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    answer = context.request.get(webmail.url("/thu/danh-ba?q=binh"))
    assert answer.status == 200
    hits = answer.json()["ket-qua"]
    assert {"ten": "Trần Thanh Bình", "dia-chi": "ttbinh@soctrang.gov.vn"}.items() <= hits[0].items()
    page.goto(webmail.url("/thu/soan"))
    page.locator("#den").press_sequentially("binh")
    expect(page.locator("#goi-y option")).to_have_count(1)
    assert page.get_attribute("#goi-y option", "value") == "Trần Thanh Bình <ttbinh@soctrang.gov.vn>"
    context.clear_cookies()
    assert context.request.get(webmail.url("/thu/danh-ba?q=binh")).status == 401


def test_long_vietnamese_headers_keep_every_character() -> None:
    """Encoded words of whole characters, folded, no space lost or added (RFC 2047
    sections 5, 6.2): what Python 3.11's own folding gets wrong."""
    subject = ("Kế hoạch triển khai thư điện tử công vụ năm 2026 — Sở Thông tin và Truyền thông "
               "tỉnh Sóc Trăng, đợt hai")
    name = "Nguyễn Thị Thanh Hương Giang Phòng Kế hoạch Tài chính"
    raw = build(Form(to=f"{name} <giang@soctrang.gov.vn>, \"Lê, Chi\" <chi@soctrang.gov.vn>", subject=subject,
                     body="Nội dung."), sender=("Nguyễn Văn An", "an@soctrang.gov.vn"), domain="soctrang.gov.vn")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and all(len(line) <= 78 for line in head.split(b"\r\n"))
    analysis = analyse(raw)
    assert analysis.subject == subject
    assert analysis.to_addr == f"{name} <giang@soctrang.gov.vn>, \"Lê, Chi\" <chi@soctrang.gov.vn>"
    assert str(parsed(raw)["Subject"]) == subject


def test_replying_to_and_forwarding_hostile_mail(webmail: Webmail, context: BrowserContext) -> None:
    """Every message of the XSS corpus (hostile headers, names, broken MIME) opens in the
    compose page as a reply-all, a forward and a forward as attachment: never an error,
    never a field that breaks out of its input; sending a forward as attachment of each
    keeps the bytes."""
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    binh = webmail.add_user("binh@soctrang.gov.vn")
    inbox = webmail.folder(an, "INBOX").id
    uids = [webmail.deliver(an, raw) for _name, raw in corpus("http://127.0.0.1:9")]
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    for uid in uids:
        for kind in ("tra-loi-tat-ca", "chuyen-tiep", "dinh-kem"):
            answer = context.request.get(webmail.url(f"/thu/soan?{kind}={inbox}-{uid}"))
            assert answer.status == 200, (uid, kind, answer.text()[:300])
            text = answer.text()
            assert "<script" not in text.split("</head>", 1)[1], (uid, kind)
    page.goto(webmail.url(f"/thu/soan?dinh-kem={inbox}-{uids[0]}"))
    page.fill("#den", "binh@soctrang.gov.vn")
    send(page)
    expect(page.locator("p.done")).to_be_visible()
    [got] = webmail.uids(binh, "INBOX")
    assert webmail.raw(an, "INBOX", uids[0]) in webmail.raw(binh, "INBOX", got)


def test_the_web_door_and_port_587_refuse_alike(webmail: Webmail) -> None:
    """``submit`` (the webmail's door) and an SMTP client on port 587 get the same
    replies for the same message: they run the same checks."""
    an = webmail.add_user("an@soctrang.gov.vn", "Nguyễn Văn An")
    webmail.add_user("binh@soctrang.gov.vn")
    app = webmail.server.app
    mailbox = webmail.server.run(app.store.get_mailbox_by_id(an))
    assert mailbox is not None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def over_587(sender: str, to: str, raw: bytes) -> str:
        with smtplib.SMTP("127.0.0.1", webmail.server.port("submission")) as client:
            client.starttls(context=context)
            client.login("an@soctrang.gov.vn", PASSWORD)
            try:
                client.sendmail(sender, [to], raw)
            except smtplib.SMTPRecipientsRefused as refused:
                code, text = refused.recipients[to]
                return f"{code} {text.decode()}"
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
                return f"{error.smtp_code} {error.smtp_error.decode()}"
        return "250"

    def over_web(sender: str, to: str, raw: bytes) -> str:
        outcome = webmail.server.run(submit(app, mailbox, sender, [to], raw, client_ip="127.0.0.1"))
        return "250" if outcome.ok else outcome.reply

    classified = build(Form(to="binh@soctrang.gov.vn", subject="[MẬT] Kế hoạch", body="x"),
                       sender=("Nguyễn Văn An", "an@soctrang.gov.vn"), domain="soctrang.gov.vn")
    other_from = build(Form(to="binh@soctrang.gov.vn", subject="Thư", body="x"),
                       sender=("", "giamdoc@soctrang.gov.vn"), domain="soctrang.gov.vn")
    fine = build(Form(to="binh@soctrang.gov.vn", subject="Thư", body="x"),
                 sender=("Nguyễn Văn An", "an@soctrang.gov.vn"), domain="soctrang.gov.vn")
    cases = [
        ("an@soctrang.gov.vn", "binh@soctrang.gov.vn", classified),  # Điều 7.8, content pipeline
        ("an@soctrang.gov.vn", "ban@gmail.com", fine),  # Điều 7.7, RCPT
        ("an@soctrang.gov.vn", "khongco@soctrang.gov.vn", fine),  # unknown mailbox
        ("giamdoc@soctrang.gov.vn", "binh@soctrang.gov.vn", fine),  # send-as, MAIL
        ("an@soctrang.gov.vn", "binh@soctrang.gov.vn", other_from),  # send-as, From field
        ("an@soctrang.gov.vn", "binh@soctrang.gov.vn", fine),  # accepted
    ]
    for sender, to, raw in cases:
        smtp_reply, web_reply = over_587(sender, to, raw), over_web(sender, to, raw)
        # Without SMTPUTF8 (smtplib) the SMTP reply is ASCII (RFC 5321 section 4.2).
        assert " ".join(smtp_reply.split()) == unaccent(" ".join(web_reply.split())), (smtp_reply, web_reply)


def test_another_mailboxs_messages_cannot_be_answered_or_forwarded(webmail: Webmail, context: BrowserContext) -> None:
    webmail.add_user("an@soctrang.gov.vn")
    binh = webmail.add_user("binh@soctrang.gov.vn")
    chi = webmail.add_user("chi@soctrang.gov.vn")
    secret_uid = webmail.deliver(binh, message(subject="Riêng của Bình", body="bí mật riêng"))
    theirs = webmail.folder(binh, "INBOX").id
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    for kind in ("tra-loi", "tra-loi-tat-ca", "chuyen-tiep", "dinh-kem"):
        answer = context.request.get(webmail.url(f"/thu/soan?{kind}={theirs}-{secret_uid}"))
        assert answer.status == 404 and "bí mật riêng" not in answer.text()
    assert context.request.get(webmail.url(f"/thu/soan?nhap={secret_uid}")).status == 404
    # A tampered form naming Bình's message as the one to forward sends nothing.
    page.goto(webmail.url("/thu/soan"))
    page.fill("#den", "chi@soctrang.gov.vn")
    page.eval_on_selector("input[name=goc]", f"i => {{ i.value = '{theirs}-{secret_uid} dinh-kem'; }}")
    send(page)
    expect(page.locator("#loi-gui")).to_contain_text("Không còn tìm thấy thư gốc")
    assert webmail.uids(chi, "INBOX") == []
