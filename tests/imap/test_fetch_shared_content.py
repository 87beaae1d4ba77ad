"""FETCH of a new message whose bytes a message fetched lately has already
(``ImapCaches.by_content``, ``cmd_fetch._contents``): its items made once are used again,
and a content id that names other bytes later (SQLite gives the id of a collected content
to the next one) is not taken for the old one: the SHA-256 of the row read decides."""

from __future__ import annotations

import re

from tests.imap.conftest import User, message


def _items(c: object, uid: int) -> bytes:
    c.noop()  # type: ignore[attr-defined]  # the session learns of the new message
    typ, data = c.uid("FETCH", str(uid), "(ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (Subject)])")  # type: ignore[attr-defined]
    assert typ == "OK" and data[0] is not None
    out = b"".join(part[0] + part[1] if isinstance(part, tuple) else part for part in data)
    return re.sub(rb"^\d+ \((?:UID \d+ )?", b"", out)  # the items, not the message's numbers


def test_same_bytes_same_items(user: User) -> None:
    raw = message("Báo cáo tuần", "Nội dung.")
    first = user.deliver(raw)
    c = user.client()
    c.select("INBOX")
    before = _items(c, first)
    again = user.deliver(raw)  # the same content row, a new message
    assert _items(c, again) == before
    c.logout()


def test_a_reused_content_id_is_not_taken_for_the_old_content(user: User) -> None:
    app = user.server.app
    c = user.client()
    c.select("INBOX")
    old = user.deliver(message("Cũ", "Thư cũ."))
    old_items = _items(c, old)
    c.uid("STORE", str(old), "+FLAGS.SILENT", r"(\Deleted)")
    c.expunge()
    user.server.run(app.store.collect_garbage())  # the content row goes; its id is free again
    new = user.deliver(message("Mới hoàn toàn", "Thư khác hẳn, dài hơn nhiều so với thư cũ."))
    new_items = _items(c, new)
    assert new_items != old_items
    other = user.client()  # a session that never saw the old message agrees
    other.select("INBOX")
    assert _items(other, new) == new_items
    other.logout()
    c.logout()
