"""``get_messages_and_contents``' ``held``: a content the caller holds is answered with
the held record when the row still has its SHA-256 (only that column read), and read
whole when the id now names other bytes; on both engines."""

from __future__ import annotations

from dataclasses import replace

from congthu.app import App
from tests.store.test_store import MESSAGE, new_mailbox


async def test_held_contents_checked_by_sha256(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    uid = await store.append(inbox.id, MESSAGE)
    metas, read = await store.get_messages_and_contents(inbox.id, [uid])
    content = read[metas[0].content_id]

    _metas, again = await store.get_messages_and_contents(inbox.id, [uid], held={content.id: content}.get)
    assert again[content.id] is content  # the SHA-256 matched: not read whole

    stale = replace(content, sha256="0" * 64, subject="other bytes under a reused id")
    _metas, fresh = await store.get_messages_and_contents(inbox.id, [], [content.id], held={content.id: stale}.get)
    assert fresh[content.id] is not stale and fresh[content.id] == content
