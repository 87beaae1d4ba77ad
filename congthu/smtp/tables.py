"""Tables of the SMTP package: the outbound queue (messages waiting for delivery, and their
recipients), per-user send counts, the MTA-STS policies of remote domains, and the TLS
session counts of TLS reporting.

The message bytes are a blob in the store's blob store (``app.store.blobs``); the column
``blob`` is marked ``info={"blob": True}`` so the store's garbage collection keeps it for
as long as the message is queued.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from congthu.db import metadata

smtp_queue = Table(
    "smtp_queue",
    metadata,
    Column("id", Integer, primary_key=True),
    # Envelope sender (RFC 5321 MAIL FROM); "" for the null sender of a DSN.
    Column("mail_from", String(320), nullable=False, default=""),
    # SHA-256 of the message bytes in the blob store (already DKIM-signed).
    Column("blob", String(64), nullable=False, info={"blob": True}),
    Column("size", BigInteger, nullable=False),
    # Needs SMTPUTF8 at the next hop (RFC 6531): non-ASCII envelope addresses.
    Column("smtputf8", Boolean, nullable=False, default=False),
    # "mail" (submitted or accepted), "dsn" (a bounce or delay notice we wrote).
    Column("kind", String(10), nullable=False, default="mail"),
    # The submitting mailbox, for the queue listing and per-user views.
    Column("mailbox_id", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # RFC 3461 RET ("FULL", "HDRS", "" not given) and ENVID (decoded) of the sender's MAIL.
    Column("dsn_ret", String(4), nullable=False, default="", server_default=""),
    Column("dsn_envid", String(100), nullable=False, default="", server_default=""),
)

smtp_queue_rcpt = Table(
    "smtp_queue_rcpt",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("queue_id", Integer, ForeignKey("smtp_queue.id", ondelete="CASCADE"), nullable=False),
    Column("address", String(320), nullable=False),
    # Lower-case domain of the address: one SMTP transaction per (message, domain).
    Column("domain", String(255), nullable=False),
    # A local mailbox (delivery deferred, e.g. the mailbox was full), else None (remote).
    Column("mailbox_id", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    # The last reply or error, for `congthu queue list` and the DSN.
    Column("last_error", Text, nullable=False, default=""),
    Column("delay_notified", Boolean, nullable=False, default=False),
    # An attempt in progress (congthu/smtp/queue.py): until then no other runner, of this
    # process, another worker or another node, takes the recipient, so nothing is sent
    # twice; NULL between attempts. Past it (the runner died), the recipient is due again.
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    # RFC 3461 NOTIFY ("SUCCESS,FAILURE", "NEVER", "" not given) and ORCPT (decoded,
    # "rfc822;user@example.com") of the sender's RCPT.
    Column("dsn_notify", String(40), nullable=False, default="", server_default=""),
    Column("dsn_orcpt", String(500), nullable=False, default="", server_default=""),
    Index("ix_smtp_queue_rcpt_due", "next_attempt_at"),
    Index("ix_smtp_queue_rcpt_queue", "queue_id"),
)

# Messages each user submitted, per one-hour window (smtp.messages_per_hour; see
# congthu/smtp/ratelimit.py): in the database so every node and a restart see the same.
smtp_send_counts = Table(
    "smtp_send_counts",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    # The hour of the last message counted: whole hours since the Unix epoch (UTC).
    Column("hour", BigInteger, nullable=False),
    # Messages submitted in that hour, and in the hour before it.
    Column("sent", Integer, nullable=False, default=0),
    Column("sent_before", Integer, nullable=False, default=0),
)

# The MTA-STS policies of the domains we deliver to (RFC 8461 section 5.1: "senders
# SHOULD cache" them for max_age), so a restart, another worker or another node keeps
# honouring a policy while its web host is away (congthu/smtp/mtasts.py).
smtp_mta_sts_policies = Table(
    "smtp_mta_sts_policies",
    metadata,
    Column("domain", String(255), primary_key=True),
    # The id of the _mta-sts TXT record the policy was fetched under (section 3.1).
    Column("policy_id", String(32), nullable=False),
    Column("mode", String(10), nullable=False),
    # The mx patterns, one a line.
    Column("mx", Text, nullable=False, default=""),
    Column("max_age", Integer, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
)

# Outbound TLS sessions counted for TLS reports (RFC 8460, congthu/smtp/tlsrpt.py): one
# row per UTC day, recipient domain, policy and result (with the MX host and address for
# a failure), added to by every worker and node; a day's rows are removed once its
# reports are queued.
smtp_tls_results = Table(
    "smtp_tls_results",
    metadata,
    Column("day", String(10), nullable=False),  # YYYY-MM-DD, UTC
    Column("policy_domain", String(255), nullable=False),
    # RFC 8460 section 4.4: "sts", "tlsa" or "no-policy-found".
    Column("policy_type", String(20), nullable=False),
    # A digest of the policy's text, so two policies of one day are reported apart.
    Column("policy_key", String(16), nullable=False),
    # "" for a successful session, else the result-type of section 4.3.
    Column("result", String(40), nullable=False),
    Column("mx_host", String(255), nullable=False, default=""),
    Column("ip", String(45), nullable=False, default=""),
    # The policy-string lines and the mx-host patterns, one a line.
    Column("policy_text", Text, nullable=False, default=""),
    Column("mx_patterns", Text, nullable=False, default=""),
    Column("sessions", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("day", "policy_domain", "policy_type", "policy_key", "result", "mx_host", "ip"),
)
