"""A page of a folder in each order, the unread counts, on SQLite and PostgreSQL; and on
SQLite, that a page by date or size is read on its index (no sort of the folder) and the
unread counts on the expression index (store_0007)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.store import flags as flagbits
from congthu.store.listing import _PAGES, _UNSEEN
from congthu.store.tables import messages


def raw(subject: str, sender: str, padding: int) -> bytes:
    return (f"From: {sender}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nthân thư {'x' * padding}\r\n").encode()


async def test_pages_in_every_order(any_app: App) -> None:
    store = any_app.store
    box = await store.create_mailbox("listing@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    assert inbox is not None
    senders = ["Chi <chi@x.vn>", "An <an@x.vn>", "Bình <binh@x.vn>"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(12):
        # Arrival dates out of UID order for some; sizes repeat (ties broken by UID).
        when = start + timedelta(hours=(n * 5) % 12)
        await store.append(inbox.id, raw(f"Thư {n:02d}", senders[n % 3], (n % 4) * 100), internal_date=when)
    index = {m.uid: m for m in await store.folder_index(inbox.id)}
    listed = await store.list_page(inbox.id, "arrival", limit=100)
    assert [i.meta.uid for i in listed] == sorted(index, key=lambda u: (index[u].internal_date, u), reverse=True)
    assert listed[0].subject.startswith("Thư") and listed[0].from_addr in senders
    by_size = [i.meta.uid for i in await store.list_page(inbox.id, "size", descending=False, limit=100)]
    assert by_size == sorted(index, key=lambda u: (index[u].size, u))
    # Pages of 5 cover the folder once, in order.
    paged = [i.meta.uid for off in (0, 5, 10) for i in await store.list_page(inbox.id, "size", offset=off, limit=5)]
    assert paged == sorted(index, key=lambda u: (index[u].size, u), reverse=True)
    by_subject = [i.subject for i in await store.list_page(inbox.id, "subject", descending=False, limit=100)]
    assert by_subject == sorted(by_subject) and len(by_subject) == 12
    by_sender = [i.from_addr for i in await store.list_page(inbox.id, "from", descending=False, limit=100)]
    assert by_sender[:4] == ["An <an@x.vn>"] * 4 and by_sender[-4:] == ["Chi <chi@x.vn>"] * 4
    assert [i.meta.uid for i in await store.list_page(inbox.id, "uid", offset=10, limit=5)] == [2, 1]
    assert await store.list_page(inbox.id, "arrival", offset=50) == []
    with pytest.raises(ValueError):
        await store.list_page(inbox.id, "nonsense")
    # Chosen UIDs in the order asked, the missing left out.
    assert [i.meta.uid for i in await store.list_messages(inbox.id, [7, 3, 999, 1])] == [7, 3, 1]
    assert await store.message_count(inbox.id) == 12
    # Unread counts: the mailbox's folders with unread messages only.
    await store.store_flags(inbox.id, [1, 2, 3], "add", flagbits.SEEN)
    archive = await store.get_folder(box.id, "Archive")
    assert archive is not None
    await store.append(archive.id, raw("lưu", "a@x.vn", 0))
    assert await store.unseen_counts(box.id) == {inbox.id: 9, archive.id: 1}
    other = await store.create_mailbox("khac@soctrang.gov.vn")
    assert await store.unseen_counts(other.id) == {}


async def test_pages_and_counts_read_their_indexes(app: App) -> None:
    def plans(conn: Connection) -> list[str]:
        out = []
        for key in (("arrival", True), ("size", False)):
            compiled = _PAGES[key].compile(compile_kwargs={"literal_binds": False})
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                        {"b_folder": 1, "b_limit": 50, "b_offset": 100}).all()
            out.append(" | ".join(r[-1] for r in rows))
        unseen = (messages.select().with_only_columns(messages.c.uid)
                  .where(messages.c.folder_id == 1, _UNSEEN).compile())
        out.append(" | ".join(r[-1] for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(unseen), {"folder_id_1": 1}).all()))
        return out

    by_date, by_size, unseen = await app.db.run_read(plans)
    assert "COVERING INDEX ix_messages_folder_date" in by_date and "TEMP B-TREE" not in by_date, by_date
    assert "COVERING INDEX ix_messages_folder_size" in by_size and "TEMP B-TREE" not in by_size, by_size
    assert "ix_messages_folder_unseen" in unseen, unseen


async def test_subject_and_sender_orders_and_conversations(any_app: App) -> None:
    """Pages by subject (the base subject, RFC 5256 section 2.1) and sender read the
    keys kept on each message row (store_0008), kept through COPY and MOVE; the
    conversations of a folder newest first, with their sizes and unread counts."""
    store = any_app.store
    box = await store.create_mailbox("chuoi@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    archive = await store.get_folder(box.id, "Archive")
    assert inbox is not None and archive is not None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    mails = [("Họp giao ban", "Chi <chi@x.vn>"), ("Báo cáo", "An <an@x.vn>"), ("Re: Họp giao ban", "Bình <binh@x.vn>"),
             ("", "An <an@x.vn>"), ("RE: [Sở] HOP GIAO BAN", "An <an@x.vn>"), ("Fwd: Báo cáo", "Chi <chi@x.vn>")]
    for n, (subject, sender) in enumerate(mails):
        await store.append(inbox.id, raw(subject, sender, 0), internal_date=start + timedelta(hours=n))
    subjects = [i.subject for i in await store.list_page(inbox.id, "subject", descending=False, limit=10)]
    assert subjects == ["", "Báo cáo", "Fwd: Báo cáo", "Họp giao ban", "Re: Họp giao ban", "RE: [Sở] HOP GIAO BAN"]
    senders = [i.meta.uid for i in await store.list_page(inbox.id, "from", descending=False, limit=10)]
    assert senders == [2, 4, 5, 3, 1, 6]  # An (by date), Bình, Chi (by date)
    threads = await store.thread_page(inbox.id, limit=10)
    assert [(t.newest.meta.uid, t.count, t.unseen) for t in threads] == [(6, 2, 2), (5, 3, 3), (4, 1, 1)]
    assert await store.thread_count(inbox.id) == 3  # the pages' total (each empty subject alone)
    await store.append(inbox.id, raw("", "Chi <chi@x.vn>", 0), internal_date=start - timedelta(hours=1))
    assert await store.thread_count(inbox.id) == 4 == len(await store.thread_page(inbox.id, limit=10))
    await store.store_flags(inbox.id, [7], "add", flagbits.DELETED)
    await store.expunge(inbox.id, [7])
    await store.store_flags(inbox.id, [1, 5], "add", flagbits.SEEN)
    assert [(t.count, t.unseen) for t in await store.thread_page(inbox.id, offset=1, limit=1)] == [(3, 1)]
    assert [i.meta.uid for i in await store.thread_of(inbox.id, 3)] == [1, 3, 5]
    assert [i.meta.uid for i in await store.thread_of(inbox.id, 4)] == [4]
    assert await store.thread_of(inbox.id, 99) == []
    # The keys travel with the message.
    await store.copy(inbox.id, [3], archive.id)
    await store.move(inbox.id, [1], archive.id)
    assert [i.subject for i in await store.list_page(archive.id, "subject", descending=False)] == [
        "Họp giao ban", "Re: Họp giao ban"]
    assert [t.count for t in await store.thread_page(archive.id)] == [2]


async def test_subject_and_sender_pages_read_their_indexes(app: App) -> None:
    def plans(conn: Connection) -> list[str]:
        out = []
        for key in (("subject", False), ("from", True)):
            compiled = _PAGES[key].compile(compile_kwargs={"literal_binds": False})
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                        {"b_folder": 1, "b_limit": 50, "b_offset": 100}).all()
            out.append(" | ".join(r[-1] for r in rows))
        return out

    by_subject, by_sender = await app.db.run_read(plans)
    assert "COVERING INDEX ix_messages_folder_subject" in by_subject and "TEMP B-TREE" not in by_subject, by_subject
    assert "COVERING INDEX ix_messages_folder_from" in by_sender and "TEMP B-TREE" not in by_sender, by_sender
