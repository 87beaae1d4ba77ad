"""The quota of a group commit's batch (``store/delivery.py``, issue 13): one statement
per mailbox for all its deliveries when they fit together; when they do not, each is
charged on its own in the order the deliveries came, so each is taken or refused exactly
as it would be alone (a large message that does not fit is refused, a smaller one after
it still taken). On both engines."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event

from congthu import mime
from congthu.app import App
from congthu.store import QuotaExceeded
from tests.store.test_group_commit import message


@contextlib.contextmanager
def quota_charges(app: App) -> Iterator[list[str]]:
    """The quota charges (UPDATE of a mailbox's usage) run meanwhile: on SQLite as the
    writer's pysqlite connection runs them (they go straight to the driver, past
    SQLAlchemy's events: ``rows.Compiled``), on PostgreSQL as SQLAlchemy's events see them."""
    seen: list[str] = []

    def note(statement: str) -> None:
        if statement.lstrip().upper().startswith("UPDATE MAILBOXES SET USED_BYTES"):
            seen.append(statement)

    if app.db.is_sqlite:
        writer = app.db._writer  # made by the first write (the test's mailboxes)
        assert writer is not None
        driver = writer.connection().connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.set_trace_callback(note)
        try:
            yield seen
        finally:
            driver.set_trace_callback(None)
        return

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        note(statement)

    event.listen(Engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


async def one_batch(app: App, raws: list[bytes], mailbox_ids: list[int]) -> list[Any]:
    """Deliver ``raws`` at once, in one group commit: analysed already and small, each is
    staged on the event loop and queued before the committer first runs."""
    return await asyncio.gather(*(
        app.store.deliver(raw, mailbox_ids, analysis=mime.analyse(raw)) for raw in raws))


async def test_one_charge_per_mailbox_when_the_batch_fits(any_app: App) -> None:
    store = any_app.store
    first = (await store.create_mailbox("mot@soctrang.gov.vn", quota_bytes=10**9)).id
    second = (await store.create_mailbox("hai@soctrang.gov.vn", quota_bytes=10**9)).id
    raws = [message(i) for i in range(8)]
    with quota_charges(any_app) as charges:
        results = await one_batch(any_app, raws, [first, second])
    assert all(r.ok for rs in results for r in rs)
    assert len(charges) == 2  # was one per delivery and mailbox: 16
    for mailbox_id in (first, second):
        assert (await store.quota(mailbox_id))[0] == sum(len(raw) for raw in raws)
        inbox = await store.get_folder(mailbox_id, "INBOX")
        assert inbox is not None
        assert [m.uid for m in await store.folder_index(inbox.id)] == list(range(1, 9))


async def test_a_batch_that_does_not_fit_is_charged_in_order(any_app: App) -> None:
    store = any_app.store
    small, big = message(0, 300), message(1, 3000)
    # Room for four small messages: small, small, BIG (refused), small, small (refused).
    mailbox_id = (await store.create_mailbox("day@soctrang.gov.vn", quota_bytes=4 * len(small) + 10)).id
    raws = [small, message(2, 300), big, message(3, 300), message(4, 300)]
    with quota_charges(any_app) as charges:
        results = await one_batch(any_app, raws, [mailbox_id])
    taken = [rs[0].ok for rs in results]
    assert taken == [True, True, False, True, True]
    assert isinstance(results[2][0].error, QuotaExceeded)
    assert len(charges) == 1 + 5  # the whole batch's, refused; then one each
    assert (await store.quota(mailbox_id))[0] == 4 * len(small)
    more = await one_batch(any_app, [message(5, 300), message(6, 300)], [mailbox_id])
    assert [rs[0].ok for rs in more] == [False, False]
    assert (await store.quota(mailbox_id))[0] == 4 * len(small)
