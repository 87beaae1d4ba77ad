"""The console's page of API tokens in Chromium: an administrator (with TOTP) makes a
token limited to one organisation, sees it once, the token works; revoking it on the
page stops it at once (401). An organisation manager finds no such page (404), and a
POST from them is refused (403) and audited."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import BrowserContext, expect

from congthu import audit
from congthu.accounts import roles
from congthu.directory import Directory
from tests.requests.test_console import login
from tests.webmail.conftest import Webmail
from tests.webmail.test_login import totp_code

__all__ = ["browser", "context", "playwright", "webmail"]
from tests.webmail.conftest import browser, context, playwright, webmail  # noqa: E402


def test_admin_makes_and_revokes_a_token(webmail: Webmail, context: BrowserContext) -> None:
    server = webmail.server
    app = server.app
    domain = app.settings.system.domain
    org = server.run(Directory(app).add_org("Sở Tư pháp"))[0]
    admin = webmail.add_user(f"quantri@{domain}")
    manager = webmail.add_user(f"quanly@{domain}")
    server.run(roles.grant(app, admin, roles.ADMIN))
    server.run(roles.grant(app, manager, roles.ORG_MANAGER, org.id))
    secret = server.run(app.accounts.totp_begin(admin))
    assert server.run(app.accounts.totp_confirm(admin, totp_code(secret, time.time()), actor="test"))
    # A code is used once: sign in a minute later (the server's clock moved on).
    app.accounts.clock = lambda: datetime.now(UTC) + timedelta(seconds=60)

    page = context.new_page()
    login(webmail, page, f"quantri@{domain}", totp_code(secret, time.time() + 60))
    shown = page.goto(webmail.url("/quan-tri/api"))
    assert shown is not None and shown.status == 200 and page.locator("#name").count(), page.content()[:3000]
    page.fill("#name", "hr-system")
    page.check("input[name=scope][value='requests:read']")
    page.check("input[name=scope][value='directory:read']")
    page.select_option("#org", str(org.id))
    page.click("#tao-ma")
    token = page.locator("#ma-moi").inner_text().strip()
    assert token.startswith("ctk_")
    with httpx.Client(base_url=webmail.origin) as client:
        me = client.get("/api/v1/token", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["org_id"] == org.id
        assert me.json()["owner"] == f"quantri@{domain}" and me.json()["scopes"] == ["directory:read", "requests:read"]
        # Shown once: the list shows its hint only.
        page.goto(webmail.url("/quan-tri/api"))
        expect(page.locator("#ma-1")).to_contain_text("hr-system")
        assert token not in page.content()
        page.click("#thu-hoi-1")
        expect(page.locator("#ma-1 .state")).to_have_text("đã thu hồi")
        assert client.get("/api/v1/token", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        # An unknown scope is refused with the reason, on the page.
        page.fill("#name", "x")
        page.evaluate("document.querySelector('input[name=scope]').value = 'mail:send'")
        page.check("input[name=scope]")
        page.click("#tao-ma")
        expect(page.locator("p.error")).to_contain_text("unknown scope")

    other = context.browser.new_context() if context.browser else None
    assert other is not None
    try:
        page = other.new_page()
        login(webmail, page, f"quanly@{domain}")
        response = page.goto(webmail.url("/quan-tri/api"))
        assert response is not None and response.status == 404
        page.goto(webmail.url("/quan-tri/yeu-cau"))
        csrf = page.locator("input[name=csrf]").first.get_attribute("value") if page.locator(
            "input[name=csrf]").count() else ""
        result = page.request.post(webmail.url("/quan-tri/api"), form={"csrf": csrf or "", "name": "x",
                                                                       "scope": "reports:read"})
        assert result.status == 403
    finally:
        other.close()
    denied = server.run(audit.records(app, action="access.denied"))
    assert any(r.actor == f"quanly@{domain}" and r.details.get("permission") == "roles.manage" for r in denied)
