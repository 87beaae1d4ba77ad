"""How many messages a user submitted in the last hour (``smtp.messages_per_hour``).

A stolen password is most often used to send spam: the limit stops that early, on every
node at once and across restarts, so the counts live in the database
(``smtp_send_counts``), not in one process.

No row per message: each user has two one-hour windows, the current one and the one
before, and the count of the last sixty minutes is estimated as the current window's
count plus the previous window's count times the part of it still inside the last hour
(the usual sliding-window estimate of rate limiters). Counting a message is one UPDATE
whose CASE expressions roll the windows forward, so two nodes counting at once lose
nothing; the INSERT of a user's first row retries as an UPDATE if another node was first.
Windows are wall-clock hours (UTC): nodes are assumed to keep time by NTP.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from congthu.smtp.tables import smtp_send_counts as counts

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["count_sent", "sent_last_hour"]

HOUR = 3600


def _window(now: float) -> tuple[int, float]:
    """The hour ``now`` falls in, and how far into it (0 to 1)."""
    return int(now // HOUR), (now % HOUR) / HOUR


def _estimate(row_hour: int, sent: int, sent_before: int, now: float) -> float:
    hour, elapsed = _window(now)
    if row_hour == hour:
        return sent + sent_before * (1 - elapsed)
    if row_hour == hour - 1:  # nothing sent yet this hour: the row's hour is the previous one
        return sent * (1 - elapsed)
    return 0.0


def _read_window(conn: Connection, mailbox_id: int) -> Any:
    return conn.execute(select(counts.c.hour, counts.c.sent, counts.c.sent_before)
                        .where(counts.c.mailbox_id == mailbox_id)).first()


async def sent_last_hour(app: App, mailbox_id: int, now: float | None = None) -> float:
    """The estimated number of messages the mailbox submitted in the last hour."""
    now = time.time() if now is None else now
    row = await app.db.run_small_read(_read_window, mailbox_id)
    return 0.0 if row is None else _estimate(row.hour, row.sent, row.sent_before, now)


def _count(conn: Connection, mailbox_id: int, hour: int) -> None:
    """Roll the user's windows to ``hour`` and count one message (one UPDATE), or
    insert the user's first row."""
    roll = update(counts).where(counts.c.mailbox_id == mailbox_id).values(
        sent_before=case((counts.c.hour == hour, counts.c.sent_before),
                         (counts.c.hour == hour - 1, counts.c.sent), else_=0),
        sent=case((counts.c.hour == hour, counts.c.sent + 1), else_=1),
        hour=hour,
    )
    if conn.execute(roll).rowcount:
        return
    conn.execute(insert(counts).values(mailbox_id=mailbox_id, hour=hour, sent=1, sent_before=0))


async def count_sent(app: App, mailbox_id: int, now: float | None = None) -> None:
    """Count one message submitted by the mailbox."""
    hour, _ = _window(time.time() if now is None else now)
    for _attempt in range(2):
        try:
            await app.db.run_write(_count, mailbox_id, hour)
            return
        except IntegrityError:
            continue  # another node inserted the row first: count with the UPDATE
