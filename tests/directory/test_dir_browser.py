"""Adding a person in the console with Chromium (Playwright, /usr/bin/chromium): an
organisation manager signs in through the webmail, finds the console link in the
header, opens their organisation from the tree, types a name, sees the address Điều 3
gives (with the clash explained) before anything is saved, saves, and gets the new
mailbox's one-time password once; the new person can then sign in with it (and must
change it)."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from congthu.accounts import roles
from congthu.directory import Directory
from tests.webmail.conftest import Webmail, browser, context, playwright, webmail

__all__ = ["browser", "context", "playwright", "webmail"]


def test_manager_adds_a_person(webmail: Webmail, context: BrowserContext) -> None:
    server = webmail.server
    app = server.app
    domain = app.settings.system.domain
    directory = Directory(app)
    org = server.run(directory.add_org("Sở Tư pháp"))[0]
    server.run(directory.add_person("Nguyễn Thanh Bình", org.id))  # ntbinh@ is taken
    manager = webmail.add_user(f"quanly.stp@{domain}")
    server.run(roles.grant(app, manager, roles.ORG_MANAGER, org.id))
    plain = webmail.add_user(f"canbo@{domain}")
    assert plain

    page = context.new_page()
    webmail.login(page, f"quanly.stp@{domain}")
    page.click("a#quan-tri")  # the console link in the webmail's header
    page.click("nav.console >> text=Danh bạ, đơn vị")
    page.click(f"#don-vi-{org.id} a")
    expect(page.locator("#ten-don-vi")).to_have_text("Sở Tư pháp")
    page.fill("#name", "Nguyễn Thị Thanh Bình")
    page.fill("#title", "Chuyên viên")
    page.click("#xem-dia-chi")
    expect(page.locator("#dia-chi-de-xuat")).to_have_text(f"nttbinh@{domain}")
    expect(page.locator("#quy-tac")).to_contain_text("Điều 3.2")
    assert server.run(app.store.get_mailbox(f"nttbinh@{domain}")) is None  # shown, not saved
    # A second person whose plain address is taken: the clash rule (Điều 3.3b) explained.
    page.fill("#name", "Nguyễn Thanh Bình")
    page.click("button[value=preview]")
    expect(page.locator("#dia-chi-de-xuat")).to_have_text(f"ntbinh.{org.local_part}@{domain}")
    expect(page.locator("#trung")).to_contain_text(f"ntbinh@{domain}")
    page.click("#tao-hop-thu")
    expect(page.locator("#dia-chi-moi")).to_have_text(f"ntbinh.{org.local_part}@{domain}")
    password = page.locator("#mat-khau").inner_text()
    assert len(password) >= 12
    expect(page.locator("#danh-sach")).to_contain_text(f"ntbinh.{org.local_part}@{domain}")
    # The one-time password opens the mailbox once, to the change form (Điều 13.2).
    other = context.browser.new_context(locale="vi-VN") if context.browser else None
    assert other is not None
    try:
        newcomer = other.new_page()
        webmail.login(newcomer, f"ntbinh.{org.local_part}@{domain}", password)
        assert "/mat-khau-moi" in newcomer.url
    finally:
        other.close()
    # An official without a console role sees no console link, and no console.
    context.clear_cookies()
    page = context.new_page()
    webmail.login(page, f"canbo@{domain}")
    assert page.locator("a#quan-tri").count() == 0
    response = page.goto(webmail.url("/quan-tri/danh-ba"))
    assert response is not None and response.status == 404
