"""Fixtures of the webmail tests: Debian's Chromium driven by Playwright, a real server
(``tests.conftest.ServerThread``: ``congthu serve`` with every listener on loopback), and
helpers to sign in and to deliver mail through the store's delivery.

Chromium is ``/usr/bin/chromium`` (never ``playwright install``), headless, without
background networking, so every request it makes is one a page asked for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import ServerThread, make_data_dir

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "Mk@12345678xyz"


# Module scope, not session: Playwright's sync API keeps an event loop running on the
# test thread while it is open, which would break the asyncio.run of other packages'
# fixtures run later in the same process.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(locale="vi-VN", accept_downloads=True)
    opened.set_default_timeout(15000)
    try:
        yield opened
    finally:
        opened.close()


@dataclass
class Webmail:
    server: ServerThread

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.port('http')}"

    def url(self, path: str) -> str:
        return self.origin + path

    def add_user(self, address: str, name: str = "", must_change: bool = False,
                 password: str = PASSWORD) -> int:
        return self.server.add_user(address, password, name, must_change=must_change)

    def deliver(self, mailbox_id: int, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver through the store's delivery (the MX's path); returns the new UID."""
        results = self.server.run(self.server.app.store.deliver(raw, [mailbox_id], folder=folder))
        assert results[0].ok, results[0].error
        uid = results[0].uid
        assert uid is not None
        return uid

    def folder(self, mailbox_id: int, name: str) -> Any:
        found = self.server.run(self.server.app.store.get_folder(mailbox_id, name))
        assert found is not None
        return found

    def flags(self, mailbox_id: int, folder: str, uid: int) -> list[str]:
        metas = self.server.run(self.server.app.store.get_messages(self.folder(mailbox_id, folder).id, [uid]))
        return metas[0].flag_names if metas else []

    def uids(self, mailbox_id: int, folder: str) -> list[int]:
        metas = self.server.run(self.server.app.store.folder_index(self.folder(mailbox_id, folder).id))
        return [m.uid for m in metas]

    def raw(self, mailbox_id: int, folder: str, uid: int) -> bytes:
        """The stored bytes of a message."""
        store = self.server.app.store
        metas = self.server.run(store.get_messages(self.folder(mailbox_id, folder).id, [uid]))
        assert metas, (folder, uid)
        return self.server.run(store.read_message(metas[0].content_id))

    def login(self, page: Page, address: str, password: str = PASSWORD) -> None:
        page.goto(self.url("/dang-nhap"))
        page.fill("#address", address)
        page.fill("#password", password)
        page.click("button.primary")
        page.wait_for_load_state()


@contextmanager
def start_webmail(path: Path, **overrides: dict[str, Any]) -> Iterator[Webmail]:
    """A real server on loopback with these settings. Its data directory is made in a
    thread of its own: Playwright's sync API keeps an event loop on the test's thread."""
    with ThreadPoolExecutor(1) as pool:
        data = pool.submit(asyncio.run, make_data_dir(path, **overrides)).result()
    running = ServerThread(data).start()
    try:
        yield Webmail(running)
    finally:
        running.stop()


@pytest.fixture
def webmail(tmp_path: Path) -> Iterator[Webmail]:
    with start_webmail(tmp_path / "data") as started:
        yield started


def message(subject: str = "Chào anh", body: str = "Nội dung thư.", sender: str = "binh@example.gov.vn",
            to: str = "an@example.gov.vn", extra: str = "") -> bytes:
    """A plain UTF-8 message."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Sat, 05 Dec 2026 09:00:00 +0700\r\n"
            f"Message-ID: <{abs(hash(subject + body))}@example.gov.vn>\r\nMIME-Version: 1.0\r\n{extra}"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
            ).encode()


def wait_for_script_state(page: Page, expression: str, timeout: float = 15.0) -> None:
    """Wait until ``expression`` is true in the page. Not ``page.wait_for_function``: its
    polling evaluates a string in the page, which our Content-Security-Policy (no
    'unsafe-eval') refuses whenever the first look is not already true."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)
