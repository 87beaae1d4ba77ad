"""The XSS corpus (``xss_corpus.py``, 170 hostile messages) delivered through the store's
delivery and opened in Chromium: the list pages, each message's reading page with its
body frame, and each body frame opened on its own as a top-level page. The pages are
opened a few at a time in tabs of one browser context (each checked once loaded), so
Chromium and the server work on the next while one is checked.

What must hold: no script runs (``window.__xss`` stays unset in every frame, the titles
stay ours, no dialog opens), and no request leaves for any host but the webmail's own
(every request of the browser is recorded, and a loopback "attacker" port the payloads
call stays untouched). Downloads of hostile file names carry a clean
``Content-Disposition``.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Dialog, Frame, Page, Route, expect

from tests.webmail.conftest import Webmail, start_webmail, wait_for_script_state
from tests.webmail.xss_corpus import HEADER_CASES, HTML_PAYLOADS, corpus

TABS = 4  # pages loading at once


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


@pytest.fixture(scope="module")
def webmail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webmail]:
    """One server for the module's tests (each has its own mailbox)."""
    with start_webmail(Path(tmp_path_factory.mktemp("xss")) / "data") as started:
        yield started


def deliver_all(webmail: Webmail, mailbox_id: int, messages: list[bytes]) -> list[int]:
    """Deliver through the store's delivery (the MX's path), in order, in one call into
    the server's loop; the new UIDs."""
    async def run() -> list[int]:
        uids = []
        for raw in messages:
            [result] = await webmail.server.app.store.deliver(raw, [mailbox_id])
            assert result.ok and result.uid is not None, result.error
            uids.append(result.uid)
        return uids

    return webmail.server.run(run())


def elsewhere(webmail: Webmail) -> re.Pattern[str]:
    """Any URL but the webmail's own."""
    return re.compile("^(?!" + re.escape(webmail.origin + "/") + ")")


def open_all(pages: list[Page], urls: list[str], check: Callable[[Page, str], None]) -> None:
    """Load ``urls`` in ``pages``, each tab with a page of its own at a time: a tab is sent
    on its way (the navigation committed), and once its page is loaded (its frames too)
    and checked, on to the next URL, while the other tabs load theirs."""
    waiting = list(reversed(urls))
    loading: list[tuple[Page, str]] = []
    for page in pages[:len(urls)]:
        loading.append((page, waiting.pop()))
        page.goto(loading[-1][1], wait_until="commit")
    while loading:
        page, url = loading.pop(0)
        page.wait_for_load_state("load")
        check(page, url)
        if waiting:
            loading.append((page, waiting.pop()))
            page.goto(loading[-1][1], wait_until="commit")


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


def assert_clean(page: Page, where: str, *, inside: bool = False) -> None:
    """No marker and our title in every frame of the page (``inside``: the frames in the
    page, the page itself having been read already)."""
    for frame in page.frames:
        if inside and frame is page.main_frame:
            continue
        xss, title = markers(frame)
        assert xss is None, (where, frame.url)
        assert title != "XSS", (where, frame.url)


@pytest.mark.slow
def test_no_hostile_message_runs_script_or_calls_out(webmail: Webmail, context: BrowserContext,
                                                    attacker: Attacker) -> None:
    box = webmail.add_user("an@example.gov.vn")
    messages = corpus(attacker.url)
    assert len(messages) >= 100
    uids = dict(zip(deliver_all(webmail, box, [raw for _name, raw in messages]),
                    [name for name, _raw in messages], strict=True))
    inbox = webmail.folder(box, "INBOX").id
    outside: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []

    def guard(route: Route) -> None:
        outside.append(route.request.url)
        route.abort()

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    # Every request not to the webmail is stopped and kept (the pattern is matched in the
    # browser's driver, so the webmail's own requests do not wait for this process).
    context.route(elsewhere(webmail), guard)
    context.on("request", lambda r: requests.append(r.url))
    pages = [context.new_page() for _ in range(TABS)]
    for page in pages:
        page.on("dialog", on_dialog)
    webmail.login(pages[0], "an@example.gov.vn")
    # The list pages show every hostile subject and sender.
    for number in range(1, (len(messages) + 49) // 50 + 1):
        pages[0].goto(webmail.url(f"/thu/{inbox}?trang={number}"))
        assert_clean(pages[0], f"list page {number}")
        assert pages[0].title().endswith("Công Thư")
    reading = {webmail.url(f"/thu/{inbox}/{uid}"): uid for uid in uids}
    framed: list[str] = []

    def check_message(page: Page, url: str) -> None:
        uid = reading[url]
        name = uids[uid]
        # What the page shows, read in one evaluation: the marker, its title, the
        # attachments' links, whether the body frame is there; then each frame inside.
        xss, title, links, framed_body = page.evaluate(
            "() => [window.__xss, document.title, Array.from(document.querySelectorAll('a.attachment'),"
            " a => a.getAttribute('href') || ''), document.querySelectorAll('iframe.body').length > 0]")
        assert xss is None, name
        assert title.endswith("Công Thư"), name
        assert_clean(page, name, inside=True)
        # Downloads of hostile names: one clean header line, no path, no quote.
        for href in links:
            response = context.request.get(webmail.url(href))
            disposition = response.headers["content-disposition"]
            assert "\r" not in disposition and "\n" not in disposition, name
            assert disposition.startswith("attachment; filename=\""), name
            assert "/" not in disposition.split(";")[1] and ".." not in disposition.split(";")[1], name
            assert response.headers["content-type"] == "application/octet-stream", name
            assert response.headers["x-content-type-options"] == "nosniff", name
        if framed_body:
            framed.append(webmail.url(f"/thu/{inbox}/{uid}/noi-dung"))

    open_all(pages, list(reading), check_message)
    # Each body frame alone, as a top-level document (its CSP sandboxes it there too).
    assert framed
    open_all(pages, framed, lambda page, url: assert_clean(page, f"{url} (frame alone)"))
    pages[0].wait_for_timeout(500)  # anything late (refresh, lazy loads) would show now
    for page in pages:
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
    box = webmail.add_user("binh@example.gov.vn")
    messages = hostile_headers(attacker.url)
    half = len(messages) // 2
    deliver_all(webmail, box, [raw for _name, raw in messages[:half]])
    outside: list[str] = []
    dialogs: list[str] = []
    context.route(elsewhere(webmail), lambda route: (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    webmail.login(page, "binh@example.gov.vn")
    wait_for_script_state(page, "window.congthuEvents && window.congthuEvents.readyState === 1")
    # The rest arrive while the list is open, one by one: each becomes a row, as text.
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
    CSP) do run and do call the attacker, so the test above could fail. Each payload is
    the document of a frame of its own (``srcdoc``, the page's origin, nothing
    sandboxed), all in one page; the test waits for what it needs to see, not a fixed
    time."""
    context.route("**/*", lambda route: route.abort() if "127.0.0.1" not in route.request.url
                  else route.continue_())
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.set_content("<!DOCTYPE html><title>control</title>")
    page.evaluate("""payloads => { for (const html of payloads) {
        const frame = document.createElement('iframe'); frame.srcdoc = html; document.body.appendChild(frame); } }""",
                  [html.replace("ATTACKER", attacker.url) for _name, html in HTML_PAYLOADS])
    # The payloads whose script ran, in their frame or a frame inside it (read in one
    # evaluation; a frame another origin holds now, after a redirect, cannot be read).
    count = """() => Array.from(document.querySelectorAll('iframe'), function live(frame) {
        try {
            const win = frame.contentWindow;
            return win.__xss === 1 || Array.from(win.document.querySelectorAll('iframe')).some(live);
        } catch (e) { return false; }
    }).filter(Boolean).length"""
    deadline = time.monotonic() + 15
    while (ran := page.evaluate(count)) < 15 or not attacker.hits:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(page.main_frame.child_frames) == len(HTML_PAYLOADS)
    assert ran >= 15, ran
    assert attacker.hits
