"""Tables of the journal (owned by ``entries.py``): one row per message kept, and the
blobs its bytes are made of.

The bytes are in the store's content-addressed blob store (``app.store.blobs``), cut
as the store cuts a delivered message (its large bodies, the attachments, are blobs of
their own), so an attachment the recipients' mailboxes keep is on disk once. The
``blob`` column is marked ``info={"blob": True}``: the store's garbage collection keeps
every blob an entry refers to, whatever the mailboxes do with their copies, until the
entry itself is purged (``journal.retention_days``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from congthu.db import metadata

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # When the message was accepted (the 250 of its submission), UTC.
    Column("sent_at", DateTime(timezone=True), nullable=False),
    # "submission" (587/465) or "web" (the webmail), and the transaction's id (the
    # Received field's "id", the logs' "id").
    Column("door", String(20), nullable=False),
    Column("queue_id", String(40), nullable=False),
    # The envelope (RFC 5321): MAIL FROM, and every RCPT TO as a JSON list.
    Column("mail_from", String(320), nullable=False),
    Column("recipients", Text, nullable=False),
    # The mailbox that logged in to send it, and the organisation mailbox it was sent
    # for (its From author, or the login itself).
    Column("submitted_by", String(320), nullable=False),
    Column("organisation", String(320), nullable=False),
    # The recipients that are organisation mailboxes of ours, as a JSON list.
    Column("org_recipients", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    # Điều 7.1–7.2: the document type (congthu.content.doctypes), or NULL.
    Column("document_type", String(40), nullable=True),
    Column("size", BigInteger, nullable=False),
    # SHA-256 of the whole message: `congthu journal verify` and every read check it.
    Column("sha256", String(64), nullable=False),
    # Subject, addresses and Message-ID folded (congthu.text.fold) for the search.
    Column("search_key", Text, nullable=False),
    Index("ix_journal_entries_sent_at", "sent_at"),
)

journal_segments = Table(
    "journal_segments",
    metadata,
    Column("entry_id", Integer, ForeignKey("journal_entries.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("blob", String(64), nullable=False, info={"blob": True}),
    Column("length", BigInteger, nullable=False),
)
