"""Webmail figures: server time of the message list of a 100,000-message folder (each
order, first and deep pages), of opening a message and of a search; bytes of a first
visit to the inbox; time from sign-in to a usable inbox in Chromium.

    .venv/bin/python bench/web.py [--messages 100000] [--rounds 200] [--browser-rounds 10]

Seeds a fresh data directory (SQLite + blobs) with one mailbox of ``--messages``
messages (rows written directly by bench/seeding.py: one stored body shared by all,
distinct subjects, senders, sizes, dates, search text and folded fields; the search
index follows by its triggers), starts ``congthu serve --only http`` in a child process
and drives it over loopback:

* server time: each request on one kept-alive HTTP connection with the session cookie,
  timed from sending the request to the last byte of the answer (loopback adds about
  0.1 ms); p50 and p95 of ``--rounds`` requests, pages chosen at random;
* first visit: Chromium (``/usr/bin/chromium``, Playwright) with an empty cache signs
  in; every response from the sign-in POST to the inbox's load (redirects, the page,
  stylesheet, script, icon) counted as headers + body on the wire (Playwright's
  ``Request.sizes``); the event stream, which never ends, is left out;
* sign-in to usable inbox: from clicking "Đăng nhập" to the end of the inbox's
  DOMContentLoaded (the page shown and its script's handlers in place),
  ``--browser-rounds`` fresh contexts, on the browser's own clock: the click's time
  (``performance.timeOrigin + event.timeStamp`` in the sign-in page, kept in
  ``sessionStorage``) against the inbox's ``timeOrigin + domContentLoadedEventEnd``
  (Navigation Timing), with the parts of that time (the POST and its 303, the inbox's
  first and last byte, the page parsed). The time as the driving script sees it, from
  calling Playwright's ``click`` to ``wait_for_selector`` returning, is printed too: it
  adds Playwright's own round trips to the browser (the click's actionability checks,
  the waits after the navigation), 200-250 ms on this machine, which no user waits for.

The list by conversation is measured on its first pages (the cost of page n grows with
the messages walked to reach it: the deep pages are printed apart).

Goals (issue 14): p95 <= 50 ms for the list and for opening a message, <= 150 KB for
the first visit, <= 300 ms from sign-in to the inbox.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seeding import PASSWORD, TOPICS, Seeded, seed_inbox  # noqa: E402
from congthu.app import App  # noqa: E402
from congthu.config import load  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402

USER = "vanthu@soctrang.gov.vn"
CHROMIUM = "/usr/bin/chromium"
SENDERS = ["Văn thư UBND <vanthu@soctrang.gov.vn>", "Trần Thị Bình <binh@soctrang.gov.vn>",
           "Nguyễn Văn An <an@soctrang.gov.vn>", "Lê Minh Chi <chi@soctrang.gov.vn>",
           "Sở Nội vụ <snv@soctrang.gov.vn>", "Phạm Thu Dung <dung@soctrang.gov.vn>"]


def varied_letters(seed: int = 7) -> Callable[[int], Seeded]:
    """Letters from six senders, every tenth a reply to the one before (conversations of
    two), of sizes up to 200 KB, mostly in order of arrival but every fiftieth appended late
    with an older date."""
    rnd = random.Random(seed)

    def describe(i: int) -> Seeded:
        topic = TOPICS[(i - 1) % len(TOPICS)] if i % 10 == 0 else TOPICS[i % len(TOPICS)]
        subject = f"Re: Công văn số {i - 1}/UBND về {topic}" if i % 10 == 0 else f"Công văn số {i}/UBND về {topic}"
        return Seeded(subject, SENDERS[(i * 7) % len(SENDERS)], extra_size=rnd.randrange(0, 200_000),
                      earlier_minutes=rnd.randrange(0, 5000) if i % 50 == 0 else 0)
    return describe


async def seed(data: Path, count: int) -> int:
    """A mailbox whose Inbox holds ``count`` messages; returns the Inbox's id."""
    app = await App.open(data)
    try:
        return await seed_inbox(app, USER, count, varied_letters(), salt="bench-web")
    finally:
        await app.close()


@contextmanager
def web_server(data: Path, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``congthu serve --only http`` on ``data`` in a child process, answering."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve", "--only", "http"],
                                stdout=log, stderr=log,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})
        try:
            # Answering /healthz, not only accepting: the supervisor binds the port before
            # its workers are ready, and on a busy machine they take a while.
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/healthz")
                    ready = conn.getresponse().status == 200
                    conn.close()
                    if ready:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            yield proc
        finally:
            proc.terminate()
            proc.wait(60)


def sign_in(port: int, spent: list[float] | None = None) -> str:
    """The session cookie's value, from the sign-in form (CSRF of the sign-in page);
    the POST's milliseconds appended to ``spent``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/dang-nhap")
    answer = conn.getresponse()
    page = answer.read().decode()
    cookies = "; ".join(h.split(";")[0] for k, h in answer.getheaders() if k.lower() == "set-cookie")
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    body = urlencode({"csrf": token, "address": USER, "password": PASSWORD})
    started = time.perf_counter()
    conn.request("POST", "/dang-nhap", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies})
    answer = conn.getresponse()
    answer.read()
    if spent is not None:
        spent.append((time.perf_counter() - started) * 1000)
    for key, value in answer.getheaders():
        if key.lower() == "set-cookie" and value.startswith("congthu_phien="):
            return value.split(";")[0]
    raise RuntimeError(f"sign-in failed: {answer.status}")


def timed(port: int, cookie: str, paths: list[str]) -> list[float]:
    """Milliseconds per request, one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for path in paths:
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        answer = conn.getresponse()
        answer.read()
        out.append((time.perf_counter() - started) * 1000)
        if answer.status != 200:
            raise RuntimeError(f"{path}: {answer.status}")
    conn.close()
    return out


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms  (best {ordered[0]:.1f} ms)"


def server_times(port: int, inbox: int, count: int, rounds: int) -> None:
    cookie = sign_in(port)
    pages = (count + 49) // 50
    rnd = random.Random(1)
    timed(port, cookie, [f"/thu/{inbox}"] * 5)  # warm-up
    print(f"message list, {count:,} messages, server time (loopback), {rounds} requests each:")
    print(f"  {'newest first, page 1':<36} {quantiles(timed(port, cookie, [f'/thu/{inbox}'] * rounds))}")
    for sort, label in (("ngay", "newest first"), ("ngay-cu", "oldest first"), ("co", "largest first"),
                        ("nguoi-gui", "by sender"), ("tieu-de", "by subject")):
        paths = [f"/thu/{inbox}?sap-xep={sort}&trang={rnd.randrange(1, pages + 1)}" for _ in range(rounds)]
        print(f"  {label + ', random page':<36} {quantiles(timed(port, cookie, paths))}")
    # The list by conversation (the user's choice, set through the page's own form).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/thu/thu-muc", headers={"Cookie": cookie})
    csrf = conn.getresponse().read().decode().split('name="csrf" value="', 1)[1].split('"', 1)[0]
    conn.request("POST", "/thu/theo-chuoi", body=urlencode({"csrf": csrf, "bat": "1", "thu-muc": inbox}),
                 headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    switched = conn.getresponse()
    switched.read()
    conn.close()
    if switched.status != 303:
        raise RuntimeError(f"switching to conversations: {switched.status}")
    for label, first_pages in (("by conversation, page 1", [1]), ("by conversation, pages 2-20", range(2, 21))):
        paths = [f"/thu/{inbox}?trang={rnd.choice(list(first_pages))}" for _ in range(rounds)]
        print(f"  {label:<36} {quantiles(timed(port, cookie, paths))}")
    deep = [f"/thu/{inbox}?trang={p}" for p in (200, 1000, pages)]
    print(f"  {'by conversation, pages 200/1000/last':<36} {quantiles(timed(port, cookie, deep * 3))}")
    # Back to one row a message for what follows (and the browser figures).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/thu/theo-chuoi", body=urlencode({"csrf": csrf, "bat": "0", "thu-muc": inbox}),
                 headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    conn.getresponse().read()
    conn.close()
    uids = [rnd.randrange(1, count + 1) for _ in range(rounds)]
    print(f"  {'opening a message':<36} {quantiles(timed(port, cookie, [f'/thu/{inbox}/{u}' for u in uids]))}")
    searches = [f"/thu/tim?{urlencode({'q': q, 'thu-muc': inbox})}"
                for q in ("lich lam viec", "cong van so 4242", "tuyen dung vien chuc", "dung@soctrang")]
    print(f"  {'search in the folder (4 queries)':<36} {quantiles(timed(port, cookie, searches * 5))}")
    spent: list[float] = []
    for _ in range(10):
        sign_in(port, spent)
    print(f"  {'sign-in POST (argon2id, session)':<36} {quantiles(spent)}")


def browser_figures(port: int, rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    origin = f"http://127.0.0.1:{port}"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        try:
            sizes: list[int] = []
            times: list[float] = []
            driven: list[float] = []
            parts: dict[str, list[float]] = {"sign-in POST and its 303": [], "inbox: first byte": [],
                                             "inbox: last byte": [], "inbox: parsed (domInteractive)": []}
            for _ in range(rounds):
                context = browser.new_context(locale="vi-VN")
                page = context.new_page()
                page.goto(origin + "/dang-nhap")
                page.fill("#address", USER)
                page.fill("#password", PASSWORD)
                after: list = []

                def keep(request: object, into: list = after) -> None:
                    into.append(request)

                page.on("requestfinished", keep)
                page.evaluate("""() => document.addEventListener('click', event => sessionStorage.setItem(
                    'bench-click', String(performance.timeOrigin + event.timeStamp)), true)""")
                started = time.perf_counter()
                page.click("button.primary")
                page.wait_for_url(f"{origin}/thu/*", wait_until="domcontentloaded")
                page.wait_for_selector("table.messages tbody tr")
                driven.append((time.perf_counter() - started) * 1000)
                page.wait_for_load_state("load")
                timing = page.evaluate("""() => {
                    const nav = performance.getEntriesByType('navigation')[0];
                    const since = performance.timeOrigin - Number(sessionStorage.getItem('bench-click'));
                    return [since + nav.domContentLoadedEventEnd, since + nav.redirectEnd, since + nav.responseStart,
                            since + nav.responseEnd, since + nav.domInteractive];
                }""")
                times.append(timing[0])
                for key, value in zip(parts, timing[1:], strict=True):
                    parts[key].append(value)
                total = 0
                for request in after:
                    if "/su-kien" in request.url:
                        continue
                    wire = request.sizes()
                    total += wire["responseBodySize"] + wire["responseHeadersSize"]
                sizes.append(total)
                context.close()
            print(f"first visit to the inbox (sign-in POST to load, empty cache): {statistics.median(sizes) / 1024:.1f} KB "
                  f"over the wire ({len(after)} responses)")
            print(f"sign-in to usable inbox in Chromium, {rounds} fresh contexts: {quantiles(times)}")
            for key, values in parts.items():
                print(f"  {'... ' + key:<36} {quantiles(values)}  (from the click)")
            print(f"  {'as Playwright sees it':<36} {quantiles(driven)}  (click() to wait_for_selector())")
        finally:
            browser.close()


async def prepare(tmp: Path, count: int) -> tuple[Path, int]:
    data = await make_data_dir(tmp / "data")
    started = time.perf_counter()
    inbox = await seed(data, count)
    print(f"seeded {count:,} messages in {time.perf_counter() - started:.0f} s")
    return data, inbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--browser-rounds", type=int, default=10)
    args = parser.parse_args()
    print(f"# bench/web.py on {platform.node()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as tmp:
        data, inbox = asyncio.run(prepare(Path(tmp), args.messages))
        port = int(load(data).listen.http)
        with web_server(data, port, Path(tmp) / "server.log"):
            server_times(port, inbox, args.messages, args.rounds)
            if args.browser_rounds > 0:  # 0: the server's figures only
                browser_figures(port, args.browser_rounds)


if __name__ == "__main__":
    main()
