"""The maildrop of one POP3 session: a fixed view of the mailbox's INBOX.

RFC 1939 section 3: once a client has logged in, the server takes an exclusive lock on
the maildrop, numbers its messages from 1, and keeps that numbering for the session;
messages that arrive meanwhile are seen by the next session. DELE only marks; the
marked messages are removed when QUIT enters the UPDATE state (section 6), and RSET
unmarks them. A session that ends any other way removes nothing.

Unique-ids (RFC 1939 section 7, UIDL) are ``<uidvalidity>.<uid>`` of the INBOX: the store
never reuses a UID within a UIDVALIDITY, so clients that leave mail on the server see
the same id for the same message in every session, after deletions too.

The exclusive lock itself is ``congthu.pop3.lock``: a row in the database, so it holds
across every process and node serving the same mailboxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from congthu.store import Folder, MailStore, MessageMeta, StoreError
from congthu.store import flags as flagbits


class NoMaildrop(StoreError):
    """The mailbox has no INBOX (should not happen: every mailbox is created with one)."""


@dataclass
class Maildrop:
    store: MailStore
    folder: Folder
    messages: list[MessageMeta]
    # Message numbers (1-based) marked by DELE.
    deleted: set[int] = field(default_factory=set)
    # Message numbers sent whole by RETR: marked \Seen at QUIT, for IMAP clients.
    retrieved: set[int] = field(default_factory=set)

    @classmethod
    async def open(cls, store: MailStore, mailbox_id: int) -> Maildrop:
        folder = await store.get_folder(mailbox_id, "INBOX")
        if folder is None:
            raise NoMaildrop("Không có hộp thư đến / no INBOX")
        return cls(store, folder, await store.folder_index(folder.id))

    def get(self, number: int) -> MessageMeta | None:
        """The message with this number, unless absent or marked deleted."""
        if number < 1 or number > len(self.messages) or number in self.deleted:
            return None
        return self.messages[number - 1]

    def exists(self, number: int) -> bool:
        return 1 <= number <= len(self.messages)

    def live(self) -> list[tuple[int, MessageMeta]]:
        """(number, message) of every message not marked deleted."""
        return [(n, m) for n, m in enumerate(self.messages, 1) if n not in self.deleted]

    def stat(self) -> tuple[int, int]:
        """Number and total size in octets of the messages not marked (RFC 1939 section 5)."""
        live = self.live()
        return len(live), sum(m.size for _n, m in live)

    def unique_id(self, message: MessageMeta) -> str:
        """RFC 1939 section 7: 1 to 70 characters in 0x21-0x7E, the same in every session."""
        return f"{self.folder.uidvalidity}.{message.uid}"

    async def read(self, message: MessageMeta) -> bytes:
        return await self.store.read_message(message.content_id)

    def reset(self) -> None:
        """RSET (RFC 1939 section 5): unmark every message."""
        self.deleted.clear()

    async def commit(self) -> int:
        """The UPDATE state (RFC 1939 section 6): remove the marked messages; the count.

        Only the marked UIDs are expunged, not what an IMAP client marked \\Deleted.
        """
        seen = [self.messages[n - 1].uid for n in self.retrieved - self.deleted]
        if seen:
            await self.store.store_flags(self.folder.id, seen, "add", flagbits.SEEN)
        uids = [self.messages[n - 1].uid for n in sorted(self.deleted)]
        if not uids:
            return 0
        await self.store.store_flags(self.folder.id, uids, "add", flagbits.DELETED)
        return len(await self.store.expunge(self.folder.id, uids))
