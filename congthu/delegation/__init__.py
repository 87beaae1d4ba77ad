"""Delegated access to mailboxes (Điều 12, 13.3): who may open, read, change or send as
another mailbox (an organisation mailbox managed by a delegate). Every grant is explicit,
and every use is audited.

(Foundation stub: a mailbox may act only as itself. The IMAP ACL work, RFC 4314, fills
this in with grants and rights.)
"""

from __future__ import annotations

from congthu.app import App


async def can_send_as(app: App, mailbox_id: int, address: str) -> bool:
    """May the owner of ``mailbox_id`` send with ``address`` as sender (From / MAIL FROM)?"""
    mailbox = await app.store.get_mailbox_by_id(mailbox_id)
    return mailbox is not None and mailbox.address == address.strip().lower()
