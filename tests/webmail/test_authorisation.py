"""A user reaches no other mailbox's folder or message by any URL of the webmail: every
route, GET and POST, with the folder ids and UIDs of another mailbox answers the same 404
as an id that does not exist, and changes nothing there. Signed-out, every mail route
sends to the sign-in page."""

from __future__ import annotations

from playwright.sync_api import BrowserContext

from tests.webmail.conftest import Webmail, message
from tests.webmail.test_mail import vietnamese_message


def test_no_url_reaches_another_mailbox(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user("an@example.gov.vn")
    binh = webmail.add_user("binh@example.gov.vn")
    their_uid = webmail.deliver(binh, vietnamese_message())
    webmail.deliver(binh, message(subject="Thư riêng của Bình"))
    mine = webmail.deliver(an, message(subject="Thư của An"))
    their_folders = {f: webmail.folder(binh, f).id for f in ("INBOX", "Trash", "Archive")}
    my_inbox = webmail.folder(an, "INBOX").id
    page = context.new_page()
    webmail.login(page, "an@example.gov.vn")
    token = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    missing = 10_000
    their_inbox = their_folders["INBOX"]
    for folder in (their_inbox, their_folders["Trash"], missing):
        for path in (f"/thu/{folder}", f"/thu/{folder}/{their_uid}", f"/thu/{folder}/{their_uid}/noi-dung",
                     f"/tep/{folder}/{their_uid}/2", f"/nguon/{folder}/{their_uid}",
                     f"/thu/{folder}?trang=2&sap-xep=co"):
            response = context.request.get(webmail.url(path), max_redirects=0)
            assert response.status == 404, path
            assert b"binh" not in response.body().lower() and "Lịch" not in response.text(), path
        for action in ("doc", "chua-doc", "gan-co", "bo-co", "xoa", "chuyen"):
            response = context.request.post(webmail.url(f"/thu/{folder}/thao-tac"), max_redirects=0, form={
                "csrf": token, "action": action, "uid": str(their_uid), "dich": str(my_inbox)})
            assert response.status == 404, (folder, action)
    # My own folder with their UID: nothing (UIDs are per folder), and moving my message
    # into their folder is refused.
    assert context.request.get(webmail.url(f"/thu/{my_inbox}/{their_uid + 5}")).status == 404
    response = context.request.post(webmail.url(f"/thu/{my_inbox}/thao-tac"), max_redirects=0, form={
        "csrf": token, "action": "chuyen", "uid": str(mine), "dich": str(their_folders["Archive"])})
    assert response.status == 404
    assert webmail.uids(an, "INBOX") == [mine]
    assert webmail.uids(binh, "Archive") == []
    assert len(webmail.uids(binh, "INBOX")) == 2
    assert webmail.flags(binh, "INBOX", their_uid) == []
    # Signed out: every mail route sends to the sign-in page, the body frame says 403.
    context.clear_cookies()
    for path in (f"/thu/{my_inbox}", f"/thu/{my_inbox}/{mine}", f"/tep/{my_inbox}/{mine}/1",
                 f"/nguon/{my_inbox}/{mine}", "/cai-dat", "/thu"):
        response = context.request.get(webmail.url(path), max_redirects=0)
        assert response.status == 303 and response.headers["location"].startswith("/dang-nhap"), path
    assert context.request.get(webmail.url(f"/thu/{my_inbox}/{mine}/noi-dung"), max_redirects=0).status == 403
