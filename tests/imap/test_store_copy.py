"""STORE / UID STORE (+FLAGS, -FLAGS, FLAGS, .SILENT, keywords), COPY / UID COPY with
COPYUID, MOVE / UID MOVE, and flag changes pushed to another session."""

from __future__ import annotations

import pytest

from tests.imap.conftest import message


def test_store_modes(user) -> None:
    for _ in range(3):
        user.deliver(message())
    c = user.client()
    c.select("INBOX")
    typ, data = c.store("1:2", "+FLAGS", "(\\Flagged $Urgent)")
    assert data == [b"1 (FLAGS (\\Flagged \\Recent $Urgent))", b"2 (FLAGS (\\Flagged \\Recent $Urgent))"]
    typ, data = c.store("1", "-FLAGS", "($Urgent)")
    assert data == [b"1 (FLAGS (\\Flagged \\Recent))"]
    typ, data = c.store("2", "FLAGS", "(\\Answered)")
    assert data == [b"2 (FLAGS (\\Answered \\Recent))"]
    typ, data = c.store("3", "+FLAGS.SILENT", "(\\Seen)")
    assert typ == "OK" and data == [None]
    typ, data = c.uid("STORE", "3", "-FLAGS", "(\\Seen)")
    assert data == [b"3 (UID 3 FLAGS (\\Recent))"]
    with pytest.raises(c.error, match="invalid system flag"):
        c.store("1", "+FLAGS", "(\\Bogus)")
    c.store("3", "+FLAGS", "($Later)")
    c.select("INBOX")
    assert b"$Later" in c.untagged_responses["FLAGS"][0]


def test_flag_changes_reach_other_sessions(user) -> None:
    user.deliver(message())
    a, b = user.client(), user.client()
    a.select("INBOX")
    b.select("INBOX")
    a.store("1", "+FLAGS", "(\\Flagged)")
    typ, _ = b.noop()
    assert b.untagged_responses.pop("FETCH") == [b"1 (UID 1 FLAGS (\\Flagged))"]


def test_copy_and_move_with_copyuid(user) -> None:
    for i in range(4):
        user.deliver(message(f"m{i}"))
    c = user.imapclient()
    c.select_folder("INBOX")
    typ, data = c._imap._simple_command("UID", "COPY", "1:2", "Archive")
    uidvalidity = c.folder_status("Archive", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    assert data[0].startswith(b"[COPYUID %d 1:2 1:2]" % uidvalidity)
    typ, data = c._imap._simple_command("COPY", "3", "Archive")
    assert data[0].startswith(b"[COPYUID %d 3 3]" % uidvalidity)
    typ, data = c._imap.uid("MOVE", "1:2", "Trash")
    assert typ == "OK"
    assert c._imap.untagged_responses.pop("EXPUNGE") == [b"2", b"1"]
    assert any(b"COPYUID" in x for x in c._imap.untagged_responses.pop("OK", []))
    assert c.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"] == 2
    assert c.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 3
    assert c.search("ALL") == [3, 4]
    typ, data = c._imap.uid("COPY", "3", "Missing")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    c.move([3], "Archive")
    assert c.search("ALL") == [4]
