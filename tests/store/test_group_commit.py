"""The fast write path on both engines: group commit of concurrent deliveries, the
cached folder ids, batched UID reservation, and the whole-folder reads of a SELECT."""

from __future__ import annotations

import asyncio
from datetime import UTC

from congthu.app import App
from congthu.store import NotFound, QuotaExceeded, flags


def message(number: int, size: int = 300) -> bytes:
    """A message of exactly ``size`` bytes, different for each number."""
    head = f"From: a@soctrang.gov.vn\r\nSubject: Thư {number:04d}\r\n\r\n".encode()
    body = (f"dòng {number:04d} ".encode() * size)[: size - len(head) - 2]
    return head + body + b"\r\n"


async def test_concurrent_deliveries_each_get_their_own_answer(any_app: App) -> None:
    store = any_app.store
    roomy = (await store.create_mailbox("rong@soctrang.gov.vn", quota_bytes=10**9)).id
    small = (await store.create_mailbox("chat@soctrang.gov.vn", quota_bytes=3 * len(message(0)))).id
    missing = 999_999
    bodies = [message(i) for i in range(60)]
    results = await asyncio.gather(*(
        store.deliver(raw, [roomy, small, missing] if i % 2 else [roomy], folder="Archive" if i % 3 == 0 else "INBOX")
        for i, raw in enumerate(bodies)
    ))
    for i, per_recipient in enumerate(results):
        # Order of answers: refused recipients first, then the accepted ones (as before).
        assert [r.mailbox_id for r in per_recipient if r.ok][0] == roomy
        if i % 2:
            by_id = {r.mailbox_id: r for r in per_recipient}
            assert isinstance(by_id[missing].error, NotFound)
    # The small mailbox took exactly three messages (those that fit), refused the rest.
    small_ok = [r for rs in results for r in rs if r.mailbox_id == small and r.ok]
    small_full = [r for rs in results for r in rs if r.mailbox_id == small and not r.ok]
    assert len(small_ok) == 3 and len(small_full) == 27
    assert all(isinstance(r.error, QuotaExceeded) for r in small_full)
    assert (await store.quota(small))[0] == 3 * len(message(0))
    # UIDs are dense and distinct in each folder, and match the folder index.
    for name, expected in (("INBOX", 40), ("Archive", 20)):
        folder = await store.get_folder(roomy, name)
        assert folder is not None and folder.uidnext == expected + 1
        index = await store.folder_index(folder.id)
        assert [m.uid for m in index] == list(range(1, expected + 1))
        uids = sorted(r.uid or 0 for i, rs in enumerate(results) for r in rs
                      if r.mailbox_id == roomy and r.ok and (i % 3 == 0) == (name == "Archive"))
        assert uids == list(range(1, expected + 1))
    assert (await store.quota(roomy))[0] == 60 * len(message(0))
    # Every delivered message reads back intact.
    inbox = await store.get_folder(roomy, "INBOX")
    assert inbox is not None
    contents = {await store.read_message(m.content_id) for m in await store.folder_index(inbox.id)}
    assert contents == {raw for i, raw in enumerate(bodies) if i % 3}


async def test_same_message_delivered_concurrently_is_one_content(any_app: App) -> None:
    store = any_app.store
    ids = [(await store.create_mailbox(f"n{i}@soctrang.gov.vn")).id for i in range(5)]
    raw = message(7, 5000)
    await asyncio.gather(*(store.deliver(raw, [mailbox_id]) for mailbox_id in ids))
    content_ids = set()
    for mailbox_id in ids:
        inbox = await store.get_folder(mailbox_id, "INBOX")
        assert inbox is not None
        [meta] = await store.folder_index(inbox.id)
        content_ids.add(meta.content_id)
        assert await store.read_message(meta.content_id) == raw
    assert len(content_ids) == 1
    # Its reference count is the number of messages: expunging all lets GC drop it.
    for mailbox_id in ids:
        inbox = await store.get_folder(mailbox_id, "INBOX")
        assert inbox is not None
        await store.store_flags(inbox.id, [1], "add", flags.DELETED)
        assert await store.expunge(inbox.id) == [1]
    await store.collect_garbage(grace_seconds=0)
    assert await store.get_contents(list(content_ids)) == {}
    assert list(store.blobs.all_digests()) == []


async def test_delivery_follows_renamed_and_recreated_folders(any_app: App) -> None:
    store = any_app.store
    mailbox_id = (await store.create_mailbox("doi@soctrang.gov.vn")).id
    [first] = await store.deliver(message(1), [mailbox_id], folder="Junk")
    assert first.ok and first.uid == 1
    # Renamed: a delivery to the old name must not land in the renamed folder.
    await store.rename_folder(mailbox_id, "Junk", "Spam")
    [gone] = await store.deliver(message(2), [mailbox_id], folder="Junk")
    assert isinstance(gone.error, NotFound)
    junk = await store.create_folder(mailbox_id, "Junk")
    [second] = await store.deliver(message(3), [mailbox_id], folder="Junk")
    assert second.ok and second.uid == 1
    assert [m.uid for m in await store.folder_index(junk.id)] == [1]
    spam = await store.get_folder(mailbox_id, "Spam")
    assert spam is not None and len(await store.folder_index(spam.id)) == 1
    # Deleted and made again: a new folder, its own UIDs.
    await store.delete_folder(mailbox_id, "Junk")
    again = await store.create_folder(mailbox_id, "Junk")
    [third] = await store.deliver(message(4), [mailbox_id], folder="Junk")
    assert third.ok and third.uid == 1
    assert [m.uid for m in await store.folder_index(again.id)] == [1]


async def test_large_folder_flags_copy_and_expunge(any_app: App) -> None:
    """More UIDs than one bounded IN list, on every path that takes a UID set."""
    store = any_app.store
    mailbox_id = (await store.create_mailbox("lon@soctrang.gov.vn", quota_bytes=10**9)).id
    await asyncio.gather(*(store.deliver(message(i), [mailbox_id]) for i in range(10)))
    inbox = await store.get_folder(mailbox_id, "INBOX")
    archive = await store.get_folder(mailbox_id, "Archive")
    assert inbox and archive
    while len(uids := [m.uid for m in await store.folder_index(inbox.id)]) < 1200:
        await store.copy(inbox.id, uids, inbox.id)
    total = len(uids)
    assert uids == list(range(1, total + 1))
    changed, refused = await store.store_flags(inbox.id, uids, "add", flags.SEEN, ["$Done"])
    assert len(changed) == total and not refused
    modseq = changed[0].modseq
    assert all(m.modseq == modseq and m.flag_names == ["\\Seen", "$Done"] for m in changed)
    index = await store.folder_index(inbox.id)
    assert all(m.keywords == ("$Done",) and m.flags == flags.SEEN for m in index)
    assert all(m.internal_date.tzinfo is UTC or m.internal_date.utcoffset() is not None for m in index)
    assert index == await store.get_messages(inbox.id, uids)
    status = await store.folder_status(inbox.id)
    assert (status.messages, status.unseen) == (total, 0)
    # Move the first 700 to Archive, flag the rest deleted and expunge them.
    pairs = await store.move(inbox.id, uids[:700], archive.id)
    assert [new for _old, new in pairs] == list(range(1, 701))
    await store.store_flags(inbox.id, uids[700:], "add", flags.DELETED)
    removed = await store.expunge(inbox.id, uids)
    assert removed == uids[700:]
    changed_after, gone, highest = await store.changes_since(inbox.id, modseq)
    assert changed_after == [] and gone == uids
    assert highest == (await store.folder_status(inbox.id)).highestmodseq
    assert await store.changes_since(inbox.id, highest) == ([], [], highest)
    assert len(await store.folder_index(archive.id)) == 700
    assert (await store.quota(mailbox_id))[0] == sum(m.size for m in await store.folder_index(archive.id))
    flags_index = await store.folder_flags(archive.id)
    assert [u for u, _f, _k, _m in flags_index] == list(range(1, 701))
