"""Folders and the message list in Chromium: search without accents in a folder and
across folders (the store's IMAP SEARCH path), the list read a page at a time in each
order, folder create / rename / delete (Vietnamese names, seen over IMAP in modified
UTF-7), special folders protected, empty Trash, Junk / Not junk teaching rspamd as an IMAP
move does, new mail appearing without reload (server-sent events, closed at sign-out,
bounded per session), drag and drop onto a folder, keyboard shortcuts."""

from __future__ import annotations

import http.client
import imaplib
import json
import re
import time
import urllib.request
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from congthu.webmail.sessions import COOKIE
from tests.content.conftest import rspamd  # noqa: F401  (the fixture)
from tests.content.daemons import Rspamd
from tests.webmail.conftest import PASSWORD, Webmail, message, start_webmail, wait_for_script_state

ADDRESS = "an@example.gov.vn"


def mail(subject: str, body: str = "Nội dung.", sender: str = "binh@example.gov.vn", size: int = 0) -> bytes:
    """A message built by ``email`` (RFC 2047 words for non-ASCII fields)."""
    built = EmailMessage(policy=SMTP)
    built["From"] = sender
    built["To"] = ADDRESS
    built["Subject"] = subject
    built["Date"] = "Sat, 05 Dec 2026 09:00:00 +0700"
    built.set_content(body + ("\n" + "x" * size if size else ""))
    return built.as_bytes()


def subjects(page: Page) -> list[str]:
    """The subjects of the list shown, without the words for screen readers."""
    return page.locator("table.messages tbody td.subject a").evaluate_all(  # type: ignore[no-any-return]
        "links => links.map(a => { const c = a.cloneNode(true); c.querySelectorAll('.sr, .flag')"
        ".forEach(e => e.remove()); return c.textContent.trim(); })")


def follow(page: Page, selector: str) -> None:
    """Click what loads another page, and wait for it: a list read right after a click
    may otherwise be that of the page still loading (empty)."""
    with page.expect_navigation():
        page.click(selector)


def imap_names(webmail: Webmail) -> list[str]:
    client = imaplib.IMAP4("127.0.0.1", webmail.server.port("imap"))
    try:
        client.login(ADDRESS, PASSWORD)
        _typ, lines = client.list()
        return [line.decode().rsplit(' "/" ', 1)[1].strip('"') for line in lines if isinstance(line, bytes)]
    finally:
        client.logout()


def test_search_without_accents_in_a_folder_and_across_folders(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS, "Nguyễn Văn An")
    webmail.deliver(box, mail("Lịch làm việc tuần 49"))
    webmail.deliver(box, mail("Họp giao ban", sender="Phòng Lịch Làm Việc <lich@example.gov.vn>"))
    webmail.deliver(box, mail("Thông báo", body="Gửi anh LỊCH LÀM VIỆC của Sở."))
    webmail.deliver(box, mail("Lịch làm việc cũ"), folder="Archive")
    webmail.deliver(box, mail("Báo cáo quý", body="Không liên quan."))
    webmail.deliver(box, mail("Lịch nghỉ", body="làm thêm; việc khác"))  # the words, not the phrase
    page = context.new_page()
    webmail.login(page, ADDRESS)
    # The header's box searches the folder shown.
    page.fill("#tim", "lich lam viec")
    page.press("#tim", "Enter")
    page.wait_for_url(re.compile(r"/thu/tim\?"))
    found = subjects(page)
    assert sorted(found) == ["Họp giao ban", "Lịch làm việc tuần 49", "Lịch nghỉ", "Thông báo"], found
    expect(page.locator("[role=status]").first).to_contain_text("Tìm thấy 4 thư")
    # A phrase in quotes must occur as written (accents and case still ignored).
    page.fill("#tim-q", '"LICH LAM VIEC"')
    follow(page, ".search-form button")
    assert sorted(subjects(page)) == ["Họp giao ban", "Lịch làm việc tuần 49", "Thông báo"]
    # Across folders: the Archive's message too, its folder named.
    page.select_option("#tim-pham-vi", "")
    follow(page, ".search-form button")
    assert sorted(subjects(page)) == ["Họp giao ban", "Lịch làm việc cũ", "Lịch làm việc tuần 49", "Thông báo"]
    expect(page.locator("td.folder", has_text="Lưu trữ")).to_have_count(1)
    page.locator("td.subject a", has_text="Lịch làm việc cũ").click()
    expect(page.locator("h1#tieu-de")).to_have_text("Lịch làm việc cũ")
    # "/" goes to the search box.
    page.keyboard.press("/")
    expect(page.locator("#tim")).to_be_focused()


def test_search_results_are_paged(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    for n in range(57):
        webmail.deliver(box, mail(f"Báo cáo số {n}"))
    webmail.deliver(box, mail("Khác"))
    page = context.new_page()
    webmail.login(page, ADDRESS)
    page.goto(webmail.url("/thu/tim?q=bao+cao"))
    first = subjects(page)
    assert len(first) == 50 and first[0] == "Báo cáo số 56"
    follow(page, "a[rel=next]")
    second = subjects(page)
    assert len(second) == 7 and second[-1] == "Báo cáo số 0"
    assert not set(first) & set(second)
    # Nothing to search for: the form alone, no error.
    response = context.request.get(webmail.url("/thu/tim?q=%20%22%22"))
    assert response.status == 200 and "Tìm thấy" not in response.text()


def test_the_list_in_each_order_a_page_at_a_time(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    senders = ["Chi <chi@example.gov.vn>", "An Bình <binh@example.gov.vn>", "Bảo <bao@example.gov.vn>"]
    for n in range(60):
        webmail.deliver(box, mail(f"Thư {n:02d}", sender=senders[n % 3], size=(n * 37) % 60 * 100))
    inbox = webmail.folder(box, "INBOX").id
    page = context.new_page()
    webmail.login(page, ADDRESS)
    assert subjects(page)[:3] == ["Thư 59", "Thư 58", "Thư 57"]
    expect(page.locator("h1 .sub")).to_have_text("60 thư")
    page.goto(webmail.url(f"/thu/{inbox}?sap-xep=ngay-cu&trang=2"))
    assert subjects(page) == [f"Thư {n:02d}" for n in range(50, 60)]
    page.goto(webmail.url(f"/thu/{inbox}?sap-xep=tieu-de"))
    assert subjects(page)[:2] == ["Thư 00", "Thư 01"]
    page.goto(webmail.url(f"/thu/{inbox}?sap-xep=nguoi-gui"))
    assert page.locator("td.from").first.inner_text().startswith("An Bình")
    sizes = []
    for number in (1, 2):
        page.goto(webmail.url(f"/thu/{inbox}?sap-xep=co&trang={number}"))
        sizes += [int(uid) for uid in page.locator("table.messages tbody tr").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-uid'))")]
    assert len(sizes) == len(set(sizes)) == 60  # two pages, no overlap, nothing skipped
    metas = {m.uid: m.size for m in webmail.server.run(webmail.server.app.store.folder_index(inbox))}
    assert [metas[uid] for uid in sizes] == sorted(metas.values(), reverse=True)
    # The select offers every order and keeps the chosen one.
    page.goto(webmail.url(f"/thu/{inbox}"))
    page.select_option("#sap-xep", "co-nho")
    page.click("form.sort button")
    assert page.url.endswith("sap-xep=co-nho")
    # A page number past the end shows the last page; nonsense orders fall back to date.
    page.goto(webmail.url(f"/thu/{inbox}?trang=999&sap-xep=%3Cscript%3E"))
    expect(page.locator("nav.pages span")).to_have_text("Trang 2 / 2")


def test_folder_create_rename_delete_with_vietnamese_names(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    page = context.new_page()
    webmail.login(page, ADDRESS)
    page.click("a.manage-folders")
    page.fill("#ten-moi", "Dự án 2026")
    page.click("form.folder-create button")
    expect(page.locator("p.done")).to_have_text("Đã tạo thư mục.")
    project = webmail.folder(box, "Dự án 2026").id
    page.fill("#ten-moi", "Tháng 12")
    page.select_option("#cha", str(project))
    page.click("form.folder-create button")
    expect(page.locator("nav.folders")).to_contain_text("Tháng 12")
    assert "D&HvE- &AOE-n 2026/Th&AOE-ng 12" in imap_names(webmail)  # modified UTF-7 over IMAP
    # Refusals, in Vietnamese, nothing made.
    for name, why in (("a/b", "không được chứa"), ("Dự án 2026", "Đã có thư mục"), ("inbox", "Đã có thư mục")):
        page.fill("#ten-moi", name)
        page.select_option("#cha", "")
        page.click("form.folder-create button")
        expect(page.locator("p.error")).to_contain_text(why)
    # Rename keeps the hierarchy.
    row = page.locator(f"tr[data-folder='{project}']")
    row.locator("input[name=ten]").fill("Dự án 2027")
    row.locator("button", has_text="Đổi tên").click()
    expect(page.locator("p.done")).to_have_text("Đã đổi tên thư mục.")
    names = imap_names(webmail)
    assert "D&HvE- &AOE-n 2027/Th&AOE-ng 12" in names and "D&HvE- &AOE-n 2026" not in names
    # A folder with subfolders is refused; its subfolder, with messages, goes, the messages to Trash.
    month = webmail.folder(box, "Dự án 2027/Tháng 12").id
    uid = webmail.deliver(box, mail("Kế hoạch tháng 12"), folder="Dự án 2027/Tháng 12")
    assert uid
    row = page.locator(f"tr[data-folder='{project}']")
    row.locator("input[name=xac-nhan]").check()
    row.locator("button", has_text="Xóa thư mục").click()
    expect(page.locator("p.error")).to_contain_text("có thư mục con")
    row = page.locator(f"tr[data-folder='{month}']")
    expect(row).to_contain_text("Chuyển 1 thư vào thùng rác")
    row.locator("button", has_text="Xóa thư mục").click()  # the box is required: nothing sent
    assert webmail.server.run(webmail.server.app.store.get_folder_by_id(month)) is not None
    row.locator("input[name=xac-nhan]").check()
    row.locator("button", has_text="Xóa thư mục").click()
    expect(page.locator("p.done")).to_contain_text("Đã xóa thư mục")
    assert webmail.server.run(webmail.server.app.store.get_folder_by_id(month)) is None
    trash = webmail.folder(box, "Trash").id
    page.goto(webmail.url(f"/thu/{trash}"))
    assert subjects(page) == ["Kế hoạch tháng 12"]


def test_special_folders_are_protected(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    page = context.new_page()
    webmail.login(page, ADDRESS)
    page.goto(webmail.url("/thu/thu-muc"))
    csrf = page.locator("form.folder-create input[name=csrf]").input_value()
    for name in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"):
        folder = webmail.folder(box, name)
        expect(page.locator(f"tr[data-folder='{folder.id}'] form")).to_have_count(0)
        for action, extra in (("doi-ten", {"ten": "Khác"}), ("xoa", {"xac-nhan": "1"})):
            response = context.request.post(webmail.url(f"/thu/thu-muc/{folder.id}/{action}"),
                                            form={"csrf": csrf, **extra})
            assert response.status == 400, (name, action)
            assert "không đổi tên hay xóa được" in response.text()
        assert webmail.folder(box, name).id == folder.id
    # Another mailbox's folder: 404, untouched; no CSRF token: 403.
    other = webmail.add_user("chi@example.gov.vn")
    theirs = webmail.server.run(webmail.server.app.store.create_folder(other, "Riêng"))
    response = context.request.post(webmail.url(f"/thu/thu-muc/{theirs.id}/xoa"), form={"csrf": csrf, "xac-nhan": "1"})
    assert response.status == 404
    mine = webmail.server.run(webmail.server.app.store.create_folder(box, "Của tôi"))
    response = context.request.post(webmail.url(f"/thu/thu-muc/{mine.id}/xoa"), form={"xac-nhan": "1"})
    assert response.status == 403
    assert webmail.server.run(webmail.server.app.store.get_folder_by_id(theirs.id)) is not None
    assert webmail.server.run(webmail.server.app.store.get_folder_by_id(mine.id)) is not None


def test_empty_trash_after_confirmation(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    for n in range(3):
        webmail.deliver(box, mail(f"Rác {n}"), folder="Trash")
    webmail.deliver(box, mail("Giữ lại"))
    trash = webmail.folder(box, "Trash").id
    page = context.new_page()
    webmail.login(page, ADDRESS)
    page.goto(webmail.url(f"/thu/{trash}"))
    expect(page.locator("form.empty-trash label")).to_contain_text("xóa hẳn 3 thư")
    page.click("form.empty-trash button")  # the box not ticked: the browser sends nothing
    assert len(webmail.uids(box, "Trash")) == 3
    page.check("#xac-nhan-don-rac")
    page.click("form.empty-trash button")
    expect(page.locator("p.empty")).to_be_visible()
    assert webmail.uids(box, "Trash") == []
    assert len(webmail.uids(box, "INBOX")) == 1
    inbox = webmail.folder(box, "INBOX").id
    # Only Trash can be emptied.
    csrf = page.locator("input[name=csrf]").first.input_value()
    response = context.request.post(webmail.url(f"/thu/{inbox}/don-rac"), form={"csrf": csrf, "xac-nhan": "1"})
    assert response.status == 404 and len(webmail.uids(box, "INBOX")) == 1


def _learned(daemon: Rspamd) -> int:
    with urllib.request.urlopen(f"{daemon.controller}/stat", timeout=10) as answer:
        return int(json.loads(answer.read())["learned"])


def test_junk_and_not_junk_move_and_teach_rspamd(tmp_path, rspamd: Rspamd, browser) -> None:  # noqa: F811
    if not rspamd.redis_port:
        pytest.fail("redis-server not installed: rspamd's Bayes needs Redis (apt-get install redis-server)")
    with start_webmail(tmp_path / "data", content={"rspamd_controller": rspamd.controller}) as webmail:
        context = browser.new_context(locale="vi-VN")
        try:
            box = webmail.add_user(ADDRESS)
            webmail.deliver(box, mail("Trúng thưởng xe máy", body="Khuyến mãi lớn, nhấn vào liên kết nhận quà ngay"))
            page = context.new_page()
            webmail.login(page, ADDRESS)
            before = _learned(rspamd)
            page.locator("table.messages tbody input[name=uid]").first.check()
            page.click("button[value=rac]")
            assert webmail.uids(box, "INBOX") == []
            [junked] = webmail.uids(box, "Junk")
            deadline = time.monotonic() + 20
            while _learned(rspamd) < before + 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _learned(rspamd) == before + 1  # learnt as spam, in the background
            page.goto(webmail.url(f"/thu/{webmail.folder(box, 'Junk').id}"))
            expect(page.locator("button[value=khong-rac]")).to_have_text("Không phải thư rác")
            expect(page.locator("button[value=rac]")).to_have_count(0)
            page.locator("table.messages tbody input[name=uid]").first.check()
            page.click("button[value=khong-rac]")
            assert webmail.uids(box, "Junk") == [] and len(webmail.uids(box, "INBOX")) == 1
            deadline = time.monotonic() + 20
            while _learned(rspamd) < before + 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _learned(rspamd) == before + 2  # and back as ham
            assert junked
        finally:
            context.close()


def test_new_mail_appears_without_reload(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    webmail.deliver(box, mail("Thư cũ"))
    page = context.new_page()
    webmail.login(page, ADDRESS)
    wait_for_script_state(page, "window.congthuEvents && window.congthuEvents.readyState === 1")
    expect(page.locator("nav.folders a[aria-current=page] .count")).to_have_text("1")
    webmail.deliver(box, mail("Lịch làm việc tuần 50", sender="Trần Thị Bình <binh@example.gov.vn>"))
    row = page.locator("table.messages tbody tr").first
    expect(row).to_contain_text("Lịch làm việc tuần 50")
    expect(row).to_contain_text("Trần Thị Bình")
    expect(row).to_have_class(re.compile("unread"))
    expect(page.locator("nav.folders a[aria-current=page] .count")).to_have_text("2")
    # Mail to another folder changes its count only; the row count here stays.
    webmail.deliver(box, mail("Vào lưu trữ"), folder="Archive")
    archive = webmail.folder(box, "Archive").id
    expect(page.locator(f"nav.folders a[data-folder='{archive}'] .count")).to_have_text("1")
    expect(page.locator("table.messages tbody tr")).to_have_count(2)
    # Read elsewhere (IMAP): the count goes down here.
    client = imaplib.IMAP4("127.0.0.1", webmail.server.port("imap"))
    client.login(ADDRESS, PASSWORD)
    client.select("INBOX")
    client.store("1:*", "+FLAGS", "(\\Seen)")
    client.logout()
    expect(page.locator("nav.folders a[aria-current=page] .count")).to_have_count(0)
    # The new row opens the message.
    row.locator(".subject a").click()
    expect(page.locator("h1#tieu-de")).to_have_text("Lịch làm việc tuần 50")


def test_an_empty_folder_gets_its_first_row(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    page = context.new_page()
    webmail.login(page, ADDRESS)
    expect(page.locator("p.empty")).to_be_visible()
    wait_for_script_state(page, "window.congthuEvents && window.congthuEvents.readyState === 1")
    webmail.deliver(box, mail("Thư đầu tiên"))
    expect(page.locator("table.messages tbody tr")).to_have_count(1)
    expect(page.locator("p.empty")).to_be_hidden()


def _stream(webmail: Webmail, cookie: str, path: str = "/thu/su-kien") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", webmail.server.port("http"), timeout=15)
    conn.request("GET", path, headers={"Cookie": f"{COOKIE}={cookie}", "Accept": "text/event-stream"})
    return conn.getresponse()


def _events(response: http.client.HTTPResponse, until: str) -> list[str]:
    """Lines of the stream up to the first ``event: <until>`` line (or its end)."""
    lines = []
    while True:
        line = response.readline()
        if not line:
            return lines
        lines.append(line.decode().rstrip("\n"))
        if lines[-1] == f"event: {until}":
            lines.append(response.readline().decode().rstrip("\n"))
            return lines


def test_the_stream_ends_at_sign_out_and_is_bounded_per_session(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    page = context.new_page()
    webmail.login(page, ADDRESS)
    cookie = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
    page.goto(webmail.url("/cai-dat"))  # a page without the stream
    # Not signed in: 204, which tells EventSource to stop.
    assert _stream(webmail, "nonsense").status == 204
    # The inbox's own stream, left by the page above, frees its place once the server sees
    # it closed: on a busy machine that may come after the four below ask (then one is
    # refused), so they are asked again, a little later, until it has.
    deadline = time.monotonic() + 15
    while True:
        streams = [_stream(webmail, cookie) for _ in range(3)]
        fourth = http.client.HTTPConnection("127.0.0.1", webmail.server.port("http"), timeout=15)
        fourth.request("GET", "/thu/su-kien", headers={"Cookie": f"{COOKIE}={cookie}"})
        streams.append(fourth.getresponse())
        if all(response.status == 200 for response in streams) or time.monotonic() > deadline:
            break
        for response in streams:
            response.close()
        fourth.close()
        time.sleep(0.3)
    for response in streams:
        assert response.status == 200
        assert response.getheader("content-type", "").startswith("text/event-stream")
        assert response.getheader("cache-control") == "no-store"
        assert "so-chua-doc" in "\n".join(_events(response, "so-chua-doc"))
    # At most four per session: a fifth is refused (204 stops its EventSource).
    assert _stream(webmail, cookie).status == 204
    # A closed stream frees its place at once.
    streams.pop()
    fourth.close()
    time.sleep(0.5)
    streams.append(_stream(webmail, cookie))
    assert streams[-1].status == 200 and "so-chua-doc" in "\n".join(_events(streams[-1], "so-chua-doc"))
    webmail.deliver(box, message("một thư"))
    for response in streams:
        assert _events(response, "so-chua-doc")[-1] == f'data: {{"{webmail.folder(box, "INBOX").id}": 1}}'
    # Sign out (the settings page's form): every stream of the session says so and ends.
    page.click("form[action='/dang-xuat'] button")
    started = time.monotonic()
    for response in streams:
        lines = _events(response, "het-phien")
        assert "event: het-phien" in lines
        assert response.readline() == b"\n"  # the event's end
        assert response.readline() == b""  # and the stream's
    # At once (not at the streams' next 10 s check): the sign-out wakes them.
    assert time.monotonic() - started < 5



def test_the_stream_ends_when_the_mailbox_is_disabled(webmail: Webmail, context: BrowserContext) -> None:
    """Điều 4.5: a revoked or disabled mailbox's open streams end at once (the change
    feed's guard of the mailbox, which crosses processes), not at their next check."""
    box = webmail.add_user(ADDRESS)
    page = context.new_page()
    webmail.login(page, ADDRESS)
    cookie = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
    page.goto(webmail.url("/cai-dat"))
    response = _stream(webmail, cookie)
    assert "so-chua-doc" in "\n".join(_events(response, "so-chua-doc"))
    started = time.monotonic()
    webmail.server.run(webmail.server.app.store.update_mailbox(box, status="disabled"))
    assert "event: het-phien" in _events(response, "het-phien")
    assert time.monotonic() - started < 5

def test_drag_and_drop_and_keyboard(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    for n in range(4):
        webmail.deliver(box, mail(f"Thư {n}"))
    archive = webmail.folder(box, "Archive").id
    page = context.new_page()
    webmail.login(page, ADDRESS)
    expect(page.locator("details.help")).to_contain_text("Phím tắt")
    # j/k move through the list, x selects.
    page.locator("h1").click()
    page.keyboard.press("j")
    expect(page.locator("td.subject a", has_text="Thư 3")).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(page.locator("td.subject a", has_text="Thư 2")).to_be_focused()
    page.locator("tr", has_text="Thư 0").locator("input[name=uid]").check()
    # Drag the selection onto Archive.
    page.locator("tr", has_text="Thư 2").drag_to(page.locator(f"nav.folders a[data-folder='{archive}']"))
    page.wait_for_load_state()
    expect(page.locator("table.messages tbody tr")).to_have_count(2)
    assert sorted(subjects(page)) == ["Thư 1", "Thư 3"]
    assert len(webmail.uids(box, "Archive")) == 2
    # Dragging an unselected row moves that row alone.
    page.locator("tr", has_text="Thư 1").drag_to(page.locator(f"nav.folders a[data-folder='{archive}']"))
    expect(page.locator("table.messages tbody tr")).to_have_count(1)
    # r on a row answers it; on a message page too.
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"/thu/soan\?tra-loi="))
    expect(page.locator("#tieu-de, input[name=tieu-de]").first).to_have_value("Re: Thư 3")


def threaded(subject: str, own: str, refs: str = "", body: str = "Nội dung.", sender: str = "binh@example.gov.vn") -> bytes:
    extra = f"In-Reply-To: {refs.split()[-1]}\r\nReferences: {refs}\r\n" if refs else ""
    return (f"From: {sender}\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\nMessage-ID: {own}\r\n{extra}"
            "Date: Sat, 05 Dec 2026 09:00:00 +0700\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def test_conversation_and_print_views(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    webmail.deliver(box, threaded("Lịch họp", "<goc@so.gov.vn>"))
    reply = webmail.deliver(box, threaded("Re: Lịch họp", "<tra-loi@so.gov.vn>", "<goc@so.gov.vn>"))
    webmail.deliver(box, threaded("Re: Re: Lịch họp", "<lan-hai@so.gov.vn>",
                                  "<goc@so.gov.vn> <tra-loi@so.gov.vn>", sender=ADDRESS), folder="Sent")
    webmail.deliver(box, threaded("Trích dẫn", "<khac@so.gov.vn>", body="Xem thư <goc@so.gov.vn> hôm qua."))
    webmail.deliver(box, threaded("Lịch họp", "<cung-ten@so.gov.vn>"))  # same subject, no link
    inbox = webmail.folder(box, "INBOX").id
    page = context.new_page()
    webmail.login(page, ADDRESS)
    page.goto(webmail.url(f"/thu/{inbox}/{reply}"))
    page.click("a.thread-link")
    items = page.locator("ol.thread li")
    expect(items).to_have_count(3)
    assert [items.nth(i).locator("a").inner_text() for i in range(3)] == [
        "Lịch họp", "Re: Lịch họp", "Re: Re: Lịch họp"]
    assert [items.nth(i).get_attribute("class") for i in range(3)] == ["depth-0", "depth-1", "depth-2"]
    expect(items.nth(1)).to_have_attribute("aria-current", "true")
    expect(items.nth(2)).to_contain_text("Thư đã gửi")
    items.nth(2).locator("a").click()
    expect(page.locator("h1#tieu-de")).to_have_text("Re: Re: Lịch họp")
    # The print view: the message without the navigation, a print button from the script.
    page.click("a.print-link")
    expect(page.locator("h1#tieu-de")).to_have_text("Re: Re: Lịch họp")
    expect(page.locator("nav.folders")).to_have_count(0)
    expect(page.locator("#in-thu")).to_be_visible()
    expect(page.locator("pre.body-text")).to_contain_text("Nội dung.")
    other = webmail.add_user("chi@example.gov.vn")
    theirs = webmail.deliver(other, threaded("Riêng", "<rieng@so.gov.vn>"))
    for path in (f"/thu/{webmail.folder(other, 'INBOX').id}/{theirs}/in",
                 f"/thu/{webmail.folder(other, 'INBOX').id}/{theirs}/chuoi"):
        assert context.request.get(webmail.url(path)).status == 404


def test_bad_inputs_get_clear_answers(webmail: Webmail, context: BrowserContext) -> None:
    box = webmail.add_user(ADDRESS)
    other = webmail.add_user("chi@example.gov.vn")
    theirs = webmail.folder(other, "INBOX").id
    webmail.deliver(other, mail("Lịch làm việc của Chi"))
    page = context.new_page()
    webmail.login(page, ADDRESS)
    for path in ("/thu/tim?q=" + "a" * 5000 + "&thu-muc=abc&trang=-3", f"/thu/tim?q=lich&thu-muc={theirs}",
                 "/thu/tim?q=%22%22%22%20%2A%25_&thu-muc=", "/thu/tim?q=\u0000"):
        response = context.request.get(webmail.url(path))
        assert response.status == 200, path
        assert "Lịch làm việc của Chi" not in response.text()  # another mailbox's folder is never searched
    # The stream: another mailbox's folder is not shown (counts of one's own only); junk ids ignored.
    cookie = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
    conn = http.client.HTTPConnection("127.0.0.1", webmail.server.port("http"), timeout=15)
    conn.request("GET", f"/thu/su-kien?thu-muc={theirs}&sau=abc",
                 headers={"Cookie": f"{COOKIE}={cookie}", "Last-Event-ID": "x" * 500})
    stream = conn.getresponse()
    assert stream.status == 200
    lines = _events(stream, "so-chua-doc")
    assert lines[-1] == "data: {}"  # no unread mail of one's own; none of Chi's
    webmail.deliver(other, mail("Thư nữa cho Chi"))
    webmail.deliver(box, mail("Thư cho An"))
    lines = _events(stream, "so-chua-doc")
    assert "event: thu-moi" not in lines and lines[-1] == f'data: {{"{webmail.folder(box, "INBOX").id}": 1}}'
    conn.close()
    csrf = page.locator("input[name=csrf]").first.input_value()
    for form in ({"ten": "x" * 300}, {"ten": ""}, {"ten": "a\u0007b"}, {"ten": "Tốt", "cha": "99999"}):
        response = context.request.post(webmail.url("/thu/thu-muc/tao"), form={"csrf": csrf, **form})
        assert response.status == 400, form
        assert "p class=\"error\"" in response.text()
    assert [f.name for f in webmail.server.run(webmail.server.app.store.list_folders(box))].count("Tốt") == 0
