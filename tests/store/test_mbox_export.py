"""A mailbox's mail as one mboxrd file (``congthu.store.export``; ``congthu reclaim export
ADDRESS FILE.mbox``), read back with Python's ``mailbox`` module: every message of every
folder, its bytes (line ends as mbox has them, ``From `` lines quoted one level more),
its flags in Status / X-Status, its folder, its internal date and envelope sender on the
``From `` line; and a mailbox's sessions ended through the change feed (Điều 4.5)."""

from __future__ import annotations

import asyncio
import mailbox
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

from congthu.app import App
from congthu.requests import reclaim
from congthu.store import flags
from congthu.store.changes import ChangeHub

PLAIN = (b"Return-Path: <binh@example.org>\r\nFrom: binh@example.org\r\nTo: an@example.gov.vn\r\n"
         b"Subject: =?utf-8?q?B=C3=A1o_c=C3=A1o?=\r\n\r\nFrom here on\r\n>From quoted\r\n>>From twice\r\nend")
SECOND = b"From: a@example.org\r\nSubject: second\r\n\r\nbody\r\n"


async def test_mbox_reads_back_with_python(app: App, tmp_path: Path) -> None:
    box = await app.store.create_mailbox("an@example.gov.vn", "An")
    when = datetime(2026, 12, 5, 2, 3, 4, tzinfo=UTC)
    await app.store.deliver(PLAIN, [box.id], flags=flags.SEEN | flags.FLAGGED, internal_date=when)
    sent = await app.store.get_folder(box.id, "Sent")
    assert sent is not None
    await app.store.deliver(SECOND, [box.id], folder="Sent", flags=flags.ANSWERED | flags.DRAFT)
    path = tmp_path / "an.mbox"
    assert await reclaim.export(app, box.address, path) == 2
    data = path.read_bytes()
    assert data.startswith(b"From binh@example.org Sat Dec  5 02:03:04 2026\n") and b"\r\n" not in data
    got = list(mailbox.mbox(str(path)))
    assert len(got) == 2
    first, second = got
    assert set(first.get_flags()) == {"R", "O", "F"} and set(second.get_flags()) == {"O", "A", "T"}
    assert second["X-Status"] == "AT"  # A answered, T draft
    assert str(make_header(decode_header(first["Subject"]))) == "Báo cáo"
    assert first["X-Congthu-Folder"] == "INBOX" and second["X-Congthu-Folder"] == "Sent"
    assert first.get_from() == "binh@example.org Sat Dec  5 02:03:04 2026"
    assert second.get_from().startswith("MAILER-DAEMON ")
    # mboxrd: one more ">" on every ">*From " line; taking it away gives the message back.
    body = first.get_payload(decode=True)
    assert body == b">From here on\n>>From quoted\n>>>From twice\nend\n"
    assert re.sub(rb"(?m)^>(>*From )", rb"\1", body) == b"From here on\n>From quoted\n>>From twice\nend\n"
    # A folder name with accents is kept, encoded (RFC 2047).
    archive = await app.store.create_folder(box.id, "Lưu trữ/Năm 2026")
    await app.store.deliver(SECOND, [box.id], folder=archive.name)
    assert await reclaim.export(app, box.address, path) == 3
    names = [str(make_header(decode_header(m["X-Congthu-Folder"]))) for m in mailbox.mbox(str(path))]
    assert "Lưu trữ/Năm 2026" in names
    assert not list(tmp_path.glob("*.tmp"))


async def test_guard_ends_sessions_across_processes(tmp_path: Path) -> None:
    """Two hubs on one feed directory (two worker processes): ending a mailbox's sessions
    on one calls the guard of the other; a guard of another mailbox, and a closed guard,
    are not called."""
    feed = tmp_path / "feed"
    here, there = ChangeHub(feed), ChangeHub(feed)
    await here.listen_local()
    await there.listen_local()
    ended: list[str] = []
    guard = there.guard(7, lambda: ended.append("seven"))
    there.guard(8, lambda: ended.append("eight"))
    closed = there.guard(7, lambda: ended.append("closed"))
    closed.close()
    try:
        await here.end_sessions(7)
        for _ in range(100):
            if ended:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert ended == ["seven"]
        guard.close()
        await here.end_sessions(7)
        await asyncio.sleep(0.2)
        assert ended == ["seven"]
    finally:
        await here.close()
        await there.close()
