"""A mailbox's mail written out as one mbox file in the mboxrd form (for the IT Center:
a reclaimed or revoked mailbox's mail handed over, Điều 4.4 and 4.5), read through the
store's own methods.

mboxrd (the "mboxrd" of qmail's mbox(5), Python's ``mailbox.mbox`` reads it): each
message begins with a ``From `` line (the envelope sender of its Return-Path, else
MAILER-DAEMON, and its internal date in UTC, asctime form); line ends are LF; a line of
the message that begins with any number of ``>`` then ``From `` gets one more ``>`` (so
it is undone exactly on reading); a blank line ends each message. Before the message's
own header, three fields say what mbox cannot: ``Status`` and ``X-Status`` (its flags,
as mutt and Python's ``mailbox.mboxMessage`` read them: R seen, O old, A answered, F
flagged, D deleted, T draft) and ``X-Congthu-Folder`` (its folder, RFC 2047 encoded
when not ASCII).
Messages are read one at a time, so a large mailbox is never held in memory.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from congthu.store.mailstore import MailStore

_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^<>\s]*)>", re.IGNORECASE | re.MULTILINE)
_STATUS = {"\\Seen": "R"}
_X_STATUS = {"\\Answered": "A", "\\Flagged": "F", "\\Deleted": "D", "\\Draft": "T"}


def _sender(raw: bytes) -> str:
    header_end = raw.find(b"\r\n\r\n")
    head = raw if header_end < 0 else raw[:header_end]
    found = _RETURN_PATH.search(head)
    sender = found.group(1).decode("ascii", "replace") if found and found.group(1) else ""
    return sender or "MAILER-DAEMON"


def mboxrd_entry(raw: bytes, when: datetime, flags: list[str], folder: str) -> bytes:
    """One message as an mboxrd entry (``From `` line to the blank line after it)."""
    moment = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    status = "".join(_STATUS[f] for f in flags if f in _STATUS) + "O"
    x_status = "".join(_X_STATUS[f] for f in flags if f in _X_STATUS)
    shown = folder if folder.isascii() else Header(folder, "utf-8").encode()
    fields = [f"Status: {status}", f"X-Congthu-Folder: {shown}"]
    if x_status:
        fields.insert(1, f"X-Status: {x_status}")
    body = raw.replace(b"\r\n", b"\n")
    body = _FROM_LINE.sub(rb">\1", body)
    if not body.endswith(b"\n"):
        body += b"\n"
    from_line = f"From {_sender(raw)} {moment.strftime('%a %b %e %H:%M:%S %Y')}\n"
    return (from_line + "\n".join(fields) + "\n").encode("ascii") + body + b"\n"


async def mbox_chunks(store: MailStore, mailbox_id: int) -> AsyncIterator[bytes]:
    """Every message of every folder of a mailbox (any status), one entry at a time."""
    for folder in await store.list_folders(mailbox_id):
        for meta in await store.folder_index(folder.id):
            raw = await store.read_message(meta.content_id)
            yield mboxrd_entry(raw, meta.internal_date, meta.flag_names, folder.name)


async def write_mbox(store: MailStore, mailbox_id: int, dest: Path) -> int:
    """Write the mailbox to ``dest`` (through a temporary file, renamed at the end).
    Returns the number of messages."""
    count = 0
    tmp = dest.with_name(dest.name + ".tmp")
    out = await asyncio.to_thread(tmp.open, "wb")  # file writes off the event loop
    try:
        async for entry in mbox_chunks(store, mailbox_id):
            await asyncio.to_thread(out.write, entry)
            count += 1
    finally:
        await asyncio.to_thread(out.close)
    tmp.replace(dest)
    return count
