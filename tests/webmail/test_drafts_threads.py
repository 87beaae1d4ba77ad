"""Attachments kept in drafts and the list by conversation, over HTTP with the real
sign-in and CSRF (``tests.webmail.client``); one Chromium test for the page's script
(kept files renumbered after an autosave).

Drafts: a draft saved with files keeps them (the draft is a message in Drafts, stored by
``MailStore.append``); reopening lists them ticked; an autosave keeps the ticked ones
and drops the others; sending sends the kept files with new ones, byte for byte; a draft
of another mailbox or a section that is not an attachment gives nothing.

The list by conversation: messages grouped by base subject (RFC 5256: "Re:", "RE:",
"Fwd:" and case and accents aside), newest conversation first, each with its count and
unread state; the choice kept per user; a conversation's members; CSRF on the switch.
"""

from __future__ import annotations

import email
import json
import re
from email import policy
from email.message import EmailMessage

from playwright.sync_api import BrowserContext, expect

from tests.webmail.client import WebClient
from tests.webmail.conftest import Webmail, message, wait_for_script_state

AN = "an@soctrang.gov.vn"
BINH = "binh@soctrang.gov.vn"
PLAN = "Kế hoạch năm 2027.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40
TABLE = "Bảng lương.xlsx", bytes(range(255, -1, -1)) * 30


def draft_files(raw: bytes) -> list[tuple[str, bytes]]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return [(part.get_filename() or "", part.get_payload(decode=True)) for part in parsed.iter_attachments()]


def test_draft_keeps_its_attachments_until_sent(webmail: Webmail) -> None:
    an = webmail.add_user(AN, "Nguyễn Văn An")
    binh = webmail.add_user(BINH, "Trần Thị Bình")
    client = WebClient(webmail, AN)
    plan_name, plan = PLAN
    table_name, table = TABLE
    saved = client.post("/thu/soan", {"action": "luu", "den": BINH, "tieu-de": "Dự thảo", "noi-dung": "Kính gửi chị."},
                        files=[("tep", (plan_name, plan, "application/pdf")),
                               ("tep", (table_name, table, "application/vnd.ms-excel"))])
    assert saved.status_code == 303, saved.text[:300]
    [first] = webmail.uids(an, "Drafts")
    assert draft_files(webmail.raw(an, "Drafts", first)) == [(plan_name, plan), (table_name, table)]
    # Reopened: both listed, ticked, by their section in the draft.
    page = client.get(f"/thu/soan?nhap={first}").text
    assert page.count('name="giu"') == 2 and 'value="2" id="giu-1" checked' in page and plan_name in page
    assert table_name in page
    # An autosave with only the second ticked keeps it alone; the old version is gone.
    saved_again = client.post("/thu/soan/nhap", [("nhap", str(first)), ("giu", "3"), ("den", BINH),
                                                 ("tieu-de", "Dự thảo"), ("noi-dung", "Kính gửi chị Bình.")])
    answer = json.loads(saved_again.text)
    second = answer["nhap"]
    assert answer["giu"] == ["2"] and webmail.uids(an, "Drafts") == [second]
    assert draft_files(webmail.raw(an, "Drafts", second)) == [(table_name, table)]
    # Not attachments, not sections: ignored ("1" is the text, others do not exist).
    junk = client.post("/thu/soan/nhap", [("nhap", str(second)), ("giu", "1"), ("giu", "../2"), ("giu", "2"),
                                          ("giu", "2"), ("giu", "9"), ("den", BINH), ("noi-dung", "Kính gửi chị Bình.")])
    third = json.loads(junk.text)["nhap"]
    assert draft_files(webmail.raw(an, "Drafts", third)) == [(table_name, table)]
    # Sent with one more file: both arrive byte for byte; the draft is gone, Sent has a copy.
    sent = client.post("/thu/soan", [("action", "gui"), ("nhap", str(third)), ("giu", "2"), ("den", BINH),
                                     ("tieu-de", "Dự thảo"), ("noi-dung", "Kính gửi chị Bình.")],
                       files=[("tep", ("Ghi chú.txt", "Ghi chú".encode(), "text/plain"))])
    assert sent.status_code == 303, sent.text[:500]
    [received] = webmail.uids(binh, "INBOX")
    files = draft_files(webmail.raw(binh, "INBOX", received))
    assert files == [(table_name, table), ("Ghi chú.txt", "Ghi chú".encode())]
    assert webmail.uids(an, "Drafts") == []
    assert len(webmail.uids(an, "Sent")) == 1
    client.close()


def test_a_draft_of_another_mailbox_gives_nothing(webmail: Webmail) -> None:
    an = webmail.add_user(AN, "An")
    chi = webmail.add_user("chi@soctrang.gov.vn", "Chi")
    an_client = WebClient(webmail, AN)
    an_client.post("/thu/soan", {"action": "luu", "tieu-de": "Mật"}, files=[("tep", ("mat.txt", b"bi mat", "text/plain"))])
    [an_draft] = webmail.uids(an, "Drafts")
    chi_client = WebClient(webmail, "chi@soctrang.gov.vn")
    # Chi names An's draft: her own Drafts folder is looked in, where it is not.
    assert chi_client.get(f"/thu/soan?nhap={an_draft}").status_code == 404
    saved = json.loads(chi_client.post("/thu/soan/nhap", [("nhap", str(an_draft)), ("giu", "2"),
                                                          ("tieu-de", "Của Chi")]).text)
    assert saved["giu"] == [] and draft_files(webmail.raw(chi, "Drafts", saved["nhap"])) == []
    # Without the token nothing is saved.
    refused = chi_client.post("/thu/soan/nhap", [("tieu-de", "x")], token=False)
    assert refused.status_code == 403 and len(webmail.uids(chi, "Drafts")) == 1
    assert draft_files(webmail.raw(an, "Drafts", an_draft)) == [("mat.txt", b"bi mat")]
    an_client.close()
    chi_client.close()


def listed_uids(html: str) -> list[int]:
    return [int(u) for u in re.findall(r'<tr class="[^"]*" data-uid="(\d+)"', html)]


def test_list_by_conversation(webmail: Webmail) -> None:
    an = webmail.add_user(AN, "An")
    subjects = ["Họp giao ban", "Báo cáo quý", "Re: Họp giao ban", "", "RE: [Sở] HOP GIAO BAN", "Fwd: Báo cáo quý", ""]
    uids = [webmail.deliver(an, message(subject=s, body=f"thư {n}")) for n, s in enumerate(subjects)]
    folder = webmail.folder(an, "INBOX").id
    client = WebClient(webmail, AN)
    assert listed_uids(client.get(f"/thu/{folder}").text) == uids[::-1]
    assert client.post("/thu/theo-chuoi", {"bat": "1", "thu-muc": str(folder)}, token=False).status_code == 403
    assert client.post("/thu/theo-chuoi", {"bat": "1", "thu-muc": str(folder)}).status_code == 303
    page = client.get(f"/thu/{folder}").text
    # Newest conversation first, each shown by its newest message; empty subjects alone.
    assert listed_uids(page) == [uids[6], uids[5], uids[4], uids[3]]
    assert f'href="/thu/{folder}/{uids[5]}/cung-chuoi"' in page and "2 thư</a>" in page
    assert f'href="/thu/{folder}/{uids[4]}/cung-chuoi"' in page and "3 thư</a>" in page
    assert f"/{uids[3]}/cung-chuoi" not in page
    members = client.get(f"/thu/{folder}/{uids[4]}/cung-chuoi").text
    assert listed_uids(members) == [uids[0], uids[2], uids[4]]
    # Read state: a conversation is unread while any of its messages is.
    client.post(f"/thu/{folder}/thao-tac", [("action", "doc"), ("uid", str(uids[4])), ("uid", str(uids[2]))])
    page = client.get(f"/thu/{folder}").text
    assert re.search(rf'<tr class="unread" data-uid="{uids[4]}"', page)
    client.post(f"/thu/{folder}/thao-tac", [("action", "doc"), ("uid", str(uids[0]))])
    assert re.search(rf'<tr class="read" data-uid="{uids[4]}"', client.get(f"/thu/{folder}").text)
    # The choice is the user's: a new session keeps it; another user does not have it.
    client.close()
    again = WebClient(webmail, AN)
    assert listed_uids(again.get(f"/thu/{folder}").text) == [uids[6], uids[5], uids[4], uids[3]]
    # Sorting by subject uses the base subject: replies sit with their original.
    by_subject = listed_uids(again.get(f"/thu/{folder}?sap-xep=tieu-de").text)
    assert by_subject[:2] == [uids[3], uids[6]] and set(by_subject[2:4]) == {uids[1], uids[5]}
    assert by_subject[4:] == [uids[0], uids[2], uids[4]]
    # An action on a conversation's row acts on the whole conversation; without chuoi=1, on one message.
    again.post(f"/thu/{folder}/thao-tac", [("action", "gan-co"), ("uid", str(uids[5]))])
    assert [webmail.flags(an, "INBOX", u).count("\\Flagged") for u in (uids[1], uids[5])] == [0, 1]
    assert again.post(f"/thu/{folder}/thao-tac", [("action", "xoa"), ("uid", str(uids[4])),
                                                  ("chuoi", "1")]).status_code == 303
    assert sorted(webmail.uids(an, "INBOX")) == sorted([uids[1], uids[3], uids[5], uids[6]])
    assert len(webmail.uids(an, "Trash")) == 3
    assert again.post("/thu/theo-chuoi", {"bat": "0", "thu-muc": str(folder)}).status_code == 303
    assert listed_uids(again.get(f"/thu/{folder}").text) == [uids[6], uids[5], uids[3], uids[1]]
    other = webmail.add_user("chi@soctrang.gov.vn", "Chi")
    chi = WebClient(webmail, "chi@soctrang.gov.vn")
    assert chi.get(f"/thu/{folder}/{uids[4]}/cung-chuoi").status_code == 404
    assert "theo-chuoi" in chi.get(f"/thu/{webmail.folder(other, 'INBOX').id}").text
    chi.close()
    again.close()


def test_browser_kept_files_follow_the_autosave(webmail: Webmail, context: BrowserContext) -> None:
    an = webmail.add_user(AN, "An")
    client = WebClient(webmail, AN)
    client.post("/thu/soan", {"action": "luu", "den": BINH, "tieu-de": "Hai tệp"},
                files=[("tep", ("một.txt", b"mot", "text/plain")), ("tep", ("hai.txt", b"hai", "text/plain"))])
    client.close()
    [draft] = webmail.uids(an, "Drafts")
    page = context.new_page()
    webmail.login(page, AN)
    page.goto(webmail.url(f"/thu/soan?nhap={draft}"))
    expect(page.locator("input[name=giu]")).to_have_count(2)
    page.uncheck("#giu-1")
    page.locator("#than-thu").press_sequentially("Gửi anh tệp thứ hai.")
    expect(page.locator("#trang-thai-nhap")).to_have_attribute("data-draft", re.compile(r"^\d+$"), timeout=10000)
    # The unticked file left the page; the kept one now names its section in the new draft.
    expect(page.locator("input[name=giu]")).to_have_count(1)
    expect(page.locator("input[name=giu]")).to_have_value("2")
    newer = int(page.get_attribute("#trang-thai-nhap", "data-draft") or 0)
    assert webmail.uids(an, "Drafts") == [newer]
    assert draft_files(webmail.raw(an, "Drafts", newer)) == [("hai.txt", b"hai")]
    # Typing more saves again, still with the kept file.
    page.locator("#than-thu").press_sequentially(" Cảm ơn.")
    expect(page.locator("#trang-thai-nhap")).not_to_have_attribute("data-draft", str(newer), timeout=10000)
    [latest] = webmail.uids(an, "Drafts")
    assert draft_files(webmail.raw(an, "Drafts", latest)) == [("hai.txt", b"hai")]


def test_conversation_pages_are_counted_and_new_mail_joins_its_conversation(
        webmail: Webmail, context: BrowserContext) -> None:
    """The list by conversation has a total of pages (``MailStore.thread_count``), and
    new mail arrives in an open list by conversation: a reply replaces its conversation's
    row at the top (with the conversation's size), a new subject adds a row."""
    an = webmail.add_user(AN, "An")
    uids = [webmail.deliver(an, message(subject=f"Việc số {n}", body=f"thư {n}")) for n in range(53)]
    for subject in ("Re: Việc số 0", "", ""):
        webmail.deliver(an, message(subject=subject, body=f"thêm {subject}"))
    folder = webmail.folder(an, "INBOX").id
    client = WebClient(webmail, AN)
    assert client.post("/thu/theo-chuoi", {"bat": "1", "thu-muc": str(folder)}).status_code == 303
    first = client.get(f"/thu/{folder}").text
    assert "56 thư, 55 cuộc hội thoại" in first and "Trang 1 / 2" in first and 'rel="next"' in first
    assert len(listed_uids(first)) == 50
    last = client.get(f"/thu/{folder}?trang=2").text
    assert "Trang 2 / 2" in last and 'rel="next"' not in last and len(listed_uids(last)) == 5
    assert "Trang 2 / 2" in client.get(f"/thu/{folder}?trang=9").text  # beyond the end: the last page
    assert set(listed_uids(first)) | set(listed_uids(last)) == set(uids[1:]) | set(
        webmail.uids(an, "INBOX")[53:])
    client.close()
    page = context.new_page()
    webmail.login(page, AN)
    expect(page.locator("table.messages")).to_have_attribute("data-threaded", "1")
    wait_for_script_state(page, "window.congthuEvents && window.congthuEvents.readyState === 1")
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(50)
    old = uids[40]
    expect(page.locator(f"table.messages tbody tr[data-uid='{old}']")).to_have_count(1)
    reply = webmail.deliver(an, message(subject="Re: Việc số 40", body="trả lời"))
    expect(rows.first).to_have_attribute("data-uid", str(reply))
    expect(rows.first.locator(".subject a.thread-count")).to_have_text("2 thư")
    expect(rows.first.locator(".subject a.thread-count")).to_have_attribute(
        "href", f"/thu/{folder}/{reply}/cung-chuoi")
    expect(page.locator(f"table.messages tbody tr[data-uid='{old}']")).to_have_count(0)
    expect(rows).to_have_count(50)
    fresh = webmail.deliver(an, message(subject="Việc mới hoàn toàn", body="mới"))
    expect(rows.first).to_have_attribute("data-uid", str(fresh))
    expect(rows.first.locator(".subject a.thread-count")).to_have_count(0)
    expect(rows).to_have_count(51)
    # The row added live opens the conversation's members.
    rows.nth(1).locator("a.thread-count").click()
    expect(page.locator("table.thread-members tbody tr")).to_have_count(2)
