"""Tables of IMAP: METADATA entries (RFC 5464), the server's and the mailboxes'.

Server entries (RFC 5464 section 3.2, mailbox "") are kept per user, as Dovecot keeps
them: ``/private/...`` and ``/shared/...`` of the server are both the logged-in user's.
Mailbox entries belong to the folder (they go with it on DELETE, by the foreign key,
and stay with it on RENAME, which keeps the folder's id); a ``/shared/...`` entry is
seen by everyone who may read the folder, a ``/private/...`` one only by its owner
(the mailbox id of the user who set it, ``owner_id``; 0 for shared entries).
Entry names are stored in lower case (RFC 5464 section 3.2: case-insensitive).
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, String, Table

from congthu.db import metadata

imap_server_metadata = Table(
    "imap_server_metadata",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    # "/private/vendor/x", "/shared/comment": the whole entry name, lower case.
    Column("entry", String(1024), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

imap_mailbox_metadata = Table(
    "imap_mailbox_metadata",
    metadata,
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    # The mailbox id of the user a /private entry belongs to; 0 for /shared entries.
    Column("owner_id", Integer, primary_key=True),
    Column("entry", String(1024), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
