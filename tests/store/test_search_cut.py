"""A content keeps only the indexed prefix of its search text (migration store_0012):
the stored row is short and marked cut; SEARCH TEXT and BODY over a cut content answer
as a plain substring test over the whole text the analysis made (a term beyond the
prefix, across the cut, a header term with TEXT and not BODY, several terms, an absent
term), also when the header alone is longer than the prefix, before and after indexing,
on SQLite and PostgreSQL; the cut contents are read on their partial index; the
migration cuts the long rows the analysis of today made, keeps older ones whole, and
its downgrade marks the cut ones for ``congthu store reindex``; reindex keeps the cut."""

from __future__ import annotations

import sqlite3
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import select, update
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.db import SQLITE_FILE, _alembic_config
from congthu.mime.imap import parse_structure
from congthu.mime.search import BODY_MARK, search_text
from congthu.store import search
from congthu.store.tables import contents, messages
from tests.conftest import make_data_dir
from tests.store.test_search_index import _message
from tests.store.test_search_prefix import _long

BOUND = search.INDEXED_CHARS


def _huge_header(i: int, body: str) -> bytes:
    """A message whose header section alone folds to more than the prefix: the prefix
    then holds no BODY_MARK."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"vt{i}@soctrang.gov.vn", "canbo@soctrang.gov.vn", f"Đầu thư dài {i}"
    for n in range(1200):
        msg[f"X-Nhat-Ky-{n}"] = f"dòng nhật ký số {n} của máy chủ trung gian tỉnh Sóc Trăng"
    msg["X-Cuoi-Dau-Thu"] = "chuỗi chỉ ở cuối phần đầu"
    msg.set_content(body + "\n", cte="8bit")
    return msg.as_bytes()


async def _rows(app: App, folder_id: int) -> dict[int, Any]:
    """uid -> (stored text, cut, content id) of the folder's messages."""
    def read(conn: Connection) -> dict[int, Any]:
        rows = conn.execute(select(messages.c.uid, contents.c.search_text, contents.c.search_cut, contents.c.id)
                            .select_from(messages.join(contents, contents.c.id == messages.c.content_id))
                            .where(messages.c.folder_id == folder_id))
        return {r[0]: (r[1], bool(r[2]), r[3]) for r in rows}

    return await app.db.run_read(read)


async def _whole(app: App, folder_id: int) -> dict[int, str]:
    """uid -> the whole search text made from the message's bytes (the stored one is its prefix)."""
    out = {}
    for uid, (_text, _cut, content_id) in (await _rows(app, folder_id)).items():
        raw = await app.store.read_message(content_id)
        out[uid] = search_text(raw, parse_structure(raw).root)
    return out


def _scan(texts: dict[int, str], terms: list[str], body_only: bool) -> list[int]:
    def body(text: str) -> str:
        return text[text.find(BODY_MARK) + 1:]

    return sorted(u for u, t in texts.items() if all(term in (body(t) if body_only else t) for term in terms))


async def _mailbox(app: App) -> tuple[int, int]:
    box = (await app.store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    return box, (await app.store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]


async def test_cut_contents_answer_as_their_whole_text(any_app: App) -> None:
    store = any_app.store
    box, inbox = await _mailbox(any_app)
    for i in range(20):  # a folder big enough for the index to be used once filled
        await store.deliver(_message(i, "Thông báo ngắn"), [box])
    await store.deliver(_long(1, "Lời mở đầu của thư.", "Mật mã cuối thư: Đà Nẵng."), [box])  # 21
    await store.deliver(_long(2, "Lời mở đầu khác.", "Không có gì."), [box])  # 22
    await store.deliver(_huge_header(3, "Thân thư ngắn có từ khóa hoa sen."), [box])  # 23

    rows, whole = await _rows(any_app, inbox), await _whole(any_app, inbox)
    for uid in (21, 22, 23):  # the stored row is the prefix, marked cut
        text, cut, _id = rows[uid]
        assert cut and len(text) == BOUND and whole[uid].startswith(text) and len(whole[uid]) > BOUND
    assert not any(rows[uid][1] for uid in range(1, 21)) and rows[1][0] == whole[1]
    assert BODY_MARK not in rows[23][0] and BODY_MARK in whole[23]
    assert whole[21].index("mat ma cuoi thu") > BOUND
    t21 = whole[21]
    queries: list[list[str]] = [
        ["mat ma cuoi thu"], ["da nang"], ["loi mo dau"], ["loi mo dau", "mat ma cuoi"], ["thong bao ngan"],
        ["khong co gi"], ["mat ma", "khong co gi"], ["khong co o dau"], ["bao cao dai 1"], ["vt2@soctrang"],
        [t21[BOUND - 4:BOUND + 4]], [t21[BOUND - 9:BOUND - 1]], [t21[BOUND + 1:BOUND + 9]],
        ["chuoi chi o cuoi phan dau"], ["hoa sen"], ["dau thu dai 3", "hoa sen"], ["nhat ky so 1199"], ["sen"],
        ["a"], ["khong co o dau", "hoa sen"], ["dau thu dai 3"],
    ]
    want = [_scan(whole, q, body) for q in queries for body in (False, True)]
    # What the cases are there for: each of these differs between TEXT and BODY, or is
    # found only beyond the prefix.
    assert want[0] == want[1] == [21] and want[16] == [21] and want[17] == [] and want[32] == [23] != want[33]
    assert want[40] == [23] and want[41] == []
    assert want[26] == [23] and want[27] == [] and want[28] == want[29] == [23] and want[15] == []

    async def answers() -> list[list[int]]:
        return [await store.search_text(inbox, q, body_only=body) for q in queries for body in (False, True)]

    assert await answers() == want  # pending (SQLite)
    await store.index_search_text()
    assert await answers() == want
    await store.check_search_index()
    assert await store.search_field(inbox, "subject", ["bao cao dai"]) == [21, 22]
    assert await store.search_field(inbox, "subject", ["dau thu dai"]) == [23]


def test_the_cut_contents_are_read_on_their_partial_index(tmp_path: Path) -> None:
    import asyncio

    data = asyncio.run(make_data_dir(tmp_path / "data"))
    query = search.cut_query(True).compile(dialect=sqlite_dialect.dialect())
    db = sqlite3.connect(data / SQLITE_FILE)
    try:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {str(query).replace('?', '7')}")]
    finally:
        db.close()
    assert any(search.CUT_INDEX in step for step in plan), plan
    assert not any(step.startswith("SCAN messages") for step in plan), plan


async def _alembic(app: App, how: Any, revision: str) -> None:
    async with app.db._async_writer.begin() as conn:
        await conn.run_sync(lambda c: how(_alembic_config(c), revision))


async def test_migration_cuts_todays_long_texts_and_keeps_older_ones(any_app: App) -> None:
    """Down to store_0011 (the cut rows marked for reindex), the whole texts written back
    as store_0011 kept them (one long text without BODY_MARK, as an older analysis made
    it), then up again: the rows made today are cut, the older one is kept whole and
    still found by SQL, and every answer is the whole texts' again."""
    store = any_app.store
    box, inbox = await _mailbox(any_app)
    for i in range(4):
        await store.deliver(_message(i, "Thông báo ngắn"), [box])
    for i in range(5, 8):
        await store.deliver(_long(i, f"Lời mở đầu {i}.", f"Mật mã cuối thư {i}."), [box])
    whole = await _whole(any_app, inbox)
    rows = await _rows(any_app, inbox)
    await _alembic(any_app, command.downgrade, "store_0011")

    def previews(conn: Connection) -> dict[int, Any]:
        return dict(conn.execute(select(contents.c.id, contents.c.preview)).all())

    marked = await any_app.db.run_read(previews)
    assert [marked[rows[uid][2]] is None for uid in range(1, 8)] == [False] * 4 + [True] * 3
    older = whole[7].replace(BODY_MARK, " ")  # as an analysis before the mark made it

    def write_back(conn: Connection) -> None:
        for uid in range(5, 8):
            conn.execute(update(contents).where(contents.c.id == rows[uid][2])
                         .values(search_text=older if uid == 7 else whole[uid]))

    await any_app.db.run_write(write_back)
    await _alembic(any_app, command.upgrade, "heads")
    after = await _rows(any_app, inbox)
    assert [after[uid][1] for uid in range(1, 8)] == [False] * 4 + [True, True, False]
    assert after[5][0] == whole[5][:BOUND] and after[6][0] == whole[6][:BOUND] and after[7][0] == older
    await store.index_search_text()
    await store.check_search_index()
    expected = {**whole, 7: older}
    for terms in (["mat ma cuoi thu 5"], ["mat ma cuoi thu"], ["loi mo dau 7"], ["thong bao ngan"], ["khong"]):
        for body in (False, True):
            assert await store.search_text(inbox, terms, body_only=body) == _scan(expected, terms, body)


async def test_reindex_keeps_the_text_cut(any_app: App) -> None:
    """``congthu store reindex`` of an old content (no preview) writes its text as
    delivery does: the prefix, marked cut; a second look finds nothing changed."""
    store = any_app.store
    box, inbox = await _mailbox(any_app)
    await store.deliver(_long(9, "Lời mở đầu.", "Mật mã cuối thư."), [box])
    whole = (await _whole(any_app, inbox))[1]
    content_id = (await _rows(any_app, inbox))[1][2]

    def make_old(conn: Connection) -> None:
        conn.execute(update(contents).where(contents.c.id == content_id)
                     .values(search_text="van ban cu", search_cut=False, preview=None))

    await any_app.db.run_write(make_old)
    assert await store.search_text(inbox, ["mat ma cuoi thu"]) == []
    done = await store.reindex()
    assert done.done == 1 and done.text_changed == 1
    assert (await _rows(any_app, inbox))[1][:2] == (whole[:BOUND], True)
    assert await store.search_text(inbox, ["mat ma cuoi thu"], body_only=True) == [1]
