"""The text SEARCH TEXT and BODY look in (RFC 9051 section 6.4.4), on SQLite and on a
real PostgreSQL: the header section (every header, MIME part headers too) for TEXT only,
the decoded text parts for both (``congthu.mime.search``, ``store.search_text``)."""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.mime.search import BODY_MARK
from congthu.store.tables import contents
from congthu.text import fold
from tests.imap.corpus import MESSAGES


async def test_body_only_and_whole_text(any_app: App) -> None:
    store = any_app.store
    box = (await store.create_mailbox("vanthu@soctrang.gov.vn", quota_bytes=10**9)).id
    for _date, _flags, raw in MESSAGES:
        assert (await store.deliver(raw, [box]))[0].ok
    inbox = (await store.get_folder(box, "INBOX")).id  # type: ignore[union-attr]

    async def find(term: str, body_only: bool) -> list[int]:
        return await store.search_text(inbox, [fold(term)], body_only=body_only)

    # In a header only: TEXT finds it, BODY does not (trigram-indexed and short terms).
    assert await find("X-Extra", False) == [2] and await find("X-Extra", True) == []
    assert await find("Inner subject", False) == [4] and await find("Inner subject", True) == []
    assert await find("tl.pdf", False) == [3] and await find("tl.pdf", True) == []
    assert await find("m3", False) == [3] and await find("m3", True) == []
    # In a body: both, decoded.
    for term, found in (("softbreak", [2]), ("café", [3]), ("quychehoatdong", [4, 7]), ("<b>", [4]), ("xong", [2])):
        assert await find(term, True) == found == await find(term, False), term
    # Text stored before the header section existed has no mark: all of it is body.
    def unmark(conn: Connection) -> None:
        conn.execute(update(contents).values(search_text=func.replace(contents.c.search_text, BODY_MARK, "")))

    await any_app.db.run_write(unmark)
    assert await find("X-Extra", True) == [2] and await find("nestedword", True) == [4]
