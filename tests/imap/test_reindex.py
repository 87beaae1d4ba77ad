"""``congthu store reindex`` (issue 12): contents stored by earlier versions (no preview,
search text without the headers, address keys without group names, the sent date as
its wall time) are analysed again from their bytes, a batch per transaction, resumably;
then IMAP finds them as it finds new mail. On SQLite and on a real PostgreSQL, and
through the real CLI."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.cli import main
from congthu.store.reindex import Reindexed
from congthu.store.tables import contents
from congthu.text import fold

MESSAGE = ("From: =?utf-8?b?Tmd1eeG7hW4gVsSDbiBCw6xuaA==?= <nvbinh@soctrang.gov.vn>\r\n"
           "To: Ban Giam Doc: gd@soctrang.gov.vn, pgd@soctrang.gov.vn;\r\n"
           "Subject: Bao cao {n}\r\nDate: Sun, 01 Mar 2026 23:30:00 -0500\r\n"
           "X-So-Hieu: CV-{n}/2026\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           "N=E1=BB=99i dung b=C3=A1o c=C3=A1o s=E1=BB=91 {n}.\r\n")


class Stop(Exception):
    pass


def _old_format(conn: Connection) -> None:
    """Make every content look as an earlier version stored it."""
    for row in conn.execute(select(contents.c.id, contents.c.subject)).all():
        conn.execute(update(contents).where(contents.c.id == row.id).values(
            preview=None, search_text=fold(row.subject) + " noi dung", to_key="gd@soctrang.gov.vn",
            sent_date=datetime(2026, 3, 1, 23, 30)))


async def _fill(app: App, count: int) -> int:
    box = await app.store.create_mailbox("reindex@soctrang.gov.vn")
    for n in range(count):
        (result,) = await app.store.deliver(MESSAGE.format(n=n).encode(), [box.id])
        assert result.ok
    inbox = await app.store.get_folder(box.id, "INBOX")
    assert inbox is not None
    return inbox.id


async def test_reindex_in_batches_resumes_and_ends(any_app: App) -> None:
    store = any_app.store
    inbox = await _fill(any_app, 5)
    await any_app.db.run_write(_old_format)
    assert await store.reindex_pending() == 5
    assert await store.search_text(inbox, ["cv-3/2026"]) == []  # a header: not in the old text
    assert await store.search_field(inbox, "to", ["ban giam doc"]) == []

    # Stopped after the first batch of two (a crash, Ctrl-C): those two are done.
    def stop(done: Reindexed) -> None:
        raise Stop

    with pytest.raises(Stop):
        await store.reindex(batch=2, progress=stop)
    assert await store.reindex_pending() == 3
    # Started again: the rest; then nothing is left.
    seen: list[int] = []
    result = await store.reindex(batch=2, progress=lambda r: seen.append(r.done))
    assert (result.done, result.failed_count, seen) == (3, 0, [2, 3])
    assert await store.reindex_pending() == 0
    assert (await store.reindex()).done == 0

    assert await store.search_text(inbox, ["cv-3/2026"]) == [4]
    assert await store.search_text(inbox, ["bao cao so 2"], body_only=True) == [3]
    assert await store.search_field(inbox, "to", ["ban giam doc"]) == [1, 2, 3, 4, 5]
    (meta,) = [m for m in await store.folder_index(inbox) if m.uid == 1]
    content = await store.get_content(meta.content_id)
    assert content.preview == "Nội dung báo cáo số 0."
    assert content.sent_date is not None and content.sent_date.isoformat() == "2026-03-02T04:30:00+00:00"
    if any_app.db.is_sqlite:
        # The trigram index followed the new text (its triggers), and is consistent.
        await any_app.db.run_read(lambda conn: conn.execute(
            text("INSERT INTO contents_fts(contents_fts) VALUES ('integrity-check')")))
    # The run ended by indexing what was pending; the index holds every content's new
    # text (checked against the contents).
    assert await store.search_index_pending() == 0
    await store.check_search_index()


async def test_unreadable_contents_are_reported_and_skipped(any_app: App) -> None:
    store = any_app.store
    inbox = await _fill(any_app, 3)
    await any_app.db.run_write(_old_format)
    (meta,) = [m for m in await store.folder_index(inbox) if m.uid == 2]
    content = await store.get_content(meta.content_id)
    for digest, _n in content.segments:
        os.remove(store.blobs.path(digest))
    result = await store.reindex(batch=10)
    assert (result.done, result.failed_count, result.failed) == (2, 1, [meta.content_id])
    assert await store.reindex_pending() == 1


def _cli(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> tuple[int, str]:
    code = main(["--data", str(data), *argv])
    out, err = capsys.readouterr()
    return code, out + err


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert _cli(capsys, data, "init", "--dev")[0] == 0

    async def prepare() -> None:
        app = await App.open(data)
        try:
            await _fill(app, 3)
            await app.db.run_write(_old_format)
        finally:
            await app.close()

    asyncio.run(prepare())
    code, out = _cli(capsys, data, "store", "reindex", "--batch", "2")
    assert code == 0, out
    assert "to analyse again: 3" in out and "done: 3" in out
    # The texts it changed, pending in the search index (store_0010), are indexed at the end.
    assert "put into the search index: 3" in out
    code, out = _cli(capsys, data, "store", "reindex")
    assert code == 0 and "to analyse again: 0" in out and "done: 0" in out and "search index: 0" in out
    code, out = _cli(capsys, data, "store", "reindex", "--search-index")
    assert code == 0 and "search index built again" in out and "search index: 0" in out
    code, out = _cli(capsys, data, "store", "reindex", "--batch", "0")
    assert code != 0 and "--batch" in out and "Traceback" not in out


def test_check_says_what_is_left(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``congthu check`` names the messages an upgrade left to analyse again."""
    data = tmp_path / "data"
    assert _cli(capsys, data, "init", "--dev")[0] == 0

    async def prepare() -> None:
        app = await App.open(data)
        try:
            await _fill(app, 2)
            await app.db.run_write(_old_format)
        finally:
            await app.close()

    asyncio.run(prepare())
    out = _cli(capsys, data, "check")[1]
    assert "2 thư lưu bởi phiên bản cũ" in out and "congthu store reindex" in out
    assert _cli(capsys, data, "store", "reindex")[0] == 0
    assert "congthu store reindex" not in _cli(capsys, data, "check")[1]
