"""MOVE between two folders, both ways at once, on PostgreSQL: no deadlock (issue 20).

A MOVE writes four rows besides the messages: the quota of the destination mailbox and of
the source mailbox, the UIDs of the destination folder, the MODSEQ of the source folder.
Taken in the order the statements come (destination first), a MOVE from A to B and one
from B to A each held what the other wanted next, and PostgreSQL broke the cycle after
its ``deadlock_timeout`` (one second) by rolling one back, which ``Database.run_write``
then ran again: no error reached the client, only a stall of a second, and the count of
``pg_stat_database.deadlocks`` went up. The store now locks the mailboxes, then the
folders, each in id order, before writing any (``congthu/store/messages.py``), the order
every other writer (delivery, APPEND, EXPUNGE) follows.

Real IMAP sessions (imaplib) on one node on PostgreSQL, for a bounded time:

* between two mailboxes: a delegate moves messages from their INBOX to the organisation
  mailbox's INBOX (``Shared/<org>/INBOX``) in one session and back in another;
* within one mailbox: the same delegate moves between Archive and Sent both ways, with
  two sessions moving from Archive at once (the second must find the messages gone, not
  move them a second time).

Every message is still there once at the end, each mailbox's usage is what it holds,
and PostgreSQL counted no deadlock.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from congthu import delegation
from congthu.app import App
from tests.conftest import ServerThread, make_data_dir

PASSWORD = "Mk@12345678"
ORG = "vanphong@soctrang.gov.vn"
USER = "canbo@soctrang.gov.vn"
SHARED = f'"Shared/{ORG}/INBOX"'
SECONDS = 8.0
PER_FOLDER = 15


def _message(n: int) -> bytes:
    return (f"From: Van thu <vanthu@soctrang.gov.vn>\r\nTo: <{USER}>\r\nSubject: chuyen thu {n}\r\n"
            f"Message-ID: <move-{n}@soctrang.gov.vn>\r\n\r\nNoi dung {n}.\r\n").encode()


class Mover(threading.Thread):
    """One IMAP session moving whatever its folder holds to another, until the deadline."""

    def __init__(self, port: int, source: str, target: str, deadline: float) -> None:
        super().__init__(daemon=True)
        self.port, self.source, self.target, self.deadline = port, source, target, deadline
        self.moved = 0  # MOVE commands that moved messages
        self.slowest = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
            imap.login(USER, PASSWORD)
            typ, _ = imap.select(self.source)
            assert typ == "OK", self.source
            while time.monotonic() < self.deadline:
                imap.noop()  # the messages the other session moved here
                started = time.monotonic()
                typ, data = imap.uid("MOVE", "1:*", self.target)
                self.slowest = max(self.slowest, time.monotonic() - started)
                if typ == "OK" and imap.untagged_responses.pop("COPYUID", None) is not None:
                    self.moved += 1
                elif typ != "OK":
                    # The other session may have taken them in between: nothing else is allowed.
                    assert b"EXPUNGEISSUED" in data[0], (typ, data)
                imap.untagged_responses.clear()
            imap.logout()
        except BaseException as exc:  # handed to the test's thread
            self.error = exc


def _deadlocks(conn: Connection) -> int:
    return int(conn.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"))
               .scalar_one())


def _count(imap: imaplib.IMAP4, mailbox: str) -> int:
    typ, data = imap.status(mailbox, "(MESSAGES)")
    assert typ == "OK", data
    found = re.search(rb"MESSAGES (\d+)", data[0])
    assert found is not None, data
    return int(found.group(1))


def test_moves_both_ways_at_once_never_deadlock(tmp_path: Path, postgres: Any) -> None:
    data = asyncio.run(make_data_dir(tmp_path / "data", database={"url": postgres.create_database()}))
    server = ServerThread(data).start()
    try:
        org_id = server.add_user(ORG, PASSWORD)
        user_id = server.add_user(USER, PASSWORD)
        app = server.app
        server.run(delegation.grant(app, org_id, user_id, "lrswite", granted_by="admin@soctrang.gov.vn"))

        async def seed() -> None:
            n = 0
            for mailbox_id, name in ((user_id, "INBOX"), (org_id, "INBOX"), (user_id, "Archive"),
                                     (user_id, "Sent")):
                folder = await app.store.get_folder(mailbox_id, name)
                assert folder is not None
                for _ in range(PER_FOLDER):
                    n += 1
                    await app.store.append(folder.id, _message(n))

        server.run(seed())

        def deadlocks() -> int:
            return server.run(app.db.run_read(_deadlocks))

        before = deadlocks()
        port = server.port("imap")
        deadline = time.monotonic() + SECONDS
        movers = [Mover(port, "INBOX", SHARED, deadline), Mover(port, SHARED, "INBOX", deadline),
                  Mover(port, "Archive", "Sent", deadline), Mover(port, "Sent", "Archive", deadline),
                  Mover(port, "Archive", "Sent", deadline)]
        for mover in movers:
            mover.start()
        for mover in movers:
            mover.join(SECONDS + 60)
            assert not mover.is_alive()
            if mover.error is not None:
                raise mover.error
        imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
        imap.login(USER, PASSWORD)
        held = [_count(imap, "INBOX") + _count(imap, SHARED), _count(imap, "Archive") + _count(imap, "Sent")]
        imap.logout()
        # Each mailbox's usage (quota) against the size of what it holds.
        usage = [(server.run(app.store.quota(mailbox_id))[0], server.run(_held_bytes(app, mailbox_id)))
                 for mailbox_id in (org_id, user_id)]
    finally:
        server.stop()  # the node's backends exit, flushing their statistics

    async def after() -> int:
        reopened = await App.open(data)
        try:
            return await reopened.db.run_read(_deadlocks)
        finally:
            await reopened.close()

    found = asyncio.run(after()) - before
    moved = [m.moved for m in movers]
    slowest = max(mover.slowest for mover in movers)
    assert found == 0, f"{found} deadlocks broken by PostgreSQL (slowest MOVE {slowest:.2f} s, moves {moved})"
    # Each session moved messages many times: the two directions really overlapped.
    assert min(moved[0], moved[1], moved[2] + moved[4], moved[3]) >= 10, moved
    # Nothing lost, nothing moved twice.
    assert held == [2 * PER_FOLDER, 2 * PER_FOLDER]
    assert all(used == size for used, size in usage), usage


async def _held_bytes(app: App, mailbox_id: int) -> int:
    total = 0
    for folder in await app.store.list_folders(mailbox_id):
        total += sum(meta.size for meta in await app.store.folder_index(folder.id))
    return total
