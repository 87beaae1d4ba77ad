"""Organisation mailboxes in the webmail (Điều 12), over HTTP with a client that signs in
through the real form: a delegate works in the mailbox delegated to them with exactly the
rights granted (``congthu.delegation``, the grants IMAP reads), sends as it only with the
send-as right (through ``congthu.smtp.submit``, the refusals of port 587), every use is
in the audit trail, and anyone else reaches nothing of it by any URL: 404."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import BrowserContext

from congthu import audit, delegation
from tests.webmail.client import WebClient
from tests.webmail.conftest import Webmail, message
from tests.webmail.test_mail import vietnamese_message

ORG = "vanthu@soctrang.gov.vn"
SUBJECT = "Lịch làm việc tuần 49"
SECRET = "Hồ sơ mật của văn thư"


def setup(webmail: Webmail) -> dict[str, Any]:
    """The organisation mailbox with a message (with an attachment) in its Inbox and one
    in a folder "Mật" hidden from delegates by an empty folder grant."""
    app = webmail.server.app
    ids = {"org": webmail.add_user(ORG, "Văn thư Sở"), "an": webmail.add_user("an@soctrang.gov.vn"),
           "binh": webmail.add_user("binh@soctrang.gov.vn"), "cuong": webmail.add_user("cuong@soctrang.gov.vn")}
    ids["uid"] = webmail.deliver(ids["org"], vietnamese_message())
    secret_folder = webmail.server.run(app.store.create_folder(ids["org"], "Mật"))
    ids["secret_uid"] = webmail.deliver(ids["org"], message(subject=SECRET, to=ORG), folder="Mật")
    ids["inbox"] = webmail.folder(ids["org"], "INBOX").id
    ids["secret"] = secret_folder.id
    ids["archive"] = webmail.folder(ids["org"], "Archive").id
    return ids


def grant(webmail: Webmail, owner: int, grantee: int, rights: str, folder_id: int | None = None) -> None:
    webmail.server.run(delegation.grant(webmail.server.app, owner, grantee, rights, folder_id=folder_id,
                                        granted_by="admin@soctrang.gov.vn"))


def audited(webmail: Webmail, action: str, actor: str) -> list[audit.Record]:
    return webmail.server.run(audit.records(webmail.server.app, action=action, actor=actor))


def every_url(ids: dict[str, Any], *, only_secret: bool = False) -> list[str]:
    """Every GET of the webmail that names the organisation mailbox, a folder or a
    message of it (``only_secret``: of its folder "Mật" only)."""
    out = [] if only_secret else [f"/thu/hop-thu?id={ids['org']}", f"/thu/tim?hop-thu={ids['org']}&q=lich"]
    chosen = [(ids["secret"], ids["secret_uid"])] if only_secret else [(ids["inbox"], ids["uid"]),
                                                                        (ids["secret"], ids["secret_uid"])]
    for folder, uid in chosen:
        out += [f"/thu/{folder}", f"/thu/{folder}?trang=2&sap-xep=co", f"/thu/{folder}/{uid}",
                f"/thu/{folder}/{uid}/noi-dung", f"/thu/{folder}/{uid}/anh/2", f"/thu/{folder}/{uid}/xem/2",
                f"/thu/{folder}/{uid}/cung-chuoi", f"/thu/{folder}/{uid}/chuoi", f"/thu/{folder}/{uid}/in",
                f"/tep/{folder}/{uid}/2", f"/nguon/{folder}/{uid}", f"/thu/soan?tra-loi={folder}-{uid}",
                f"/thu/soan?dinh-kem={folder}-{uid}"]
    return out


def first_events(client: WebClient, folder_id: int) -> str:
    """The first events of the change stream for the page of ``folder_id``."""
    text = ""
    with client.http.stream("GET", f"/thu/su-kien?thu-muc={folder_id}&sau=0", timeout=10) as response:
        assert response.status_code == 200
        for chunk in response.iter_text():
            text += chunk
            if "so-chua-doc" in text and text.count("\n\n") >= 2:
                break
    return text


def test_read_only_delegate(webmail: Webmail) -> None:
    ids = setup(webmail)
    grant(webmail, ids["org"], ids["an"], delegation.READ_ONLY)  # "lrs"
    grant(webmail, ids["org"], ids["an"], "", folder_id=ids["secret"])  # nothing on "Mật"
    an = WebClient(webmail, "an@soctrang.gov.vn")
    # The switcher lists the organisation and opens its Inbox; the opening is audited.
    home = an.get("/thu")
    inbox_page = an.get(home.headers["location"])
    assert f'<option value="{ids["org"]}">{ORG}</option>' in inbox_page.text
    switched = an.get(f"/thu/hop-thu?id={ids['org']}")
    assert switched.status_code == 303 and switched.headers["location"] == f"/thu/{ids['inbox']}"
    assert [r.target for r in audited(webmail, "webmail.delegate.open", "an@soctrang.gov.vn")] == [ORG]
    page = an.get(f"/thu/{ids['inbox']}")
    assert page.status_code == 200 and SUBJECT in page.text and 'id="dang-uy-quyen"' in page.text
    assert "Chỉ được đọc." in page.text
    # Read only: no flag, delete or move buttons; "Mật" (empty folder grant) not listed.
    assert 'value="gan-co"' not in page.text and 'value="xoa"' not in page.text and 'value="chuyen"' not in page.text
    assert "Mật" not in page.text and "/thu/thu-muc" not in page.text
    # Reading (and the parts, the source) is allowed and audited; \Seen kept ("s").
    read = an.get(f"/thu/{ids['inbox']}/{ids['uid']}")
    assert read.status_code == 200 and SUBJECT in read.text
    assert an.get(f"/tep/{ids['inbox']}/{ids['uid']}/2").status_code == 200
    assert an.get(f"/nguon/{ids['inbox']}/{ids['uid']}").status_code == 200
    assert webmail.flags(ids["org"], "INBOX", ids["uid"]) == ["\\Seen"]
    reads = audited(webmail, "webmail.delegate.", "an@soctrang.gov.vn")
    assert [r.action for r in reads] == ["webmail.delegate.open", "webmail.delegate.read",
                                         "webmail.delegate.download", "webmail.delegate.source"]
    assert reads[1].details["uid"] == ids["uid"] and reads[1].target == ORG
    # No flag change, no delete, no move, no Junk: 403, nothing changed.
    for action in ("gan-co", "bo-co", "xoa", "chuyen", "rac"):
        answer = an.post(f"/thu/{ids['inbox']}/thao-tac", {"action": action, "uid": str(ids["uid"]),
                                                           "dich": str(ids["archive"])})
        assert answer.status_code == 403, action
    assert webmail.uids(ids["org"], "INBOX") == [ids["uid"]] and webmail.uids(ids["org"], "Archive") == []
    assert webmail.flags(ids["org"], "INBOX", ids["uid"]) == ["\\Seen"]
    # Folder management is the owner's: not through the webmail.
    assert an.post(f"/thu/thu-muc/{ids['archive']}/xoa", {"xac-nhan": "1"}).status_code == 404
    assert an.post(f"/thu/thu-muc/{ids['archive']}/doi-ten", {"ten": "X"}).status_code == 404
    # The folder with its own empty grant: every URL 404, and search does not see it.
    for path in every_url(ids, only_secret=True):
        assert an.get(path).status_code == 404, path
    assert SECRET not in an.get(f"/thu/tim?thu-muc={ids['secret']}&q=ho+so").text
    found = an.get(f"/thu/tim?hop-thu={ids['org']}&q=lich+lam+viec")
    assert found.status_code == 200 and SUBJECT in found.text
    assert SECRET not in an.get(f"/thu/tim?hop-thu={ids['org']}&q=ho+so").text
    assert audited(webmail, "webmail.delegate.search", "an@soctrang.gov.vn")
    # The change stream of the Inbox counts only the folders the delegate may read.
    events = first_events(an, ids["inbox"])
    counts = re.search(r"event: so-chua-doc\ndata: (\{.*\})", events)
    assert counts is not None and f'"{ids["secret"]}"' not in counts.group(1)
    # No send-as: the organisation is not offered, and submitting as it is refused as on 587.
    compose = an.get("/thu/soan")
    assert f'value="{ORG}"' not in compose.text
    refused = an.post("/thu/soan", {"tu": ORG, "den": "binh@soctrang.gov.vn", "tieu-de": "Giả danh",
                                    "noi-dung": "x", "action": "gui"})
    assert refused.status_code == 400 and f"không được gửi thư với địa chỉ {ORG}" in refused.text
    assert webmail.uids(ids["org"], "Sent") == [] and webmail.uids(ids["binh"], "INBOX") == []
    an.close()


def test_full_delegate_sends_as_the_organisation(webmail: Webmail) -> None:
    ids = setup(webmail)
    grant(webmail, ids["org"], ids["an"], "lrswitea0")
    own_inbox = webmail.folder(ids["an"], "INBOX").id
    an = WebClient(webmail, "an@soctrang.gov.vn")
    page = an.get(f"/thu/{ids['inbox']}")
    assert 'value="gan-co"' in page.text and 'value="chuyen"' in page.text
    assert an.post(f"/thu/{ids['inbox']}/thao-tac", {"action": "gan-co", "uid": str(ids["uid"])}).status_code == 303
    assert "\\Flagged" in webmail.flags(ids["org"], "INBOX", ids["uid"])
    # Moves stay in the organisation's mailbox: into the delegate's own Inbox is refused.
    assert an.post(f"/thu/{ids['inbox']}/thao-tac", {"action": "chuyen", "uid": str(ids["uid"]),
                                                     "dich": str(own_inbox)}).status_code == 404
    assert an.post(f"/thu/{ids['inbox']}/thao-tac", {"action": "chuyen", "uid": str(ids["uid"]),
                                                     "dich": str(ids["archive"])}).status_code == 303
    assert webmail.uids(ids["org"], "INBOX") == [] and len(webmail.uids(ids["org"], "Archive")) == 1
    assert webmail.uids(ids["an"], "INBOX") == []
    # Send as the organisation: offered, accepted, the copy in the organisation's Sent.
    compose = an.get(f"/thu/soan?tu={ORG}")
    assert f'<option value="{ORG}" selected>' in compose.text
    sent = an.post("/thu/soan", {"tu": ORG, "den": "binh@soctrang.gov.vn", "tieu-de": "Giấy mời họp",
                                 "noi-dung": "Kính mời anh dự họp.", "action": "gui"})
    assert sent.status_code == 303, sent.text[:2000]
    org_sent = webmail.folder(ids["org"], "Sent").id
    assert sent.headers["location"].startswith(f"/thu/{org_sent}")
    assert len(webmail.uids(ids["org"], "Sent")) == 1 and webmail.uids(ids["an"], "Sent") == []
    deadline = time.monotonic() + 10
    while not webmail.uids(ids["binh"], "INBOX") and time.monotonic() < deadline:
        time.sleep(0.1)
    received = webmail.raw(ids["binh"], "INBOX", webmail.uids(ids["binh"], "INBOX")[0])
    assert f"From: {ORG}".encode() in received or f"<{ORG}>".encode() in received
    sends = audited(webmail, "webmail.delegate.send", "an@soctrang.gov.vn")
    assert len(sends) == 1 and sends[0].target == ORG and sends[0].details["subject"] == "Giấy mời họp"
    an.close()


def test_non_delegate_reaches_nothing(webmail: Webmail) -> None:
    ids = setup(webmail)
    grant(webmail, ids["org"], ids["an"], "lrswitea0")  # someone else is a delegate
    cuong = WebClient(webmail, "cuong@soctrang.gov.vn")
    assert ORG not in cuong.get(f"/thu/{webmail.folder(ids['cuong'], 'INBOX').id}").text
    for path in every_url(ids):
        answer = cuong.get(path)
        assert answer.status_code == 404, path
        assert SUBJECT not in answer.text and "Lịch" not in answer.text and SECRET not in answer.text, path
    # Search scoped to an organisation folder searches nothing of it.
    assert SUBJECT not in cuong.get(f"/thu/tim?thu-muc={ids['inbox']}&q=lich").text
    # The change stream of an organisation folder gives nothing of it.
    assert f'"{ids["inbox"]}"' not in first_events(cuong, ids["inbox"])
    for action in ("doc", "gan-co", "xoa", "chuyen"):
        assert cuong.post(f"/thu/{ids['inbox']}/thao-tac", {"action": action, "uid": str(ids["uid"]),
                                                            "dich": str(ids["archive"])}).status_code == 404
    refused = cuong.post("/thu/soan", {"tu": ORG, "den": "binh@soctrang.gov.vn", "tieu-de": "x",
                                       "noi-dung": "x", "action": "gui"})
    assert refused.status_code == 400
    assert webmail.flags(ids["org"], "INBOX", ids["uid"]) == [] and webmail.uids(ids["org"], "Archive") == []
    assert audited(webmail, "webmail.delegate.", "cuong@soctrang.gov.vn") == []
    cuong.close()


def test_grant_revoked_mid_session(webmail: Webmail) -> None:
    ids = setup(webmail)
    grant(webmail, ids["org"], ids["an"], "lrswitea0")
    an = WebClient(webmail, "an@soctrang.gov.vn")
    assert an.get(f"/thu/{ids['inbox']}/{ids['uid']}").status_code == 200
    webmail.server.run(delegation.revoke(webmail.server.app, ids["org"], ids["an"], revoked_by="admin"))
    # The next click, in the same session: nothing of it any more.
    for path in every_url(ids):
        assert an.get(path).status_code == 404, path
    assert an.post(f"/thu/{ids['inbox']}/thao-tac", {"action": "gan-co", "uid": str(ids["uid"])}).status_code == 404
    assert ORG not in an.get(f"/thu/{webmail.folder(ids['an'], 'INBOX').id}").text
    assert f'value="{ORG}"' not in an.get("/thu/soan").text
    refused = an.post("/thu/soan", {"tu": ORG, "den": "binh@soctrang.gov.vn", "tieu-de": "x", "noi-dung": "x",
                                    "action": "gui"})
    assert refused.status_code == 400 and webmail.uids(ids["org"], "Sent") == []
    an.close()


def test_switcher_in_the_browser(webmail: Webmail, context: BrowserContext) -> None:
    """A delegate in Chromium: switches into the organisation mailbox from the folder
    pane, reads its mail, answers as the organisation; a colleague without a grant gets
    the 404 page for the same URLs."""
    ids = setup(webmail)
    grant(webmail, ids["org"], ids["an"], "lrswitea0")
    page = context.new_page()
    webmail.login(page, "an@soctrang.gov.vn")
    page.select_option("#chon-hop-thu", str(ids["org"]))
    page.click("#hop-thu button[type=submit]")
    page.wait_for_url(webmail.url(f"/thu/{ids['inbox']}"))
    assert ORG in page.inner_text("#dang-uy-quyen")
    assert page.locator("#chon-hop-thu").input_value() == str(ids["org"])
    assert page.locator("nav.folders a", has_text="Mật").count() == 1
    page.click(f"a[href='/thu/{ids['inbox']}/{ids['uid']}']")
    page.wait_for_load_state()
    assert SUBJECT in page.inner_text("main")
    page.click(f"a[href='/thu/soan?tra-loi={ids['inbox']}-{ids['uid']}']")
    page.wait_for_load_state()
    assert page.locator("#tu").input_value() == ORG
    page.fill("#den", "binh@soctrang.gov.vn")
    page.fill("#than-thu", "Văn thư Sở đã nhận.")
    page.click("button[value=gui]")
    page.wait_for_load_state()
    org_sent = webmail.folder(ids["org"], "Sent").id
    assert page.url.startswith(webmail.url(f"/thu/{org_sent}"))
    assert len(webmail.uids(ids["org"], "Sent")) == 1
    assert "\\Answered" in webmail.flags(ids["org"], "INBOX", ids["uid"])
    # Back to the delegate's own mailbox through the same switcher.
    page.select_option("#chon-hop-thu", str(ids["an"]))
    page.click("#hop-thu button[type=submit]")
    page.wait_for_url(webmail.url(f"/thu/{webmail.folder(ids['an'], 'INBOX').id}"))
    assert page.locator("#dang-uy-quyen").count() == 0
    # Cường, no grant: the organisation's pages are the 404 page, no switcher at all.
    other = context.browser.new_context(locale="vi-VN") if context.browser else None
    assert other is not None
    try:
        page2 = other.new_page()
        webmail.login(page2, "cuong@soctrang.gov.vn")
        assert page2.locator("#chon-hop-thu").count() == 0
        for path in (f"/thu/{ids['inbox']}", f"/thu/{ids['inbox']}/{ids['uid']}", f"/thu/hop-thu?id={ids['org']}"):
            response = page2.goto(webmail.url(path))
            assert response is not None and response.status == 404, path
            assert SUBJECT not in page2.inner_text("body")
    finally:
        other.close()


def test_folder_management_in_an_organisation_mailbox(webmail: Webmail) -> None:
    """Folders of an organisation mailbox are created, renamed and deleted, and its Trash
    emptied, by a delegate whose grant holds the rights IMAP asks for (RFC 4314: "k" on
    the parent, "x" on the folder, "i" on Trash for the messages of a deleted folder, "t"
    and "e" to empty Trash), every change audited; a grant with "k" on one folder only
    allows just that; a grant without "k" or "x" and a colleague without a grant reach no
    folder management of it (404), a right missing on a folder seen is 403."""
    ids = setup(webmail)
    org = ids["org"]
    grant(webmail, org, ids["an"], "lrswitekx")
    an = WebClient(webmail, "an@soctrang.gov.vn")
    # The link in the folder pane, the page listing the organisation's folders.
    assert f'href="/thu/thu-muc?hop-thu={org}"' in an.get(f"/thu/{ids['inbox']}").text
    page = an.get(f"/thu/thu-muc?hop-thu={org}")
    assert page.status_code == 200 and 'id="dang-uy-quyen"' in page.text and "Mật" in page.text
    assert f'name="hop-thu" value="{org}"' in page.text
    created = an.post("/thu/thu-muc/tao", {"ten": "Hồ sơ 2026", "cha": "", "hop-thu": str(org)})
    assert created.status_code == 303 and created.headers["location"] == f"/thu/thu-muc?xong=tao&hop-thu={org}"
    folder = webmail.folder(org, "Hồ sơ 2026")
    assert webmail.server.run(webmail.server.app.store.get_folder(ids["an"], "Hồ sơ 2026")) is None
    sub = an.post("/thu/thu-muc/tao", {"ten": "Quý 1", "cha": str(folder.id), "hop-thu": str(org)})
    assert sub.status_code == 303 and webmail.folder(org, "Hồ sơ 2026/Quý 1")
    renamed = an.post(f"/thu/thu-muc/{webmail.folder(org, 'Hồ sơ 2026/Quý 1').id}/doi-ten", {"ten": "Quý I"})
    assert renamed.status_code == 303 and webmail.folder(org, "Hồ sơ 2026/Quý I")
    # Deleting a folder with a message: the message to the organisation's Trash.
    webmail.deliver(org, message(subject="Trong quý I", to=ORG), folder="Hồ sơ 2026/Quý I")
    quarter = webmail.folder(org, "Hồ sơ 2026/Quý I").id
    assert an.post(f"/thu/thu-muc/{quarter}/xoa", {"xac-nhan": "1"}).status_code == 303
    assert len(webmail.uids(org, "Trash")) == 1 and webmail.uids(ids["an"], "Trash") == []
    trash = webmail.folder(org, "Trash").id
    assert "don-rac" in an.get(f"/thu/{trash}").text
    assert an.post(f"/thu/{trash}/don-rac", {"xac-nhan": "1"}).status_code == 303
    assert webmail.uids(org, "Trash") == []
    # The special folders stay protected for a delegate as for the owner.
    assert an.post(f"/thu/thu-muc/{ids['archive']}/xoa", {"xac-nhan": "1"}).status_code == 400
    actions = [(r.action, r.target, r.details.get("folder")) for r in audited(webmail, "webmail.delegate.", "an@soctrang.gov.vn")]
    assert actions == [("webmail.delegate.folder_create", ORG, "Hồ sơ 2026"),
                       ("webmail.delegate.folder_create", ORG, "Hồ sơ 2026/Quý 1"),
                       ("webmail.delegate.folder_rename", ORG, "Hồ sơ 2026/Quý 1"),
                       ("webmail.delegate.folder_delete", ORG, "Hồ sơ 2026/Quý I"),
                       ("webmail.delegate.empty_trash", ORG, None)]
    an.close()

    # Bình: read the mailbox, create folders only inside "Hồ sơ 2026" (its own grant "lrk").
    grant(webmail, org, ids["binh"], "lr")
    grant(webmail, org, ids["binh"], "lrk", folder_id=folder.id)
    binh = WebClient(webmail, "binh@soctrang.gov.vn")
    page = binh.get(f"/thu/thu-muc?hop-thu={org}")
    assert page.status_code == 200 and f'<option value="{folder.id}">' in page.text
    assert "(cấp cao nhất)" not in page.text and f"/thu/thu-muc/{folder.id}/xoa" not in page.text
    assert binh.post("/thu/thu-muc/tao", {"ten": "Con", "cha": str(folder.id), "hop-thu": str(org)}).status_code == 303
    assert webmail.folder(org, "Hồ sơ 2026/Con")
    assert binh.post("/thu/thu-muc/tao", {"ten": "Gốc", "cha": "", "hop-thu": str(org)}).status_code == 403
    assert binh.post(f"/thu/thu-muc/{folder.id}/doi-ten", {"ten": "Đổi"}).status_code == 403
    assert binh.post(f"/thu/thu-muc/{folder.id}/xoa", {"xac-nhan": "1"}).status_code == 403
    assert binh.post(f"/thu/{trash}/don-rac", {"xac-nhan": "1"}).status_code == 403
    assert webmail.server.run(webmail.server.app.store.get_folder(org, "Gốc")) is None
    assert webmail.folder(org, "Hồ sơ 2026")
    binh.close()

    # Cường read-only, then no grant at all: no folder management of the organisation.
    grant(webmail, org, ids["cuong"], delegation.READ_ONLY)
    cuong = WebClient(webmail, "cuong@soctrang.gov.vn")
    assert "/thu/thu-muc?hop-thu" not in cuong.get(f"/thu/{ids['inbox']}").text
    for turn in range(2):
        assert cuong.get(f"/thu/thu-muc?hop-thu={org}").status_code == 404
        assert cuong.post("/thu/thu-muc/tao", {"ten": "X", "cha": "", "hop-thu": str(org)}).status_code == 404
        assert cuong.post(f"/thu/thu-muc/{folder.id}/doi-ten", {"ten": "X"}).status_code == 404
        assert cuong.post(f"/thu/thu-muc/{folder.id}/xoa", {"xac-nhan": "1"}).status_code == 404
        # Trash is seen read-only (403), then not at all (404).
        assert cuong.post(f"/thu/{trash}/don-rac", {"xac-nhan": "1"}).status_code == (403 if turn == 0 else 404)
        webmail.server.run(delegation.revoke(webmail.server.app, org, ids["cuong"], revoked_by="admin"))
    assert [f.name for f in webmail.server.run(webmail.server.app.store.list_folders(org))
            if f.name.startswith("Hồ sơ")] == ["Hồ sơ 2026", "Hồ sơ 2026/Con"]
    assert audited(webmail, "webmail.delegate.folder", "cuong@soctrang.gov.vn") == []
    cuong.close()
