"""Rich text writing (issue 14: "Writing: rich text and plain"): the compose page's
editor (a ``contenteditable`` area and its toolbar, ``webmail.js``) and what the server
does with its HTML (``congthu.webmail.richtext``).

Over HTTP with the real sign-in and CSRF (``tests.webmail.client``): a rich message is
sent as ``multipart/alternative`` (read back with the reader's own MIME code and with
``email``): a plain part made from the HTML and the HTML, both UTF-8, Vietnamese typed
decomposed arriving NFC, and hostile HTML posted as the body (script, event handlers,
``javascript:`` links, CSS ``url()``, SVG, remote images) gone from what is sent, kept
in Sent and stored in Drafts. Drafts keep the rich body and reopen in the editor; a
draft stored by another mail client with hostile HTML reopens cleaned; a draft written
as an organisation mailbox (Điều 12) reopens with that From, and a From the user may
not use is not stored. Replies and forwards quote the original's HTML cleaned (its text,
escaped, when it has none), under the signature written as HTML; every message of the
XSS corpus quoted so holds nothing active. The choice of rich or plain is kept per user.

In Chromium: typing in the editor, bold from the toolbar and italic from Ctrl+I, the
draft autosaved and reopened rich, the message sent and the colleague reading the bold
text in the body frame; axe-core on the compose page with the editor shown.
"""

from __future__ import annotations

import email
import re
import time
import unicodedata
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from congthu import delegation
from congthu.mime import parse_structure
from congthu.store import flags as flagbits
from congthu.webmail.reading import part_text, view_of
from congthu.webmail.richtext import clean_html, fragment, html_to_text, signature_html
from congthu.webmail.sanitise import TAGS
from tests.webmail.client import WebClient
from tests.webmail.conftest import Webmail, message, start_webmail
from tests.webmail.test_accessibility import describe, violations
from tests.webmail.xss_corpus import HTML_PAYLOADS, corpus

DOMAIN = "soctrang.gov.vn"
GREETING = "Kính gửi chị Bình"
HOSTILE = (
    unicodedata.normalize("NFD", GREETING) + ", <b>quan trọng</b> và <i>khẩn</i>."
    '<script>window.__xss=1</script><img src="x" onerror="window.__xss=1">'
    '<img src="https://evil.example/pixel.png">'
    '<a href="javascript:window.__xss=1" onclick="window.__xss=1">bấm đây</a> '
    '<a href="https://soctrang.gov.vn/lich">lịch họp</a>'
    '<div style="background:url(https://evil.example/x)" onmouseover="window.__xss=1">nền</div>'
    '<svg onload="window.__xss=1"><circle r="1"/></svg><iframe src="https://evil.example"></iframe>'
    "<ul><li>một</li><li>hai</li></ul><blockquote>trích dẫn</blockquote>"
    '<form action="https://evil.example"><input name="p"></form><meta http-equiv="refresh" content="0;url=x">'
)
# Attributes that load or run something (none may survive the allow-list in rich text).
LOADING = {"src", "srcset", "srcdoc", "action", "formaction", "background", "poster", "data", "xlink:href", "ping"}


class _Markup(HTMLParser):
    """What is active in some HTML: tags outside the reader's allow-list, event handlers,
    attributes that load anything, script or CSS URLs in a value."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            text = (value or "").lower().replace(" ", "")
            if name.startswith("on") or name in LOADING or any(
                    bad in text for bad in ("javascript:", "vbscript:", "data:", "url(", "expression(", "@import")):
                self.found.append(f"<{tag} {name}={value!r}>")


def active(html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser.found

EDITOR = re.compile(r'<div id="soan-html"[^>]*>(.*?)</div>\s*<input type="hidden" name="noi-dung-html"', re.S)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webmail]:
    """One server for the module (each test has its own users)."""
    with start_webmail(tmp_path_factory.mktemp("rich") / "data") as started:
        yield started


def users(webmail: Webmail, tag: str) -> tuple[str, int, str, int]:
    """Two new mailboxes for a test: (address, id) of the writer and of the reader."""
    an, binh = f"an.{tag}@{DOMAIN}", f"binh.{tag}@{DOMAIN}"
    return an, webmail.add_user(an, "Nguyễn Văn An"), binh, webmail.add_user(binh, "Trần Thị Bình")


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def arrived(webmail: Webmail, mailbox: int, folder: str = "INBOX") -> bytes:
    deadline = time.monotonic() + 10
    while not webmail.uids(mailbox, folder):
        assert time.monotonic() < deadline, "nothing arrived"
        time.sleep(0.05)
    return webmail.raw(mailbox, folder, webmail.uids(mailbox, folder)[-1])


def editor_html(page: str) -> str:
    found = EDITOR.search(page)
    assert found, "no editor in the page"
    return found.group(1)


def alternative(raw: bytes) -> tuple[str, str]:
    """(plain, html) of a rich message, checked with ``email`` (the parts' structure and
    charsets) and read with the reader's own MIME code (``view_of``, ``part_text``); the
    html is what is inside the document's body."""
    msg = parsed(raw)
    [alt] = [p for p in msg.walk() if p.get_content_type() == "multipart/alternative"]
    parts = list(alt.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    view = view_of(parse_structure(raw), raw)
    assert view.text_part is not None and view.html_part is not None
    document = part_text(raw, view.html_part)[0]
    assert document.startswith('<!DOCTYPE html>\r\n<html><head><meta charset="utf-8"></head>')
    return part_text(raw, view.text_part)[0].replace("\r\n", "\n"), fragment(document)


def test_the_plain_part_made_from_the_html() -> None:
    html = clean_html(
        "<div>Kính gửi <b>anh</b>,</div><div><br></div><p>Đoạn một.</p><ol><li>một</li><li>hai<ul><li>a</li></ul>"
        "</li></ol><blockquote><div>trích</div><blockquote>sâu hơn</blockquote></blockquote>"
        '<p><a href="https://soctrang.gov.vn">https://soctrang.gov.vn</a> và <a href="mailto:an@x.vn">An</a></p>'
        "<pre>  giữ   khoảng\n  trắng</pre><table><tr><td>ô 1</td><td>ô 2</td></tr></table>"
        + signature_html("An\nSở <Nội vụ>") + unicodedata.normalize("NFD", "<p>Việt</p>"))
    assert html_to_text(html) == (
        "Kính gửi anh,\n\nĐoạn một.\n\n1. một\n2. hai\n  - a\n\n> trích\n>\n>> sâu hơn\n>\n\n"
        "https://soctrang.gov.vn và An <an@x.vn>\n\n  giữ   khoảng\n  trắng\n\nô 1\tô 2\n\n"
        "-- \nAn\nSở <Nội vụ>\nViệt")
    assert clean_html("<img src=\"https://evil.example/a.png\"><b onclick=\"x()\">b</b>") == "<b>b</b>"


def test_rich_text_is_sent_as_alternative_with_the_html_cleaned(shared: Webmail) -> None:
    an, an_id, binh, binh_id = users(shared, "send")
    client = WebClient(shared, an)
    answer = client.post("/thu/soan", {"kieu": "html", "noi-dung-html": HOSTILE, "noi-dung": "bỏ qua",
                                       "den": binh, "tieu-de": "Thư có định dạng", "action": "gui"},
                         files={"tep": ("Tờ trình.txt", "Nội dung tệp".encode(), "text/plain")})
    assert answer.status_code == 303, answer.text[:2000]
    raw = arrived(shared, binh_id)
    assert parsed(raw).get_content_type() == "multipart/mixed"  # the file beside both forms
    plain, html = alternative(raw)
    for text in (plain, html):
        assert GREETING in text and unicodedata.is_normalized("NFC", text)
        assert unicodedata.normalize("NFD", GREETING) not in text
        assert "bỏ qua" not in text  # the textarea is not the body in rich mode
    assert "<b>quan trọng</b>" in html and "<i>khẩn</i>" in html and "<blockquote>trích dẫn</blockquote>" in html
    assert 'href="https://soctrang.gov.vn/lich"' in html
    assert not active(html), active(html)
    assert "evil.example" not in html and "__xss" not in html
    assert "bấm đây" in html and "nền" in html  # the text of what was removed stays
    assert "quan trọng và khẩn." in plain and "- một\n- hai" in plain and "> trích dẫn" in plain
    assert "lịch họp <https://soctrang.gov.vn/lich>" in plain
    assert "<" not in plain.replace("<https://soctrang.gov.vn/lich>", "")
    # The copy in Sent is the same message (with its Bcc, none here).
    sent_plain, sent_html = alternative(arrived(shared, an_id, "Sent"))
    assert (sent_plain, sent_html) == (plain, html)
    # The way An writes is remembered: the next message starts in the editor.
    assert 'data-rich="1"' in client.get("/thu/soan").text
    # Plain text stays one text/plain part, and sending plain is remembered too.
    client.post("/thu/soan", {"kieu": "thuong", "noi-dung": "Chỉ chữ <b>thường</b>", "den": binh,
                              "tieu-de": "Thư thường", "action": "gui"})
    deadline = time.monotonic() + 10
    while len(shared.uids(binh_id, "INBOX")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    simple = parsed(shared.raw(binh_id, "INBOX", shared.uids(binh_id, "INBOX")[-1]))
    assert simple.get_content_type() == "text/plain"
    assert simple.get_content().strip() == "Chỉ chữ <b>thường</b>"
    assert 'data-rich="0"' in client.get("/thu/soan").text
    client.close()


def test_the_choice_of_rich_or_plain_is_the_users(shared: Webmail) -> None:
    an, _an_id, binh, _binh_id = users(shared, "pref")
    client = WebClient(shared, an)
    assert 'data-rich="0"' in client.get("/thu/soan").text
    assert client.post("/thu/soan/kieu", {"kieu": "html"}, token=False).status_code == 403
    assert client.post("/thu/soan/kieu", {"kieu": "<b>"}).status_code == 400
    assert client.post("/thu/soan/kieu", {"kieu": "html"}).json() == {"kieu": "html"}
    page = client.get("/thu/soan").text
    assert 'data-rich="1"' in page
    # The page carries the switch, the toolbar and the editor, labelled; no inline script.
    for needed in ('id="kieu-html"', 'role="toolbar"', 'contenteditable="true"', 'aria-labelledby="nhan-noi-dung"',
                   'data-lenh="bold"', 'data-lenh="italic"', 'data-lenh="underline"', 'data-lenh="createLink"',
                   'data-lenh="insertUnorderedList"', 'data-lenh="insertOrderedList"', 'data-lenh="blockquote"',
                   'data-lenh="removeFormat"'):
        assert needed in page, needed
    assert "<script>" not in page and " onclick=" not in page
    other = WebClient(shared, binh)
    assert 'data-rich="0"' in other.get("/thu/soan").text
    other.close()
    client.close()


def test_rich_drafts_reopen_rich_and_as_the_organisation(shared: Webmail) -> None:
    an, an_id, _binh, _binh_id = users(shared, "draft")
    org = f"vanthu.draft@{DOMAIN}"
    org_id = shared.add_user(org, "Văn thư")
    stranger = f"khac.draft@{DOMAIN}"
    shared.add_user(stranger)
    shared.server.run(delegation.grant(shared.server.app, org_id, an_id, "lrswitea0", granted_by="admin"))
    client = WebClient(shared, an)
    saved = client.post("/thu/soan/nhap", {"kieu": "html", "noi-dung-html": HOSTILE, "den": "x@example.gov.vn",
                                           "tieu-de": "Nháp có định dạng", "tu": org})
    assert saved.status_code == 200, saved.text
    uid = saved.json()["nhap"]
    stored = shared.raw(an_id, "Drafts", uid)
    assert parsed(stored)["From"].addresses[0].addr_spec == org  # the draft is An's, written as the organisation
    _plain, html = alternative(stored)
    assert "<b>quan trọng</b>" in html and not active(html)
    assert shared.uids(org_id, "Drafts") == []  # in the delegate's own Drafts
    page = client.get(f"/thu/soan?nhap={uid}").text
    assert 'data-rich="1"' in page and f'<option value="{org}" selected>' in page
    shown = editor_html(page)
    assert "<b>quan trọng</b>" in shown and GREETING in shown and not active(shown)
    # "Lưu nháp" keeps the organisation too, and the next version replaces this one.
    again = client.post("/thu/soan", {"kieu": "html", "noi-dung-html": "<p>Bản <u>hai</u></p>", "tu": org,
                                      "nhap": str(uid), "tieu-de": "Nháp có định dạng", "action": "luu"})
    assert again.status_code == 303
    [second] = shared.uids(an_id, "Drafts")
    assert parsed(shared.raw(an_id, "Drafts", second))["From"].addresses[0].addr_spec == org
    assert "<u>hai</u>" in editor_html(client.get(f"/thu/soan?nhap={second}").text)
    # A From the user may not send as is not stored: the draft is the user's own.
    mine = client.post("/thu/soan/nhap", {"kieu": "thuong", "noi-dung": "x", "tu": stranger, "nhap": str(second)})
    stored = shared.raw(an_id, "Drafts", mine.json()["nhap"])
    assert parsed(stored)["From"].addresses[0].addr_spec == an
    assert parsed(stored).get_content_type() == "text/plain"
    assert 'data-rich="0"' in client.get(f"/thu/soan?nhap={mine.json()['nhap']}").text
    # A draft another mail client stored with hostile HTML opens cleaned in the editor.
    foreign = (f"From: {an}\r\nSubject: Nháp từ Thunderbird\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               "chữ\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
               f"<html><body><p>Đã <b>soạn</b></p>{HOSTILE}</body></html>\r\n--b--\r\n").encode()
    drafts = shared.folder(an_id, "Drafts").id
    other_uid = shared.server.run(shared.server.app.store.append(drafts, foreign, flags=flagbits.DRAFT))
    shown = editor_html(client.get(f"/thu/soan?nhap={other_uid}").text)
    assert "<b>soạn</b>" in shown and not active(shown)
    client.close()


def test_replies_and_forwards_quote_the_html_cleaned_under_the_signature(shared: Webmail) -> None:
    an, an_id, binh, _binh_id = users(shared, "reply")
    client = WebClient(shared, an)
    assert client.post("/cai-dat/chu-ky", {"chu-ky": "Nguyễn Văn An\nSở <Nội vụ>"}).status_code == 303
    client.post("/thu/soan/kieu", {"kieu": "html"})
    inbox = shared.folder(an_id, "INBOX").id
    rich = (f"From: Bình <binh@{DOMAIN}>\r\nTo: {an}\r\nSubject: Lịch họp\r\nMessage-ID: <lich@{DOMAIN}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            f"<p>Họp lúc <b>8 giờ</b></p>{HOSTILE}\r\n").encode()
    rich_uid = shared.deliver(an_id, rich)
    plain_uid = shared.deliver(an_id, message(subject="Chữ thường", body="Dòng <b>một</b>\nDòng hai", to=an))
    reply = client.get(f"/thu/soan?tra-loi={inbox}-{rich_uid}").text
    shown = editor_html(reply)
    assert "<blockquote>" in shown and "<b>8 giờ</b>" in shown and not active(shown)
    assert shown.index("Nguyễn Văn An") < shown.index("<blockquote>")  # the signature above the quotation
    assert "-- " in shown and "Sở &lt;Nội vụ&gt;" in shown
    assert 'name="in-reply-to" value="&lt;lich@' in reply
    forward = editor_html(client.get(f"/thu/soan?chuyen-tiep={inbox}-{rich_uid}").text)
    assert "Thư chuyển tiếp" in forward and "<b>8 giờ</b>" in forward and not active(forward)
    quoted = editor_html(client.get(f"/thu/soan?tra-loi={inbox}-{plain_uid}").text)
    assert "Dòng &lt;b&gt;một&lt;/b&gt;" in quoted and "<b>một</b>" not in quoted
    # Sent: the quotation goes as HTML, and as "> " lines in the plain part.
    sent = client.post("/thu/soan", {"kieu": "html", "noi-dung-html": "<div>Đã rõ.</div>" + shown,
                                     "den": binh, "tieu-de": "Re: Lịch họp",
                                     "goc": f"{inbox}-{rich_uid} tra-loi", "action": "gui"})
    assert sent.status_code == 303
    plain, html = alternative(arrived(shared, an_id, "Sent"))
    assert "<b>8 giờ</b>" in html and "> Họp lúc 8 giờ" in plain and not active(html)
    assert "\\Answered" in shared.flags(an_id, "INBOX", rich_uid)
    client.close()


def test_every_hostile_original_quoted_in_rich_text_is_inert(shared: Webmail, context: BrowserContext) -> None:
    """The XSS corpus answered and forwarded in rich text: the editor's HTML holds nothing
    active for any message (read from the page as served); and in Chromium, the reply and
    the forward of one message holding every HTML payload of the corpus run no script,
    set no marker and call nothing."""
    an, an_id, _binh, _binh_id = users(shared, "xss")
    inbox = shared.folder(an_id, "INBOX").id
    uids = [shared.deliver(an_id, raw) for _name, raw in corpus("http://127.0.0.1:9")]
    everything = (f"From: Evil <x@evil.example>\r\nTo: {an}\r\nSubject: Mọi thứ\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Mở đầu</p>"
                  + "".join(f"<div>{html}</div>" for _name, html in HTML_PAYLOADS)
                  + "<p>Kết thúc</p>\r\n").replace("ATTACKER", "http://127.0.0.1:9").encode()
    all_uid = shared.deliver(an_id, everything)
    page = context.new_page()
    shared.login(page, an)
    token = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    assert context.request.post(shared.url("/thu/soan/kieu"), form={"kieu": "html", "csrf": token}).ok
    for uid in [*uids, all_uid]:
        for kind in ("tra-loi-tat-ca", "chuyen-tiep"):
            answer = context.request.get(shared.url(f"/thu/soan?{kind}={inbox}-{uid}"))
            assert answer.status == 200, (uid, kind)
            found = active(editor_html(answer.text()))
            assert not found, (uid, kind, found)
    outside: list[str] = []
    dialogs: list[str] = []
    context.route(re.compile("^(?!" + re.escape(shared.origin + "/") + ")"),
                  lambda route: (outside.append(route.request.url), route.abort()))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for kind in ("tra-loi-tat-ca", "chuyen-tiep"):
        page.goto(shared.url(f"/thu/soan?{kind}={inbox}-{all_uid}"), wait_until="load")
        expect(page.locator("#soan-html")).to_contain_text("Kết thúc")
        page.wait_for_timeout(200)
        for frame in page.frames:
            assert frame.evaluate("() => [window.__xss, document.title]") == [None, "Soạn thư · Công Thư"], kind
    assert not outside and not dialogs, (outside, dialogs)


def test_the_editor_in_chromium(shared: Webmail, browser: Browser, context: BrowserContext) -> None:
    an, an_id, binh, binh_id = users(shared, "chromium")
    page = context.new_page()
    shared.login(page, an)
    page.goto(shared.url("/thu/soan"))
    expect(page.locator("#kieu-soan")).to_be_visible()
    expect(page.locator("#trinh-soan")).to_be_hidden()
    page.fill("#den", binh)
    page.fill("#tieu-de", "Thư có chữ đậm")
    page.fill("#than-thu", "Dòng đầu")
    page.check("#kieu-html")  # plain to rich: the text comes along
    expect(page.locator("#soan-html")).to_be_visible()
    expect(page.locator("#than-thu")).to_be_hidden()
    expect(page.locator("#soan-html")).to_have_text("Dòng đầu")
    editor = page.locator("#soan-html")
    editor.click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("Kính gửi ")
    bold = page.locator("button[data-lenh=bold]")
    bold.click()
    expect(bold).to_have_attribute("aria-pressed", "true")
    page.keyboard.type("đồng chí")
    bold.click()
    expect(bold).to_have_attribute("aria-pressed", "false")
    page.keyboard.type(" và ")
    page.keyboard.press("Control+i")
    page.keyboard.type("lưu ý")
    page.keyboard.press("Control+i")
    page.keyboard.type(".")
    page.keyboard.press("Enter")
    page.locator("button[data-lenh=insertUnorderedList]").click()
    page.keyboard.type("việc một")
    expect(editor.locator("b")).to_have_text("đồng chí")
    expect(editor.locator("i")).to_have_text("lưu ý")
    expect(editor.locator("ul li")).to_have_text("việc một")
    # Every character where it was typed (shortcuts and buttons do not move the caret).
    typed = editor.inner_text().replace("\xa0", " ")  # the editor keeps typed spaces as no-break ones
    assert typed.split("\n")[:2] == ["Dòng đầu", "Kính gửi đồng chí và lưu ý."]
    # Typed fast, a shortcut in the middle of a word: still in place.
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.keyboard.type("Tôi xin ")
    page.keyboard.press("Control+b")
    page.keyboard.type("xác nhận")
    page.keyboard.press("Control+b")
    page.keyboard.type(" tham dự.")
    expect(editor).to_contain_text("Tôi xin xác nhận tham dự.")
    expect(editor.locator("b").last).to_have_text("xác nhận")
    # The autosave keeps the rich body; the draft reopens in the editor with it.
    status = page.locator("#trang-thai-nhap")
    expect(status).to_have_attribute("data-draft", re.compile(r"^\d+$"), timeout=15000)
    draft = status.get_attribute("data-draft")
    other = context.new_page()
    other.goto(shared.url(f"/thu/soan?nhap={draft}"))
    expect(other.locator("#kieu-html")).to_be_checked()
    expect(other.locator("#soan-html b")).to_have_text(["đồng chí", "xác nhận"])
    # axe-core on the page with the editor shown.
    found = violations(other)
    assert not found, describe(found)
    other.close()
    page.click("button[value=gui]")
    page.wait_for_load_state()
    expect(page.locator("p.done")).to_be_visible()
    _plain, html = alternative(arrived(shared, binh_id))
    assert "<b>đồng chí</b>" in html and "<i>lưu ý</i>" in html and "<b>xác nhận</b>" in html
    assert shared.uids(an_id, "Drafts") == []  # the draft went with the message
    # Bình reads it: the bold words in the body frame.
    reader = browser.new_context(locale="vi-VN")
    try:
        inbox_page = reader.new_page()
        shared.login(inbox_page, binh)
        inbox_page.locator("table.messages tbody tr .subject a").first.click()
        body = inbox_page.frame_locator("iframe.body")
        expect(body.locator("b")).to_have_text(["đồng chí", "xác nhận"])
        expect(body.locator("i")).to_have_text("lưu ý")
    finally:
        reader.close()
