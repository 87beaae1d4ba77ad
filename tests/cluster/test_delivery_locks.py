"""Deliveries to the same mailboxes in other orders, at once, on PostgreSQL: no deadlock
(issue 20).

A delivery's transaction charges the quota of each recipient's mailbox (an UPDATE of its
row). Two workers or nodes delivering one message to A and B and another to B and A each
held one row and waited for the other, and PostgreSQL broke the cycle after its
``deadlock_timeout`` (one second) by rolling one back, which ``Database.run_write`` ran
again: no message lost, a second's stall, and ``pg_stat_database.deadlocks`` went up. The
store now locks the mailboxes of a batch in id order, its contents in SHA-256 order and
its folders in id order (``congthu/store/delivery.py``), as a MOVE does.

Two Apps on one database (as two workers), each delivering in its own transactions, for
a bounded number of rounds; every message is in every mailbox once, and PostgreSQL
counted no deadlock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from congthu.app import App
from tests.conftest import make_data_dir

ROUNDS = 40
RECIPIENTS = 6


def _deadlocks(conn: Connection) -> int:
    return int(conn.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"))
               .scalar_one())


def _message(worker: int, n: int) -> bytes:
    return (f"From: vanthu@soctrang.gov.vn\r\nTo: phong@soctrang.gov.vn\r\n"
            f"Subject: Thông báo {worker}-{n}\r\nMessage-ID: <d-{worker}-{n}@soctrang.gov.vn>\r\n\r\n"
            f"Nội dung {worker}-{n}.\r\n").encode()


def test_deliveries_in_opposite_orders_never_deadlock(tmp_path: Path, postgres: Any) -> None:
    data = asyncio.run(make_data_dir(tmp_path / "data", database={"url": postgres.create_database()}))

    async def run() -> tuple[int, list[int]]:
        first, second = await App.open(data), await App.open(data)
        try:
            ids = [(await first.store.create_mailbox(f"phong{i}@soctrang.gov.vn")).id for i in range(RECIPIENTS)]
            before = await first.db.run_read(_deadlocks)

            async def deliver(app: App, worker: int, order: list[int]) -> None:
                for n in range(ROUNDS):
                    results = await app.store.deliver(_message(worker, n), order)
                    assert all(r.ok for r in results), results

            await asyncio.gather(deliver(first, 1, ids), deliver(second, 2, ids[::-1]),
                                 deliver(first, 3, ids[::-1]), deliver(second, 4, ids))
            counts = []
            for mailbox_id in ids:
                inbox = await first.store.get_folder(mailbox_id, "INBOX")
                assert inbox is not None
                counts.append((await first.store.folder_status(inbox.id)).messages)
            return await first.db.run_read(_deadlocks) - before, counts
        finally:
            await first.close()
            await second.close()

    deadlocks, counts = asyncio.run(run())
    assert counts == [4 * ROUNDS] * RECIPIENTS
    assert deadlocks == 0
