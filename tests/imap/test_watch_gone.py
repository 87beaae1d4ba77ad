"""A selected folder told gone (``FolderWatch.gone``, modseq 0: a folder deletion's
notification, from this process or another through the change feed) is read from the
database once, at the next sync, and the mark is then taken: later notifications of
changes the session has already taken in are answered without a read, as before it
(``Session.sync``). The mark used to stay set for the session's life."""

from __future__ import annotations

from tests.conftest import database_calls
from tests.imap.conftest import User, message


def _changes_read(calls: list[str]) -> list[str]:
    return [call for call in calls if "changes_since" in call]


def test_a_gone_notice_is_read_once(user: User) -> None:
    user.deliver(message())
    app = user.server.app
    folder = user.server.run(app.store.get_folder(user.id, "INBOX"))
    assert folder is not None
    c = user.client()
    assert c.select("INBOX") == ("OK", [b"1"])

    async def tell(modseq: int) -> None:
        app.hub.publish_local(folder.id, modseq)

    # Told gone (the folder is still there: the read says so, and nothing changes).
    user.server.run(tell(0))
    with database_calls(app.db, ("congthu.store",)) as calls:
        assert c.noop()[0] == "OK"
    assert len(_changes_read(calls)) == 1, calls
    # Then told of a change it has already taken in: nothing to read.
    user.server.run(tell(folder.highestmodseq))
    with database_calls(app.db, ("congthu.store",)) as calls:
        assert c.noop()[0] == "OK"
    assert _changes_read(calls) == [], calls
    # And a real change after it is still seen.
    other = user.client()
    assert other.append("INBOX", None, None, message())[0] == "OK"
    assert c.noop()[0] == "OK"
    assert c.response("EXISTS")[1][-1] == b"2"
    other.logout()
    c.logout()
