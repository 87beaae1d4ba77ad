"""SELECT of a folder this worker's sessions selected lately: watched by the id its name
had (``ImapCaches.folder_ids``) and its row read once, not by name and then by id again
(``cmd_select._watched_folder``); a folder renamed, recreated or deleted meanwhile is
found by its name as before."""

from __future__ import annotations

import re

from tests.conftest import database_calls
from tests.imap.conftest import User, message


def _uidvalidity(c: object) -> int:
    return int(c.response("UIDVALIDITY")[1][0])  # type: ignore[attr-defined]


def test_a_second_select_reads_the_folder_row_once(user: User) -> None:
    user.deliver(message())
    c = user.client()
    assert c.select("INBOX") == ("OK", [b"1"])
    with database_calls(user.server.app.db, ("congthu.store",)) as calls:
        assert c.select("INBOX") == ("OK", [b"1"])
    assert [call for call in calls if "_folder_by" in call] == ["run_small_read _folder_by_id"]
    c.logout()


def test_a_name_renamed_recreated_or_deleted_between_selects(user: User) -> None:
    c, other = user.client(), user.client()
    assert c.create("DuAn")[0] == "OK"
    assert c.append("DuAn", None, None, message())[0] == "OK"
    assert c.select("DuAn") == ("OK", [b"1"])
    first = _uidvalidity(c)
    c.unselect()
    # The name now names another folder; the folder selected is under a new name.
    assert other.rename("DuAn", "LuuTru")[0] == "OK"
    assert other.create("DuAn")[0] == "OK"
    assert c.select("DuAn") == ("OK", [b"0"])
    assert _uidvalidity(c) != first
    assert c.select("LuuTru") == ("OK", [b"1"])
    assert c.select("DuAn") == ("OK", [b"0"])
    # Gone: NO [NONEXISTENT], and the session is no longer in a selected state.
    c.unselect()
    assert other.delete("DuAn")[0] == "OK"
    typ, data = c.select("DuAn")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    # A new message in the folder selected lately is seen by the next SELECT.
    assert other.append("LuuTru", None, None, message())[0] == "OK"
    assert c.select("LuuTru") == ("OK", [b"2"])
    typ, data = c.uid("FETCH", "1:*", "(UID)")
    assert typ == "OK" and len([d for d in data if re.search(rb"UID \d+", d)]) == 2
    c.logout()
    other.logout()
