"""Reading a mailbox's folder in tests, through the store's public functions
(``get_folder``, ``folder_index``, ``read_message``): the few lines that many test files
wrote again each time they looked into a user's INBOX. Async, like the store; a test
holding a ``ServerThread`` runs them with ``server.run(...)``."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

from congthu.store import MailStore
from congthu.store.model import Folder, MessageMeta


async def folder_named(store: MailStore, mailbox_id: int, name: str = "INBOX") -> Folder:
    """The folder ``name`` of the mailbox, which must exist."""
    found = await store.get_folder(mailbox_id, name)
    assert found is not None, (mailbox_id, name)
    return found


async def folder_index_of(store: MailStore, mailbox_id: int, name: str = "INBOX") -> list[MessageMeta]:
    """The folder's messages in UID order (``folder_index``)."""
    return await store.folder_index((await folder_named(store, mailbox_id, name)).id)


async def folder_messages(store: MailStore, mailbox_id: int, name: str = "INBOX") -> list[bytes]:
    """The folder's messages as stored, in UID order."""
    return [await store.read_message(m.content_id) for m in await folder_index_of(store, mailbox_id, name)]


async def folder_texts(store: MailStore, mailbox_id: int, name: str = "INBOX") -> list[str]:
    """The folder's messages as text: each one's Subject, a line break, its plain body."""
    out = []
    for raw in await folder_messages(store, mailbox_id, name):
        msg = message_from_bytes(raw, policy=default)
        out.append(f"{msg['Subject']}\n{msg.get_body(('plain',)).get_content()}")  # type: ignore[union-attr]
    return out
