"""\\Recent (RFC 3501 sections 2.3.2, 6.3.1, 6.3.2, 6.3.10, 6.4.4, 7.3.2): the first
read-write session to select a folder (or to hear of a new message) claims the new
messages; EXAMINE looks without claiming; STATUS RECENT counts the unclaimed ones;
IMAP4rev2 sessions neither see nor claim \\Recent. The claim itself is tested at store
level on both engines (two claims at once: one wins)."""

from __future__ import annotations

import asyncio
import imaplib
import re
import time
from typing import Any

from congthu.store import recent
from tests.imap.conftest import message


def _recent(c: imaplib.IMAP4) -> list[bytes]:
    return c.untagged_responses.pop("RECENT", [])


def _flags(c: imaplib.IMAP4, which: str = "1:*") -> list[bytes]:
    typ, data = c.fetch(which, "(FLAGS)")
    assert typ == "OK"
    return [d for d in data if isinstance(d, bytes)]


def _status_recent(c: imaplib.IMAP4, folder: str = "INBOX") -> int:
    typ, data = c.status(folder, "(RECENT)")
    assert typ == "OK"
    found = re.search(rb"RECENT (\d+)", data[0])
    assert found is not None
    return int(found.group(1))


def _search(c: imaplib.IMAP4, *criteria: str) -> list[int]:
    typ, data = c.search(None, *criteria)
    assert typ == "OK"
    return [int(n) for n in data[0].split()]


def test_select_claims_recent_second_session_sees_none(user) -> None:
    for n in range(3):
        user.deliver(message(f"Công văn {n}"))
    first, second = user.client(), user.client()
    assert first.select("INBOX") == ("OK", [b"3"])
    assert _recent(first) == [b"3"]
    assert _flags(first) == [b"1 (FLAGS (\\Recent))", b"2 (FLAGS (\\Recent))", b"3 (FLAGS (\\Recent))"]
    # RFC 3501 section 2.3.2: subsequent sessions do not see \Recent set.
    second.select("INBOX")
    assert _recent(second) == [b"0"]
    assert _flags(second) == [b"1 (FLAGS ())", b"2 (FLAGS ())", b"3 (FLAGS ())"]
    # \Recent is a session flag: the first session keeps it for its lifetime.
    assert _flags(first, "2") == [b"2 (FLAGS (\\Recent))"]
    # STORE responses carry it; \Recent cannot be stored (RFC 3501 section 2.3.2).
    typ, data = first.store("1", "+FLAGS", "(\\Seen \\Recent)")
    assert typ == "OK" and data == [b"1 (FLAGS (\\Seen \\Recent))"]
    typ, data = second.store("2", "+FLAGS", "(\\Recent)")
    assert typ == "OK"
    assert _flags(second, "2") == [b"2 (FLAGS ())"]
    typ, data = first.store("1", "FLAGS", "(\\Flagged)")
    assert data == [b"1 (FLAGS (\\Flagged \\Recent))"]
    # A third session: nothing is recent any more, even after the first logs out.
    first.logout()
    third = user.client()
    third.select("INBOX")
    assert _recent(third) == [b"0"]


def test_examine_does_not_claim_and_status_counts_unclaimed(user) -> None:
    user.deliver(message("Một"))
    user.deliver(message("Hai"))
    watcher = user.client()
    assert _status_recent(watcher) == 2
    reader = user.client()
    reader.select("INBOX", readonly=True)  # EXAMINE
    assert _recent(reader) == [b"2"]
    assert _flags(reader) == [b"1 (FLAGS (\\Recent))", b"2 (FLAGS (\\Recent))"]
    assert _status_recent(watcher) == 2  # RFC 3501 6.3.2: EXAMINE must not clear \Recent
    writer = user.client()
    writer.select("INBOX")
    assert _recent(writer) == [b"2"]
    assert _status_recent(watcher) == 0
    user.deliver(message("Ba"))
    assert _status_recent(watcher) == 1
    # STATUS of the selected mailbox: this session's \Recent messages (1 and 2, not yet 3).
    assert _status_recent(writer) == 2
    writer.noop()
    assert _recent(writer) == [b"3"]
    assert _status_recent(writer) == 3 and _status_recent(watcher) == 0
    assert _status_recent(watcher, "Sent") == 0


def test_new_message_while_selected_gives_exists_and_recent(user) -> None:
    c = user.client()
    c.select("INBOX")
    assert _recent(c) == [b"0"]
    user.deliver(message("Mới đến"))
    c.noop()
    assert c.untagged_responses.pop("EXISTS")[-1] == b"1"
    assert _recent(c) == [b"1"]
    assert _flags(c) == [b"1 (FLAGS (\\Recent))"]
    # Two read-write sessions hear of the same message: exactly one claims it.
    other = user.client()
    other.select("INBOX")
    assert _recent(other) == [b"0"]
    user.deliver(message("Thứ hai"))
    c.noop()  # hears of it first: claims it
    other.noop()
    assert _recent(c) == [b"2"] and _recent(other) == [b"0"]
    assert _search(c, "RECENT") == [1, 2] and _search(other, "RECENT") == []


def test_idle_announces_recent(user) -> None:
    c = user.imapclient()
    c.select_folder("INBOX")
    c.idle()
    user.deliver(message("Trong lúc chờ"))
    responses: list[Any] = []
    deadline = time.monotonic() + 10
    while (1, b"RECENT") not in responses and time.monotonic() < deadline:
        responses += c.idle_check(timeout=1)
    c.idle_done()
    assert (1, b"EXISTS") in responses and (1, b"RECENT") in responses
    assert c.get_flags([1]) == {1: (b"\\Recent",)}


def test_search_recent_new_old(user) -> None:
    user.deliver(message("Cũ 1"))
    user.deliver(message("Cũ 2"))
    early = user.client()
    early.select("INBOX")  # claims 1 and 2
    early.logout()
    user.deliver(message("Mới 3"))
    user.deliver(message("Mới 4"))
    c = user.client()
    c.select("INBOX")
    assert _recent(c) == [b"2"]
    c.store("3", "+FLAGS", "(\\Seen)")
    assert _search(c, "RECENT") == [3, 4]
    assert _search(c, "NEW") == [4]  # RECENT UNSEEN
    assert _search(c, "OLD") == [1, 2]  # NOT RECENT
    assert _search(c, "NOT", "NEW") == [1, 2, 3]
    assert _search(c, "OR", "NEW", "1") == [1, 4]
    typ, data = c.uid("SEARCH", "RECENT")
    assert data == [b"3 4"]
    # Expunging a recent message lowers the count.
    c.store("4", "+FLAGS", "(\\Deleted)")
    c.expunge()
    assert _search(c, "RECENT") == [3] and _status_recent(c) == 1


def test_imap4rev2_session_gets_no_recent(user) -> None:
    for n in range(2):
        user.deliver(message(f"Thư {n}"))
    c = user.client()
    typ, _ = c._simple_command("ENABLE", "IMAP4rev2")  # type: ignore[attr-defined]
    assert typ == "OK"
    c.select("INBOX")
    assert "RECENT" not in c.untagged_responses
    assert _flags(c) == [b"1 (FLAGS ())", b"2 (FLAGS ())"]
    typ, _ = c._simple_command("SEARCH", "RECENT")  # type: ignore[attr-defined]
    assert typ == "OK"  # still parses (RFC 9051 keeps no \Recent: it finds nothing)
    # The ESEARCH data after the correlator (TAG "x") names no result: nothing matched.
    esearch = c.untagged_responses.pop("ESEARCH")[0]
    assert b" ALL " not in esearch.split(b")", 1)[-1] + b" "
    user.deliver(message("Thư mới"))
    c.noop()
    assert c.untagged_responses.pop("EXISTS")[-1] == b"3" and "RECENT" not in c.untagged_responses
    # The rev2 session claimed nothing: a rev1 session still gets all three as recent.
    old = user.client()
    old.select("INBOX")
    assert _recent(old) == [b"3"]


# -- the claim at store level, on SQLite and PostgreSQL ------------------------------------------

async def test_claim_only_one_of_concurrent_claims_wins(any_app) -> None:
    store = any_app.store
    box = await store.create_mailbox("recent@soctrang.gov.vn")
    folder = await store.get_folder(box.id, "INBOX")
    assert folder is not None
    for n in range(3):
        results = await store.deliver(message(f"Thư {n}"), [box.id])
        assert results[0].ok
    assert await recent.count_unclaimed(store, folder.id) == 3
    assert await recent.first_unclaimed(store, folder.id) == 1
    claims = await asyncio.gather(*(recent.claim(store, folder.id, 4) for _ in range(6)))
    winners = [c for c in claims if c]
    assert winners == [range(1, 4)]
    assert await recent.count_unclaimed(store, folder.id) == 0
    assert await recent.first_unclaimed(store, folder.id) == 4
    # A session that knows fewer messages claims nothing below the mark.
    assert not await recent.claim(store, folder.id, 3)
    results = await store.deliver(message("Thư 4"), [box.id])
    assert results[0].uid == 4
    assert await recent.count_unclaimed(store, folder.id) == 1
    assert await recent.claim(store, folder.id, 5) == range(4, 5)
    assert not await recent.claim(store, 999999, 5)  # no such folder
