"""Webmail figures: server time of the message list of a 100,000-message folder (each
order, first and deep pages), of opening a message and of a search; bytes of a first
visit to the inbox; time from sign-in to a usable inbox in Chromium.

    .venv/bin/python bench/web.py [--messages 100000] [--rounds 200] [--browser-rounds 10]

Seeds a fresh data directory (SQLite + blobs) with one mailbox of ``--messages``
messages (rows written directly as bench/imap.py does: one stored body shared by all,
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
import hashlib
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, update  # noqa: E402

from congthu.app import App  # noqa: E402
from congthu.config import load  # noqa: E402
from congthu.store.listing import sort_keys  # noqa: E402
from congthu.store.tables import contents, folders, mailboxes, messages  # noqa: E402
from congthu.text import fold  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402

USER = "vanthu@soctrang.gov.vn"
PASSWORD = "Mk@12345678"
CHROMIUM = "/usr/bin/chromium"
TOPICS = ["Đề án chuyển đổi số", "Kế hoạch cải cách hành chính", "Báo cáo tình hình kinh tế",
          "Lịch làm việc tuần", "Quyết định bổ nhiệm", "Thông báo nghỉ lễ", "Công tác phòng chống lụt bão",
          "Hội nghị trực tuyến", "Tuyển dụng viên chức", "Kiểm tra an toàn thông tin"]
SENDERS = ["Văn thư UBND <vanthu@soctrang.gov.vn>", "Trần Thị Bình <binh@soctrang.gov.vn>",
           "Nguyễn Văn An <an@soctrang.gov.vn>", "Lê Minh Chi <chi@soctrang.gov.vn>",
           "Sở Nội vụ <snv@soctrang.gov.vn>", "Phạm Thu Dung <dung@soctrang.gov.vn>"]


def sample_message() -> bytes:
    body = ("Kính gửi các cơ quan, đơn vị.\r\n" * 40).encode()
    return (b"From: =?utf-8?b?VsSDbiB0aMawIFVCTkQ=?= <vanthu@soctrang.gov.vn>\r\n"
            b"To: <canbo@soctrang.gov.vn>\r\nSubject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n"
            b"Date: Mon, 2 Mar 2026 08:30:00 +0700\r\nMessage-ID: <bench@soctrang.gov.vn>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)


async def seed(data: Path, count: int) -> int:
    """A mailbox whose Inbox holds ``count`` messages; returns the Inbox's id."""
    app = await App.open(data)
    try:
        box = await app.store.create_mailbox(USER, quota_bytes=1 << 40)
        await app.accounts.set_password(box.id, PASSWORD, must_change=False)
        inbox = await app.store.get_folder(box.id, "INBOX")
        assert inbox is not None
        raw = sample_message()
        await app.store.append(inbox.id, raw)  # writes the blob and one real row
        first = (await app.store.folder_index(inbox.id))[0]
        proto = await app.store.get_content(first.content_id)
        structure = json.dumps(proto.structure)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        rnd = random.Random(7)
        batch = 5000

        def fill(conn):  # the bench's own bulk rows, in one write transaction
            for base in range(1, count, batch):
                ids = range(base, min(base + batch, count))
                rows_c = []
                for i in ids:
                    # every tenth message answers the one before (conversations of two)
                    subject = (f"Re: Công văn số {i - 1}/UBND về {TOPICS[(i - 1) % len(TOPICS)]}" if i % 10 == 0
                               else f"Công văn số {i}/UBND về {TOPICS[i % len(TOPICS)]}")
                    sender, to = SENDERS[(i * 7) % len(SENDERS)], "canbo@soctrang.gov.vn"
                    rows_c.append({
                        "sha256": hashlib.sha256(f"bench-web-{i}".encode()).hexdigest(), "size": len(raw),
                        "segments": json.dumps(proto.segments), "structure": structure, "subject": subject,
                        "from_addr": sender, "to_addr": to, "cc_addr": "",
                        "sent_date": start + timedelta(minutes=i), "message_id": f"<{i}@bench>",
                        "search_text": fold(f"{subject} {sender} {to} Kính gửi các cơ quan số {i}"),
                        "subject_key": fold(subject), "from_key": fold(sender), "to_key": fold(to), "cc_key": "",
                        "refcount": 1, "created_at": start,
                    })
                content_ids = [r[0] for r in conn.execute(insert(contents).returning(contents.c.id), rows_c)]
                conn.execute(insert(messages), [
                    {"folder_id": inbox.id, "uid": i + 1, "content_id": cid, "flags": 1 if i % 3 else 0,
                     "keywords": "", "size": len(raw) + rnd.randrange(0, 200_000), "modseq": 2,
                     # the list's sort keys, as every writer of a message row stores them (store_0008)
                     **dict(zip(("sort_subject", "sort_from"),
                                sort_keys(row["subject"], row["from_key"]), strict=True)),
                     # mostly in order of arrival, some appended late with older dates
                     "internal_date": start + timedelta(minutes=i - (rnd.randrange(0, 5000) if i % 50 == 0 else 0))}
                    for i, cid, row in zip(ids, content_ids, rows_c, strict=True)])
            conn.execute(update(folders).where(folders.c.id == inbox.id).values(uidnext=count + 1, highestmodseq=3))
            conn.execute(update(mailboxes).where(mailboxes.c.id == box.id).values(used_bytes=count * len(raw)))

        await app.db.run_write(fill)
        return inbox.id
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
            browser_figures(port, args.browser_rounds)


if __name__ == "__main__":
    main()
