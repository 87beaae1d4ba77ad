"""The \\Recent claim made inside an APPEND's transaction (``recent.claim_in`` through
``DeliveryMethods.append``'s ``also``) on both engines: it takes every unclaimed UID up
to the new message, at most once whoever else claims, and leaves nothing to claim."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.store import recent
from tests.store.test_store import MESSAGE, new_mailbox


async def test_claim_in_the_append_transaction(any_app: App) -> None:
    store = any_app.store
    inbox = await store.get_folder(await new_mailbox(any_app), "INBOX")
    assert inbox is not None
    first = await store.append(inbox.id, MESSAGE)  # nobody claims it
    claimed: list[range] = []

    def claim(conn: Connection, uid: int) -> None:
        claimed[:] = [recent.claim_in(conn, inbox.id, uid + 1)]

    second = await store.append(inbox.id, MESSAGE, also=claim)
    assert claimed == [range(first, second + 1)]  # the one left unclaimed too
    assert await recent.count_unclaimed(store, inbox.id) == 0
    assert await recent.first_unclaimed(store, inbox.id) == second + 1
    # Another session that learns of them finds nothing to claim.
    assert await recent.claim(store, inbox.id, second + 1) == range(0)
    # Claimed already: an APPEND whose claim finds the mark past it takes nothing more.
    third = await store.append(inbox.id, MESSAGE)
    assert await recent.claim(store, inbox.id, third + 1) == range(third, third + 1)

    def late(conn: Connection, uid: int) -> None:
        claimed[:] = [recent.claim_in(conn, inbox.id, uid)]  # up to, not with, the new one

    fourth = await store.append(inbox.id, MESSAGE, also=late)
    assert claimed == [range(0)]
    assert await recent.count_unclaimed(store, inbox.id) == 1
    assert await recent.first_unclaimed(store, inbox.id) == fourth
