"""The store's search through its indexes (migration store_0002), on SQLite and on a real
PostgreSQL: the same answers as a plain substring test over the folded text, and over
each folded header field (store_0004), for terms the trigram index serves and for short
ones it cannot; the index kept in step when contents are removed; arrival-date and size
search in SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.mime.imap import parse_structure
from congthu.mime.search import search_text
from congthu.store import flags, search
from congthu.store.tables import contents, messages
from congthu.text import fold

SUBJECTS = [
    "Báo cáo tháng 11", "Kế hoạch cải cách hành chính", "Đề án chuyển đổi số", "Lịch họp giao ban",
    'Ý kiến về "dự thảo" 100% và a_b', "Quyết định bổ nhiệm ông Nguyễn Văn Bình", "Thông báo nghỉ lễ",
]
TERMS = [
    ["bao cao"], ["ke hoach", "cai cach"], ["de an chuyen doi so"], ["chuyen doi", "ban"], ["binh"],
    ['"du thao"'], ["100%"], ["a_b"], ["%"], ["_"], ["so"], ["1"], ["le"], ["khong co"], ["nguyen van binh"],
    ["thang 11", "kinh gui"], ["gui"], ["a", "bo"], ['"'], ["thư"],
]


def _message(i: int, subject: str) -> bytes:
    return (f"From: Văn thư {i} <vt{i}@soctrang.gov.vn>\r\nTo: canbo@soctrang.gov.vn\r\n"
            f"Subject: {subject} số {i}\r\nMessage-ID: <{i}@soctrang.gov.vn>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Kính gửi các cơ quan, đơn vị. {subject}. Nội dung {i}.\r\n").encode()


async def _texts(app: App, folder_id: int) -> dict[int, str]:
    """uid -> the folded text search looks in: the stored one, or for a content whose
    stored text was cut to its indexed prefix (store_0012) the whole text made from the
    message (of which the stored one must be the prefix)."""
    def read(conn: Connection) -> dict[int, tuple[str, bool, int]]:
        rows = conn.execute(
            messages.join(contents, contents.c.id == messages.c.content_id)
            .select().with_only_columns(messages.c.uid, contents.c.search_text, contents.c.search_cut,
                                        contents.c.id)
            .where(messages.c.folder_id == folder_id))
        return {r[0]: (r[1], bool(r[2]), r[3]) for r in rows}

    out = {}
    for uid, (stored, cut, content_id) in (await app.db.run_read(read)).items():
        if cut:
            raw = await app.store.read_message(content_id)
            whole = search_text(raw, parse_structure(raw).root)
            assert whole.startswith(stored) and len(stored) == search.INDEXED_CHARS < len(whole)
            stored = whole
        out[uid] = stored
    return out


async def _fields(app: App, folder_id: int) -> dict[int, dict[str, str]]:
    """Each message's decoded header fields, folded here: what ``search_field`` matches."""
    def read(conn: Connection) -> dict[int, dict[str, str]]:
        rows = conn.execute(
            messages.join(contents, contents.c.id == messages.c.content_id)
            .select().with_only_columns(messages.c.uid, contents.c.subject, contents.c.from_addr,
                                        contents.c.to_addr, contents.c.cc_addr)
            .where(messages.c.folder_id == folder_id))
        return {r[0]: dict(zip(("subject", "from", "to", "cc"), map(fold, r[1:]), strict=True)) for r in rows}

    return await app.db.run_read(read)


async def test_indexed_search_gives_the_substring_answers(any_app: App) -> None:
    store = any_app.store
    mine = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    other = (await store.create_mailbox("dvthong@soctrang.gov.vn", quota_bytes=10**9)).id
    for i in range(40):
        raw = _message(i, SUBJECTS[i % len(SUBJECTS)])
        await store.deliver(raw, [mine] if i % 4 else [mine, other], folder="INBOX" if i % 3 else "Archive")
    # Through the index (filled after delivery, store_0010; tests/store/test_search_pending.py
    # searches before it is filled too).
    await store.index_search_text()
    inbox = await store.get_folder(mine, "INBOX")
    archive = await store.get_folder(mine, "Archive")
    assert inbox is not None and archive is not None
    for folder in (inbox, archive):
        texts = await _texts(any_app, folder.id)
        fields = await _fields(any_app, folder.id)
        assert len(texts) > 5
        for terms in TERMS:
            folded = [fold(t) for t in terms]
            expected = sorted(u for u, t in texts.items() if all(f in t for f in folded))
            assert await store.search_text(folder.id, folded) == expected, terms
            for field in search.FIELDS:
                expected = sorted(u for u, f in fields.items() if all(t in f[field] for t in folded))
                assert await store.search_field(folder.id, field, folded) == expected, (field, terms)
    # Found, and only in the folder asked for.
    assert await store.search_text(inbox.id, ["de an chuyen doi so so 9"]) == []
    assert await store.search_text(archive.id, [fold("Đề án chuyển đổi số số 9")]) == [4]  # 0, 3, 6, 9
    assert await store.search_field(archive.id, "subject", [fold("Đề án chuyển đổi số số 9")]) == [4]
    assert await store.search_field(archive.id, "from", ["vt9@soctrang.gov.vn"]) == [4]
    assert await store.search_field(archive.id, "to", ["vt9@soctrang.gov.vn"]) == []


async def test_the_index_follows_removed_contents(any_app: App) -> None:
    store = any_app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    inbox = await store.get_folder(box, "INBOX")
    assert inbox is not None
    await store.deliver(_message(1, "Kế hoạch phòng chống lụt bão"), [box])
    await store.index_search_text()  # removed below once indexed (store_0010)
    assert await store.search_text(inbox.id, ["phong chong lut bao"]) == [1]
    await store.store_flags(inbox.id, [1], "add", flags.DELETED)
    assert await store.expunge(inbox.id) == [1]
    await store.collect_garbage(grace_seconds=0)
    await store.deliver(_message(2, "Tuyển dụng viên chức"), [box])
    assert await store.search_text(inbox.id, ["phong chong lut bao"]) == []
    assert await store.search_text(inbox.id, ["tuyen dung vien chuc"]) == [2]
    def check_index(conn: Connection) -> None:
        if any_app.db.is_sqlite:
            # FTS5 checks its index against the external content table (contents).
            conn.execute(text("INSERT INTO contents_fts(contents_fts) VALUES ('integrity-check')"))
            # The candidates are looked up on the messages' content index, not the folder walked.
            query = search.text_query(True, inbox.id, ["tuyen dung"], candidates=[1, 2])
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r[3]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "ix_messages_content_folder" in plan, plan
        else:
            indexes = set(conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename IN ('contents', 'messages')")).scalars())
            assert {"ix_contents_search_trgm", "ix_messages_content_folder"} <= indexes

    await any_app.db.run_read(check_index)


async def test_dates_and_sizes_in_sql(any_app: App) -> None:
    store = any_app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    inbox = await store.get_folder(box, "INBOX")
    assert inbox is not None
    start = datetime(2026, 3, 1, 16, 59, 59, tzinfo=UTC)  # 23:59:59 on 1 March in Hà Nội
    sizes = []
    for i in range(6):
        raw = _message(i, "x" * (100 * i))
        sizes.append(len(raw))
        await store.deliver(raw, [box], internal_date=start + timedelta(seconds=i))
    assert await store.search_metadata(inbox.id, larger=sizes[3]) == [5, 6]
    assert await store.search_metadata(inbox.id, smaller=sizes[1]) == [1]
    assert await store.search_metadata(inbox.id, larger=sizes[0], smaller=sizes[3]) == [2, 3]
    midnight = datetime(2026, 3, 2, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # 17:00:00 UTC on 1 March
    assert await store.search_metadata(inbox.id, before=midnight) == [1]
    assert await store.search_metadata(inbox.id, since=midnight) == [2, 3, 4, 5, 6]
    assert await store.search_metadata(inbox.id, since=midnight, before=midnight + timedelta(seconds=2)) == [2, 3]
    assert await store.search_metadata(inbox.id, since=start, larger=sizes[4]) == [6]
