"""Each user's choices in the webmail: the message list grouped by conversation or not,
writing new messages in rich text (HTML) or plain text, and the senders whose remote images are shown without asking (``webmail_prefs``,
``webmail_image_senders``).

Remote images are never loaded by default (tracking pixels tell a sender when, where and
from which address a message was read); the reader shows them for one message, or for
every message from one sender. The sender is the From address, which a forger can copy:
the worst a forged trusted sender gains is a loaded tracking image, never script (the
frame stays sandboxed under its Content-Security-Policy; ``render.body_csp``).

The SQL is plain synchronous functions on a ``Connection`` (``run_write`` /
``run_small_read``); ``Prefs`` wraps them for the pages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from congthu.db import Database
from congthu.webmail.tables import web_image_senders, web_prefs

MAX_ADDRESS = 320
MAX_IMAGE_SENDERS = 1000  # per user; the oldest choices go first


def thread_list_of(conn: Connection, mailbox_id: int) -> bool:
    return bool(conn.execute(select(web_prefs.c.thread_list).where(web_prefs.c.mailbox_id == mailbox_id)).scalar())


def compose_html_of(conn: Connection, mailbox_id: int) -> bool:
    return bool(conn.execute(select(web_prefs.c.compose_html).where(web_prefs.c.mailbox_id == mailbox_id)).scalar())


def set_prefs(conn: Connection, mailbox_id: int, values: dict[str, bool]) -> None:
    """Set some of the user's choices (columns of ``webmail_prefs``), making their row."""
    changed = conn.execute(update(web_prefs).where(web_prefs.c.mailbox_id == mailbox_id).values(**values))
    if not changed.rowcount:
        conn.execute(insert(web_prefs).values(mailbox_id=mailbox_id, **values))


def sender_trusted(conn: Connection, mailbox_id: int, address: str) -> bool:
    return conn.execute(select(web_image_senders.c.address).where(and_(
        web_image_senders.c.mailbox_id == mailbox_id, web_image_senders.c.address == address))).first() is not None


def trust_sender(conn: Connection, mailbox_id: int, address: str, now: datetime) -> None:
    if sender_trusted(conn, mailbox_id, address):
        return
    conn.execute(insert(web_image_senders).values(mailbox_id=mailbox_id, address=address, created_at=now))
    # At most MAX_IMAGE_SENDERS per user: the oldest beyond that are forgotten.
    old = select(web_image_senders.c.address).where(web_image_senders.c.mailbox_id == mailbox_id).order_by(
        web_image_senders.c.created_at.desc()).offset(MAX_IMAGE_SENDERS)
    stale = list(conn.execute(old).scalars())
    if stale:
        conn.execute(delete(web_image_senders).where(and_(web_image_senders.c.mailbox_id == mailbox_id,
                                                          web_image_senders.c.address.in_(stale))))


def distrust_sender(conn: Connection, mailbox_id: int, address: str) -> None:
    conn.execute(delete(web_image_senders).where(and_(
        web_image_senders.c.mailbox_id == mailbox_id, web_image_senders.c.address == address)))


def sender_key(address: str) -> str:
    """The key a sender is remembered by: the address, lower case, bounded ("" if none)."""
    address = address.strip().lower()
    return address if 0 < len(address) <= MAX_ADDRESS and "@" in address and address.isprintable() else ""


class Prefs:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    async def thread_list(self, mailbox_id: int) -> bool:
        return await self.db.run_small_read(thread_list_of, mailbox_id)

    async def set_thread_list(self, mailbox_id: int, on: bool) -> None:
        await self._set(mailbox_id, {"thread_list": on})

    async def compose_html(self, mailbox_id: int) -> bool:
        """New messages start in the rich text editor."""
        return await self.db.run_small_read(compose_html_of, mailbox_id)

    async def set_compose_html(self, mailbox_id: int, on: bool) -> None:
        await self._set(mailbox_id, {"compose_html": on})

    async def _set(self, mailbox_id: int, values: dict[str, bool]) -> None:
        try:
            await self.db.run_write(set_prefs, mailbox_id, values)
        except IntegrityError:  # two tabs inserting the first row at once: the other won
            await self.db.run_write(set_prefs, mailbox_id, values)

    async def images_allowed(self, mailbox_id: int, address: str) -> bool:
        key = sender_key(address)
        return bool(key) and await self.db.run_small_read(sender_trusted, mailbox_id, key)

    async def allow_images(self, mailbox_id: int, address: str, on: bool) -> bool:
        key = sender_key(address)
        if not key:
            return False
        if on:
            try:
                await self.db.run_write(trust_sender, mailbox_id, key, self.clock())
            except IntegrityError:  # the same choice made twice at once
                pass
        else:
            await self.db.run_write(distrust_sender, mailbox_id, key)
        return True
