"""Tables of the per-mailbox mail rules (``congthu.mailrules``): the vacation auto-reply
and the senders it answered, the forwarding rule, the signature.

One row per mailbox in each settings table (the mailbox id is the key); rows go with
their mailbox (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, String, Table, Text

from congthu.db import metadata

vacations = Table(
    "mailrules_vacations",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("enabled", Boolean, nullable=False, default=False),
    Column("subject", String(200), nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    # First and last day (inclusive, the system's time zone); NULL: no bound.
    Column("start_date", Date, nullable=True),
    Column("end_date", Date, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# RFC 3834 section 4.2: the senders answered and when, so one sender gets the reply at
# most once per period (``mailrules.vacation_days``). Emptied when the reply is saved.
vacation_replies = Table(
    "mailrules_vacation_replies",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("sender", String(320), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

forwardings = Table(
    "mailrules_forwardings",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("enabled", Boolean, nullable=False, default=False),
    # The target addresses, one per line (at most ``mailrules.forward_max_targets``).
    Column("targets", Text, nullable=False, default=""),
    # Keep the message in the mailbox too (otherwise it is removed once forwarded).
    Column("keep_copy", Boolean, nullable=False, default=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

signatures = Table(
    "mailrules_signatures",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    # Plain text the compose page puts under a new message.
    Column("text", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
