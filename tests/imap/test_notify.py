"""NOTIFY (RFC 5465), written from the RFC's text, then compared with a private Dovecot:
the client is told of changes as they happen, without a command in progress and without
IDLE, for the selected mailbox (SELECTED, SELECTED-DELAYED) and the others (PERSONAL,
INBOXES, SUBSCRIBED, SUBTREE, MAILBOXES) with MessageNew, MessageExpunge, FlagChange,
MailboxName and SubscriptionChange."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator

import pytest

from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User

RAW = b"Subject: notify\r\nFrom: a@soctrang.gov.vn\r\n\r\nbody\r\n"
DATE = "01-Jan-2026 10:00:00 +0000"


def lines_until(c: dv.Conversation, done: Callable[[list[bytes]], bool], limit: float = 10.0) -> list[bytes]:
    """Untagged lines the server sends by itself (no command sent), until ``done``."""
    out: list[bytes] = []
    deadline = time.monotonic() + limit
    while not done(out) and time.monotonic() < deadline:
        c.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            out.append(c._line())
        except TimeoutError:
            break
    c.sock.settimeout(30)
    return out


def _at_least(n: int, out: list[bytes]) -> bool:
    return len(out) >= n


def quiet(c: dv.Conversation, wait: float = 0.7) -> list[bytes]:
    """What the server sends by itself within ``wait`` seconds (expected: nothing)."""
    return lines_until(c, lambda _out: False, wait)


@pytest.fixture
def pair(user: User) -> Iterator[tuple[dv.Conversation, dv.Conversation]]:
    """Two sessions of one user: the first sets NOTIFY, the second makes changes."""
    port = user.server.port("imap")
    a, b = dv.login(port, user.address, PASSWORD), dv.login(port, user.address, PASSWORD)
    try:
        for command in ("CREATE Other", "CREATE Third", "SUBSCRIBE Other", dv.append_command("INBOX", RAW, DATE)):
            assert b.send(command).tagged.startswith(b"OK")
        yield a, b
    finally:
        a.close()
        b.close()


def test_capability(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    assert b"NOTIFY" in pair[0].send("CAPABILITY").untagged[0].split()


@pytest.mark.parametrize("command, answer", [
    ("NOTIFY SET (SELECTED (MessageNew MessageExpunge))", b"OK"),
    ("NOTIFY SET (SELECTED (MessageNew))", b"BAD"),  # section 5: both or neither
    ("NOTIFY SET (SELECTED (FlagChange))", b"BAD"),  # section 5: needs both
    ("NOTIFY SET (SELECTED (MailboxName))", b"BAD"),  # section 6.1: message events only
    ("NOTIFY SET (PERSONAL (AnnotationChange))", b"NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "
                                                 b"SubscriptionChange)]"),
    ("NOTIFY SET (PERSONAL (MailboxMetadataChange))", b"NO [BADEVENT"),
    ("NOTIFY SET (PERSONAL (FooBar))", b"NO [BADEVENT"),  # event-ext is an atom (section 8)
    ("NOTIFY SET (FOO (MessageNew MessageExpunge))", b"BAD"),
    ("NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))", b"BAD"),  # fetch-att: SELECTED only
    ("NOTIFY SET (SELECTED (MessageNew (BODY[]) MessageExpunge))", b"NO"),
    ("NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge)) (SELECTED (MessageNew MessageExpunge))", b"BAD"),
    ("NOTIFY SET (MAILBOXES Nope (MessageNew MessageExpunge))", b"OK"),
    ("NOTIFY SET (PERSONAL NONE)", b"OK"),
    ("NOTIFY SET (SUBTREE (Other Third) (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))", b"OK"),
    ("NOTIFY SET ()", b"BAD"),
    ("NOTIFY SET (PERSONAL ())", b"BAD"),
    ("NOTIFY SET", b"BAD"),
    ("NOTIFY", b"BAD"),
    ("NOTIFY NONE", b"OK"),
])
def test_grammar_and_checks(pair: tuple[dv.Conversation, dv.Conversation], command: str, answer: bytes) -> None:
    """Sections 5, 6 and 8: what NOTIFY SET accepts, and BADEVENT listing the events we
    support (section 5: "MUST list all of the events the server supports")."""
    assert pair[0].send(command).tagged.startswith(answer)
    assert pair[0].send("NOOP").tagged.startswith(b"OK")


def test_set_status(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """Section 5.1: NOTIFY SET STATUS sends the STATUS of each mailbox of the message
    event groups at once (not the selected one)."""
    a, _b = pair
    assert a.send("SELECT INBOX").tagged.startswith(b"OK")
    reply = a.send("NOTIFY SET STATUS (SELECTED (MessageNew MessageExpunge)) (PERSONAL (MessageNew MessageExpunge))")
    names = sorted(line.split()[2] for line in reply.untagged)
    assert reply.tagged.startswith(b"OK")
    assert b'"INBOX"' not in names and b'"Other"' in names and b'"Third"' in names
    assert all(b"(MESSAGES " in line and b" UIDVALIDITY " in line and b" UNSEEN " in line for line in reply.untagged)


def test_other_mailbox_without_command(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """Sections 3 and 5.2, 5.3: a message delivered to, flagged in or expunged from a
    mailbox of the set is told as a STATUS, with no command in progress."""
    a, b = pair
    assert a.send("NOTIFY SET (PERSONAL (MessageNew MessageExpunge FlagChange))").tagged.startswith(b"OK")
    assert b.send(dv.append_command("Other", RAW, DATE)).tagged.startswith(b"OK")
    got = lines_until(a, lambda out: bool(out))
    assert got == [b'* STATUS "Other" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)'], got
    assert b.send("SELECT Other").tagged.startswith(b"OK")
    assert b.send("STORE 1 +FLAGS (\\Seen)").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* STATUS "Other" (MESSAGES 1 UIDNEXT 2 UNSEEN 0)']
    assert b.send("STORE 1 +FLAGS (\\Deleted)").tagged.startswith(b"OK")
    assert b.send("EXPUNGE").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* STATUS "Other" (MESSAGES 0 UIDNEXT 2 UNSEEN 0)']
    # MAILBOXES names only those: Third's changes are not told.
    assert a.send("NOTIFY SET (MAILBOXES Other (MessageNew MessageExpunge))").tagged.startswith(b"OK")
    assert b.send(dv.append_command("Third", RAW, DATE)).tagged.startswith(b"OK")
    assert quiet(a) == []
    assert a.send("NOTIFY NONE").tagged.startswith(b"OK")
    assert b.send(dv.append_command("Other", RAW, DATE)).tagged.startswith(b"OK")
    assert quiet(a) == []


def test_selected_without_command(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """Section 5.2/5.3 for SELECTED: EXISTS (and MessageNew's fetch-atts), FETCH FLAGS,
    EXPUNGE at once, as in IDLE but without it."""
    a, b = pair
    assert a.send("SELECT INBOX").tagged.startswith(b"OK")
    assert a.send("NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange))").tagged.startswith(b"OK")
    assert b.send(dv.append_command("INBOX", RAW, DATE)).tagged.startswith(b"OK")
    got = lines_until(a, lambda out: any(b"FETCH" in x for x in out))
    assert b"* 2 EXISTS" in got and b"* 2 FETCH (UID 2 FLAGS (\\Recent))" in got, got
    assert b.send("SELECT INBOX").tagged.startswith(b"OK")
    assert b.send("STORE 1 +FLAGS (\\Flagged)").tagged.startswith(b"OK")
    got = lines_until(a, lambda out: bool(out))
    assert got[0].startswith(b"* 1 FETCH (") and b"\\Flagged" in got[0], got
    assert b.send("STORE 1 +FLAGS (\\Deleted)").tagged.startswith(b"OK")
    assert b.send("EXPUNGE").tagged.startswith(b"OK")
    got = lines_until(a, lambda out: b"* 1 EXPUNGE" in out)
    assert b"* 1 EXPUNGE" in got, got


def test_search_context_updates_without_command(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """RFC 5267 section 4.2 with NOTIFY SELECTED: a kept search's ADDTO comes with the
    change, with no command in progress."""
    a, b = pair
    assert a.send("SELECT INBOX").tagged.startswith(b"OK")
    assert a.send("NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange))").tagged.startswith(b"OK")
    tag = f"T{a.counter + 1}".encode()
    assert a.send("UID SEARCH RETURN (UPDATE) FLAGGED").tagged.startswith(b"OK")
    assert b.send("SELECT INBOX").tagged.startswith(b"OK")
    assert b.send("STORE 1 +FLAGS (\\Flagged)").tagged.startswith(b"OK")
    want = b'* ESEARCH (TAG "' + tag + b'") UID ADDTO (0 1)'
    assert want in lines_until(a, lambda out: want in out)


def test_flag_changes_only_with_flagchange(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """Section 5.3: without FlagChange another session's flag changes are not sent by
    themselves; the next command's answer tells them (RFC 9051 section 7.4.1)."""
    a, b = pair
    assert a.send("SELECT INBOX").tagged.startswith(b"OK")
    assert a.send("NOTIFY SET (SELECTED (MessageNew MessageExpunge))").tagged.startswith(b"OK")
    assert b.send("SELECT INBOX").tagged.startswith(b"OK")
    assert b.send("STORE 1 +FLAGS (\\Flagged)").tagged.startswith(b"OK")
    assert quiet(a) == []
    assert any(b"\\Flagged" in line for line in a.send("NOOP").untagged)


def test_selected_delayed(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """Section 6.2 (SELECTED-DELAYED): expunges wait for a command after which EXPUNGE
    may be sent; new messages are told at once."""
    a, b = pair
    assert a.send("SELECT INBOX").tagged.startswith(b"OK")
    assert a.send("NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge))").tagged.startswith(b"OK")
    assert b.send("SELECT INBOX").tagged.startswith(b"OK")
    assert b.send("STORE 1 +FLAGS (\\Deleted)").tagged.startswith(b"OK")
    assert b.send("EXPUNGE").tagged.startswith(b"OK")
    assert not any(b"EXPUNGE" in x for x in quiet(a))
    assert b"* 1 EXPUNGE" in a.send("NOOP").untagged


def test_mailbox_names_and_subscriptions(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """Section 5.4: MailboxName as LIST for a new, renamed (OLDNAME, RFC 5258 section
    3.5) or deleted (\\NonExistent) mailbox; section 5.5: SubscriptionChange as LIST
    with or without \\Subscribed. This session's own changes are not echoed."""
    a, b = pair
    assert a.send("NOTIFY SET (PERSONAL (MailboxName SubscriptionChange))").tagged.startswith(b"OK")
    assert b.send("CREATE New").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* LIST () "/" "New"']
    assert b.send("RENAME New Newer").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* LIST () "/" "Newer" ("OLDNAME" ("New"))']
    assert b.send("DELETE Newer").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* LIST (\\NonExistent) "/" "Newer"']
    assert b.send("SUBSCRIBE Third").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* LIST (\\Subscribed) "/" "Third"']
    assert b.send("UNSUBSCRIBE Third").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* LIST () "/" "Third"']
    reply = a.send("CREATE Mine")
    assert reply.tagged.startswith(b"OK") and reply.untagged == []
    assert quiet(a, 2.5) == []


def test_notify_in_idle(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """RFC 5465 with IDLE (RFC 2177): news of other mailboxes come during IDLE too."""
    a, b = pair
    assert a.send("SELECT INBOX").tagged.startswith(b"OK")
    assert a.send("NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (PERSONAL (MessageNew MessageExpunge MailboxName))"
                  ).tagged.startswith(b"OK")
    a.sock.sendall(b"I1 IDLE\r\n")
    assert a._line().startswith(b"+")
    assert b.send(dv.append_command("Other", RAW, DATE)).tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* STATUS "Other" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)']
    assert b.send("CREATE Idled").tagged.startswith(b"OK")
    assert lines_until(a, lambda out: bool(out)) == [b'* LIST () "/" "Idled"']
    assert b.send(dv.append_command("INBOX", RAW, DATE)).tagged.startswith(b"OK")
    assert b"* 2 EXISTS" in lines_until(a, lambda out: b"* 2 EXISTS" in out)
    a.sock.sendall(b"DONE\r\n")
    assert lines_until(a, lambda out: bool(out) and out[-1].startswith(b"I1 "))[-1].startswith(b"I1 OK")


def test_fuzz(pair: tuple[dv.Conversation, dv.Conversation]) -> None:
    """Random and truncated NOTIFY commands: BAD, NO or OK, never a traceback; the
    session survives."""
    a, _b = pair
    rng = random.Random(5465)
    seed = ("NOTIFY SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) "
            "(SUBTREE (Other Third) (MessageNew MessageExpunge MailboxName)) (PERSONAL NONE)")
    for _ in range(100):
        if rng.random() < 0.5:
            text = seed[:rng.randrange(6, len(seed))]
        else:
            chars = list(seed)
            for _ in range(rng.randrange(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice('()" *%\\~[]')
            text = "".join(chars)
        reply = a.send(text)
        assert reply.tagged[:2] in (b"OK", b"NO", b"BA"), reply
        assert not reply.tagged.startswith(b"NO [SERVERBUG]"), reply
        assert a.send("NOOP").tagged.startswith(b"OK")
    assert a.send("NOTIFY NONE").tagged.startswith(b"OK")


# -- against Dovecot -------------------------------------------------------------------------

def test_same_answers_as_dovecot(user: User, dovecot: dv.Dovecot) -> None:
    """The same NOTIFY commands to both servers (checks, STATUS at SET), then the same
    change by a second session, told to the first with no command in progress. Left out
    (docs/imap.md): BADEVENT's list (Dovecot names the refused event, the RFC asks for
    the supported ones), an unknown event (Dovecot BAD, an atom for the RFC), the news
    of other mailboxes, which Dovecot sends late or not at all (MailboxName), and
    another session's expunge, which Dovecot 2.3 did not send without FlagChange."""
    port_ours = user.server.port("imap")
    convs = {"ours": (dv.login(port_ours, user.address, PASSWORD), dv.login(port_ours, user.address, PASSWORD)),
             "theirs": (dv.login(dovecot.port, "notify@soctrang.gov.vn", dv.PASSWORD),
                        dv.login(dovecot.port, "notify@soctrang.gov.vn", dv.PASSWORD))}
    try:
        setup: list[str | bytes] = ["CREATE Other", "CREATE Third", dv.append_command("INBOX", RAW, DATE)]
        commands: list[str | bytes] = [
            "SELECT INBOX",
            "NOTIFY SET (SELECTED (MessageNew MessageExpunge))",
            "NOTIFY SET (SELECTED (MessageNew))",
            "NOTIFY SET (SELECTED (FlagChange))",
            "NOTIFY SET (FOO (MessageNew MessageExpunge))",
            "NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))",
            "NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge)) (SELECTED (MessageNew MessageExpunge))",
            "NOTIFY SET (MAILBOXES Nope (MessageNew MessageExpunge))",
            "NOTIFY NONE",
            "NOTIFY SET (PERSONAL NONE)",
            "NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge))",
        ]
        replies = {}
        for side, (a, b) in convs.items():
            for command in setup:
                assert b.send(command).tagged.startswith(b"OK")
            replies[side] = a.run(commands)
        diff = dv.differences(replies["ours"], replies["theirs"])
        assert not diff, "\n".join(d[:800] for d in diff)
        # NOTIFY SET STATUS: the same STATUS lines (in any order).
        status = {}
        for side, (a, _b) in convs.items():
            # (FlagChange left out: Dovecot then enables CONDSTORE, which RFC 5465 does not ask.)
            reply = a.send("NOTIFY SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge)) "
                           "(MAILBOXES (Other Third) (MessageNew MessageExpunge))")
            # Dovecot may send them just after its tagged OK.
            lines = reply.untagged + lines_until(a, functools.partial(_at_least, 2 - len(reply.untagged)), 5)
            status[side] = sorted(dv.normalise(dv.Reply("STATUS", [line.replace(b'"', b"") for line in lines]))[1])
        assert status["ours"] == status["theirs"] and len(status["ours"]) == 2, status
        # A change by the second session, told at once to the first.
        told = {}
        for side, (a, b) in convs.items():
            assert b.send(dv.append_command("INBOX", RAW, DATE)).tagged.startswith(b"OK")
            got = lines_until(a, lambda out: any(b"FETCH" in x for x in out))
            assert b.send("SELECT INBOX").tagged.startswith(b"OK")
            assert b.send("STORE 1 +FLAGS (\\Flagged)").tagged.startswith(b"OK")
            got += quiet(a)  # no FlagChange: the new flags are not told
            # \\Recent is a session flag each server gives its own way (RFC 3501 2.3.2).
            told[side] = [line.replace(b"\\Recent", b"").replace(b"( ", b"(").replace(b" )", b")")
                          for line in dv.normalise(dv.Reply("NOOP", got))[1]
                          if not line.startswith(b"STATUS ")]  # Dovecot repeats SET STATUS's
        assert told["ours"] == told["theirs"], told
    finally:
        for a, b in convs.values():
            a.close()
            b.close()
