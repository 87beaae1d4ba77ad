"""The administration console's requests in Chromium (issue 15): an organisation manager
files a request for two new mailboxes; the IT Center's administrator (with TOTP) starts
and carries it out; the mailboxes get their Điều 3 addresses; the manager alone sees the
one-time passwords; the requester's organisation mailbox gets the result without them;
a manager of another organisation reaches the request by no URL (404) and no POST. Due
dates shown for a request filed on the working day before Tết 2027, on Friday afternoon
and on a swapped Saturday (override), with the server's clock injected."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from playwright.sync_api import BrowserContext, Page, expect

from congthu import audit
from congthu.accounts import AuthStatus, roles
from congthu.directory import Directory
from congthu.requests.calendar import WORK, put_override
from tests.folders import folder_texts
from tests.webmail.conftest import PASSWORD, Webmail
from tests.webmail.test_login import totp_code

VN = timezone(timedelta(hours=7))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


def login(webmail: Webmail, page: Page, address: str, otp: str = "") -> None:
    page.goto(webmail.url("/dang-nhap"))
    page.fill("#address", address)
    page.fill("#password", PASSWORD)
    if otp:
        page.fill("#otp", otp)
    page.click("button.primary")
    page.wait_for_load_state()


def file_create(webmail: Webmail, page: Page, names: str) -> int:
    page.goto(webmail.url("/quan-tri/yeu-cau"))
    page.click("#tao-yeu-cau")
    page.select_option("#kind", "create")
    page.fill("#names", names)
    page.click("button.primary")
    page.wait_for_url("**/quan-tri/yeu-cau/*")
    return int(page.url.rsplit("/", 1)[1])


def test_manager_files_admin_carries_out_other_manager_sees_nothing(webmail: Webmail,
                                                                   context: BrowserContext) -> None:
    server = webmail.server
    app = server.app
    domain = app.settings.system.domain
    clock = Clock(datetime(2027, 1, 22, 16, 0, tzinfo=VN))  # a Friday afternoon
    app.accounts.clock = clock
    directory = Directory(app)
    org = server.run(directory.add_org("Sở Tư pháp"))[0]
    other = server.run(directory.add_org("Sở Y tế"))[0]
    manager = webmail.add_user(f"quanly.stp@{domain}")
    stranger = webmail.add_user(f"quanly.syt@{domain}")
    admin = webmail.add_user(f"quantri@{domain}")
    novice = webmail.add_user(f"quantri2@{domain}")
    supervisor = webmail.add_user(f"giamsat@{domain}")
    server.run(roles.grant(app, supervisor, roles.SUPERVISOR))
    server.run(roles.grant(app, manager, roles.ORG_MANAGER, org.id))
    server.run(roles.grant(app, stranger, roles.ORG_MANAGER, other.id))
    server.run(roles.grant(app, admin, roles.ADMIN))
    server.run(roles.grant(app, novice, roles.ADMIN))
    secret = server.run(app.accounts.totp_begin(admin))
    assert server.run(app.accounts.totp_confirm(admin, totp_code(secret, clock().timestamp()), actor="test"))
    # The government swaps Saturday 23 January 2027 (entered by the IT Center).
    server.run(app.db.run_write(put_override, date(2027, 1, 23), WORK, "làm bù", "it", clock()))

    page = context.new_page()
    login(webmail, page, f"quanly.stp@{domain}")
    # Friday afternoon: Saturday 23 (worked), Monday 25, Tuesday 26.
    friday = file_create(webmail, page, "Lý Thị Hằng")
    expect(page.locator("#han")).to_have_text("26/01/2027")
    # On the swapped Saturday itself: Monday 25, Tuesday 26, Wednesday 27.
    clock.now = datetime(2027, 1, 23, 9, 0, tzinfo=VN)
    login(webmail, page, f"quanly.stp@{domain}")  # sessions are idle for 2 hours at most
    saturday = file_create(webmail, page, "Mai Văn Tú")
    expect(page.locator("#han")).to_have_text("27/01/2027")
    # The last working day before Tết 2027 (Thursday 4 to Wednesday 10 February off).
    clock.now = datetime(2027, 2, 3, 15, 30, tzinfo=VN)
    login(webmail, page, f"quanly.stp@{domain}")
    request_id = file_create(webmail, page, "Nguyễn Thanh Bình; Chuyên viên\nTrần Thị Mai")
    expect(page.locator("#han")).to_have_text("15/02/2027")
    expect(page.locator("#trang-thai")).to_have_text("Đã tiếp nhận")
    # The manager may not act on it (administrators only): no buttons, and a POST is 403.
    assert page.locator("#bat-dau").count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    assert context.request.post(webmail.url(f"/quan-tri/yeu-cau/{request_id}/bat-dau"),
                                form={"csrf": token}, max_redirects=0).status == 403
    # The list: due dates, overdue marks for the January requests, filter by state.
    page.goto(webmail.url("/quan-tri/yeu-cau"))
    expect(page.locator(f"#yeu-cau-{friday} .due")).to_contain_text("26/01/2027")
    expect(page.locator(f"#yeu-cau-{friday} .overdue-mark")).to_be_visible()
    expect(page.locator(f"#yeu-cau-{saturday} .overdue-mark")).to_be_visible()
    assert page.locator(f"#yeu-cau-{request_id} .overdue-mark").count() == 0
    page.goto(webmail.url("/quan-tri/yeu-cau?trang-thai=qua-han"))
    assert page.locator(f"#yeu-cau-{request_id}").count() == 0
    assert page.locator(f"#yeu-cau-{friday}").count() == 1

    # An administrator without two-factor gets the enrolment page, not the console.
    clock.now = datetime(2027, 2, 4, 8, 0, tzinfo=VN)
    admin_context = context.browser.new_context(locale="vi-VN") if context.browser else None
    assert admin_context is not None
    try:
        admin_page = admin_context.new_page()
        login(webmail, admin_page, f"quantri2@{domain}")
        response = admin_page.goto(webmail.url(f"/quan-tri/yeu-cau/{request_id}"))
        assert response is not None and response.status == 403
        expect(admin_page.locator("#can-totp")).to_contain_text("congthu user totp")
        assert admin_page.locator("#bat-dau").count() == 0
        admin_context.clear_cookies()
        # The administrator with TOTP starts and carries out the request.
        login(webmail, admin_page, f"quantri@{domain}", totp_code(secret, clock().timestamp()))
        admin_page.goto(webmail.url(f"/quan-tri/yeu-cau/{request_id}"))
        admin_page.click("#bat-dau")
        expect(admin_page.locator("#trang-thai")).to_have_text("Đang xử lý")
        admin_page.click("#hoan-thanh")
        expect(admin_page.locator("#trang-thai")).to_have_text("Đã hoàn thành")
        expect(admin_page.locator("#ket-qua")).to_contain_text(f"ntbinh@{domain}")
        expect(admin_page.locator("#ket-qua")).to_contain_text(f"ttmai@{domain}")
        assert admin_page.locator("#mat-khau-mot-lan").count() == 0  # not for the administrator
    finally:
        admin_context.close()

    # The manager sees the one-time passwords; they open the new mailboxes (forced change).
    login(webmail, page, f"quanly.stp@{domain}")
    page.goto(webmail.url(f"/quan-tri/yeu-cau/{request_id}"))
    rows = page.locator("#mat-khau-mot-lan tr")
    expect(rows).to_have_count(2)
    shown: dict[str, str] = {}
    for i in range(2):
        cells = rows.nth(i).locator("td")
        shown[cells.nth(0).inner_text()] = cells.nth(1).inner_text()
    assert set(shown) == {f"ntbinh@{domain}", f"ttmai@{domain}"}  # Điều 3.2
    result = server.run(app.accounts.authenticate(f"ntbinh@{domain}", shown[f"ntbinh@{domain}"], protocol="web",
                                                  client_ip="127.0.0.1", secure=True))
    assert result.status is AuthStatus.EXPIRED
    # The requester's organisation mailbox got the result, never a password.
    mails = organisation_mail(webmail, org.mailbox_id)
    assert any(f"ntbinh@{domain}" in m and "thực hiện xong" in m for m in mails)
    assert all(pw not in m for m in mails for pw in shown.values())

    # The Department's supervisor reads everything and changes nothing.
    watcher_context = context.browser.new_context(locale="vi-VN") if context.browser else None
    assert watcher_context is not None
    try:
        wpage = watcher_context.new_page()
        login(webmail, wpage, f"giamsat@{domain}")
        wpage.goto(webmail.url("/quan-tri/yeu-cau"))
        expect(wpage.locator(f"#yeu-cau-{request_id}")).to_be_visible()
        wpage.goto(webmail.url(f"/quan-tri/yeu-cau/{friday}"))
        expect(wpage.locator("#han")).to_contain_text("26/01/2027")
        assert wpage.locator("#bat-dau, #tu-choi, #mat-khau-mot-lan").count() == 0
        wtoken = wpage.locator("input[name=csrf]").first.get_attribute("value") or ""
        reply = watcher_context.request.post(webmail.url(f"/quan-tri/yeu-cau/{friday}/bat-dau"),
                                             form={"csrf": wtoken}, max_redirects=0)
        assert reply.status == 403
    finally:
        watcher_context.close()

    # A manager of another organisation: the request does not exist for them.
    stranger_context = context.browser.new_context(locale="vi-VN") if context.browser else None
    assert stranger_context is not None
    try:
        spage = stranger_context.new_page()
        login(webmail, spage, f"quanly.syt@{domain}")
        response = spage.goto(webmail.url(f"/quan-tri/yeu-cau/{request_id}"))
        assert response is not None and response.status == 404
        assert "ntbinh" not in spage.content()
        spage.goto(webmail.url("/quan-tri/yeu-cau"))
        assert spage.locator(f"#yeu-cau-{request_id}").count() == 0
        stoken = spage.locator("input[name=csrf]").first.get_attribute("value") or ""
        for action in ("bat-dau", "hoan-thanh", "tu-choi", "nhan-mat-khau"):
            reply = stranger_context.request.post(webmail.url(f"/quan-tri/yeu-cau/{request_id}/{action}"),
                                                  form={"csrf": stoken, "reason": "x"}, max_redirects=0)
            assert reply.status == 404, action
        reply = stranger_context.request.post(webmail.url("/quan-tri/yeu-cau"), max_redirects=0, form={
            "csrf": stoken, "org": str(org.id), "kind": "create", "names": "Kẻ Lạ"})
        assert reply.status == 403
        denied = server.run(audit.records(app, action="access.denied", actor=f"quanly.syt@{domain}"))
        assert [r.target for r in denied] == [f"org:{org.id}"]
        # Their new-request form offers only their own organisation.
        spage.goto(webmail.url("/quan-tri/yeu-cau/moi"))
        assert spage.locator("#org option").all_inner_texts() == [f"Sở Y tế ({other.address})"]
    finally:
        stranger_context.close()
    # The passwords are still there for the manager; taken once, then gone.
    page.goto(webmail.url(f"/quan-tri/yeu-cau/{request_id}"))
    page.click("text=Đã ghi lại, xóa khỏi hệ thống")
    expect(page.locator("[role=status]")).to_contain_text("đã được xóa")
    assert page.locator("#mat-khau-mot-lan").count() == 0
    # A plain user (no console role) finds no console.
    context.clear_cookies()
    webmail.add_user(f"canbo@{domain}")
    login(webmail, page, f"canbo@{domain}")
    response = page.goto(webmail.url("/quan-tri/yeu-cau"))
    assert response is not None and response.status == 404


def organisation_mail(webmail: Webmail, mailbox_id: int) -> list[str]:
    app = webmail.server.app

    async def read() -> list[str]:
        return await folder_texts(app.store, mailbox_id)

    return webmail.server.run(read())
