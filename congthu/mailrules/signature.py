"""The mailbox's signature: plain text the webmail's compose page puts under a new
message, a reply or a forward (above the quoted text), after "-- " (the usual
signature separator, so mail clients can tell it from the text)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from congthu.audit import append as audit_append
from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.tables import signatures
from congthu.text import nfc

MAX_SIGNATURE = 2000


def read_signature(conn: Connection, mailbox_id: int) -> str:
    row = conn.execute(select(signatures.c.text).where(signatures.c.mailbox_id == mailbox_id)).first()
    return row.text if row is not None else ""


def save_signature(conn: Connection, mailbox_id: int, text: str, *, at: datetime, actor: str,
                   target: str, client: str = "") -> str:
    """Save the signature (NFC, LF line ends, trailing blank lines dropped) and audit it."""
    text = nfc(text).replace("\r\n", "\n").replace("\r", "\n").rstrip()
    if len(text) > MAX_SIGNATURE:
        raise RuleRefused(f"Chữ ký dài quá {MAX_SIGNATURE} ký tự",
                          f"the signature is longer than {MAX_SIGNATURE} characters")
    done = conn.execute(update(signatures).where(signatures.c.mailbox_id == mailbox_id)
                        .values(text=text, updated_at=at))
    if not done.rowcount:
        conn.execute(insert(signatures).values(mailbox_id=mailbox_id, text=text, updated_at=at))
    audit_append(conn, at=at, action="mailrules.signature", actor=actor, target=target, client=client,
                 details={"length": len(text)})
    return text


def with_signature(body: str, signature: str) -> str:
    """The compose page's starting text: room to write, the signature after "-- "
    (RFC 3676 section 4.3), then ``body`` (the quoted or forwarded text) if any."""
    if not signature.strip():
        return body
    signed = "\n\n-- \n" + signature
    return signed + ("\n\n" + body if body else "\n")
