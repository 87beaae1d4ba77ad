"""The cost of a delegate's LIST (issue 13): the grants of the user are read by grantee
(both delegation tables are indexed by it), a read of a few rows, so it runs on the event
loop's own connection (``Database.run_small_read``) like the folder list, without a hop to
a reader thread and back at every LIST; what the client sees is unchanged."""

from __future__ import annotations

import imaplib
from typing import Any

from congthu import delegation
from tests.conftest import ServerThread, database_calls

PASSWORD = "Mk@12345678"


def delegation_calls(server: ServerThread) -> Any:
    """The transactions of the delegation and the store meanwhile, as "run_read FUNCTION"."""
    return database_calls(server.app.db, ("congthu.delegation", "congthu.store"))


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
        with delegation_calls(server) as calls:
            typ, lines = imap.list()
        assert typ == "OK"
        listed = b"\n".join(line for line in lines if isinstance(line, bytes)).decode()
        assert f"Shared/{org_address}/INBOX" in listed and "Mật" not in listed
        grant_reads = [c for c in calls if "_read_accesses" in c]
        assert grant_reads == ["run_small_read _read_accesses"], calls
        assert not [c for c in calls if c.startswith("run_read")], calls
    finally:
        imap.logout()
