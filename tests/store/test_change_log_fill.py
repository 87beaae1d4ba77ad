"""The change hub's log filled from the database (``ChangeHub.fill``, called by
``MailStore.changes_since``): a change of another process whose entry has not come is
read once, and the log then answers the other sessions of this process, exactly as the
database would, on SQLite and PostgreSQL.

"Another process" is a second ``MailStore`` on the same database and blobs with a hub of
its own: its commits reach this process's hub neither as entries nor as notifications,
which is the worst case (on SQLite a worker's entry arrives a little after the commit of
the worker that wrote after it; on PostgreSQL another node's never does)."""

from __future__ import annotations

import random
from typing import Any

from congthu.app import App
from congthu.store import MailStore, flags
from congthu.store.changes import LOG_ENTRIES, ChangeHub
from tests.store.test_store import MESSAGE, new_mailbox


def _view(answer: tuple[list[Any], list[int], int]) -> tuple[list[tuple[Any, ...]], list[int], int]:
    changed, gone, highest = answer
    return ([(m.uid, m.flags, tuple(m.keywords), m.size, m.modseq, m.content_id) for m in changed],
            list(gone), highest)


async def test_filled_log_answers_as_the_database_does(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    other = MailStore(any_app.db, store.blobs, ChangeHub())  # never tells our hub anything
    watch = any_app.hub.watch(inbox.id)  # a session of this process watches the folder
    rnd = random.Random(13)
    uids: list[int] = []
    answered = from_fill = 0
    try:
        for step in range(70):
            writer = store if rnd.random() < 0.4 else other
            op = rnd.random()
            if op < 0.35 or len(uids) < 3:
                uids.append(await writer.append(inbox.id, MESSAGE))
            elif op < 0.45:
                # One commit of more rows than a small read takes: the threaded read.
                before = (await writer.get_folder(mailbox_id, "INBOX")).uidnext  # type: ignore[union-attr]
                await writer.deliver(MESSAGE, [mailbox_id] * 120)
                uids.extend(range(before, before + 120))
            elif op < 0.8:
                chosen = rnd.sample(uids, min(len(uids), rnd.choice([1, 2, 5, 130])))
                mode = rnd.choice(["add", "remove", "set"])
                bits = rnd.choice([flags.SEEN, flags.DELETED, flags.FLAGGED | flags.SEEN])
                keywords = rnd.choice([(), ("$Label1",), ("Khẩn",)])
                await writer.store_flags(inbox.id, chosen, mode, bits, keywords)
            else:
                gone = await writer.expunge(inbox.id, rnd.sample(uids, min(len(uids), rnd.choice([1, 3, 110]))))
                uids = [u for u in uids if u not in set(gone)]
            highest = (await other.changes_since(inbox.id, 0))[2]
            if rnd.random() < 0.5:
                # A session of this process that was behind reads (and fills the log).
                await store.changes_since(inbox.id, rnd.randint(max(0, highest - 30), highest))
            # Every answer the log gives is the database's (``other`` has no watch: its
            # reads fill nothing).
            for since in range(max(0, highest - LOG_ENTRIES), highest + 1):
                logged = any_app.hub.changes_since(inbox.id, since, highest)
                if logged is None:
                    continue
                assert _view(logged) == _view(await other.changes_since(inbox.id, since)), (step, since)
                answered += 1
                if since < highest - 1:
                    from_fill += 1
        # Not vacuous: the log answered, across other processes' changes too.
        assert answered > 200 and from_fill > 100, (answered, from_fill)
    finally:
        watch.close()


async def test_one_read_serves_the_sessions_behind(any_app: App) -> None:
    """After another process's changes, the first session that reads fills the log: the
    others, wherever they were from the read's modseq on, need no read."""
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    other = MailStore(any_app.db, store.blobs, ChangeHub())
    watch = any_app.hub.watch(inbox.id)
    try:
        first = await store.append(inbox.id, MESSAGE)
        start = (await store.changes_since(inbox.id, 0))[2]
        second = await other.append(inbox.id, MESSAGE)
        await other.store_flags(inbox.id, [first], "add", flags.SEEN)
        mine = await store.append(inbox.id, MESSAGE)  # this process's, after the hole
        highest = (await other.changes_since(inbox.id, 0))[2]
        assert any_app.hub.changes_since(inbox.id, start, highest) is None  # the hole
        read = await store.changes_since(inbox.id, start)
        assert [m.uid for m in read[0]] == [first, second, mine]
        for since in range(start, highest):
            logged = any_app.hub.changes_since(inbox.id, since, highest)
            assert logged is not None, since
            assert _view(logged) == _view(await other.changes_since(inbox.id, since))
    finally:
        watch.close()


async def test_unwatched_folder_keeps_no_log(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    await store.append(inbox.id, MESSAGE)
    await store.changes_since(inbox.id, 0)
    assert inbox.id not in any_app.hub._logs
