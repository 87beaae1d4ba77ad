"""Subscriptions kept by name, apart from the folders (RFC 9051 sections 6.3.7-6.3.9,
RFC 5258 sections 3.4 and 5): what the RFCs say, our choice for RENAME, and the upgrade
that moved the old per-folder flag into the store's ``subscriptions`` table (store_0005).
The comparison with Dovecot is ``test_dovecot_diff.test_subscriptions_outlive_their_mailboxes``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.db import _alembic_config
from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User


def _names(reply: dv.Reply) -> dict[bytes, bytes]:
    out = {}
    for line in reply.untagged:
        attrs = line[line.index(b"(") + 1:line.index(b")")]
        out[line.split(b'"/" ', 1)[1].split(b" (")[0].strip(b'"')] = attrs
    return out


def test_rfc5258_example_of_a_deleted_subscribed_mailbox(user: User) -> None:
    """RFC 5258 section 5, example 2 (a subscribed "Fruit/Peach" that does not exist):
    LIST (SUBSCRIBED) gives it \\Subscribed \\NonExistent; a plain LIST does not show it;
    RFC 9051 section 6.3.7: "the server MUST NOT unilaterally remove an existing mailbox
    name from the subscription list even if a mailbox by that name no longer exists"."""
    c = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        for command in ("CREATE Fruit", "CREATE Fruit/Apple", "CREATE Fruit/Banana", "CREATE Fruit/Peach",
                        "SUBSCRIBE Fruit/Banana", "SUBSCRIBE Fruit/Peach", "DELETE Fruit/Peach"):
            assert c.send(command).tagged.startswith(b"OK"), command
        assert _names(c.send('LIST (SUBSCRIBED) "" Fruit/*')) == {
            b"Fruit/Banana": b"\\HasNoChildren \\Subscribed", b"Fruit/Peach": b"\\NonExistent \\HasNoChildren \\Subscribed"}
        assert b"Fruit/Peach" not in _names(c.send('LIST "" Fruit/* RETURN (SUBSCRIBED)'))
        assert _names(c.send('LSUB "" Fruit/*')) == {b"Fruit/Banana": b"", b"Fruit/Peach": b""}
        # The name stays subscribed: made again, it is listed \Subscribed at once.
        assert c.send("CREATE Fruit/Peach").tagged.startswith(b"OK")
        assert b"\\Subscribed" in _names(c.send('LIST "" Fruit/Peach RETURN (SUBSCRIBED)'))[b"Fruit/Peach"]
        # UNSUBSCRIBE of a deleted mailbox's name takes it off (section 6.3.8).
        assert c.send("DELETE Fruit/Peach").tagged.startswith(b"OK")
        assert c.send("UNSUBSCRIBE Fruit/Peach").tagged.startswith(b"OK")
        assert _names(c.send('LSUB "" Fruit/*')) == {b"Fruit/Banana": b""}
        assert user.server.run(user.server.app.store.subscribed_names(user.id)).count("Fruit/Peach") == 0
    finally:
        c.close()


def test_rename_moves_the_subscriptions(user: User) -> None:
    """RFC 9051 section 6.3.6 says nothing of subscriptions; the store moves those of the
    folder and its children to the new names (docs/imap.md: Dovecot leaves them), so a
    renamed folder stays visible in clients that list subscribed folders only."""
    c = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        for command in ("CREATE A/B", "SUBSCRIBE A", "SUBSCRIBE A/B", "RENAME A R"):
            assert c.send(command).tagged.startswith(b"OK"), command
        assert _names(c.send('LSUB "" *')).keys() >= {b"R", b"R/B"}
        assert not {b"A", b"A/B"} & _names(c.send('LSUB "" *')).keys()
    finally:
        c.close()


async def test_upgrade_keeps_the_subscribed_folders(any_app: App) -> None:
    """store_0005: the folders subscribed before the upgrade (a flag of the folder) are
    the subscriptions after it; the others are not."""
    store = any_app.store
    box = await store.create_mailbox("sub@soctrang.gov.vn")
    await store.create_folder(box.id, "Du an/2026")

    def migrate(target: str) -> Any:
        def run(connection: Connection) -> None:
            from alembic import command

            if target == "up":
                command.upgrade(_alembic_config(connection), "heads")
            else:
                command.downgrade(_alembic_config(connection), target)
        return run

    await any_app.db.run_write(migrate("store_0004"))
    from congthu.store.tables import folders

    await any_app.db.run_write(lambda conn: conn.execute(
        update(folders).where(folders.c.name.in_(["Junk", "Du an"])).values(subscribed=False)))
    await any_app.db.run_write(migrate("up"))
    names = await store.subscribed_names(box.id)
    assert names == sorted(["INBOX", "Drafts", "Sent", "Trash", "Archive", "Du an/2026"])
    listed = {f.name: f.subscribed for f in await store.list_folders(box.id)}
    assert listed["Junk"] is False and listed["Du an/2026"] is True
