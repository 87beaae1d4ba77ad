"""The cost of a delegate's LIST (issue 13): the grants of the user are read by grantee
(both delegation tables are indexed by it), a read of a few rows, so it runs on the event
loop's own connection (``Database.run_small_read``) like the folder list, without a hop to
a reader thread and back at every LIST; what the client sees is unchanged."""

from __future__ import annotations

import imaplib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from congthu import delegation
from tests.conftest import ServerThread

PASSWORD = "Mk@12345678"


@contextmanager
def database_calls(server: ServerThread) -> Iterator[list[str]]:
    """The transactions of the delegation and the store meanwhile, as "run_read FUNCTION"."""
    db = server.app.db
    calls: list[str] = []
    names = ("run_small_read", "run_read", "run_write")

    def counting(name: str) -> Callable[..., Any]:
        original = getattr(db, name)

        def run(fn: Callable[..., Any], *args: Any) -> Any:
            if fn.__module__.startswith(("congthu.delegation", "congthu.store")):
                calls.append(f"{name} {fn.__qualname__}")
            return original(fn, *args)
        return run

    for name in names:
        setattr(db, name, counting(name))
    try:
        yield calls
    finally:
        for name in names:
            delattr(db, name)


def test_a_delegates_list_reads_its_grants_on_the_loop(server: ServerThread) -> None:
    app = server.app
    domain = app.settings.system.domain
    org_address, an_address = f"vanthu-list@{domain}", f"an-list@{domain}"
    org = server.add_user(org_address, PASSWORD, "Văn thư Sở")
    an = server.add_user(an_address, PASSWORD, "Nguyễn Văn An")
    secret = server.run(app.store.create_folder(org, "Mật"))
    server.run(delegation.grant(app, org, an, "lrs", granted_by="admin"))
    server.run(delegation.grant(app, org, an, "", folder_id=secret.id, granted_by="admin"))
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    try:
        imap.login(an_address, PASSWORD)
        with database_calls(server) as calls:
            typ, lines = imap.list()
        assert typ == "OK"
        listed = b"\n".join(line for line in lines if isinstance(line, bytes)).decode()
        assert f"Shared/{org_address}/INBOX" in listed and "Mật" not in listed
        grant_reads = [c for c in calls if "_read_accesses" in c]
        assert grant_reads == ["run_small_read _read_accesses"], calls
        assert not [c for c in calls if c.startswith("run_read")], calls
    finally:
        imap.logout()
