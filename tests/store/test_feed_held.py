"""A worker's change entry reaches the other workers of a SQLite data directory before
any later commit can be seen by them (``ChangeHub.relay``, sent by the writer thread
under the writer lock: ``Database.on_commit_held``), so a worker that commits next finds
no hole in its log where the other's change is, even if the other's event loop has not
turned since its commit (the entry used to be sent from there, and was often overtaken)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import replace
from pathlib import Path

from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.store import flags
from tests.conftest import make_data_dir
from tests.store.test_store import MESSAGE, new_mailbox


def test_another_workers_change_is_logged_before_this_workers_next_commit(tmp_path: Path) -> None:
    data = asyncio.run(make_data_dir(tmp_path / "data"))
    appended, checked = threading.Event(), threading.Event()
    shared: dict[str, int] = {}
    failed: list[BaseException] = []

    def other_worker() -> None:
        async def run() -> None:
            app = await App.open(data)
            try:
                await app.hub.listen_local()
                shared["uid"] = await app.store.append(shared["inbox"], MESSAGE)
                appended.set()
                # Its event loop does not turn until the check is done: whatever it would
                # send from there (after the commit) is not sent before.
                checked.wait(60)
            finally:
                await app.close()

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by the test's thread
            failed.append(exc)
            appended.set()

    async def this_worker() -> None:
        app = await App.open(data)
        try:
            await app.hub.listen_local()
            mailbox_id = await new_mailbox(app)
            inbox = await app.store.get_folder(mailbox_id, "INBOX")
            assert inbox is not None
            shared["inbox"] = inbox.id
            before = inbox.highestmodseq
            watch = app.hub.watch(inbox.id)  # a session of this worker has the folder selected
            worker = threading.Thread(target=other_worker)
            worker.start()
            try:
                await asyncio.to_thread(appended.wait, 60)
                assert not failed, failed
                # This worker's own commit comes next (modseq before + 2).
                changed, _refused = await app.store.store_flags(inbox.id, [shared["uid"]], "add", flags.SEEN)
                assert [m.modseq for m in changed] == [before + 2]
                logged = app.hub.changes_since(inbox.id, before, before + 2)
                assert logged is not None, "a hole where the other worker's change is"
                metas, gone, highest = logged
                assert [(m.uid, m.flags, m.modseq) for m in metas] == [(shared["uid"], flags.SEEN, before + 2)]
                assert (gone, highest) == ([], before + 2)
                # As the database says.
                assert app.hub.changes_since(inbox.id, before, before + 1) is not None
                metas_db, gone_db, highest_db = await app.store.changes_since(inbox.id, before)
                assert [(m.uid, m.flags, m.modseq) for m in metas_db] == [(m.uid, m.flags, m.modseq) for m in metas]
                assert (gone_db, highest_db) == (gone, highest)
            finally:
                checked.set()
                await asyncio.to_thread(worker.join, 60)
                watch.close()
        finally:
            await app.close()
        assert not failed, failed

    asyncio.run(this_worker())


async def test_an_entry_is_kept_once_its_transaction_commits(any_app: App) -> None:
    """``relay``'s entry is in this process's log when ``run_write`` returns (kept at the
    commit, ``ChangeHub.committed``), before its caller ``record``s it; not if the write
    function failed."""
    hub, store = any_app.hub, any_app.store
    inbox = await store.get_folder(await new_mailbox(any_app), "INBOX")
    assert inbox is not None
    uid = await store.append(inbox.id, MESSAGE)
    [meta] = await store.get_messages(inbox.id, [uid])
    at = inbox.highestmodseq + 1  # the append's

    def change(conn: Connection, modseq: int, fail: bool) -> None:
        hub.relay(conn, inbox.id, modseq, [replace(meta, flags=flags.SEEN, modseq=modseq)])
        if fail:
            raise RuntimeError("rolled back")

    watch = hub.watch(inbox.id)
    try:
        with contextlib.suppress(RuntimeError):
            await any_app.db.run_write(change, at + 1, True)
        assert hub.changes_since(inbox.id, at, at + 1) is None
        await any_app.db.run_write(change, at + 1, False)
        logged = hub.changes_since(inbox.id, at, at + 1)
        assert logged is not None
        assert [(m.uid, m.flags, m.modseq) for m in logged[0]] == [(uid, flags.SEEN, at + 1)]
    finally:
        watch.close()
