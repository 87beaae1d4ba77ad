"""APPEND and EXPUNGE find the folder's mailbox inside their transaction (one statement
charges or releases the quota of the mailbox a folder belongs to, no read of the folder
before): the right mailbox is charged and given back, a missing folder is NotFound with
nothing charged, a full mailbox is QuotaExceeded with its own figures. Both engines."""

from __future__ import annotations

import pytest

from congthu.app import App
from congthu.store import NotFound, QuotaExceeded, flags

MESSAGE = ("From: a@soctrang.gov.vn\r\nTo: b@soctrang.gov.vn\r\nSubject: Quota\r\n"
           "Message-ID: <q@soctrang.gov.vn>\r\n\r\nNội dung.\r\n").encode()


async def test_append_and_expunge_charge_the_folders_own_mailbox(any_app: App) -> None:
    store = any_app.store
    first = (await store.create_mailbox("mot@soctrang.gov.vn", "Một", quota_bytes=10**6)).id
    second = (await store.create_mailbox("hai@soctrang.gov.vn", "Hai", quota_bytes=3 * len(MESSAGE))).id
    archive = await store.get_folder(second, "Archive")
    assert archive is not None
    assert await store.append(archive.id, MESSAGE) == 1
    assert await store.append(archive.id, MESSAGE, flags=flags.DELETED) == 2
    assert (await store.quota(second))[0] == 2 * len(MESSAGE)
    assert (await store.quota(first))[0] == 0

    # Over the second mailbox's quota: its own figures, nothing charged anywhere.
    with pytest.raises(QuotaExceeded) as refused:
        await store.append(archive.id, MESSAGE * 2)
    assert refused.value.address == "hai@soctrang.gov.vn"
    assert (await store.quota(second))[0] == 2 * len(MESSAGE)

    # A folder that does not exist (deleted meanwhile): NotFound, nothing charged.
    doomed = await store.create_folder(second, "Tạm")
    await store.delete_folder(second, "Tạm")
    with pytest.raises(NotFound):
        await store.append(doomed.id, MESSAGE)
    assert (await store.quota(second))[0] == 2 * len(MESSAGE)
    assert (await store.quota(first))[0] == 0

    # EXPUNGE gives the quota back to the folder's mailbox, and only there.
    assert await store.expunge(archive.id) == [2]
    assert (await store.quota(second))[0] == len(MESSAGE)
    assert (await store.quota(first))[0] == 0
    [meta] = await store.get_messages(archive.id, [1])
    content = (await store.get_contents([meta.content_id]))[meta.content_id]
    assert content.subject == "Quota" and content.size == len(MESSAGE)
    assert await store.read_message(meta.content_id) == MESSAGE
