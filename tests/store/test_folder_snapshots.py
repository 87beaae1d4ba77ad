"""Folder snapshots (``congthu.store.snapshots``): a folder's index packed in one row, and
``MailStore.indexed_state``, the snapshot with the changes since it, which must make
exactly the folder the database holds, on both engines; and the cases where the snapshot
is not used (none, another folder, damaged, too far behind)."""

from __future__ import annotations

import zlib
from array import array

import pytest
from sqlalchemy import text

from congthu.app import App
from congthu.store import flags
from congthu.store.snapshots import IndexedState, pack, unpack
from tests.store.test_store import MESSAGE, new_mailbox

# uid -> (system flags, keywords, modseq)
View = dict[int, tuple[int, str, int]]


def test_pack_and_unpack_are_inverse() -> None:
    uids = array("I", [1, 2, 7, 4_000_000_000])
    packed = pack(uids, bytes([1, 0, 9, 31]), [5, 6, 7, 2**40], [(2, "$Label1 Dự_án"), (7, "x")])
    got_uids, got_flags, got_modseqs, keywords = unpack(packed)
    assert (list(got_uids), bytes(got_flags), list(got_modseqs)) == (list(uids), bytes([1, 0, 9, 31]), [5, 6, 7, 2**40])
    assert keywords == [(2, "$Label1 Dự_án"), (7, "x")]
    assert [list(c) for c in unpack(pack([], b"", [], []))] == [[], [], [], []]
    with pytest.raises(ValueError):
        pack([1, 2], b"\x00", [1, 1], [])
    with pytest.raises(ValueError):  # cut short
        unpack(zlib.compress(zlib.decompress(packed)[:-3]))
    with pytest.raises(zlib.error):
        unpack(b"not a snapshot")


async def database_view(app: App, folder_id: int) -> View:
    state = await app.store.flag_index(folder_id)
    assert state is not None
    keywords = dict(state.keywords)
    return {u: (f, keywords.get(u, ""), m) for u, f, m in zip(state.uids, state.flags, state.modseqs, strict=True)}


def caught_up(state: IndexedState) -> View:
    """The snapshot with the changes since applied, as the IMAP index does."""
    base = state.base
    keywords = dict(base.keywords)
    view = {u: (f, keywords.get(u, ""), m) for u, f, m in zip(base.uids, base.flags, base.modseqs, strict=True)}
    for uid in state.gone:
        view.pop(uid, None)
    for meta in state.changed:
        view[meta.uid] = (meta.flags, " ".join(meta.keywords), meta.modseq)
    assert len(view) == state.messages
    return view


async def save(app: App, folder_id: int) -> None:
    """Store the folder's snapshot as it is now."""
    state = await app.store.flag_index(folder_id)
    assert state is not None
    assert await app.store.save_snapshot(folder_id, state.uidvalidity, state.highestmodseq, state.uids,
                                         bytes(state.flags), state.modseqs, state.keywords)


async def test_snapshot_with_the_changes_since_is_the_folder(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    archive = await store.create_folder(mailbox_id, "Lưu trữ")
    assert inbox is not None
    for _ in range(12):
        assert (await store.deliver(MESSAGE, [mailbox_id]))[0].ok
    await store.store_flags(inbox.id, [1, 2, 3], "add", flags.SEEN, ["$Important"])
    first = await store.indexed_state(inbox.id)
    assert first is not None and not first.from_snapshot  # none yet: read whole
    await save(any_app, inbox.id)

    unchanged = await store.indexed_state(inbox.id)
    assert unchanged is not None and unchanged.from_snapshot and not unchanged.changed and not unchanged.gone
    assert caught_up(unchanged) == await database_view(any_app, inbox.id)

    # After the snapshot: flags and keywords set and taken off, expunges, a delivery, a
    # MOVE out, a COPY in, a message delivered then expunged.
    await store.store_flags(inbox.id, [2], "remove", flags.SEEN, ["$Important"])
    await store.store_flags(inbox.id, [4, 5], "add", flags.FLAGGED | flags.DELETED, ["Dự_án"])
    await store.expunge(inbox.id, [4])
    assert (await store.deliver(MESSAGE, [mailbox_id]))[0].ok
    await store.move(inbox.id, [6, 7], archive.id)
    await store.copy(archive.id, [1], inbox.id)
    assert (await store.deliver(MESSAGE, [mailbox_id]))[0].ok
    await store.store_flags(inbox.id, [15], "add", flags.DELETED)
    await store.expunge(inbox.id)
    state = await store.indexed_state(inbox.id)
    folder = await store.get_folder_by_id(inbox.id)
    assert state is not None and folder is not None and state.from_snapshot
    assert state.base.highestmodseq < state.highestmodseq == folder.highestmodseq
    assert state.uidnext == folder.uidnext
    assert sorted(state.gone) == [4, 5, 6, 7, 15]
    view = caught_up(state)
    assert view == await database_view(any_app, inbox.id)
    assert sorted(view) == [1, 2, 3, 8, 9, 10, 11, 12, 13, 14]
    assert view[2][:2] == (0, "") and view[3][:2] == (flags.SEEN, "$Important")

    # A newer snapshot is never replaced by an older one.
    await save(any_app, inbox.id)
    old = first.base
    assert not await store.save_snapshot(inbox.id, old.uidvalidity, old.highestmodseq, old.uids,
                                         bytes(old.flags), old.modseqs, old.keywords)
    latest = await store.indexed_state(inbox.id)
    assert latest is not None and latest.from_snapshot and latest.base.highestmodseq == folder.highestmodseq


async def test_snapshot_not_used_when_it_does_not_fit(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    for _ in range(5):
        assert (await store.deliver(MESSAGE, [mailbox_id]))[0].ok
    await save(any_app, inbox.id)
    await store.store_flags(inbox.id, [1, 2], "add", flags.SEEN)

    async def whole(**kw: object) -> bool:
        state = await store.indexed_state(inbox.id, **kw)  # type: ignore[arg-type]
        assert state is not None
        assert caught_up(state) == await database_view(any_app, inbox.id)
        return not state.from_snapshot

    assert not await whole()
    assert await whole(limit=lambda messages: 1)  # two rows changed since: read whole
    # Removals count as changes: two messages flagged and expunged since the snapshot.
    await save(any_app, inbox.id)
    await store.store_flags(inbox.id, [4, 5], "add", flags.DELETED)
    await store.expunge(inbox.id)
    assert await whole(limit=lambda messages: 1)
    assert not await whole(limit=lambda messages: 2)

    async def write(sql: str, **params: object) -> None:
        await any_app.db.run_write(lambda conn: conn.execute(text(sql), params))

    # Damaged, of another format, of another folder that had this id: read whole.
    for sql, params in (("UPDATE folder_snapshots SET data = :d", {"d": b"\x00" * 40}),
                        ("UPDATE folder_snapshots SET data = :d", {"d": zlib.compress(b"\x05\x00\x00\x00")}),
                        ("UPDATE folder_snapshots SET format = 99", {}),
                        ("UPDATE folder_snapshots SET uidvalidity = uidvalidity + 1", {}),
                        ("UPDATE folder_snapshots SET messages = messages + 1", {})):
        await save(any_app, inbox.id)  # a good one first (replaces the damaged one)
        assert not await whole()
        await write(sql, **params)
        assert await whole(), sql
        await write("DELETE FROM folder_snapshots")
    assert await store.indexed_state(inbox.id + 1000) is None
    # Deleting the folder deletes its snapshot.
    archive = await store.create_folder(mailbox_id, "Cũ")
    await save(any_app, archive.id)
    await store.delete_folder(mailbox_id, "Cũ")
    count = await any_app.db.run_read(lambda conn: conn.execute(text("SELECT count(*) FROM folder_snapshots")).scalar())
    assert count == 0
