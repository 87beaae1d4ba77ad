"""EXPUNGE of a folder with nothing to expunge makes no write: the session's index has no
\\Deleted message, and a small read of what changed since its modseq finds none
(``MessageMethods.expunge``'s ``clean_at``). A \\Deleted flag set by another session
that this one has not been told of yet is still found and expunged (RFC 9051 section
6.4.3: every message with \\Deleted), on both engines at the store's level."""

from __future__ import annotations

from congthu.app import App
from congthu.store import flags
from tests.conftest import database_calls
from tests.imap.conftest import User, message
from tests.store.test_store import MESSAGE, new_mailbox


def test_expunge_with_nothing_deleted_reads_and_writes_nothing(user: User) -> None:
    for n in range(3):
        user.deliver(message(f"Công văn {n}"))
    c = user.client()
    assert c.select("INBOX") == ("OK", [b"3"])
    with database_calls(user.server.app.db, ("congthu.store",)) as calls:
        typ, data = c.expunge()
    assert typ == "OK" and data == [None]
    assert calls == ["run_small_read _deleted_since"]

    # One of its own: the index knows, and the write is made at once (no look first).
    c.store("2", "+FLAGS", "(\\Deleted)")
    with database_calls(user.server.app.db, ("congthu.store",)) as calls:
        typ, data = c.expunge()
    assert typ == "OK" and data == [b"2"]
    assert calls == ["run_write MessageMethods.expunge.<locals>.tx"]
    c.logout()


def test_expunge_finds_a_flag_another_session_set_after_this_ones_last_command(user: User) -> None:
    for n in range(4):
        user.deliver(message(f"Công văn {n}"))
    a, b = user.client(), user.client()
    assert a.select("INBOX") == ("OK", [b"4"])
    assert b.select("INBOX") == ("OK", [b"4"])
    # B marks message 3 after A's last command: A's index has no \Deleted message.
    assert b.store("3", "+FLAGS", "(\\Deleted)")[0] == "OK"
    with database_calls(user.server.app.db, ("congthu.store",)) as calls:
        typ, data = a.expunge()
    assert typ == "OK" and data == [b"3"]
    assert calls == ["run_small_read _deleted_since", "run_write MessageMethods.expunge.<locals>.tx"]
    assert a.search(None, "ALL") == ("OK", [b"1 2 3"])
    a.logout()
    b.logout()


async def test_store_expunge_clean_at_on_both_engines(any_app: App) -> None:
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    for _ in range(4):
        [result] = await store.deliver(MESSAGE, [mailbox_id])
        assert result.ok
    folder = await store.get_folder_by_id(inbox.id)
    assert folder is not None
    clean_at = folder.highestmodseq
    # Nothing changed since: nothing removed, no write.
    with database_calls(any_app.db, ("congthu.store",)) as calls:
        assert await store.expunge(inbox.id, clean_at=clean_at) == []
    assert calls[0] == "run_small_read _deleted_since"  # on PostgreSQL, then its run_read
    assert [call for call in calls if call.startswith("run_write")] == []
    # A flag change other than \Deleted since: still nothing.
    await store.store_flags(inbox.id, [1], "add", flags.SEEN)
    assert await store.expunge(inbox.id, clean_at=clean_at) == []
    # \Deleted set since: found and removed.
    await store.store_flags(inbox.id, [2, 4], "add", flags.DELETED)
    assert await store.expunge(inbox.id, clean_at=clean_at) == [2, 4]
    assert [m.uid for m in await store.folder_index(inbox.id)] == [1, 3]
