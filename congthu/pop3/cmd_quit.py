"""QUIT (RFC 1939 section 4 in AUTHORIZATION, section 6 in TRANSACTION: the UPDATE
state, where the messages marked by DELE are removed)."""

from __future__ import annotations

from congthu.db import DatabaseUnavailable
from congthu.log import event
from congthu.pop3.session import Session, State
from congthu.pop3.wire import Command
from congthu.store import StoreError


async def quit_(s: Session, command: Command) -> None:
    if s.state is State.AUTHORIZATION:
        s.state = State.UPDATE
        await s.reply(True, "Tạm biệt / bye")
        return
    # Deletions only under the lock: renewing it proves it is still ours.
    if s.lock is None or not await s.lock.renew():
        await s.lock_lost()
    s.state = State.UPDATE
    drop = s.drop()
    try:
        removed = await drop.commit()
    except (DatabaseUnavailable, StoreError) as exc:
        event("pop3.update_failed", address=s.address, error=str(exc))
        await s.release_lock()
        await s.reply(False, "Chưa xóa được các thư đã đánh dấu / some deleted messages not "
                             "removed", "SYS/TEMP")
        return
    event("pop3.quit", address=s.address, deleted=removed, retrieved=len(drop.retrieved))
    # The lock goes before the answer (RFC 1939 section 6 has it after): a client that
    # logs in again as soon as it reads +OK must not find its own session's lock.
    await s.release_lock()
    await s.reply(True, f"Tạm biệt, đã xóa {removed} thư / bye, {removed} messages deleted")
