"""The folder index the sessions of one App share (``congthu.imap.indexes``): a SELECT
copies it and brings it up to date instead of reading the folder, so it must never show
a state other than the database's. Changes come from a session of the same server (the
change log), from another App on the same data directory standing for another worker
(``congthu serve`` with several workers: its flag changes relayed through the local feed,
its deliveries and expunges read from the database), and an IDLE session on the server
hears of another worker's change."""

from __future__ import annotations

import asyncio
import random
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import text

from congthu.app import App
from congthu.store import flags as flagbits
from congthu.store import recent
from tests.imap.conftest import User, message, raw_command

T = TypeVar("T")


def on_other_worker(user: User, work: Callable[[App, int], Awaitable[T]]) -> T:
    """Run ``work(app, inbox_id)`` on a second App of the server's data directory."""
    async def run() -> T:
        app = await App.open(user.server.data_dir)
        try:
            folder = await app.store.get_folder(user.id, "INBOX")
            assert folder is not None
            return await work(app, folder.id)
        finally:
            await app.close()
    return asyncio.run(run())


def database_view(user: User) -> list[tuple[int, int, tuple[str, ...], int]]:
    """(uid, system flags, keywords, modseq) of every message of the INBOX, read whole."""
    async def read() -> Any:
        store = user.server.app.store
        folder = await store.get_folder(user.id, "INBOX")
        assert folder is not None
        return await store.flag_index(folder.id)
    state = user.server.run(read())
    keywords = dict(state.keywords)
    return [(u, f, tuple(keywords.get(u, "").split()), m)
            for u, f, m in zip(state.uids, state.flags, state.modseqs, strict=True)]


_FETCH = re.compile(rb"(\d+) \(UID (\d+) MODSEQ \((\d+)\) FLAGS \(([^)]*)\)\)")


def session_view(user: User) -> list[tuple[int, int, tuple[str, ...], int]]:
    """What a new session sees after SELECT: the same tuples, from FETCH 1:*."""
    c = user.client()
    try:
        typ, exists = c.select("INBOX")
        assert typ == "OK"
        if int(exists[0]) == 0:
            return []
        typ, data = c.fetch("1:*", "(UID MODSEQ FLAGS)")
        assert typ == "OK"
    finally:
        c.logout()
    view = []
    for n, line in enumerate((d for d in data if isinstance(d, bytes)), start=1):
        m = _FETCH.match(line)
        assert m is not None, line
        assert int(m.group(1)) == n
        names = m.group(4).decode().split()
        bits = 0
        keywords = []
        for name in names:
            bit = flagbits.BY_NAME.get(name.lower())
            if bit:
                bits |= bit
            elif name != "\\Recent":
                keywords.append(name)
        view.append((int(m.group(2)), bits, tuple(keywords), int(m.group(3))))
    return view


def test_select_sees_changes_of_this_server_and_of_another_worker(user: User) -> None:
    for n in range(40):
        user.deliver(message(f"Công văn {n}"))
    assert session_view(user) == database_view(user)
    folders = user.server.app.imap.folders
    assert len(folders) >= 1  # kept after the first SELECT

    # A session of this server changes flags and keywords and expunges.
    c = user.client()
    c.select("INBOX")
    c.store("1:5", "+FLAGS", "(\\Flagged $Important)")
    c.store("6", "+FLAGS", "\\Deleted")
    c.expunge()
    c.logout()
    assert session_view(user) == database_view(user)

    # Another worker: a flag change (relayed), a delivery (read from the database) and
    # an expunge of more messages than are cut one by one.
    def work(app: App, inbox: int) -> Awaitable[Any]:
        async def run() -> None:
            await app.store.store_flags(inbox, [7, 8], "add", flagbits.SEEN, ["$ViecGap"])
            await app.store.deliver(message("Thư từ máy khác"), [user.id])
            await app.store.store_flags(inbox, list(range(9, 50)), "add", flagbits.DELETED)
            await app.store.expunge(inbox)
        return run()

    on_other_worker(user, work)
    view = session_view(user)
    assert view == database_view(user)
    assert [v[0] for v in view] == [1, 2, 3, 4, 5, 7, 8]
    assert ("$ViecGap",) in [v[2] for v in view]


def test_keywords_of_another_worker_are_announced_in_flags(user: User) -> None:
    user.deliver(message())
    user.deliver(message())
    session_view(user)  # the folder's index is kept

    def work(app: App, inbox: int) -> Awaitable[Any]:
        return app.store.store_flags(inbox, [2], "add", 0, ["$Label7"])

    on_other_worker(user, work)
    c = user.client()
    c.select("INBOX")
    # RFC 9051 section 7.3.5: the keyword is in FLAGS before any FETCH shows it.
    flags = b" ".join(bytes(x) for x in c.untagged_responses["FLAGS"])
    assert b"$Label7" in flags
    c.logout()


def test_idle_session_hears_a_flag_change_made_by_another_worker(user: User) -> None:
    # As `congthu serve` does in each worker on SQLite: hear the other processes' commits.
    user.server.run(user.server.app.hub.listen_local())
    for n in range(3):
        user.deliver(message(f"Thư {n}"))
    s = socket.create_connection(("127.0.0.1", user.server.port("imap")))
    try:
        s.recv(4096)
        raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
        raw_command(s, b"b SELECT INBOX\r\n", until=b"b OK")
        assert raw_command(s, b"c IDLE\r\n", until=b"+ ").startswith(b"+ ")

        def work(app: App, inbox: int) -> Awaitable[Any]:
            return app.store.store_flags(inbox, [2], "add", flagbits.FLAGGED)

        on_other_worker(user, work)
        pushed = raw_command(s, b"", until=b"FETCH", limit=5)
        assert re.search(rb"\* 2 FETCH \(UID 2 FLAGS \([^)]*\\Flagged", pushed), pushed
        assert b"c OK" in raw_command(s, b"DONE\r\n", until=b"c OK")
    finally:
        s.close()
    # And a new session on this server sees it (the kept index took it in).
    assert session_view(user) == database_view(user)


def test_random_changes_from_everywhere(user: User) -> None:
    """Random steps by sessions of this server and by another worker; after each, a new
    SELECT sees exactly what the database holds."""
    rng = random.Random(20261206)
    for n in range(30):
        user.deliver(message(f"Thư {n}"))
    session_view(user)
    for _step in range(12):
        uids = [u for u, *_ in database_view(user)]
        picked = rng.sample(uids, min(len(uids), rng.randint(1, 6)))
        action = rng.choice(["flag", "keyword", "expunge", "deliver", "other-flag", "other-expunge"])
        if action in ("flag", "keyword", "expunge"):
            c = user.client()
            c.select("INBOX")
            uid_set = ",".join(map(str, picked))
            if action == "flag":
                c.uid("STORE", uid_set, "+FLAGS", "(\\Seen \\Answered)")
            elif action == "keyword":
                c.uid("STORE", uid_set, "FLAGS", f"($K{rng.randint(1, 3)})")
            else:
                c.uid("STORE", uid_set, "+FLAGS", "(\\Deleted)")
                c.expunge()
            c.logout()
        elif action == "deliver":
            user.deliver(message("Thư mới"))
        else:
            def work(app: App, inbox: int, action: str = action, picked: list[int] = picked) -> Awaitable[Any]:
                if action == "other-flag":
                    return app.store.store_flags(inbox, picked, "remove", flagbits.SEEN)

                async def expunge() -> None:
                    await app.store.store_flags(inbox, picked, "add", flagbits.DELETED)
                    await app.store.expunge(inbox, picked)
                return expunge()
            on_other_worker(user, work)
        assert session_view(user) == database_view(user), action


_STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "HIGHESTMODSEQ", "RECENT")


def _status(c: Any, items: tuple[str, ...]) -> dict[str, int]:
    typ, data = c.status("INBOX", "(" + " ".join(items) + ")")
    assert typ == "OK", data
    found = dict(re.findall(r"([A-Z]+) (\d+)", data[0].decode().split("(", 1)[1]))
    return {k: int(v) for k, v in found.items()}


def test_status_from_the_kept_index_is_the_databases(user: User) -> None:
    """STATUS of a folder whose index is kept is answered from it (brought up to the
    folder's row), SIZE aside: after random changes by sessions of this server, by
    another worker (read from the database), deliveries and expunges, its values are
    the database's (STATUS with SIZE, which counts the rows; the store's own count of
    the unclaimed \\Recent messages)."""
    rng = random.Random(61206)
    for n in range(12):
        user.deliver(message(f"Thư {n}"))
    keeper = user.client()  # keeps the folder's index (and claims \Recent as it goes)
    keeper.select("INBOX")
    asker = user.client()
    folders = user.server.app.imap.folders
    store = user.server.app.store

    def plain() -> dict[str, int]:
        async def read() -> dict[str, int]:
            folder = await store.get_folder(user.id, "INBOX")
            assert folder is not None and folders.keeps(folder)
            st = await store.folder_status(folder.id)
            unclaimed = await recent.count_unclaimed(store, folder.id)
            return {"MESSAGES": st.messages, "UIDNEXT": st.uidnext, "UIDVALIDITY": st.uidvalidity,
                    "UNSEEN": st.unseen, "DELETED": st.deleted, "HIGHESTMODSEQ": st.highestmodseq,
                    "RECENT": unclaimed}
        return user.server.run(read())

    kinds = ["seen", "delete", "expunge", "deliver", "other-flag", "other-expunge", "keeper"]
    # Each kind at least once (a delivery left unclaimed, \\Deleted then expunged), then at random.
    steps = ["deliver", "delete", "seen", "other-flag", "deliver", "keeper", "delete", "expunge",
             "other-expunge", "delete", "deliver"] + [rng.choice(kinds) for _ in range(10)]
    for step, action in enumerate(steps):
        uids = [u for u, *_ in database_view(user)]
        picked = rng.sample(uids, min(len(uids), rng.randint(1, 4)))
        uid_set = ",".join(map(str, picked))
        if action == "seen":
            keeper.uid("STORE", uid_set, "+FLAGS", "(\\Seen)")
        elif action == "delete":
            keeper.uid("STORE", uid_set, "+FLAGS", "(\\Deleted)")
        elif action == "expunge":
            keeper.expunge()
        elif action == "deliver":
            user.deliver(message("Thư mới"))
        elif action == "keeper":
            keeper.noop()  # takes the new messages in, claims them (\Recent)
        else:
            def work(app: App, inbox: int, action: str = action, picked: list[int] = picked) -> Awaitable[Any]:
                if action == "other-flag":
                    return app.store.store_flags(inbox, picked, "remove", flagbits.SEEN)

                async def expunge() -> None:
                    await app.store.store_flags(inbox, picked, "add", flagbits.DELETED)
                    await app.store.expunge(inbox, picked)
                return expunge()
            on_other_worker(user, work)
        from_index = _status(asker, _STATUS_ITEMS)
        with_size = _status(asker, _STATUS_ITEMS + ("SIZE",))
        assert with_size.pop("SIZE") > 0 or with_size["MESSAGES"] == 0
        assert from_index == with_size == plain(), (step, action)
    keeper.logout()
    asker.logout()


async def test_kept_index_follows_the_database_on_both_engines(any_app: App) -> None:
    """The catch-up of a kept index (``FolderIndexes.current``) from the database, on
    SQLite and PostgreSQL: flag changes, keywords, new messages, expunges (one by one
    and more than are cut one by one), from the hub's log and across its holes."""
    from congthu.imap.indexes import FolderIndexes, MessageIndex

    store = any_app.store
    mailbox = await store.create_mailbox("chiase@soctrang.gov.vn", quota_bytes=10**9)
    folder = await store.get_folder(mailbox.id, "INBOX")
    assert folder is not None
    for n in range(50):
        assert (await store.deliver(message(f"Thư {n}"), [mailbox.id]))[0].ok
    kept = FolderIndexes()

    async def check() -> None:
        current = await store.get_folder_by_id(folder.id)
        assert current is not None
        index = MessageIndex()
        with any_app.hub.watching(folder.id):
            await kept.current(store, any_app.hub, current, index)
        state = await store.flag_index(folder.id)
        assert state is not None
        keywords = {u: tuple(k.split()) for u, k in state.keywords}
        assert (list(index.uids), list(index.flags), list(index.modseqs), index.keywords) == \
            (list(state.uids), list(state.flags), list(state.modseqs), keywords)
        assert index.modseq >= state.highestmodseq and index.uidnext == state.uidnext
        assert index.first_unseen() == next((i for i, f in enumerate(state.flags) if not f & flagbits.SEEN), None)

    await check()
    assert len(kept) == 1
    await store.store_flags(folder.id, [1, 2, 3], "add", flagbits.SEEN, ["$Done"])
    await check()
    await store.store_flags(folder.id, [2], "remove", 0, ["$Done"])
    await store.store_flags(folder.id, [10], "add", flagbits.DELETED)
    await store.expunge(folder.id)
    assert (await store.deliver(message("Thư mới"), [mailbox.id]))[0].ok
    await check()
    # A delivery first: a hole in the hub's log, so this catch-up reads the database.
    assert (await store.deliver(message("Thư mới nữa"), [mailbox.id]))[0].ok
    await store.store_flags(folder.id, list(range(11, 51)), "add", flagbits.DELETED)
    await store.expunge(folder.id)
    await store.store_flags(folder.id, list(range(1, 10)), "add", flagbits.SEEN)
    await check()
    kept.close()


async def test_first_select_from_the_snapshot_is_the_database_on_both_engines(any_app: App) -> None:
    """A worker's first SELECT of a folder (a ``FolderIndexes`` of its own, cold) reads
    the folder's snapshot and the changes since (``congthu.store.snapshots``). After each
    step of a random mix (flags and keywords set and taken off, deliveries, EXPUNGE, MOVE
    out, COPY in) by this worker's sessions and others, with snapshots written along the
    way by the worker that keeps the folder (from its index caught up from the change log
    or the database), the cold index is exactly the folder in the database; and when the
    snapshot cannot be caught up, the folder is read whole."""
    from congthu.imap.indexes import FolderIndexes, MessageIndex

    store, hub = any_app.store, any_app.hub
    mailbox = await store.create_mailbox("anhchup@soctrang.gov.vn", quota_bytes=10**9)
    folder = await store.get_folder(mailbox.id, "INBOX")
    other = await store.create_folder(mailbox.id, "Khác")
    assert folder is not None
    for n in range(60):
        assert (await store.deliver(message(f"Thư {n}"), [mailbox.id]))[0].ok
    for n in range(5):
        assert (await store.deliver(message(f"Thư khác {n}"), [mailbox.id], folder="Khác"))[0].ok
    writes: list[asyncio.Task[Any]] = []

    def spawn(work: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        writes.append(task)
        return task

    # Snapshots for any folder, written again after 5 changes (the defaults need thousands).
    keeper = FolderIndexes(snapshot_min=0, save_after=lambda messages: 5, save_delay=0)

    async def select(indexes: FolderIndexes, spawn: Any = None) -> MessageIndex:
        current = await store.get_folder_by_id(folder.id)
        assert current is not None
        index = MessageIndex()
        with hub.watching(folder.id):
            await indexes.current(store, hub, current, index, spawn)
        return index

    async def is_the_database(index: MessageIndex) -> bool:
        state = await store.flag_index(folder.id)
        assert state is not None
        keywords = {u: tuple(k.split()) for u, k in state.keywords}
        return (list(index.uids), list(index.flags), list(index.modseqs), index.keywords) == \
            (list(state.uids), list(state.flags), list(state.modseqs), keywords) and \
            index.modseq >= state.highestmodseq and index.uidnext == state.uidnext

    await select(keeper, spawn)
    await asyncio.gather(*writes)
    rng = random.Random(20261206)
    from_snapshot = 0
    for step in range(30):
        state = await store.flag_index(folder.id)
        assert state is not None
        picked = rng.sample(list(state.uids), min(len(state.uids), rng.randint(1, 6)))
        action = rng.choice(["flag", "unflag", "keyword", "expunge", "deliver", "move", "copy"])
        if action == "flag":
            await store.store_flags(folder.id, picked, "add", flagbits.SEEN | flagbits.ANSWERED)
        elif action == "unflag":
            await store.store_flags(folder.id, picked, "remove", flagbits.SEEN, [f"$K{rng.randint(1, 3)}"])
        elif action == "keyword":
            await store.store_flags(folder.id, picked, "set", flagbits.FLAGGED, [f"$K{rng.randint(1, 3)}"])
        elif action == "expunge":
            await store.store_flags(folder.id, picked, "add", flagbits.DELETED)
            await store.expunge(folder.id, picked)
        elif action == "deliver":
            assert (await store.deliver(message("Thư mới"), [mailbox.id]))[0].ok
        elif action == "move":
            await store.move(folder.id, picked, other.id)
        else:
            await store.copy(other.id, [1, 2], folder.id)
        if rng.random() < 0.4:  # a session of the keeping worker selects: it may write one
            assert await is_the_database(await select(keeper, spawn)), step
            await asyncio.gather(*writes)
        loaded = await store.indexed_state(folder.id)
        assert loaded is not None
        from_snapshot += loaded.from_snapshot
        # The snapshot caught up is the folder itself (not through the count check's
        # fallback to the whole read).
        caught_up = MessageIndex()
        caught_up.modseq, caught_up.uidnext = loaded.base.highestmodseq, loaded.uidnext
        caught_up.fill(loaded.base.uids, loaded.base.flags, loaded.base.modseqs, loaded.base.keywords)
        caught_up.take_in(loaded.changed, loaded.gone, loaded.highestmodseq)
        assert len(caught_up) == loaded.messages and await is_the_database(caught_up), (step, action)
        cold = FolderIndexes()
        assert await is_the_database(await select(cold)), (step, action)
        cold.close()
    assert from_snapshot >= 25  # nearly every cold SELECT came from a snapshot
    keeper.close()

    # Were the ``expunged`` rows after a snapshot lost (pruned), the snapshot caught up
    # would keep messages that are gone: the count of the folder's messages read with it
    # differs, and the folder is read whole instead.
    state = await store.flag_index(folder.id)
    assert state is not None
    assert await store.save_snapshot(folder.id, state.uidvalidity, state.highestmodseq, state.uids,
                                     bytes(state.flags), state.modseqs, state.keywords)
    await store.store_flags(folder.id, list(state.uids[:3]), "add", flagbits.DELETED)
    await store.expunge(folder.id)
    await any_app.db.run_write(lambda conn: conn.execute(text("DELETE FROM expunged")))
    cold = FolderIndexes()
    index = await select(cold)
    assert list(index.uids) == list(state.uids[3:]) and await is_the_database(index)
    cold.close()

