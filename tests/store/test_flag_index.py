"""``MailStore.flag_index``: a folder's flags in columns from one snapshot (what an IMAP
SELECT keeps), on both engines, equal to the folder's rows read one by one."""

from __future__ import annotations

from congthu.app import App
from congthu.store import flags
from tests.store.test_store import MESSAGE, new_mailbox


async def test_flag_index_is_the_folder_in_columns(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    empty = await store.flag_index(inbox.id)
    assert empty is not None and list(empty.uids) == [] and empty.keywords == []
    for _ in range(6):
        [result] = await store.deliver(MESSAGE, [mailbox_id])
        assert result.ok
    await store.store_flags(inbox.id, [2, 3], "add", flags.SEEN | flags.FLAGGED, ["$Important", "Dự_án"])
    await store.store_flags(inbox.id, [4], "add", flags.DELETED)
    await store.expunge(inbox.id)

    state = await store.flag_index(inbox.id)
    folder = await store.get_folder_by_id(inbox.id)
    assert state is not None and folder is not None
    assert (state.uidvalidity, state.uidnext, state.highestmodseq) == \
        (folder.uidvalidity, folder.uidnext, folder.highestmodseq)
    rows = await store.folder_index(inbox.id)
    assert list(state.uids) == [m.uid for m in rows] == [1, 2, 3, 5, 6]
    assert list(state.flags) == [m.flags for m in rows]
    assert list(state.modseqs) == [m.modseq for m in rows]
    assert state.keywords == [(m.uid, " ".join(m.keywords)) for m in rows if m.keywords]
    assert state.keywords == [(2, "$Important Dự_án"), (3, "$Important Dự_án")]
    assert await store.flag_index(inbox.id + 1000) is None
