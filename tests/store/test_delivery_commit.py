"""The group commit of deliveries (``store/delivery.py``), on both engines:

* the content rows (one INSERT ... ON CONFLICT ... RETURNING for the look-up, the
  references and the new rows): a batch mixing new contents, contents stored already and
  the same content twice gives each message the row of its bytes, and each row's
  reference count is the number of message rows that use it (what the plain way,
  look-up, update, insert, look-up, gave);
* a content's SHA-256 is that of the whole message, whether the message is one blob
  (its name taken) or several;
* on SQLite a delivery's blobs are flushed by the writer thread before its transaction,
  and the commits keep the order the deliveries came in (UIDs); on both engines a flush
  that fails fails its own deliveries only.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections import Counter

from sqlalchemy import text
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.db import DatabaseUnavailable
from tests.store.test_store import new_mailbox


def _message(n: int) -> bytes:
    return (f"From: Van thu <vanthu@cantho.gov.vn>\r\nTo: <a@soctrang.gov.vn>\r\n"
            f"Subject: So {n}\r\n\r\nNoi dung so {n}.\r\n").encode()


def _rows(conn: Connection) -> tuple[list[tuple[int, str, int]], list[tuple[int, int, int]]]:
    contents = [tuple(r) for r in conn.execute(text("SELECT id, sha256, refcount FROM contents ORDER BY id"))]
    messages = [tuple(r) for r in conn.execute(text("SELECT folder_id, uid, content_id FROM messages"))]
    return contents, messages  # type: ignore[return-value]


async def test_group_commit_content_rows_and_references(any_app: App) -> None:
    store = any_app.store
    first = await new_mailbox(any_app)
    second = await new_mailbox(any_app, "b@soctrang.gov.vn")
    # Stored before: contents 0 and 1.
    for n in (0, 1):
        [result] = await store.deliver(_message(n), [first])
        assert result.ok
    # One batch (delivered together): 0 again (stored already), 2 twice (new, twice in
    # the batch), 3 to both mailboxes (new, two references from one message), 1 again.
    plan: list[tuple[int, list[int]]] = [(0, [first]), (2, [first]), (3, [first, second]), (2, [second]),
                                         (1, [second]), (4, [first])]
    results = await asyncio.gather(*(store.deliver(_message(n), ids) for n, ids in plan))
    assert all(r.ok for group in results for r in group)

    contents, messages = await any_app.db.run_read(_rows)
    shas = {cid: sha for cid, sha, _count in contents}
    assert len(set(shas.values())) == len(contents) == 5  # one row per distinct message
    uses = Counter(cid for _folder, _uid, cid in messages)
    assert {cid: count for cid, _sha, count in contents} == dict(uses)
    # Each message row points at the row of its own bytes.
    wanted = Counter(hashlib.sha256(_message(n)).hexdigest() for n, ids in [(0, [first]), (1, [first]), *plan]
                     for _ in ids)
    assert Counter(shas[cid] for _folder, _uid, cid in messages) == wanted
    for cid, sha in shas.items():
        assert hashlib.sha256(await store.read_message(cid)).hexdigest() == sha


async def test_content_named_by_the_sha256_of_the_whole_message(any_app: App) -> None:
    """A message in one blob takes that blob's name as its SHA-256 (``message_sha``); one
    cut into several blobs (a large attachment) is hashed whole: either way the content
    row's sha256 is the SHA-256 of the message's bytes."""
    store = any_app.store
    mailbox_id = await new_mailbox(any_app)
    attachment = bytes(range(256)) * 1200  # ~300 KB: cut out into a blob of its own
    large = (b"From: <vanthu@cantho.gov.vn>\r\nSubject: Dinh kem\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
             b"Kinh gui.\r\n--b\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(attachment).replace(b"\n", b"\r\n") + b"--b--\r\n")
    for raw in (_message(7), large):
        [result] = await store.deliver(raw, [mailbox_id])
        assert result.ok
    contents, _messages = await any_app.db.run_read(_rows)
    for cid, sha, _count in contents:
        raw = await store.read_message(cid)
        assert hashlib.sha256(raw).hexdigest() == sha
    segments = await any_app.db.run_read(
        lambda conn: [r[0] for r in conn.execute(text("SELECT segments FROM contents ORDER BY id"))])
    assert [len(json.loads(s)) for s in segments] == [1, 3]


async def test_blobs_flushed_by_the_writer_and_committed_in_order(any_app: App) -> None:
    """On SQLite a delivery's blobs are flushed by the writer thread as its round begins
    (no thread of their own), and deliveries that come while a round is under way wait
    for the next one, their UIDs in the order they came; on PostgreSQL each batch is its
    own transaction, beside the others. On both, a flush that fails fails its own
    deliveries, and those behind it are delivered."""
    store = any_app.store
    sqlite = any_app.db.is_sqlite
    mailbox_id = await new_mailbox(any_app)
    real_flush = store.blobs.flush
    calls: list[str] = []  # the thread of each flush
    held = threading.Event()  # the first flush and the failing one wait for it
    failing: set[int] = set()

    def flush(staged: list[object]) -> None:
        number = len(calls)
        calls.append(threading.current_thread().name)
        if number == 0 or number in failing:
            held.wait(20)
        if number in failing:
            raise OSError(28, "No space left on device")
        real_flush(staged)  # type: ignore[arg-type]

    async def flushes(count: int) -> None:
        for _ in range(2000):
            if len(calls) >= count:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"{len(calls)} flushes begun, {count} expected")

    store.blobs.flush = flush  # type: ignore[method-assign]
    try:
        first = asyncio.ensure_future(store.deliver(_message(10), [mailbox_id]))
        await flushes(1)
        second = asyncio.ensure_future(store.deliver(_message(11), [mailbox_id]))
        third = asyncio.ensure_future(store.deliver(_message(12), [mailbox_id]))
        await asyncio.sleep(0.2)
        assert not first.done()
        if sqlite:  # behind the first's round: not flushed yet
            assert len(calls) == 1 and not second.done() and not third.done()
        held.set()
        [a], [b], [c] = await asyncio.wait_for(asyncio.gather(first, second, third), 20)
        if sqlite:
            assert (a.uid, b.uid, c.uid) == (1, 2, 3)
            assert set(calls) == {"congthu-db-write"}
        else:
            assert {a.uid, b.uid, c.uid} == {1, 2, 3}

        # A failed flush fails its own delivery; the one behind it is delivered.
        held.clear()
        failing.add(len(calls))
        fourth = asyncio.ensure_future(store.deliver(_message(13), [mailbox_id]))
        await flushes(len(calls) + 1)
        fifth = asyncio.ensure_future(store.deliver(_message(14), [mailbox_id]))
        await asyncio.sleep(0.05)
        held.set()
        results = await asyncio.wait_for(asyncio.gather(fourth, fifth, return_exceptions=True), 20)
        # As an APPEND's: the flush is part of the write, its error "try again later".
        assert isinstance(results[0], DatabaseUnavailable) and isinstance(results[0].__cause__, OSError)
        assert [r.uid for r in results[1]] == [4]  # type: ignore[union-attr]
    finally:
        held.set()
        del store.blobs.flush
    inbox = await store.get_folder(mailbox_id, "INBOX")
    assert inbox is not None
    index = await store.folder_index(inbox.id)
    assert [m.uid for m in index] == [1, 2, 3, 4]
    stored = [await store.read_message(m.content_id) for m in index]
    assert stored[3] == _message(14)
    if sqlite:
        assert stored[:3] == [_message(n) for n in (10, 11, 12)]
    else:
        assert sorted(stored[:3]) == [_message(n) for n in (10, 11, 12)]
