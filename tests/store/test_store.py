"""The mail store on both engines: SQLite (WAL) and a real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from congthu.app import App
from congthu.store import AlreadyExists, NotFound, QuotaExceeded, StoreError, flags

MESSAGE = (
    "From: =?utf-8?b?Tmd1eeG7hW4gVGhhbmggQsOsbmg=?= <ntbinh@soctrang.gov.vn>\r\n"
    "To: dvthong@soctrang.gov.vn\r\n"
    "Subject: =?utf-8?q?B=C3=A1o_c=C3=A1o_th=C3=A1ng_11?=\r\n"
    "Message-ID: <1@soctrang.gov.vn>\r\n"
    "Date: Mon, 23 Nov 2026 08:00:00 +0700\r\n"
    "\r\n"
    "Kính gửi anh Thông, báo cáo tháng 11 đính kèm.\r\n"
).encode()


async def new_mailbox(app: App, address: str = "ntbinh@soctrang.gov.vn", quota: int = 10**9) -> int:
    return (await app.store.create_mailbox(address, "Nguyễn Thanh Bình", quota_bytes=quota)).id


async def test_new_mailbox_has_the_special_folders(any_app: App) -> None:
    mailbox_id = await new_mailbox(any_app)
    found = {f.name: f.special_use for f in await any_app.store.list_folders(mailbox_id)}
    assert found == {"INBOX": None, "Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash",
                     "Junk": "\\Junk", "Archive": "\\Archive"}
    with pytest.raises(AlreadyExists):
        await any_app.store.create_mailbox("NTBINH@soctrang.gov.vn")


async def test_deliver_assigns_uids_and_keeps_bytes_intact(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    for _ in range(3):
        [result] = await store.deliver(MESSAGE, [mailbox_id])
        assert result.ok
    inbox = await store.get_folder(mailbox_id, "inbox")
    assert inbox is not None and inbox.uidnext == 4
    index = await store.folder_index(inbox.id)
    assert [m.uid for m in index] == [1, 2, 3]
    assert all(m.size == len(MESSAGE) for m in index)
    assert await store.read_message(index[0].content_id) == MESSAGE
    content = await store.get_content(index[0].content_id)
    assert content.subject == "Báo cáo tháng 11"
    assert "Nguyễn Thanh Bình" in content.from_addr
    status = await store.folder_status(inbox.id)
    assert (status.messages, status.unseen, status.size) == (3, 3, 3 * len(MESSAGE))
    assert (await store.quota(mailbox_id))[0] == 3 * len(MESSAGE)


async def test_search_ignores_accents_and_case(any_app: App) -> None:
    mailbox_id = await new_mailbox(any_app)
    await any_app.store.deliver(MESSAGE, [mailbox_id])
    inbox = await any_app.store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    for terms in (["bao cao"], ["kinh gui", "thong"], ["nguyen thanh binh"]):
        assert await any_app.store.search_text(inbox.id, terms) == [1]
    assert await any_app.store.search_text(inbox.id, ["khong co"]) == []
    # LIKE wildcards in a user's search are literal characters.
    assert await any_app.store.search_text(inbox.id, ["%"]) == []


async def test_flags_modseq_and_expunge(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    await store.deliver(MESSAGE, [mailbox_id, mailbox_id])
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    changed, refused = await store.store_flags(inbox.id, [1, 2], "add", flags.SEEN, ["$Label1"])
    assert [m.uid for m in changed] == [1, 2] and not refused
    assert changed[0].flag_names == ["\\Seen", "$Label1"]
    modseq = changed[0].modseq
    # Nothing changes: no new modseq.
    assert await store.store_flags(inbox.id, [1], "add", flags.SEEN) == ([], [])
    # RFC 7162 UNCHANGEDSINCE: a message modified after it is refused.
    changed, refused = await store.store_flags(inbox.id, [1], "add", flags.DELETED, unchanged_since=modseq - 1)
    assert changed == [] and refused == [1]
    await store.store_flags(inbox.id, [2], "add", flags.DELETED)
    assert await store.expunge(inbox.id) == [2]
    changed, gone, highest = await store.changes_since(inbox.id, modseq)
    assert gone == [2] and highest > modseq
    assert (await store.quota(mailbox_id))[0] == len(MESSAGE)


async def test_copy_move_and_quota(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app, quota=3 * len(MESSAGE))
    await store.deliver(MESSAGE, [mailbox_id])
    inbox = await store.get_folder(mailbox_id, "INBOX")
    archive = await store.get_folder(mailbox_id, "Archive")
    assert inbox and archive
    assert await store.copy(inbox.id, [1], archive.id) == [(1, 1)]
    assert (await store.quota(mailbox_id))[0] == 2 * len(MESSAGE)
    assert await store.move(archive.id, [1], inbox.id) == [(1, 2)]
    assert (await store.quota(mailbox_id))[0] == 2 * len(MESSAGE)
    assert [m.uid for m in await store.folder_index(inbox.id)] == [1, 2]
    assert await store.folder_index(archive.id) == []
    await store.deliver(MESSAGE, [mailbox_id])
    [result] = await store.deliver(MESSAGE, [mailbox_id])
    assert isinstance(result.error, QuotaExceeded) and not result.error.permanent
    [result] = await store.deliver(MESSAGE * 4, [mailbox_id])
    assert isinstance(result.error, QuotaExceeded) and result.error.permanent
    with pytest.raises(QuotaExceeded):
        await store.append(inbox.id, MESSAGE)


async def test_folders_create_rename_delete(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    created = await store.create_folder(mailbox_id, "Dự án/2026/Quý 4")
    assert created.name == "Dự án/2026/Quý 4"
    names = {f.name for f in await store.list_folders(mailbox_id)}
    assert {"Dự án", "Dự án/2026", "Dự án/2026/Quý 4"} <= names
    old_validity = created.uidvalidity
    await store.append(created.id, MESSAGE)
    await store.rename_folder(mailbox_id, "Dự án", "Công việc")
    moved = await store.get_folder(mailbox_id, "Công việc/2026/Quý 4")
    assert moved is not None and moved.uidvalidity > old_validity
    assert len(await store.folder_index(moved.id)) == 1
    await store.delete_folder(mailbox_id, "Công việc/2026/Quý 4")
    assert (await store.quota(mailbox_id))[0] == 0
    with pytest.raises(StoreError):
        await store.delete_folder(mailbox_id, "INBOX")
    with pytest.raises(NotFound):
        await store.delete_folder(mailbox_id, "Không có")
    # Renaming INBOX moves its messages and leaves INBOX empty (RFC 9051 section 6.3.6).
    await store.deliver(MESSAGE, [mailbox_id])
    await store.rename_folder(mailbox_id, "INBOX", "Cũ")
    old = await store.get_folder(mailbox_id, "Cũ")
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert old and inbox
    assert len(await store.folder_index(old.id)) == 1 and await store.folder_index(inbox.id) == []


async def test_change_feed_wakes_a_watcher(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    with any_app.hub.watching(inbox.id) as watch:
        waiter = asyncio.create_task(watch.wait(10))
        await asyncio.sleep(0)
        await store.deliver(MESSAGE, [mailbox_id])
        assert await waiter
        changed, _gone, _highest = await store.changes_since(inbox.id, inbox.highestmodseq)
        assert [m.uid for m in changed] == [1]


async def test_concurrent_deliveries_get_distinct_uids(any_app: App) -> None:
    mailbox_id = await new_mailbox(any_app)
    bodies = [MESSAGE + f"{i}\r\n".encode() for i in range(40)]
    results = await asyncio.gather(*(any_app.store.deliver(b, [mailbox_id]) for b in bodies))
    uids = sorted(r[0].uid for r in results if r[0].uid)
    assert uids == list(range(1, 41))


async def test_internal_dates_in_any_zone_keep_their_instant(any_app: App) -> None:
    """An internal date given in Vietnam's zone (as a migration reads it from another
    server) is the same instant when read back, on both engines."""
    from datetime import UTC, datetime, timedelta, timezone

    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    when = datetime(2026, 11, 23, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    await store.append(inbox.id, MESSAGE, internal_date=when)
    await store.deliver(MESSAGE, [mailbox_id], internal_date=when)
    for meta in await store.folder_index(inbox.id):
        stored = meta.internal_date
        assert (stored if stored.tzinfo else stored.replace(tzinfo=UTC)) == when
