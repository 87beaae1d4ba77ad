"""The sign-in's 303 goes straight to the Inbox's page (one round trip fewer before the
inbox shows), and the counts the pages keep between requests (``listview.FolderCounts``:
the list's total, the folder pane's unread counts) follow every change to the folder,
whoever makes it: delivery, IMAP's flag and expunge paths in the store, the webmail's
own actions, a move from another folder. httpx on a real server, no browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from congthu.store import flags as flagbits
from tests.webmail.client import token_of
from tests.webmail.conftest import PASSWORD, Webmail, message, start_webmail


@pytest.fixture(scope="module")
def webmail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webmail]:
    with start_webmail(Path(tmp_path_factory.mktemp("signin")) / "data") as started:
        yield started


def sign_in(webmail: Webmail, address: str, password: str = PASSWORD,
            tiep: str = "") -> tuple[httpx.Client, httpx.Response]:
    """A new client (closed with the test's server) and the answer to its sign-in POST."""
    http = httpx.Client(base_url=webmail.origin, follow_redirects=False, timeout=30)
    page = http.get("/dang-nhap")
    answer = http.post("/dang-nhap", data={"csrf": token_of(page.text), "tiep": tiep, "address": address,
                                           "password": password})
    return http, answer


def test_sign_in_answers_with_the_inbox_page_itself(webmail: Webmail) -> None:
    box = webmail.add_user("landing@example.gov.vn")
    inbox = webmail.folder(box, "INBOX")
    http, answer = sign_in(webmail, "landing@example.gov.vn")
    # Still POST-redirect-GET (303), to the Inbox's own page rather than /thu's redirect.
    assert answer.status_code == 303 and answer.headers["location"] == f"/thu/{inbox.id}"
    shown = http.get(answer.headers["location"])
    assert shown.status_code == 200 and 'aria-current="page"' in shown.text
    # A page asked for before signing in is where the browser goes.
    http.close()
    other, elsewhere = sign_in(webmail, "landing@example.gov.vn", tiep="/cai-dat")
    other.close()
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/cai-dat"
    # A wrong password is the sign-in page again, nothing else.
    other, refused = sign_in(webmail, "landing@example.gov.vn", password="Sai@12345678")
    other.close()
    assert refused.status_code == 401 and "location" not in refused.headers


def test_forced_change_then_the_inbox_page(webmail: Webmail) -> None:
    box = webmail.add_user("doimk@example.gov.vn", must_change=True)
    http, answer = sign_in(webmail, "doimk@example.gov.vn")
    assert answer.status_code == 303 and answer.headers["location"] == "/mat-khau-moi"
    form = http.get("/mat-khau-moi")
    new = "Doi@Matkhau2026x"
    changed = http.post("/mat-khau-moi", data={"csrf": token_of(form.text), "new": new, "confirm": new})
    http.close()
    assert changed.status_code == 303 and changed.headers["location"] == f"/thu/{webmail.folder(box, 'INBOX').id}"


def shown_counts(http: httpx.Client, folder_id: int) -> tuple[int, int]:
    """(the list's total, the folder pane's unread count) on the folder's page."""
    page = http.get(f"/thu/{folder_id}")
    assert page.status_code == 200
    total = re.search(r'<span class="sub">(\d+) thư', page.text)
    assert total, page.text[:2000]
    link = re.search(rf'<a href="/thu/{folder_id}" data-folder="{folder_id}"[^>]*>(.*?)</a>', page.text, re.S)
    assert link, page.text[:2000]
    unread = re.search(r'<span class="count"><span class="sr">\(</span>(\d+)', link.group(1))
    return int(total.group(1)), int(unread.group(1)) if unread else 0


def test_kept_counts_follow_every_change(webmail: Webmail) -> None:
    box = webmail.add_user("dem@example.gov.vn")
    store = webmail.server.app.store
    inbox = webmail.folder(box, "INBOX")
    uids = [webmail.deliver(box, message(subject=f"Thư {i}", body=f"Nội dung {i}.")) for i in range(3)]
    http, _answer = sign_in(webmail, "dem@example.gov.vn")
    assert shown_counts(http, inbox.id) == (3, 3)
    assert shown_counts(http, inbox.id) == (3, 3)  # kept: the same answer
    # \Seen set through the store's flag path (IMAP STORE's).
    webmail.server.run(store.store_flags(inbox.id, [uids[0]], "add", flagbits.SEEN))
    assert shown_counts(http, inbox.id) == (3, 2)
    # A new message.
    uids.append(webmail.deliver(box, message(subject="Thư mới", body="Mới.")))
    assert shown_counts(http, inbox.id) == (4, 3)
    # Expunged (IMAP's \Deleted then EXPUNGE).
    webmail.server.run(store.store_flags(inbox.id, [uids[1]], "add", flagbits.DELETED))
    webmail.server.run(store.expunge(inbox.id))
    assert shown_counts(http, inbox.id) == (3, 2)
    # The webmail's own action: marked read from the list.
    csrf = token_of(http.get(f"/thu/{inbox.id}").text)
    acted = http.post(f"/thu/{inbox.id}/thao-tac", data={"csrf": csrf, "action": "doc", "uid": [str(uids[2])]})
    assert acted.status_code == 303
    assert shown_counts(http, inbox.id) == (3, 1)
    # Moved in from another folder: the Inbox gains one, Trash's counts are its own.
    trash = webmail.folder(box, "Trash")
    moved = webmail.deliver(box, message(subject="Từ thùng rác", body="Khôi phục."), folder="Trash")
    assert shown_counts(http, trash.id) == (1, 1)
    webmail.server.run(store.move(trash.id, [moved], inbox.id))
    assert shown_counts(http, inbox.id) == (4, 2)
    assert shown_counts(http, trash.id) == (0, 0)
    http.close()
