"""The search index holds the first ``INDEXED_CHARS`` characters of a text (migration
store_0011): a term only beyond them is found (IMAP SEARCH BODY and TEXT, through the
store and through a real IMAP client), before and after indexing; the answers equal a
plain substring scan over random texts around the bound (characters, not bytes: Cyrillic
and CJK, which folding keeps); the long texts are read on their partial index; the check
passes on the new index; the migration goes down and up with contents present; and
``congthu store reindex --search-index`` builds it."""

from __future__ import annotations

import asyncio
import imaplib
import random
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.cli import main
from congthu.db import SQLITE_FILE
from congthu.store import search
from congthu.store.tables import contents
from tests.conftest import ServerThread, make_data_dir
from tests.store.test_search_index import _message, _texts
from tests.store.test_search_pending import migrate

BOUND = search.INDEXED_CHARS
WORDS = ["công", "văn", "báo", "cáo", "kế", "hoạch", "tỉnh", "sóc", "trăng", "đề", "án", "chuyển", "đổi", "số", "lịch", "họp", "giao", "ban"]


def _long(i: int, head: str, tail: str, chars: int = BOUND + 20_000) -> bytes:
    """A message whose text starts with ``head`` and ends with ``tail``, ``chars``
    characters of Vietnamese words between them."""
    rng = random.Random(i)
    words: list[str] = []
    total = 0
    while total < chars:
        words.append(rng.choice(WORDS))
        total += len(words[-1]) + 1
    lines = [" ".join(words[j:j + 12]) for j in range(0, len(words), 12)]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"vt{i}@soctrang.gov.vn", "canbo@soctrang.gov.vn", f"Báo cáo dài {i}"
    msg.set_content("\n".join([head, *lines, tail]) + "\n", cte="8bit")
    return msg.as_bytes()


async def _search_all(app: App, folder_id: int, terms: list[list[str]]) -> list[list[int]]:
    out = []
    for each in terms:
        out.append(await app.store.search_text(folder_id, each))
        out.append(await app.store.search_text(folder_id, each, body_only=True))
    return out


async def test_a_term_beyond_the_indexed_prefix_is_found_before_and_after_indexing(any_app: App) -> None:
    store = any_app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    inbox = (await store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]
    for i in range(6):
        await store.deliver(_message(i, "Thông báo ngắn"), [box])
    await store.deliver(_long(1, "Lời mở đầu của thư.", "Mật mã cuối thư: Đà Nẵng."), [box])
    await store.deliver(_long(2, "Lời mở đầu khác.", "Không có gì."), [box])
    long_text = (await _texts(any_app, inbox))[7]
    assert len(long_text) > BOUND and long_text.index("mat ma cuoi thu") > BOUND
    queries = [["mat ma cuoi thu"], ["da nang"], ["loi mo dau"], ["loi mo dau", "mat ma cuoi"], ["thong bao ngan"],
               ["khong co gi"], ["mat ma", "khong co gi"], ["khong co o dau"]]
    expected = [[7], [7], [7], [7], [7, 8], [7, 8], [7], [7], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [8], [8],
                [], [], [], []]
    assert await _search_all(any_app, inbox, queries) == expected  # pending (SQLite)
    await store.index_search_text()
    assert await store.search_index_pending() == 0
    assert await _search_all(any_app, inbox, queries) == expected
    await store.check_search_index()
    if any_app.db.is_sqlite:
        # Found by being long, not by the index, which holds only the first characters.
        def indexed(conn: Connection, term: str) -> list[int]:
            query = text("SELECT rowid FROM contents_fts WHERE contents_fts MATCH :m")
            return list(conn.execute(query, {"m": search.fts_match(search.trigrams([term]))}).scalars())

        ids = await any_app.db.run_read(lambda conn: list(conn.execute(select(contents.c.id)
                                                                       .order_by(contents.c.id)).scalars()))
        assert await any_app.db.run_read(indexed, "mat ma cuoi thu") == []
        assert ids[6] in await any_app.db.run_read(indexed, "loi mo dau")


# Enough letters that a text's prefix holds only some of the possible trigrams: a term
# across or beyond the bound is then mostly not found by the index alone.
ALPHABET = "абвгдежзийклмнопрстуфхцчшщъыьэюя漢字國家省會議報告文書ab"


async def test_answers_equal_a_plain_scan_around_the_bound(app: App) -> None:
    """Random texts (multi-byte characters, which fold keeps) whose lengths straddle the
    bound; terms cut from them across it, just before and after it, short and absent."""
    rng = random.Random(20261206)
    store = app.store
    box = (await store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
    inbox = (await store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]
    for i in range(30):  # a folder big enough for the index to be used (not walked)
        await store.deliver(_message(i, "Thông báo ngắn"), [box])

    def body(chars: int) -> str:  # ``chars`` characters, lines of 300 (no spaces: folding joins runs of them)
        letters = rng.choices(ALPHABET, k=chars)
        letters[299::300] = "\n" * len(letters[299::300])
        return "".join(letters)

    def mail(i: int, chars: int) -> bytes:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "vt@soctrang.gov.vn", "canbo@soctrang.gov.vn", f"Ngẫu nhiên {i}"
        msg.set_content(body(chars) + "\n", cte="8bit")
        return msg.as_bytes()

    await store.deliver(mail(0, BOUND), [box])
    overhead = len((await _texts(app, inbox))[31]) - BOUND
    for i in range(1, 7):
        await store.deliver(mail(i, BOUND - overhead + rng.randint(-30, 30)), [box])
    texts = await _texts(app, inbox)
    lengths = [len(texts[uid]) for uid in range(32, 38)]
    assert min(lengths) < BOUND < max(lengths), lengths
    assert all(len(t.encode()) > len(t) for t in texts.values() if len(t) > 1000)  # multi-byte

    terms: list[list[str]] = [["khong co"], ["a"], ["漢"], ["ab"], ["аб", "字a"], ["thong bao"]]
    for uid in range(32, 38):
        t = texts[uid]
        for _ in range(3):
            k = rng.randint(3, 8)
            end = min(len(t), BOUND + 3) - k
            at = rng.randint(min(BOUND - k - 2, end - 5), end)
            terms.append([t[at:at + k]])
        terms.append([t[rng.randint(0, 200):][:5], t[-6:-1]])
        terms.append([t[BOUND - 3:BOUND + 2] + "漢字漢"])  # across the bound, then absent
    want = [sorted(u for u, t in texts.items() if all(term in t for term in each)) for each in terms]
    assert any(want[6:]) and not all(want[6:])

    pending_body = await _search_all(app, inbox, terms)
    assert pending_body[::2] == want  # pending
    assert await store.index_search_batch(rows=20) == (20, True)
    assert await _search_all(app, inbox, terms) == pending_body
    await store.index_search_text()
    assert await _search_all(app, inbox, terms) == pending_body
    await store.check_search_index()
    # Once indexed, the index's path is taken (not the folder walked): few enough candidates.
    cap = len(texts) // 2
    found = await app.db.run_read(lambda conn: list(conn.execute(search.candidates(
        search.fts_match(search.trigrams(["абвг"])), cap + 1)).scalars()))
    assert len(found) <= cap


def test_the_long_texts_are_read_on_their_partial_index(tmp_path: Path) -> None:
    data = asyncio.run(make_data_dir(tmp_path / "data"))
    query = search.candidates(search.fts_match(["abc"]), 10).compile(
        dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True})
    db = sqlite3.connect(data / SQLITE_FILE)
    try:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}")]
    finally:
        db.close()
    assert any(search.LONG_TEXT_INDEX in step for step in plan), plan
    assert any(search.CUT_INDEX in step for step in plan), plan
    assert not any(step.startswith("SCAN contents ") and search.LONG_TEXT_INDEX not in step
                   and search.CUT_INDEX not in step for step in plan), plan


def _columns(data: Path) -> list[str]:
    db = sqlite3.connect(data / SQLITE_FILE)
    try:
        return [row[1] for row in db.execute("PRAGMA table_xinfo(contents)")]
    finally:
        db.close()


async def test_migration_down_and_up_with_contents_present(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    app = await App.open(data)
    try:
        box = (await app.store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
        inbox = (await app.store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]
        await app.store.deliver(_message(1, "Trước khi hạ cấp"), [box])
        await app.store.deliver(_long(2, "Lời mở đầu.", "Mật mã cuối thư."), [box])
        await app.store.deliver(_message(3, "Chưa lập chỉ mục"), [box])
        assert await app.store.index_search_batch(rows=2) == (2, True)
    finally:
        await app.close()
    assert search.SEARCH_PREFIX in _columns(data)

    migrate(data, command.downgrade, "store_0010")
    assert search.SEARCH_PREFIX not in _columns(data)
    db = sqlite3.connect(data / SQLITE_FILE)
    with db:  # store_0010's shape: the whole text indexed, every content pending
        assert db.execute("SELECT count(*) FROM contents_fts_pending").fetchone() == (3,)
        assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'ix_contents_long_text'").fetchall()
        db.execute("INSERT INTO contents_fts(rowid, search_text) SELECT id, search_text FROM contents")
        db.execute("DELETE FROM contents_fts_pending")
        db.execute("INSERT INTO contents_fts(contents_fts, rank) VALUES ('integrity-check', 1)")
        # The long text was kept cut to its prefix (store_0012): its downgrade marks it
        # for ``congthu store reindex`` (no preview), which writes it whole again.
        assert len(db.execute("SELECT rowid FROM contents_fts WHERE contents_fts MATCH '\"loi\" AND \"dau\"'")
                   .fetchall()) == 1
        assert db.execute("SELECT id, length(search_text) FROM contents WHERE preview IS NULL").fetchall() == \
            [(2, search.INDEXED_CHARS)]
    db.close()

    app = await App.open(data)  # upgraded again
    try:
        assert search.SEARCH_PREFIX in _columns(data)
        assert await app.store.search_index_pending() == 3
        await app.store.check_search_index()
        assert (await app.store.reindex()).text_changed == 1  # cut and marked again
        for _ in range(2):
            assert await app.store.search_text(inbox, ["mat ma cuoi thu"]) == [2]
            assert await app.store.search_text(inbox, ["chua lap chi muc"]) == [3]
            assert await app.store.search_text(inbox, ["loi mo dau"], body_only=True) == [2]
            await app.store.index_search_text()
        await app.store.check_search_index()
    finally:
        await app.close()


def test_reindex_builds_the_prefix_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["--data", str(data), "init", "--dev"]) == 0

    async def prepare() -> int:
        app = await App.open(data)
        try:
            box = (await app.store.create_mailbox("ntbinh@soctrang.gov.vn", quota_bytes=10**9)).id
            await app.store.deliver(_long(3, "Lời mở đầu.", "Mật mã cuối thư."), [box])
            await app.store.deliver(_message(4, "Ngắn"), [box])
            return (await app.store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]
        finally:
            await app.close()

    inbox = asyncio.run(prepare())
    code = main(["--data", str(data), "store", "reindex", "--search-index"])
    out = capsys.readouterr()
    assert code == 0 and "search index built again" in out.out + out.err

    async def check() -> None:
        app = await App.open(data)
        try:
            assert await app.store.search_index_pending() == 0
            await app.store.check_search_index()
            assert await app.store.search_text(inbox, ["mat ma cuoi thu"]) == [1]
            assert await app.store.search_text(inbox, ["loi mo dau"]) == [1]
            assert await app.store.search_text(inbox, ["ngan"]) == [2]
        finally:
            await app.close()

    asyncio.run(check())


def test_imap_search_body_and_text_beyond_the_prefix(server: ServerThread) -> None:
    server.add_user("ntbinh@soctrang.gov.vn")
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    try:
        imap.login("ntbinh@soctrang.gov.vn", "Mk@12345678")
        for i in range(3):
            assert imap.append("INBOX", None, None, _message(i, "Thông báo ngắn"))[0] == "OK"
        assert imap.append("INBOX", None, None, _long(4, "Lời mở đầu.", "Mật mã cuối thư."))[0] == "OK"
        imap.select("INBOX")

        def found(*criteria: str) -> list[bytes]:
            status, data = imap.search(None, *criteria)
            assert status == "OK"
            return data[0].split()

        for _ in range(2):  # as soon as stored (pending, most likely), then indexed
            assert found("BODY", '"mat ma cuoi thu"') == [b"4"]
            assert found("TEXT", '"MAT MA CUOI"') == [b"4"]
            assert found("BODY", '"loi mo dau"') == [b"4"]
            assert found("TEXT", '"thong bao ngan"') == [b"1", b"2", b"3"]
            assert found("BODY", '"khong co o dau"') == []
            server.wait_indexed()
    finally:
        imap.logout()
