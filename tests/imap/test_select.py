"""SELECT, EXAMINE, CLOSE, UNSELECT, CHECK, EXPUNGE, UID EXPUNGE; sequence numbers and
pending expunges between sessions (RFC 9051 section 7.4.1)."""

from __future__ import annotations

import imaplib

import pytest

from tests.imap.conftest import message


def test_select_responses(user) -> None:
    for _ in range(3):
        user.deliver(message())
    c = user.client()
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    r = c.untagged_responses
    assert r["FLAGS"] == [b"(\\Seen \\Answered \\Flagged \\Deleted \\Draft)"]
    assert c.response("UIDNEXT")[1] == [b"4"]
    assert c.response("UNSEEN")[1] == [b"1"]
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK"
    assert c.store("1", "+FLAGS", "\\Flagged")[0] == "NO"
    typ, data = c.select("Nowhere")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    # A failed SELECT leaves the authenticated state.
    with pytest.raises(imaplib.IMAP4.error):
        c.fetch("1", "FLAGS")


def test_expunge_and_uid_expunge(user) -> None:
    for _ in range(5):
        user.deliver(message())
    c = user.client()
    c.select("INBOX")
    c.store("2,4", "+FLAGS", "\\Deleted")
    typ, data = c.uid("EXPUNGE", "4")
    assert typ == "OK" and c.untagged_responses.pop("EXPUNGE", None) == [b"4"]
    typ, data = c.expunge()
    assert data == [b"2"]
    typ, data = c.fetch("1:*", "(UID)")
    assert [d for d in data] == [b"1 (UID 1)", b"2 (UID 3)", b"3 (UID 5)"]


def test_close_expunges_unselect_does_not(user) -> None:
    for _ in range(3):
        user.deliver(message())
    c = user.client()
    c.select("INBOX")
    c.store("1", "+FLAGS", "\\Deleted")
    assert c.unselect()[0] == "OK"
    c.select("INBOX")
    assert c.untagged_responses["EXISTS"] == [b"3"]
    c.check()
    c.close()
    c.select("INBOX")
    assert c.untagged_responses["EXISTS"] == [b"2"]


def test_expunge_by_another_session_waits_for_a_safe_point(user) -> None:
    for _ in range(3):
        user.deliver(message())
    a, b = user.client(), user.client()
    a.select("INBOX")
    b.select("INBOX")
    b.store("1", "+FLAGS", "\\Deleted")
    b.expunge()
    # FETCH by sequence number: no EXPUNGE may be sent; message 1 is still 1 for A.
    typ, data = a.fetch("1:3", "(FLAGS)")
    assert "EXPUNGE" not in a.untagged_responses
    assert len([d for d in data if b"FETCH" in d or b"FLAGS" in d]) >= 2
    typ, _ = a.noop()
    assert a.untagged_responses.pop("EXPUNGE") == [b"1"]
    typ, data = a.fetch("1:*", "(UID)")
    assert data == [b"1 (UID 2)", b"2 (UID 3)"]


def test_new_mail_exists_on_noop(user) -> None:
    c = user.client()
    c.select("INBOX")
    c.untagged_responses.pop("EXISTS")
    user.deliver(message())
    c.noop()
    assert c.untagged_responses.pop("EXISTS") == [b"1"]
