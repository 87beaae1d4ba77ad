"""Signing in to the webmail in Chromium: the forced change of a first password, the same
refusal for a wrong password and an unknown address, the session cookie, CSRF, no open
redirect, sign-out, the sessions page (sign out one device, everywhere) and expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import imaplib
import re
import struct
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from congthu.webmail.sessions import ABSOLUTE_LIFETIME, COOKIE, IDLE_LIFETIME, sessions_of
from tests.accounts.helpers import Clock
from tests.webmail.conftest import PASSWORD, Webmail

NEW_PASSWORD = "Tr@ng-Xanh-2026-Moi"


def test_first_login_goes_to_the_change_form_first(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn", "Nguyễn Văn An", must_change=True)
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    assert page.url == webmail.url("/mat-khau-moi")
    expect(page.locator("h1")).to_have_text("Đổi mật khẩu")
    # Before the change, no mail page opens: each sends back to the form.
    inbox = webmail.folder(box, "INBOX").id
    for path in ("/thu", f"/thu/{inbox}", "/cai-dat"):
        page.goto(webmail.url(path))
        assert page.url == webmail.url("/mat-khau-moi"), path
    # A weak password is refused with the rules, in Vietnamese.
    page.fill("#new", "abc")
    page.fill("#confirm", "abc")
    page.click("button.primary")
    expect(page.locator(".error")).to_be_visible()
    assert page.url == webmail.url("/mat-khau-moi")
    page.fill("#new", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("button.primary")
    page.wait_for_url(webmail.url(f"/thu/{inbox}"))
    expect(page.locator("h1")).to_contain_text("Hộp thư đến")
    # The new password is the one every door now takes (the same accounts core).
    result = webmail.server.run(webmail.server.app.accounts.authenticate(
        "an@example.gov.vn", NEW_PASSWORD, protocol="imap", client_ip="127.0.0.1", secure=True))
    assert result.ok
    old = webmail.server.run(webmail.server.app.accounts.authenticate(
        "an@example.gov.vn", PASSWORD, protocol="imap", client_ip="127.0.0.1", secure=True))
    assert not old.ok


def test_wrong_password_and_unknown_address_get_the_same_refusal(webmail: Webmail,
                                                                   context: BrowserContext) -> None:
    webmail.add_user("an@example.gov.vn")
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn", "Sai-mat-khau-1")
    wrong = page.locator(".error").inner_text()
    webmail.login(page, "khong-co@example.gov.vn", "Sai-mat-khau-1")
    unknown = page.locator(".error").inner_text()
    assert wrong == unknown
    assert "Sai địa chỉ hoặc mật khẩu" in wrong
    assert page.url.startswith(webmail.url("/dang-nhap"))
    assert not any(c["name"] == COOKIE for c in context.cookies())


def test_session_cookie_and_sign_out(webmail: Webmail, context: BrowserContext) -> None:
    webmail.add_user("an@example.gov.vn")
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    assert "/thu/" in page.url
    cookie = next(c for c in context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain HTTP on loopback (dev); Secure on HTTPS
    response = page.goto(webmail.url("/thu"))
    assert response is not None
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    page.click("text=Đăng xuất")
    page.wait_for_url(webmail.url("/dang-nhap"))
    # The old cookie opens nothing any more, even if replayed.
    context.add_cookies([{"name": COOKIE, "value": cookie["value"], "url": webmail.origin}])
    page.goto(webmail.url("/thu"))
    assert page.url.startswith(webmail.url("/dang-nhap"))


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example",
                                    "/thu/../../evil", "javascript:alert(1)", "/thu@evil.example"])
def test_no_open_redirect_after_login(webmail: Webmail, context: BrowserContext, target: str) -> None:
    webmail.add_user("an@example.gov.vn")
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(webmail.url("/dang-nhap?tiep=") + target.replace("&", "%26"))
    page.fill("#address", "an@example.gov.vn")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_load_state()
    assert page.url.startswith(webmail.origin + "/thu/"), page.url
    assert all(url.startswith(webmail.origin) for url in requested), requested


def test_login_returns_to_the_page_asked_for(webmail: Webmail, context: BrowserContext) -> None:
    webmail.add_user("an@example.gov.vn")
    page = context.new_page()
    page.goto(webmail.url("/cai-dat"))
    assert "tiep=/cai-dat" in page.url
    page.fill("#address", "an@example.gov.vn")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(webmail.url("/cai-dat"))
    # A page with a query (sort and page of a folder) comes back whole.
    page.click("text=Đăng xuất")
    page.wait_for_url(webmail.url("/dang-nhap"))
    page.goto(webmail.url("/thu/1?sap-xep=co&trang=1"))
    page.fill("#address", "an@example.gov.vn")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(webmail.url("/thu/1?sap-xep=co&trang=1"))


def test_posts_without_the_csrf_token_are_refused(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    uid = webmail.deliver(box, b"From: b@example.gov.vn\r\nSubject: x\r\n\r\nbody\r\n")
    inbox = webmail.folder(box, "INBOX").id
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    action = webmail.url(f"/thu/{inbox}/thao-tac")
    # No token, a wrong token, and the right token from another site's page: refused.
    forms: list[dict[str, str | float | bool]] = [{"action": "xoa", "uid": str(uid)},
                                                  {"action": "xoa", "uid": str(uid), "csrf": "0" * 64}]
    for form in forms:
        response = context.request.post(action, form=form, max_redirects=0)
        assert response.status == 403
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    response = context.request.post(action, form={"action": "xoa", "uid": str(uid), "csrf": token},
                                    headers={"Origin": "https://evil.example"}, max_redirects=0)
    assert response.status == 403
    assert webmail.uids(box, "INBOX") == [uid]
    # The login form needs its token too (no login CSRF).
    fresh = context.request.post(webmail.url("/dang-nhap"), form={"address": "an@example.gov.vn",
                                                                  "password": PASSWORD}, max_redirects=0)
    assert fresh.status == 403


def test_sessions_page_signs_out_one_device_and_everywhere(webmail: Webmail, browser: Browser) -> None:
    webmail.add_user("an@example.gov.vn")
    devices = [browser.new_context(user_agent=f"Thiết bị {n}") for n in range(3)]
    try:
        pages = [d.new_page() for d in devices]
        for page in pages:
            webmail.login(page, "an@example.gov.vn")
        first = pages[0]
        first.goto(webmail.url("/cai-dat"))
        rows = first.locator("table.sessions tbody tr")
        expect(rows).to_have_count(3)
        expect(first.locator("tr.this")).to_contain_text("Thiết bị 0")
        # Sign out device 1 from device 0.
        first.locator("tr", has_text="Thiết bị 1").get_by_role("button").click()
        expect(first.locator("table.sessions tbody tr")).to_have_count(2)
        # Device 1's open inbox hears it on its event stream and goes to the sign-in by
        # itself; device 2 is still signed in.
        signed_out = re.compile(re.escape(webmail.url("/dang-nhap")) + ".*")
        pages[1].wait_for_url(signed_out, timeout=5000)
        pages[2].goto(webmail.url("/thu"))
        assert "/thu/" in pages[2].url
        # Everywhere: device 0 and device 2 both signed out.
        first.click("text=Đăng xuất mọi thiết bị")
        first.wait_for_url(webmail.url("/dang-nhap"))
        pages[2].wait_for_url(signed_out, timeout=5000)
        pages[1].goto(webmail.url("/thu"))  # and a new visit is sent to the sign-in too
        assert pages[1].url.startswith(webmail.url("/dang-nhap"))
    finally:
        for device in devices:
            device.close()


def test_another_users_session_id_ends_nothing(webmail: Webmail, browser: Browser) -> None:
    webmail.add_user("an@example.gov.vn")
    webmail.add_user("binh@example.gov.vn")
    a, b = browser.new_context(), browser.new_context()
    try:
        page_a, page_b = a.new_page(), b.new_page()
        webmail.login(page_a, "an@example.gov.vn")
        webmail.login(page_b, "binh@example.gov.vn")
        binh = webmail.server.run(webmail.server.app.store.get_mailbox("binh@example.gov.vn"))
        assert binh is not None
        sessions = webmail.server.run(webmail.server.app.db.run_small_read(
            sessions_of, binh.id, webmail.server.app.accounts.clock()))
        page_a.goto(webmail.url("/cai-dat"))
        token = page_a.locator("input[name=csrf]").first.get_attribute("value")
        response = a.request.post(webmail.url("/cai-dat/phien"), form={"csrf": token or "",
                                                                      "phien": str(sessions[0].id)})
        assert response.ok
        page_b.goto(webmail.url("/thu"))
        assert "/thu/" in page_b.url  # B is still signed in
    finally:
        a.close()
        b.close()


def test_sessions_expire_when_idle_and_after_the_absolute_limit(webmail: Webmail, context: BrowserContext) -> None:
    webmail.add_user("an@example.gov.vn")
    clock = Clock(webmail.server.app.accounts.clock())
    webmail.server.app.accounts.clock = clock
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    # Active every hour: the session lives on until the absolute limit.
    for _ in range(int(ABSOLUTE_LIFETIME / timedelta(hours=1)) - 1):
        clock.advance(hours=1)
        page.goto(webmail.url("/thu"))
        assert "/thu/" in page.url
    clock.advance(hours=1, seconds=1)
    page.goto(webmail.url("/thu"))
    assert page.url.startswith(webmail.url("/dang-nhap"))
    # Idle longer than the idle limit: gone.
    webmail.login(page, "an@example.gov.vn")
    assert "/thu/" in page.url
    clock.advance(seconds=IDLE_LIFETIME.total_seconds() + 1)
    page.goto(webmail.url("/thu"))
    assert page.url.startswith(webmail.url("/dang-nhap"))


def test_language_switch_to_english_and_back(webmail: Webmail, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(webmail.url("/dang-nhap"))
    assert page.locator("html").get_attribute("lang") == "vi"
    page.click("text=English")
    page.wait_for_url(webmail.url("/dang-nhap"))
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("h1")).to_have_text("Sign in")
    page.click("text=Tiếng Việt")
    expect(page.locator("h1")).to_have_text("Đăng nhập")


def totp_code(secret: str, when: float) -> str:
    """RFC 6238 with SHA-1, 30 s steps, 6 digits (written here, not the server's code)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(when // 30)), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return str((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**6).zfill(6)


def test_two_factor_code_is_asked_when_turned_on(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user("an@example.gov.vn")
    accounts = webmail.server.app.accounts
    clock = Clock(accounts.clock())
    accounts.clock = clock
    secret = webmail.server.run(accounts.totp_begin(box))
    assert webmail.server.run(accounts.totp_confirm(box, totp_code(secret, clock().timestamp()),
                                                    actor="an@example.gov.vn"))
    clock.advance(seconds=30)
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")  # the right password, no code
    expect(page.locator(".error")).to_contain_text("xác thực hai lớp")
    assert page.url.startswith(webmail.url("/dang-nhap"))
    page.fill("#address", "an@example.gov.vn")
    page.fill("#password", PASSWORD)
    page.fill("#otp", "000000" if totp_code(secret, clock().timestamp()) != "000000" else "111111")
    page.click("button.primary")
    expect(page.locator(".error")).to_be_visible()
    page.fill("#address", "an@example.gov.vn")
    page.fill("#password", PASSWORD)
    page.fill("#otp", totp_code(secret, clock().timestamp()))
    page.click("button.primary")
    page.wait_for_url(webmail.url(f"/thu/{webmail.folder(box, 'INBOX').id}"))


def test_change_password_from_settings(webmail: Webmail, browser: Browser) -> None:
    webmail.add_user("an@example.gov.vn")
    here, other = browser.new_context(), browser.new_context()
    try:
        page, elsewhere = here.new_page(), other.new_page()
        webmail.login(page, "an@example.gov.vn")
        webmail.login(elsewhere, "an@example.gov.vn")
        page.goto(webmail.url("/cai-dat"))
        page.click("text=Đổi mật khẩu >> nth=-1")
        page.wait_for_url(webmail.url("/mat-khau-moi"))
        # A wrong current password: refused, nothing changed.
        page.fill("#current", "Sai-mat-khau-1")
        page.fill("#new", NEW_PASSWORD)
        page.fill("#confirm", NEW_PASSWORD)
        page.click("button.primary")
        expect(page.locator(".error")).to_contain_text("Sai địa chỉ hoặc mật khẩu")
        page.fill("#current", PASSWORD)
        page.fill("#new", NEW_PASSWORD)
        page.fill("#confirm", NEW_PASSWORD)
        page.click("button.primary")
        page.wait_for_url(webmail.url("/cai-dat?doi-mat-khau=xong"))
        expect(page.locator("p.ok")).to_contain_text("Đã đổi mật khẩu")
        expect(page.locator("table.sessions tbody tr")).to_have_count(1)
        elsewhere.goto(webmail.url("/thu"))
        assert elsewhere.url.startswith(webmail.url("/dang-nhap"))
        webmail.login(elsewhere, "an@example.gov.vn", NEW_PASSWORD)
        assert "/thu/" in elsewhere.url
    finally:
        here.close()
        other.close()


def test_over_https_the_cookie_is_secure(webmail: Webmail, browser: Browser) -> None:
    webmail.add_user("an@example.gov.vn")
    secure = browser.new_context(ignore_https_errors=True)
    try:
        page = secure.new_page()
        origin = f"https://127.0.0.1:{webmail.server.port('https')}"
        page.goto(origin + "/dang-nhap")
        page.fill("#address", "an@example.gov.vn")
        page.fill("#password", PASSWORD)
        page.click("button.primary")
        page.wait_for_load_state()
        assert page.url.startswith(origin + "/thu/")
        cookie = next(c for c in secure.cookies() if c["name"] == COOKIE)
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        response = page.goto(origin + "/thu")
        assert response is not None and "strict-transport-security" in response.headers
    finally:
        secure.close()


def test_failed_web_logins_lock_the_other_doors_too(webmail: Webmail, context: BrowserContext) -> None:
    """Throttling is the accounts core's, shared by every door: wrong passwords on the
    webmail lock this client address for IMAP as well."""
    webmail.add_user("an@example.gov.vn")

    async def no_wait(_seconds: float) -> None:
        return None

    webmail.server.app.accounts.sleep = no_wait
    page = context.new_page()
    page.goto(webmail.url("/dang-nhap"))
    token = page.locator("input[name=csrf]").get_attribute("value") or ""
    for n in range(webmail.server.settings.login.address_lock_after):  # each a new guess
        response = context.request.post(webmail.url("/dang-nhap"), max_redirects=0, form={
            "csrf": token, "address": "an@example.gov.vn", "password": f"Sai-mat-khau-{n}"})
        assert response.status == 401
    imap = imaplib.IMAP4("127.0.0.1", webmail.server.port("imap"))
    try:
        with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
            imap.login("an@example.gov.vn", PASSWORD)
    finally:
        imap.shutdown()
    webmail.login(page, "an@example.gov.vn")  # the right password, still locked
    expect(page.locator(".error")).to_contain_text("Tạm khóa")
    assert page.url.startswith(webmail.url("/dang-nhap"))


def test_the_change_password_page_works_in_chromium(webmail: Webmail, context: BrowserContext) -> None:
    """/doi-mat-khau, where the mail doors send an expired password, changes it in a real
    browser (with ``Referrer-Policy: no-referrer`` Chromium posted ``Origin: null``, which
    the page's same-origin check refused every time)."""
    webmail.add_user("binh@example.gov.vn", "Nguyễn Thanh Bình", must_change=True)
    page = context.new_page()
    page.goto(webmail.url("/doi-mat-khau"))
    page.fill("#address", "binh@example.gov.vn")
    page.fill("#current", PASSWORD)
    page.fill("#new", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("button")
    expect(page.locator("body")).not_to_contain_text("Phiên biểu mẫu hết hạn")
    app = webmail.server.app
    result = webmail.server.run(app.accounts.authenticate("binh@example.gov.vn", NEW_PASSWORD, protocol="imap"))
    assert result.ok
