"""What a FETCH of messages not fetched lately, and an APPEND, read: the messages'
metadata and their contents in one read (``store.get_messages_and_contents``), not
one read each; the folder of an APPEND read once (by its name), its mailbox found by
the store inside the transaction. The answers are checked too."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.conftest import database_calls
from tests.imap.conftest import User, message


def test_new_messages_fetched_with_one_read_and_appended_with_one_folder_read(user: User) -> None:
    for n in range(3):
        user.deliver(message(f"Công văn {n}"))
    c = user.client()
    assert c.select("INBOX") == ("OK", [b"3"])
    with database_calls(user.server.app.db, ("congthu.store",)) as calls:
        typ, data = c.fetch("1:3", "(RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert typ == "OK"
    answers = b"".join(d[0] + d[1] if isinstance(d, tuple) else d for d in data)
    assert len(re.findall(rb"RFC822\.SIZE \d+", answers)) == 3
    assert answers.count(b"Subject:") == 3 and answers.count(b"ENVELOPE (") == 3
    assert calls == ["run_small_read ReadingMethods.get_messages_and_contents.<locals>.read"]

    # The reads of an APPEND (``database_calls`` counts writes too, which take keywords).
    db = user.server.app.db
    reads: list[str] = []
    small_read = db.run_small_read

    def counting(fn: Callable[..., Any], *args: Any) -> Any:
        reads.append(fn.__qualname__)
        return small_read(fn, *args)

    db.run_small_read = counting
    try:
        typ, data = c.append("INBOX", None, None, message("Thêm"))
    finally:
        db.run_small_read = small_read
    assert typ == "OK" and b"APPENDUID" in data[0]
    # The folder by its name (resolve_existing), not a second time by its id.
    assert [read for read in reads if "_folder_by" in read] == ["_folder_by_name"]
    c.noop()
    typ, data = c.fetch("4", "(ENVELOPE)")
    assert typ == "OK" and b"ENVELOPE" in data[0]
    c.logout()
