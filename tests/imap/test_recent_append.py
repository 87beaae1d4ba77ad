"""\\Recent of a message APPENDed by a read-write IMAP4rev1 session to the folder it has
selected (RFC 3501 section 2.3.2): that session is the first told of it (the EXISTS before
its tagged OK), and it claims the message in the APPEND's own transaction
(``recent.claim_in``), with no write of its own; every other session then finds it
claimed. A session that only examines the folder, or has another one selected, claims
nothing by appending: the message is left to the next read-write session."""

from __future__ import annotations

from tests.conftest import database_calls
from tests.imap.conftest import User, message
from tests.imap.test_recent import _flags, _recent, _status_recent


def test_the_appending_session_claims_in_the_appends_transaction(user: User) -> None:
    user.deliver(message("Công văn 1"))
    appender, other, looker = user.client(), user.client(), user.client()
    assert appender.select("INBOX") == ("OK", [b"1"])
    assert _recent(appender) == [b"1"]
    assert other.select("INBOX") == ("OK", [b"1"])
    assert _recent(other) == [b"0"]
    with database_calls(user.server.app.db, ("congthu.store",)) as calls:
        typ, _data = appender.append("INBOX", None, None, message("Công văn 2"))
        assert typ == "OK"
    writes = [call for call in calls if call.startswith("run_write")]
    assert writes == ["run_write DeliveryMethods.append.<locals>.tx"], writes  # no claim of its own
    assert _recent(appender) == [b"2"]
    assert _flags(appender) == [b"1 (FLAGS (\\Recent))", b"2 (FLAGS (\\Recent))"]
    # The other session hears of it, claimed: not \Recent there, and no claim written.
    with database_calls(user.server.app.db, ("congthu.store",)) as calls:
        assert other.noop()[0] == "OK"
    assert not [call for call in calls if call.startswith("run_write")], calls
    assert other.untagged_responses.pop("EXISTS", [])[-1:] == [b"2"]
    assert _recent(other) == [b"0"]
    assert _flags(other) == [b"1 (FLAGS ())", b"2 (FLAGS ())"]
    # Nothing left to claim (STATUS RECENT counts the unclaimed).
    assert _status_recent(looker) == 0
    for c in (appender, other, looker):
        c.logout()


def test_appending_without_the_folder_selected_read_write_claims_nothing(user: User) -> None:
    examiner, elsewhere, later = user.client(), user.client(), user.client()
    assert examiner.select("INBOX", readonly=True) == ("OK", [b"0"])
    assert examiner.append("INBOX", None, None, message("Công văn 1"))[0] == "OK"
    # EXAMINE does not take \Recent away (RFC 3501 section 6.3.2): recent for it too.
    assert examiner.noop()[0] == "OK"
    assert _recent(examiner)[-1:] == [b"1"]
    assert elsewhere.select("Sent")[0] == "OK"
    assert elsewhere.append("INBOX", None, None, message("Công văn 2"))[0] == "OK"
    assert _status_recent(elsewhere) == 2
    # The next read-write session is the first to be told of both.
    assert later.select("INBOX") == ("OK", [b"2"])
    assert _recent(later) == [b"2"]
    assert _flags(later) == [b"1 (FLAGS (\\Recent))", b"2 (FLAGS (\\Recent))"]
    for c in (examiner, elsewhere, later):
        c.logout()


def test_multiappend_claims_each_message(user: User) -> None:
    appender, other = user.client(), user.client()
    assert appender.select("INBOX") == ("OK", [b"0"])
    for n in range(3):
        assert appender.append("INBOX", None, None, message(f"Công văn {n}"))[0] == "OK"
    assert _flags(appender) == [b"1 (FLAGS (\\Recent))", b"2 (FLAGS (\\Recent))", b"3 (FLAGS (\\Recent))"]
    assert other.select("INBOX") == ("OK", [b"3"])
    assert _recent(other) == [b"0"]
    for c in (appender, other):
        c.logout()
