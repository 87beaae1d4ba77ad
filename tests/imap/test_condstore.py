"""CONDSTORE and QRESYNC (RFC 7162): MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE/MODIFIED,
SELECT (QRESYNC ...) with VANISHED (EARLIER), VANISHED instead of EXPUNGE."""

from __future__ import annotations

from tests.imap.conftest import message


def test_condstore_fetch_and_store(user) -> None:
    for _ in range(3):
        user.deliver(message())
    c = user.client()
    typ, data = c._simple_command("SELECT", "INBOX", "(CONDSTORE)")  # type: ignore[attr-defined]
    c.state = "SELECTED"
    highest = int(c.untagged_responses["HIGHESTMODSEQ"][0])
    typ, data = c.store("2", "+FLAGS", "(\\Flagged)")
    assert b"MODSEQ (" in data[0]
    typ, data = c.fetch("1:*", f"(FLAGS) (CHANGEDSINCE {highest})")
    assert len(data) == 1 and data[0].startswith(b"2 (FLAGS (\\Flagged \\Recent) MODSEQ (")
    typ, data = c._simple_command("UID", "STORE", "1:3", f"(UNCHANGEDSINCE {highest})",  # type: ignore[attr-defined]
                                  "+FLAGS.SILENT", "(\\Seen)")
    assert typ == "OK" and data[0].startswith(b"[MODIFIED 2]")
    fetched = c.untagged_responses.pop("FETCH")
    assert [f.split(b" (")[0] for f in fetched] == [b"1", b"3"] and b"MODSEQ" in fetched[0]
    typ, data = c.uid("SEARCH", "MODSEQ", str(highest + 1))
    assert data[0].startswith(b"1 2 3 (MODSEQ ")


def test_qresync(user) -> None:
    for _ in range(4):
        user.deliver(message())
    c = user.imapclient()
    c.enable("QRESYNC")
    info = c.select_folder("INBOX")
    uidvalidity, modseq = info[b"UIDVALIDITY"], info[b"HIGHESTMODSEQ"]
    c.close_folder()
    other = user.client()
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.expunge()
    other.store("3", "+FLAGS", "(\\Flagged)")  # UID 4 now at seq 3
    imap = c._imap
    typ, data = imap._simple_command("SELECT", "INBOX", f"(QRESYNC ({uidvalidity} {modseq}))")
    assert typ == "OK"
    assert imap.untagged_responses.pop("VANISHED") == [b"(EARLIER) 1"]
    assert imap.untagged_responses.pop("FETCH")[0].startswith(b"3 (UID 4 FLAGS (\\Flagged) MODSEQ (")
    # While selected, an expunge is told as VANISHED.
    other.store("1", "+FLAGS", "(\\Deleted)")
    other.expunge()
    imap.noop()
    assert imap.untagged_responses.pop("VANISHED") == [b"2"]


def _status_highest(user) -> int:
    c = user.client()
    typ, data = c.status("INBOX", "(HIGHESTMODSEQ)")
    c.logout()
    return int(data[0].decode().rsplit("HIGHESTMODSEQ ", 1)[1].rstrip(")"))


def test_expunge_highestmodseq_without_reading_the_folder(user) -> None:
    """RFC 7162 section 3.2.10: the tagged OK of EXPUNGE carries the mailbox's
    HIGHESTMODSEQ, taken from the folder's watch (no database read): it must be the one
    STATUS reads from the database, after this session's expunge, after another
    session's flag change (told before the tagged OK) and when nothing was expunged."""
    for _ in range(4):
        user.deliver(message())
    c = user.client()
    c._simple_command("SELECT", "INBOX", "(CONDSTORE)")  # type: ignore[attr-defined]
    c.state = "SELECTED"
    other = user.client()
    other.select("INBOX")

    def expunge() -> int:
        typ, data = c.expunge()
        assert typ == "OK"
        text = c.untagged_responses.pop("HIGHESTMODSEQ", None)
        assert text is not None, data
        return int(text[-1])

    c.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    assert expunge() == _status_highest(user)  # this session's expunge
    c.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    c.untagged_responses.clear()
    other.uid("STORE", "4", "+FLAGS", "(\\Flagged)")  # another session's change, then our expunge
    highest = expunge()
    assert highest == _status_highest(user)
    # The other session's change is told before the tagged OK whose HIGHESTMODSEQ covers it.
    assert any(b"\\Flagged" in f for f in c.untagged_responses.pop("FETCH", []))
    other.uid("STORE", "4", "+FLAGS", "(\\Seen)")  # nothing to expunge, another's change
    c.untagged_responses.clear()
    assert expunge() == _status_highest(user)
    assert any(b"\\Seen" in f for f in c.untagged_responses.pop("FETCH", []))
    other.logout()
    c.logout()
