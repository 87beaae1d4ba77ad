"""The search index filled after delivery (migration store_0010, ``congthu.store.indexer``):
search gives the same answers with every content pending, some indexed and all indexed;
the triggers keep the index sound for indexed and pending contents removed or rewritten
(and an id SQLite gives again); batches are bounded; two indexers never index a content
twice; the store's job indexes what deliveries leave; the migration keeps what is
indexed and its downgrade indexes what is pending."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError

from congthu.app import App
from congthu.db import MIGRATIONS, SQLITE_FILE
from congthu.store import flags, jobs, search
from congthu.store.tables import contents
from congthu.text import fold
from tests.conftest import make_data_dir
from tests.store.test_search_index import SUBJECTS, TERMS, _fields, _message, _texts


async def _answers(app: App, folder_ids: list[int]) -> list[Any]:
    """Every search of TERMS, text and each field, in each folder."""
    out: list[Any] = []
    for folder_id in folder_ids:
        for terms in TERMS:
            folded = [fold(t) for t in terms]
            out.append(await app.store.search_text(folder_id, folded))
            out.append(await app.store.search_text(folder_id, folded, body_only=True))
            for field in search.FIELDS:
                out.append(await app.store.search_field(folder_id, field, folded))
    return out


async def _expected(app: App, folder_ids: list[int]) -> list[Any]:
    """What those searches must answer: substring tests over the folded columns here."""
    out: list[Any] = []
    for folder_id in folder_ids:
        texts, fields = await _texts(app, folder_id), await _fields(app, folder_id)
        for terms in TERMS:
            folded = [fold(t) for t in terms]
            out.append(sorted(u for u, t in texts.items() if all(f in t for f in folded)))
            out.append(None)  # body only: compared between states, not here
            for field in search.FIELDS:
                out.append(sorted(u for u, f in fields.items() if all(t in f[field] for t in folded)))
    return out


async def test_search_is_the_same_pending_partly_and_fully_indexed(any_app: App) -> None:
    store = any_app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    for i in range(30):
        await store.deliver(_message(i, SUBJECTS[i % len(SUBJECTS)]), [box], folder="INBOX" if i % 3 else "Archive")
    folders = [(await store.get_folder(box, name)).id for name in ("INBOX", "Archive")]  # type: ignore[union-attr]
    expected = await _expected(any_app, folders)
    sqlite = any_app.db.is_sqlite
    # Nothing indexed yet (the indexer has not run: no server here).
    assert await store.search_index_pending() == (30 if sqlite else 0)
    pending_answers = await _answers(any_app, folders)
    assert [a for a, e in zip(pending_answers, expected, strict=True) if e is not None] == \
        [e for e in expected if e is not None]
    # One batch of seven: some indexed, the rest pending.
    assert await store.index_search_batch(rows=7) == ((7, True) if sqlite else (0, False))
    assert await store.search_index_pending() == (23 if sqlite else 0)
    assert await _answers(any_app, folders) == pending_answers
    # All indexed.
    assert await store.index_search_text() == (23 if sqlite else 0)
    assert await store.search_index_pending() == 0
    assert await _answers(any_app, folders) == pending_answers
    await store.check_search_index()


async def _remove(app: App, folder_id: int, uids: list[int]) -> None:
    await app.store.store_flags(folder_id, uids, "add", flags.DELETED)
    assert sorted(await app.store.expunge(folder_id)) == sorted(uids)
    await app.store.collect_garbage(grace_seconds=0)


async def _content_ids(app: App) -> list[int]:
    return await app.db.run_read(lambda conn: list(conn.execute(select(contents.c.id).order_by(contents.c.id))
                                                   .scalars()))


async def test_triggers_keep_the_index_for_indexed_and_pending_contents(app: App) -> None:
    store = app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    inbox = (await store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]
    for i in range(8):
        await store.deliver(_message(i, f"Chủ đề riêng {i}"), [box])
    ids = await _content_ids(app)
    assert await store.index_search_batch(rows=4) == (4, True)  # ids[:4] indexed, ids[4:] pending
    await store.check_search_index()

    # Rewritten (what `congthu store reindex` does): an indexed one and a pending one.
    def rewrite(conn: Connection) -> None:
        for content_id in (ids[1], ids[5]):
            conn.execute(update(contents).where(contents.c.id == content_id)
                         .values(search_text=func.replace(contents.c.search_text, "chu de rieng", "van ban moi")))

    await app.db.run_write(rewrite)
    assert await store.search_index_pending() == 5  # the indexed one is pending again
    await store.check_search_index()
    assert await store.search_text(inbox, ["van ban moi"]) == [2, 6]
    assert await store.search_text(inbox, ["chu de rieng 1"]) == []

    # Removed: an indexed one (UID 3) and a pending one (UID 6).
    await _remove(app, inbox, [3, 6])
    assert await store.search_index_pending() == 4
    await store.check_search_index()
    assert await store.search_text(inbox, ["chu de rieng"]) == [1, 4, 5, 7, 8]

    # The highest id removed after it was indexed is given again by SQLite: the new
    # content is pending, and found by its own text only (no id watermark).
    assert await store.index_search_text() == 4
    top = max(await _content_ids(app))
    await _remove(app, inbox, [8])
    await store.deliver(_message(99, "Giấy mời dự hội nghị"), [box])
    assert max(await _content_ids(app)) == top
    assert await store.search_index_pending() == 1
    assert await store.search_text(inbox, ["giay moi"]) == [9]
    assert await store.search_text(inbox, ["chu de rieng 7"]) == []
    await store.check_search_index()
    assert await store.index_search_text() == 1
    assert await store.search_text(inbox, ["giay moi"]) == [9]
    assert await store.search_text(inbox, ["chu de rieng 7"]) == []
    await store.check_search_index()

    # The check can fail: a content indexed twice is found.
    def index_again(conn: Connection) -> None:
        conn.execute(text("INSERT INTO contents_fts(rowid, search_prefix) SELECT id, search_prefix FROM contents "
                          "WHERE id = :id"), {"id": top})

    await app.db.run_write(index_again)
    with pytest.raises(DatabaseError):
        await store.check_search_index()
    # A rebuild makes it whole again, and leaves nothing pending.
    await store.deliver(_message(100, "Thư mới chưa lập chỉ mục"), [box])
    assert await store.search_index_pending() == 1
    await store.rebuild_search_index()
    assert await store.search_index_pending() == 0
    await store.check_search_index()
    assert await store.search_text(inbox, ["chua lap chi muc"]) == [10]


async def test_batches_are_bounded_by_rows_and_bytes(app: App) -> None:
    store = app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    for i in range(5):
        await store.deliver(_message(i, "Báo cáo " + "dài " * 100 * i), [box])
    sizes = await app.db.run_read(lambda conn: list(conn.execute(select(contents.c.size).order_by(contents.c.id))
                                                    .scalars()))
    assert await store.index_search_batch(rows=2) == (2, True)
    # Bytes: the next two fit, not the third; one too big for the bound is still taken.
    assert await store.index_search_batch(max_bytes=sizes[2] + sizes[3]) == (2, True)
    assert await store.index_search_batch(max_bytes=1) == (1, False)
    assert await store.index_search_batch() == (0, False)
    await store.check_search_index()


async def test_two_indexers_never_index_a_content_twice(data_dir: Path) -> None:
    """Two Apps on one data directory (as two workers): batches side by side."""
    first, second = await App.open(data_dir), await App.open(data_dir)
    try:
        box = (await first.store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
        for i in range(40):
            await first.store.deliver(_message(i, SUBJECTS[i % len(SUBJECTS)]), [box])
        counts = await asyncio.gather(first.store.index_search_text(rows=3), second.store.index_search_text(rows=3),
                                      first.store.index_search_text(rows=5))
        assert sum(counts) == 40
        assert await second.store.search_index_pending() == 0
        await second.store.check_search_index()
    finally:
        await first.close()
        await second.close()


async def test_the_store_job_indexes_what_deliveries_leave(app: App) -> None:
    found = jobs.jobs(app)
    names = [job.cr_code.co_name for job in found]  # type: ignore[attr-defined]
    for job in found:
        job.close()
    assert "keep_search_index" in names
    store = app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    await store.deliver(_message(1, "Trước khi chạy"), [box])
    indexer = asyncio.create_task(store.keep_search_index(poll=0.05))
    try:
        for i in range(2, 6):
            await store.deliver(_message(i, "Trong khi chạy"), [box])
        for _ in range(200):
            if await store.search_index_pending() == 0:
                break
            await asyncio.sleep(0.02)
        assert await store.search_index_pending() == 0
    finally:
        indexer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await indexer
    await store.check_search_index()


def migrate(data: Path, how: Any, revision: str) -> None:
    """``command.upgrade`` or ``command.downgrade`` of the data directory's database."""
    engine = create_engine(f"sqlite:///{data / SQLITE_FILE}")
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        how(config, revision)
    engine.dispose()


def _sqlite_master(data: Path) -> set[tuple[str, str]]:
    db = sqlite3.connect(data / SQLITE_FILE)
    try:
        return {(r[0], r[1]) for r in db.execute(
            "SELECT type, name FROM sqlite_master WHERE name LIKE 'contents_fts%' AND type IN ('table', 'trigger')")}
    finally:
        db.close()


async def test_migration_keeps_what_is_indexed_and_its_downgrade_indexes_the_rest(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    app = await App.open(data)
    try:
        box = (await app.store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
        inbox = (await app.store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]
        for i in range(4):
            await app.store.deliver(_message(i, "Trước khi hạ cấp"), [box])
        assert await app.store.index_search_batch(rows=2) == (2, True)
    finally:
        await app.close()
    migrate(data, command.downgrade, "store_0009")
    assert ("table", "contents_fts_pending") not in _sqlite_master(data)
    # Old code's triggers index in the write; every content is indexed.
    db = sqlite3.connect(data / SQLITE_FILE)
    with db:
        db.execute("INSERT INTO contents_fts(contents_fts, rank) VALUES ('integrity-check', 1)")
    db.close()

    migrate(data, command.upgrade, "store_0010")  # upgraded again: what is indexed stays
    assert ("table", "contents_fts_pending") in _sqlite_master(data)
    db = sqlite3.connect(data / SQLITE_FILE)
    with db:
        assert db.execute("SELECT count(*) FROM contents_fts_pending").fetchone() == (0,)
        db.execute("INSERT INTO contents_fts(contents_fts, rank) VALUES ('integrity-check', 1)")
    db.close()

    app = await App.open(data)  # to the head: store_0011 indexes every content again, in the background
    try:
        assert await app.store.search_index_pending() == 4
        await app.store.check_search_index()
        await app.store.deliver(_message(9, "Sau khi nâng cấp"), [box])
        assert await app.store.search_index_pending() == 5
        assert await app.store.search_text(inbox, ["truoc khi ha cap"]) == [1, 2, 3, 4]
        assert await app.store.search_text(inbox, ["sau khi nang cap"]) == [5]
        await app.store.check_search_index()
    finally:
        await app.close()
