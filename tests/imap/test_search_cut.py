"""IMAP SEARCH TEXT and BODY (RFC 9051 section 6.4.4) through a real client over
messages whose stored search text was cut to its indexed prefix (migration store_0012),
on SQLite and on PostgreSQL: a term only beyond the prefix is found by both, a term of
the header by TEXT and not BODY, a term across the cut, and an absent term by neither;
the same before and after the indexer has run."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from congthu.store import search
from tests.conftest import ServerThread, serving
from tests.store.test_search_index import _message, _texts
from tests.store.test_search_prefix import _long


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerThread]:
    database: dict[str, Any] = {}
    if request.param == "postgresql":
        database["url"] = request.getfixturevalue("postgres").create_database()
    with serving(tmp_path / "data", database=database) as running:
        yield running


def test_search_text_and_body_over_cut_texts(engine_server: ServerThread) -> None:
    server = engine_server
    box = server.add_user("ntbinh@soctrang.gov.vn")
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=60)
    try:
        imap.login("ntbinh@soctrang.gov.vn", "Mk@12345678")
        for i in range(3):
            assert imap.append("INBOX", None, None, _message(i, "Thông báo ngắn"))[0] == "OK"
        assert imap.append("INBOX", None, None, _long(4, "Lời mở đầu.", "Mật mã cuối thư: Hội An."))[0] == "OK"
        assert imap.append("INBOX", None, None, _long(5, "Mở đầu khác.", "Không có gì."))[0] == "OK"
        imap.select("INBOX")
        inbox = server.run(server.app.store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]
        whole = server.run(_texts(server.app, inbox))[4]  # the whole text (the row holds its prefix)
        assert whole.index("hoi an") > search.INDEXED_CHARS
        across = whole[search.INDEXED_CHARS - 20:search.INDEXED_CHARS + 20]

        def found(*criteria: str) -> list[bytes]:
            status, data = imap.search("UTF-8", *criteria)
            assert status == "OK"
            return data[0].split()

        for _ in range(2):  # as soon as stored (pending on SQLite, most likely), then indexed
            assert found("BODY", '"hoi an"') == [b"4"]
            assert found("TEXT", '"MAT MA CUOI THU"') == [b"4"]
            assert found("TEXT", f'"{across}"') == [b"4"]
            assert found("BODY", f'"{across}"') == [b"4"]
            assert found("TEXT", '"bao cao dai 5"') == [b"5"]  # the Subject: header only
            assert found("BODY", '"bao cao dai 5"') == []
            assert found("TEXT", '"thong bao ngan"') == [b"1", b"2", b"3"]
            assert found("BODY", '"khong co o dau"') == []
            assert found("TEXT", '"khong co o dau"') == []
            assert found("BODY", '"khong co gi"', "TEXT", '"mo dau khac"') == [b"5"]
            server.wait_indexed()
    finally:
        imap.logout()
