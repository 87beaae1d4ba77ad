"""Two Apps in one process (as the tests run them) share nothing of IMAP's caches: the
FETCH cache is keyed by folder id, UIDVALIDITY and UID, which two databases can both
use for different messages (issue 11: state lives on the App)."""

from __future__ import annotations

import asyncio
import imaplib
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ServerThread, make_data_dir
from tests.imap.conftest import PASSWORD, message


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, ServerThread]]:
    servers = []
    try:
        for name in ("one", "two"):
            data = asyncio.run(make_data_dir(tmp_path_factory.mktemp(name) / "data"))
            servers.append(ServerThread(data).start())
        yield servers[0], servers[1]
    finally:
        for s in servers:
            s.stop()


def _twin_users(one: ServerThread, two: ServerThread) -> tuple[int, str]:
    """A user on each server whose INBOX has the same folder id and UIDVALIDITY. Both
    stores are fresh (same ids); UIDVALIDITY is the clock's second, strictly increasing
    per store, so both are set to continue from the same value ahead of the clock."""
    ahead = int(time.time()) + 100_000
    for server in (one, two):
        server.app.store._uidvalidity_last = ahead
    address = "twin@soctrang.gov.vn"
    ids = [s.add_user(address, PASSWORD) for s in (one, two)]
    folders = [s.run(s.app.store.get_folder(i, "INBOX")) for s, i in zip((one, two), ids, strict=True)]
    assert ids[0] == ids[1] and folders[0] is not None and folders[1] is not None
    assert (folders[0].id, folders[0].uidvalidity) == (folders[1].id, folders[1].uidvalidity)
    return ids[0], address


def test_fetch_answers_come_from_each_apps_own_messages(two: tuple[ServerThread, ServerThread]) -> None:
    one, other = two
    mailbox_id, address = _twin_users(one, other)
    for server, subject, size in ((one, "Thư của máy một", 100), (other, "Thư của máy hai", 5000)):
        result = server.run(server.app.store.deliver(message(subject, "x" * size), [mailbox_id]))
        assert result[0].ok and result[0].uid == 1
    sizes, subjects = [], []
    for server in (one, other):
        c = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
        c.login(address, PASSWORD)
        c.select("INBOX")
        typ, data = c.fetch("1", "(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        sizes.append(int(data[0][0].split(b"RFC822.SIZE ")[1].split()[0]))
        subjects.append(data[0][1])
        c.logout()
    # Each server answers with its own message: the second is about 4900 bytes larger
    # and has another subject.
    assert sizes[1] - sizes[0] > 4000, sizes
    assert subjects[0] != subjects[1], subjects
