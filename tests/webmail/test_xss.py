"""The XSS corpus (``xss_corpus.py``, 170 hostile messages) delivered through the store's
delivery and opened one by one in Chromium: the list pages, each message's reading page
with its body frame, and each body frame opened on its own as a top-level page.

What must hold: no script runs (``window.__xss`` stays unset in every frame, the titles
stay ours, no dialog opens), and no request leaves for any host but the webmail's own
(every request of the browser is recorded, and a loopback "attacker" port the payloads
call stays untouched). Downloads of hostile file names carry a clean
``Content-Disposition``.
"""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Dialog, Frame, Page, Route, expect
from playwright.sync_api import Error as PlaywrightError

from tests.webmail.conftest import Webmail, wait_for_script_state
from tests.webmail.xss_corpus import HEADER_CASES, HTML_PAYLOADS, corpus


class Attacker:
    """A loopback port that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.hits: list[bytes] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    self.hits.append(conn.recv(2048))
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    self.hits.append(b"(no request)")

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    listening = Attacker()
    try:
        yield listening
    finally:
        listening.close()


def markers(frame: Frame) -> tuple[object, str]:
    """(window.__xss, document.title) of a frame, read by the driver (scripts of the page
    itself may be off in a sandboxed frame; the driver's evaluation still works)."""
    return frame.evaluate("() => [window.__xss, document.title]")  # type: ignore[no-any-return]


def assert_clean(page: Page, where: str) -> None:
    for frame in page.frames:
        xss, title = markers(frame)
        assert xss is None, (where, frame.url)
        assert title != "XSS", (where, frame.url)


@pytest.mark.slow
def test_no_hostile_message_runs_script_or_calls_out(webmail: Webmail, context: BrowserContext,
                                                    attacker: Attacker) -> None:
    box = webmail.add_user("an@example.gov.vn")
    messages = corpus(attacker.url)
    assert len(messages) >= 100
    uids = {webmail.deliver(box, raw): name for name, raw in messages}
    inbox = webmail.folder(box, "INBOX").id
    outside: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(webmail.origin + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    context.route("**/*", guard)
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.on("dialog", on_dialog)
    webmail.login(page, "an@example.gov.vn")
    # The list pages show every hostile subject and sender.
    for number in range(1, (len(messages) + 49) // 50 + 1):
        page.goto(webmail.url(f"/thu/{inbox}?trang={number}"))
        assert_clean(page, f"list page {number}")
        assert page.title().endswith("Công Thư")
    for uid, name in uids.items():
        page.goto(webmail.url(f"/thu/{inbox}/{uid}"), wait_until="load")
        assert_clean(page, name)
        assert page.title().endswith("Công Thư"), name
        # Downloads of hostile names: one clean header line, no path, no quote.
        for link in page.locator("a.attachment").all():
            response = context.request.get(webmail.url(link.get_attribute("href") or ""))
            disposition = response.headers["content-disposition"]
            assert "\r" not in disposition and "\n" not in disposition, name
            assert disposition.startswith("attachment; filename=\""), name
            assert "/" not in disposition.split(";")[1] and ".." not in disposition.split(";")[1], name
            assert response.headers["content-type"] == "application/octet-stream", name
            assert response.headers["x-content-type-options"] == "nosniff", name
        # The body frame alone, as a top-level document (its CSP sandboxes it there too).
        if page.locator("iframe.body").count():
            page.goto(webmail.url(f"/thu/{inbox}/{uid}/noi-dung"), wait_until="load")
            assert_clean(page, f"{name} (frame alone)")
    page.wait_for_timeout(500)  # anything late (refresh, lazy loads) would show now
    assert_clean(page, "end")
    assert not dialogs, dialogs
    assert not outside, outside
    assert all(url.startswith(webmail.origin + "/") for url in requests), [
        url for url in requests if not url.startswith(webmail.origin + "/")]
    assert attacker.hits == [], attacker.hits


def hostile_headers(attacker: str) -> list[tuple[str, bytes]]:
    """Messages whose subject and sender name are the corpus's payloads, each with the
    word "canhbao" to be searched for: the header cases as they are, and every HTML
    payload as the subject (folded onto one line) and, as an encoded word, the name."""
    out = []
    for name, headers in HEADER_CASES:
        head = headers.replace("Subject: ", "Subject: canhbao ", 1) if "Subject: " in headers else headers
        out.append((name, f"{head}\r\nX-Corpus: {name}\r\n\r\ncanhbao\r\n".encode()))
    for name, html in HTML_PAYLOADS:
        line = " ".join(html.split())
        word = "=?utf-8?b?" + base64.b64encode(line.encode()).decode() + "?="
        out.append((name, (f"From: {word} <x@evil.example>\r\nSubject: canhbao {line}\r\n"
                           f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{line}\r\n").encode()))
    return [(name, raw.replace(b"ATTACKER", attacker.encode())) for name, raw in out]


@pytest.mark.slow
def test_hostile_subjects_in_search_results_and_new_mail_events(webmail: Webmail, context: BrowserContext,
                                                                attacker: Attacker) -> None:
    """The same guards for the search results (``/thu/tim``) and for rows that new mail
    adds to an open list through the event stream (``/thu/su-kien``)."""
    box = webmail.add_user("an@example.gov.vn")
    messages = hostile_headers(attacker.url)
    half = len(messages) // 2
    for _name, raw in messages[:half]:
        webmail.deliver(box, raw)
    outside: list[str] = []
    dialogs: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(webmail.origin + "/")
                  else (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    webmail.login(page, "an@example.gov.vn")
    wait_for_script_state(page, "window.congthuEvents && window.congthuEvents.readyState === 1")
    # The rest arrive while the list is open: each becomes a row, as text.
    for _name, raw in messages[half:]:
        webmail.deliver(box, raw)
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(min(len(messages), 50 + len(messages) - half))
    assert_clean(page, "rows added by the event stream")
    added = page.locator("table.messages tbody tr.new td.subject a").all_text_contents()
    assert any("<script" in text or "<img" in text for text in added), added[:5]
    # Search results: every hostile subject and sender, page by page.
    page.goto(webmail.url("/thu/tim?q=canhbao"))
    expect(page.locator("[role=status]").first).to_contain_text(f"{len(messages)} thư")
    number = 1
    while True:
        assert_clean(page, f"search page {number}")
        assert page.title().endswith("Công Thư")
        following = page.locator("a[rel=next]")
        if not following.count():
            break
        following.click()
        number += 1
    assert number == (len(messages) + 49) // 50
    page.wait_for_timeout(300)
    assert_clean(page, "end")
    assert not dialogs and not outside, (dialogs, outside)
    assert attacker.hits == [], attacker.hits


def test_the_corpus_is_live_without_the_webmail(context: BrowserContext, attacker: Attacker) -> None:
    """Control: the same payloads put straight into a page (no sanitiser, no sandbox, no
    CSP) do run and do call the attacker, so the test above could fail."""
    context.route("**/*", lambda route: route.abort() if "127.0.0.1" not in route.request.url
                  else route.continue_())
    ran = 0
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    for _name, html in HTML_PAYLOADS:
        try:
            page.set_content(html.replace("ATTACKER", attacker.url), wait_until="load")
            page.wait_for_timeout(50)
            if any(markers(frame)[0] == 1 for frame in page.frames if not frame.is_detached()):
                ran += 1
        except PlaywrightError:  # the payload navigated the page away (meta refresh): live too
            ran += 1
            page.close()
            page = context.new_page()
            page.on("dialog", lambda dialog: dialog.dismiss())
    assert ran >= 15, ran
    assert attacker.hits
