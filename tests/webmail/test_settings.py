"""The settings pages in Chromium: two-factor enrolment with the QR code and recovery
codes, app passwords used by an IMAP client (imaplib) then revoked, the signature in the
compose page, the vacation form with Vietnamese dates and its reply over SMTP, the
forwarding form refusing foreign free-mail (Điều 7.7), the quota bar, the client set-up
page; and no way to see or change another mailbox's settings."""

from __future__ import annotations

import imaplib
import re
import smtplib
import time

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from congthu import audit
from congthu.mailrules import rules
from tests.accounts.helpers import Clock
from tests.smtp.conftest import wait_for
from tests.smtp.test_submission import tls_client
from tests.webmail.conftest import PASSWORD, Webmail, message
from tests.webmail.test_login import totp_code

AN, BINH = "lvan@soctrang.gov.vn", "ntbinh@soctrang.gov.vn"


def signed_in(webmail: Webmail, context: BrowserContext, address: str = AN) -> Page:
    page = context.new_page()
    webmail.login(page, address)
    return page


def audited(webmail: Webmail, action: str) -> list[tuple[str, str]]:
    found = webmail.server.run(audit.records(webmail.server.app, action=action))
    return [(r.actor, r.target) for r in found]


def test_two_factor_enrolment_with_qr_and_recovery_codes(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(AN)
    accounts = webmail.server.app.accounts
    clock = Clock(accounts.clock())
    accounts.clock = clock
    page = signed_in(webmail, context)
    page.goto(webmail.url("/cai-dat/xac-thuc-hai-lop"))
    expect(page.locator("section")).to_contain_text("Xác thực hai lớp đang tắt")
    page.click("text=Bật xác thực hai lớp")
    expect(page.locator("figure.qr svg")).to_be_visible()  # the QR code, inline SVG made on the server
    assert page.locator("figure.qr svg path").count() == 1
    secret = (page.locator("#khoa-totp").text_content() or "").replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    # A wrong code: refused, the same QR shown again.
    wrong = "000000" if totp_code(secret, clock().timestamp()) != "000000" else "111111"
    page.fill("#ma", wrong)
    page.click("text=Xác nhận và bật")
    expect(page.locator(".error")).to_contain_text("Mã không đúng")
    assert (page.locator("#khoa-totp").text_content() or "").replace(" ", "") == secret
    page.fill("#ma", totp_code(secret, clock().timestamp()))
    page.click("text=Xác nhận và bật")
    expect(page.locator(".ok")).to_contain_text("Đã bật xác thực hai lớp")
    codes = [c.strip() for c in page.locator("#ma-khoi-phuc code").all_text_contents()]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert webmail.server.run(accounts.totp_enabled(box))
    assert (AN, AN) in audited(webmail, "totp.enabled")
    # The codes are shown once: the page does not show them again.
    page.goto(webmail.url("/cai-dat/xac-thuc-hai-lop"))
    assert page.locator("#ma-khoi-phuc").count() == 0
    expect(page.locator("section")).to_contain_text("đang bật")

    # A new browser: the password alone is not enough; a recovery code works once.
    other = context.browser.new_context()  # type: ignore[union-attr]
    try:
        fresh = other.new_page()
        for code, ok in ((None, False), (codes[0], True)):
            fresh.goto(webmail.url("/dang-nhap"))
            fresh.fill("#address", AN)
            fresh.fill("#password", PASSWORD)
            if code:
                fresh.fill("#otp", code)
            fresh.click("button.primary")
            fresh.wait_for_load_state()
            assert ("/dang-nhap" not in fresh.url) is ok
    finally:
        other.close()

    # Turning it off needs the password and a code.
    page.fill("#mat-khau", "Sai-mat-khau-1")
    page.fill("#ma-tat", codes[1])
    page.click("text=Tắt xác thực hai lớp")
    expect(page.locator(".error")).to_contain_text("Mật khẩu hoặc mã không đúng")
    assert webmail.server.run(accounts.totp_enabled(box))
    page.fill("#mat-khau", PASSWORD)
    page.fill("#ma-tat", codes[2])
    page.click("text=Tắt xác thực hai lớp")
    expect(page.locator(".ok")).to_contain_text("Đã tắt")
    assert not webmail.server.run(accounts.totp_enabled(box))


def test_app_password_for_an_imap_client(webmail: Webmail, context: BrowserContext) -> None:
    webmail.add_user(AN)
    page = signed_in(webmail, context)
    page.goto(webmail.url("/cai-dat/mat-khau-ung-dung"))
    expect(page.locator("section")).to_contain_text("Chưa có mật khẩu ứng dụng")
    page.fill("#ten", "Điện thoại")
    page.click("text=Tạo mật khẩu ứng dụng")
    expect(page.locator(".ok")).to_contain_text("Điện thoại")
    password = (page.locator("#mat-khau-moi-tao").text_content() or "").strip()
    assert len(password) >= 16
    imap = imaplib.IMAP4("127.0.0.1", webmail.server.port("imap"))
    try:
        assert imap.login(AN, password)[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.logout()
    # Listed without the password itself; shown once.
    page.goto(webmail.url("/cai-dat/mat-khau-ung-dung"))
    expect(page.locator("table")).to_contain_text("Điện thoại")
    assert password not in page.content()
    assert (AN, AN) in audited(webmail, "app_password.added")
    # An empty label is refused.
    page.fill("#ten", "   ")
    page.locator("#ten").evaluate("e => e.removeAttribute('required')")
    page.click("text=Tạo mật khẩu ứng dụng")
    expect(page.locator(".error")).to_contain_text("tên gợi nhớ")
    # Revoked: the client is refused.
    page.goto(webmail.url("/cai-dat/mat-khau-ung-dung"))
    page.click("button:has-text('Thu hồi')")
    expect(page.locator(".ok")).to_contain_text("Đã thu hồi")
    imap = imaplib.IMAP4("127.0.0.1", webmail.server.port("imap"))
    try:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(AN, password)
    finally:
        imap.shutdown()


def test_signature_appears_in_compose(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(AN)
    uid = webmail.deliver(box, message(subject="Hỏi việc", sender=BINH, to=AN))
    page = signed_in(webmail, context)
    page.goto(webmail.url("/cai-dat/chu-ky"))
    page.fill("#chu-ky", "Lê Văn An\nPhòng Tổ chức – Sở Nội vụ\nĐT: 0299 3822 000")
    page.click("section form button.primary")
    expect(page.locator(".ok")).to_contain_text("Đã lưu")
    expect(page.locator("#chu-ky")).to_have_value("Lê Văn An\nPhòng Tổ chức – Sở Nội vụ\nĐT: 0299 3822 000")
    page.goto(webmail.url("/thu/soan"))
    body = page.locator("#than-thu").input_value()
    assert body.endswith("-- \nLê Văn An\nPhòng Tổ chức – Sở Nội vụ\nĐT: 0299 3822 000\n")
    inbox = webmail.folder(box, "INBOX").id
    page.goto(webmail.url(f"/thu/soan?tra-loi={inbox}-{uid}"))
    body = page.locator("#than-thu").input_value()
    assert body.index("-- \nLê Văn An") < body.index("Nội dung thư.")  # above the quoted text
    assert (AN, AN) in audited(webmail, "mailrules.signature")


def test_vacation_form_with_vietnamese_dates(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(AN)
    webmail.add_user(BINH)
    page = signed_in(webmail, context)
    page.goto(webmail.url("/cai-dat/tra-loi-tu-dong"))
    page.check("input[name=bat]")
    page.fill("#tu-ngay", "31/02/2026")
    page.fill("#tra-loi-noi-dung", "Tôi nghỉ phép.")
    page.click("section form button.primary")
    expect(page.locator(".error")).to_contain_text("Ngày không hợp lệ: 31/02/2026")
    page.fill("#tu-ngay", "20/12/2026")
    page.fill("#den-ngay", "10/12/2026")
    page.click("section form button.primary")
    expect(page.locator(".error")).to_contain_text("Ngày kết thúc trước ngày bắt đầu")
    today = time.strftime("%d/%m/%Y", time.gmtime(time.time() - 86400))
    end = time.strftime("%d/%m/%Y", time.gmtime(time.time() + 3 * 86400))
    page.fill("#tu-ngay", today)
    page.fill("#den-ngay", end)
    page.fill("#tieu-de", "Vắng mặt")
    page.fill("#tra-loi-noi-dung", "Tôi nghỉ phép đến hết tuần.\nViệc gấp xin gọi văn thư.")
    page.click("section form button.primary")
    expect(page.locator(".ok")).to_contain_text("Trả lời tự động đang bật")
    expect(page.locator("#tu-ngay")).to_have_value(today)
    expect(page.locator("#den-ngay")).to_have_value(end)
    assert (AN, AN) in audited(webmail, "mailrules.vacation")
    # A colleague writes over SMTP submission and gets the reply.
    with smtplib.SMTP("127.0.0.1", webmail.server.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BINH, PASSWORD)
        client.sendmail(BINH, [AN], f"From: {BINH}\r\nTo: {AN}\r\nSubject: Hop\r\n\r\nx\r\n".encode())
    binh = webmail.server.run(webmail.server.app.store.get_mailbox(BINH)).id
    wait_for(lambda: webmail.uids(binh, "INBOX"))
    [uid] = webmail.uids(binh, "INBOX")
    reply = webmail.raw(binh, "INBOX", uid)
    assert b"Auto-Submitted: auto-replied" in reply
    # Off again.
    page.uncheck("input[name=bat]")
    page.click("section form button.primary")
    expect(page.locator(".ok")).to_contain_text("Đã lưu")
    assert not webmail.server.run(rules.get_vacation(webmail.server.app, box)).enabled


def test_forwarding_form_refuses_foreign_free_mail(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(AN)
    webmail.add_user(BINH)
    page = signed_in(webmail, context)
    page.goto(webmail.url("/cai-dat/chuyen-tiep"))
    expect(page.locator("section")).to_contain_text("Điều 7.7")
    page.check("input[name=bat]")
    page.fill("#dia-chi", f"{BINH}\ncanbo.soctrang@gmail.com")
    page.click("section form button.primary")
    expect(page.locator(".error")).to_contain_text(
        "Chưa lưu: Điều 7.7 Quy chế: không được tự động chuyển tiếp thư công vụ đến dịch vụ thư nước ngoài (gmail.com)")
    expect(page.locator("#dia-chi")).to_have_value(f"{BINH}\ncanbo.soctrang@gmail.com")  # the form is kept
    assert webmail.server.run(rules.get_forwarding(webmail.server.app, box)).targets == ()
    # In English with the switch.
    page.click("text=English")
    page.goto(webmail.url("/cai-dat/chuyen-tiep"))
    page.check("input[name=bat]")
    page.fill("#dia-chi", "canbo@yahoo.com")
    page.click("section form button.primary")
    expect(page.locator(".error")).to_contain_text("must never be forwarded automatically to a foreign mail service")
    page.click("text=Tiếng Việt")
    page.goto(webmail.url("/cai-dat/chuyen-tiep"))
    page.check("input[name=bat]")
    page.fill("#dia-chi", BINH)
    page.uncheck("input[name=giu-ban-sao]")
    page.click("section form button.primary")
    expect(page.locator(".ok")).to_contain_text("Đã lưu")
    rule = webmail.server.run(rules.get_forwarding(webmail.server.app, box))
    assert rule.enabled and rule.targets == (BINH,) and not rule.keep_copy
    assert (AN, AN) in audited(webmail, "mailrules.forwarding")


def test_quota_bar_and_client_setup(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(AN)
    webmail.deliver(box, message(body="x" * 300_000, sender=BINH, to=AN))
    page = signed_in(webmail, context)
    page.goto(webmail.url("/cai-dat"))
    meter = page.locator("meter#dung-luong-do")
    quota = webmail.server.settings.mailbox_quota_bytes
    assert meter.get_attribute("max") == str(quota)
    assert int(meter.get_attribute("value") or 0) > 300_000
    expect(page.locator("section").first).to_contain_text("trên 500,0 MB")
    page.click("nav.settings-nav >> text=Cài đặt ứng dụng thư")
    table = page.locator("table.clients")
    host = webmail.server.settings.system.hostname
    expect(table).to_contain_text(host)
    for port in ("993", "143", "995", "465", "587"):
        expect(table).to_contain_text(port)
    link = page.locator("a", has_text="Thunderbird").get_attribute("href") or ""
    xml = context.request.get(webmail.url(link))
    assert xml.status == 200 and host in xml.text() and "%EMAILADDRESS%" in xml.text()
    apple = page.locator("a", has_text="iPhone").get_attribute("href") or ""
    assert apple == "/autoconfig/apple.mobileconfig?emailaddress=lvan%40soctrang.gov.vn"


def test_no_way_into_another_mailbox_settings(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user(AN)
    binh = webmail.add_user(BINH)
    app = webmail.server.app
    binh_password_id = None
    webmail.server.run(app.accounts.add_app_password(binh, "Máy của Bình", actor=BINH))
    binh_password_id = webmail.server.run(app.accounts.list_app_passwords(binh))[0]["id"]

    async def binh_signature() -> None:
        mailbox = await app.store.get_mailbox_by_id(binh)
        assert mailbox is not None
        await rules.set_signature(app, mailbox, "Chữ ký riêng của Bình", actor=BINH)
    webmail.server.run(binh_signature())

    page = signed_in(webmail, context)
    token = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    # Nothing of Bình's shows on An's pages.
    for path in ("/cai-dat", "/cai-dat/chu-ky", "/cai-dat/mat-khau-ung-dung", "/cai-dat/tra-loi-tu-dong",
                 "/cai-dat/chuyen-tiep", "/cai-dat/xac-thuc-hai-lop", "/cai-dat/ung-dung-thu",
                 f"/cai-dat/chu-ky?hop-thu={binh}"):
        text = context.request.get(webmail.url(path)).text()
        assert "Bình" not in text and BINH not in text, path
    # Forms carry no mailbox: extra fields naming Bình change only An's settings.
    for field in ("hop-thu", "mailbox", "mailbox_id"):
        response = context.request.post(webmail.url("/cai-dat/chu-ky"), max_redirects=0, form={
            "csrf": token, "chu-ky": "đổi", field: str(binh)})
        assert response.status == 303
    assert webmail.server.run(rules.get_signature(app, binh)) == "Chữ ký riêng của Bình"
    assert webmail.server.run(rules.get_signature(app, an)) == "đổi"
    # Bình's app password id revokes nothing.
    response = context.request.post(webmail.url("/cai-dat/mat-khau-ung-dung/thu-hoi"), max_redirects=0,
                                    form={"csrf": token, "id": str(binh_password_id)})
    assert response.status == 303
    assert [r["id"] for r in webmail.server.run(app.accounts.list_app_passwords(binh))] == [binh_password_id]
    # Without the token, or from another origin: refused, nothing changed.
    for headers, form in (({}, {"chu-ky": "x"}), ({"origin": "https://evil.example"}, {"csrf": token, "chu-ky": "x"})):
        response = context.request.post(webmail.url("/cai-dat/chu-ky"), max_redirects=0, form=form, headers=headers)
        assert response.status == 403
    for path in ("/cai-dat/tra-loi-tu-dong", "/cai-dat/chuyen-tiep", "/cai-dat/mat-khau-ung-dung",
                 "/cai-dat/xac-thuc-hai-lop/bat-dau"):
        response = context.request.post(webmail.url(path), max_redirects=0, form={"bat": "1", "ten": "x"})
        assert response.status == 403, path
    assert webmail.server.run(rules.get_signature(app, an)) == "đổi"
    assert not webmail.server.run(app.accounts.totp_enabled(an))
    assert webmail.server.run(app.accounts.list_app_passwords(an)) == []
    # Signed out: every settings page sends to the sign-in page; POSTs change nothing.
    context.clear_cookies()
    for path in ("/cai-dat/chu-ky", "/cai-dat/tra-loi-tu-dong", "/cai-dat/chuyen-tiep",
                 "/cai-dat/xac-thuc-hai-lop", "/cai-dat/mat-khau-ung-dung", "/cai-dat/ung-dung-thu"):
        response = context.request.get(webmail.url(path), max_redirects=0)
        assert response.status == 303 and response.headers["location"].startswith("/dang-nhap"), path
        response = context.request.post(webmail.url(path), max_redirects=0, form={"csrf": token, "chu-ky": "x"})
        assert response.status in (303, 405), path
    assert webmail.server.run(rules.get_signature(app, an)) == "đổi"
