"""FETCH of a new message whose content a message fetched lately has already: the
content row is only checked (its SHA-256, ``get_messages_and_contents``' ``held``), not
read whole and its structure decoded again; and what never changes of a new message
(size, internal date, content) is kept when the session learns of it (``Session.sync``),
so a FETCH of those items reads nothing. The answers are the same as a session that reads
everything from the database gets. (A content id reused for other bytes is
``test_fetch_shared_content``'s.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from congthu.store import reading
from tests.conftest import database_calls
from tests.imap.conftest import User, message

ITEMS = "(RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (Subject)])"


@contextmanager
def contents_read_whole() -> Iterator[list[int]]:
    """The content ids read whole (``reading.contents_of``) meanwhile."""
    ids: list[int] = []
    original = reading.contents_of

    def counting(conn: Any, content_ids: Any) -> Any:
        ids.extend(content_ids)
        return original(conn, content_ids)

    reading.contents_of = counting
    try:
        yield ids
    finally:
        reading.contents_of = original


def _answer(c: Any, uid: int, items: str = ITEMS) -> bytes:
    typ, data = c.uid("FETCH", str(uid), items)
    assert typ == "OK" and data[0] is not None
    out = b"".join(part[0] + part[1] if isinstance(part, tuple) else part for part in data)
    return re.sub(rb"^\d+ \(", b"", out)  # the items, not the sequence number


def _same_content(items: bytes) -> bytes:
    """The items but those of the message itself (its UID and its arrival time)."""
    return re.sub(rb'UID \d+ |INTERNALDATE "[^"]*" ', b"", items)


def test_new_message_of_a_held_content_is_not_read_whole(user: User) -> None:
    c = user.client()
    c.select("INBOX")
    raw = message("Giấy mời họp", "Kính mời các đồng chí dự họp.")
    first = user.deliver(raw)
    c.noop()
    first_items = _answer(c, first)
    # As imaptest does: the same message APPENDed again (the same content row); the
    # session learns of it before the tagged OK.
    typ, data = c.append("INBOX", None, None, raw)
    assert typ == "OK"
    found = re.search(rb"APPENDUID \d+ (\d+)", data[0])
    assert found is not None
    again = int(found.group(1))
    app = user.server.app
    # Size and date only: from what the session kept when it learned of the message.
    with database_calls(app.db, ("congthu.store",)) as calls:
        kept = _answer(c, again, "(RFC822.SIZE INTERNALDATE)")
    assert calls == []
    with contents_read_whole() as whole, database_calls(app.db, ("congthu.store",)) as calls:
        again_items = _answer(c, again)
    assert whole == [], "a content held in memory was read whole again"
    assert calls == ["run_small_read ReadingMethods.get_messages_and_contents.<locals>.read"]
    assert _same_content(again_items) == _same_content(first_items)

    # A session that reads it all from the database answers the same.
    for kept_items in (app.imap.metas, app.imap.known, app.imap.by_content):
        kept_items.clear()
    other = user.client()
    other.select("INBOX")
    assert _answer(other, again) == again_items
    assert _answer(other, again, "(RFC822.SIZE INTERNALDATE)") == kept
    other.logout()
    c.logout()
