"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267): RETURN (PARTIAL low:high), RETURN (UPDATE)
with ESEARCH ADDTO/REMOVEFROM as the mailbox changes (by this session, by another, in
IDLE), CANCELUPDATE, NOUPDATE; written from the RFC's text, then compared with a
private Dovecot (which offers CONTEXT=SEARCH, not CONTEXT=SORT)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User


def append(i: int, flagged: bool = False) -> bytes:
    raw = b"Subject: m%d\r\nFrom: u%d@soctrang.gov.vn\r\n\r\nbody\r\n" % (9 - i, i)
    return dv.append_command("INBOX", raw, f"01-Jan-2026 10:00:0{i} +0000", "\\Flagged" if flagged else "")


SETUP = [append(i, i in (3, 5)) for i in range(1, 9)] + ["SELECT INBOX"]


@pytest.fixture
def conv(user: User) -> Iterator[dv.Conversation]:
    c = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        for command in SETUP:
            assert c.send(command).tagged.startswith(b"OK")
        yield c
    finally:
        c.close()


def test_capabilities(conv: dv.Conversation) -> None:
    caps = conv.send("CAPABILITY").untagged[0].split()
    assert b"CONTEXT=SEARCH" in caps and b"CONTEXT=SORT" in caps and b"ESORT" in caps


def test_partial(conv: dv.Conversation) -> None:
    """Section 4.4: PARTIAL low:high gives the results at those positions (of the sorted
    result for SORT), NIL when there are none; 0 is not a position (BAD)."""
    tag = f"T{conv.counter + 1}"
    assert conv.send("SEARCH RETURN (PARTIAL 1:2) ALL").untagged == [f'* ESEARCH (TAG "{tag}") PARTIAL (1:2 1:2)'.encode()]
    tag = f"T{conv.counter + 1}"
    assert conv.send("UID SEARCH RETURN (PARTIAL 20:30) ALL").untagged == [
        f'* ESEARCH (TAG "{tag}") UID PARTIAL (20:30 NIL)'.encode()]
    tag = f"T{conv.counter + 1}"
    assert conv.send("UID SEARCH RETURN (PARTIAL 1:2 COUNT) ALL").untagged == [
        f'* ESEARCH (TAG "{tag}") UID PARTIAL (1:2 1:2) COUNT 8'.encode()]
    tag = f"T{conv.counter + 1}"
    assert conv.send("UID SORT RETURN (PARTIAL 1:3) (REVERSE ARRIVAL) UTF-8 ALL").untagged == [
        f'* ESEARCH (TAG "{tag}") UID PARTIAL (1:3 8,7,6)'.encode()]
    for bad in ("SEARCH RETURN (PARTIAL 0:2) ALL", "SEARCH RETURN (PARTIAL 1) ALL", "SEARCH RETURN (PARTIAL) ALL",
                "SEARCH RETURN (PARTIAL -1:2) ALL"):
        assert conv.send(bad).tagged.startswith(b"BAD"), bad


def test_search_update(conv: dv.Conversation) -> None:
    """Section 4.2: RETURN (UPDATE) keeps the result; each change is sent as ESEARCH
    ADDTO/REMOVEFROM with position 0 (a SEARCH result has no order), UIDs for UID
    SEARCH and message numbers otherwise; an expunged message is removed before its
    EXPUNGE; CANCELUPDATE ends it (section 4.3)."""
    t = conv.counter + 1
    assert conv.send("UID SEARCH RETURN (UPDATE ALL) FLAGGED").untagged == [f'* ESEARCH (TAG "T{t}") UID ALL 3,5'.encode()]
    reply = conv.send("UID STORE 4 +FLAGS (\\Flagged)")
    assert reply.untagged[-1] == f'* ESEARCH (TAG "T{t}") UID ADDTO (0 4)'.encode()
    reply = conv.send("UID STORE 3 -FLAGS (\\Flagged)")
    assert reply.untagged[-1] == f'* ESEARCH (TAG "T{t}") UID REMOVEFROM (0 3)'.encode()
    n = conv.counter + 1
    assert conv.send("SEARCH RETURN (UPDATE COUNT) FLAGGED").untagged == [f'* ESEARCH (TAG "T{n}") COUNT 2'.encode()]
    assert conv.send("UID STORE 5 +FLAGS (\\Deleted)").tagged.startswith(b"OK")
    reply = conv.send("EXPUNGE")
    assert reply.untagged[:3] == [f'* ESEARCH (TAG "T{t}") UID REMOVEFROM (0 5)'.encode(),
                                  f'* ESEARCH (TAG "T{n}") REMOVEFROM (0 5)'.encode(), b"* 5 EXPUNGE"], reply
    assert conv.send(f'CANCELUPDATE "T{t}"').tagged.startswith(b"OK")
    reply = conv.send("UID STORE 8 +FLAGS (\\Flagged)")
    assert reply.untagged[1:] == [f'* ESEARCH (TAG "T{n}") ADDTO (0 7)'.encode()], reply
    assert conv.send('CANCELUPDATE "nope"').tagged.startswith(b"NO")
    assert conv.send("CANCELUPDATE").tagged.startswith(b"BAD")
    # Contexts end with the selection (section 4.2).
    assert conv.send("UNSELECT").tagged.startswith(b"OK")
    assert conv.send("SELECT INBOX").tagged.startswith(b"OK")
    assert conv.send(f'CANCELUPDATE "T{n}"').tagged.startswith(b"NO")


def test_sort_update(conv: dv.Conversation) -> None:
    """Section 4.3 (CONTEXT=SORT): a SORT's result is a list; a removal is given with
    its position in the old list, an addition with its position in the new one."""
    t = conv.counter + 1
    # Subjects m8..m1 for UIDs 1..8: SUBJECT order is 8,7,...,1.
    reply = conv.send("UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 FLAGGED")
    assert reply.untagged == [f'* ESEARCH (TAG "T{t}") UID ALL 5,3'.encode()]
    reply = conv.send("UID STORE 4 +FLAGS (\\Flagged)")
    assert reply.untagged[-1] == f'* ESEARCH (TAG "T{t}") UID ADDTO (2 4)'.encode()
    reply = conv.send("UID STORE 5 -FLAGS (\\Flagged)")
    assert reply.untagged[-1] == f'* ESEARCH (TAG "T{t}") UID REMOVEFROM (1 5)'.encode()
    reply = conv.send("UID STORE 1,7 +FLAGS (\\Flagged)")
    assert reply.untagged[-1] == f'* ESEARCH (TAG "T{t}") UID ADDTO (1 7 4 1)'.encode()


def test_update_from_another_session_and_idle(user: User, conv: dv.Conversation) -> None:
    """Section 4.2: changes by another session are sent when the server may send
    untagged data: after a command, and at once during IDLE (RFC 2177)."""
    t = conv.counter + 1
    assert conv.send("SEARCH RETURN (UPDATE) FLAGGED").untagged == [f'* ESEARCH (TAG "T{t}")'.encode()]
    other = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        assert other.send("SELECT INBOX").tagged.startswith(b"OK")
        assert other.send("STORE 1 +FLAGS (\\Flagged)").tagged.startswith(b"OK")
        deadline = time.monotonic() + 10
        lines: list[bytes] = []
        while time.monotonic() < deadline and f'* ESEARCH (TAG "T{t}") ADDTO (0 1)'.encode() not in lines:
            lines += conv.send("NOOP").untagged
        assert f'* ESEARCH (TAG "T{t}") ADDTO (0 1)'.encode() in lines
        # In IDLE.
        conv.sock.sendall(b"I1 IDLE\r\n")
        assert conv._line().startswith(b"+")
        assert other.send("STORE 2 +FLAGS (\\Flagged)").tagged.startswith(b"OK")
        conv.sock.settimeout(10)
        seen = []
        while f'* ESEARCH (TAG "T{t}") ADDTO (0 2)'.encode() not in seen:
            seen.append(conv._line())
        conv.sock.sendall(b"DONE\r\n")
        while not conv._line().startswith(b"I1 OK"):
            pass
    finally:
        other.close()


def test_noupdate_when_too_many(conv: dv.Conversation) -> None:
    """Section 4.2: a server may refuse to keep a search up to date: NO [NOUPDATE
    "tag"], the search itself still answered."""
    from congthu.imap.cmd_search import MAX_CONTEXTS

    for _ in range(MAX_CONTEXTS):
        assert not any(b"NOUPDATE" in u for u in conv.send("SEARCH RETURN (UPDATE) ALL").untagged)
    t = conv.counter + 1
    reply = conv.send("SEARCH RETURN (UPDATE COUNT) ALL")
    assert reply.untagged[0] == f'* ESEARCH (TAG "T{t}") COUNT 8'.encode()
    assert reply.untagged[1].startswith(f'* NO [NOUPDATE "T{t}"]'.encode())
    assert reply.tagged.startswith(b"OK")


def test_fuzz(conv: dv.Conversation) -> None:
    """Random and truncated RETURN options and CANCELUPDATE: BAD, NO or OK, never a
    traceback; the session survives."""
    rng = random.Random(5267)
    seeds = ["UID SEARCH RETURN (PARTIAL 1:5 UPDATE COUNT MIN MAX ALL) FLAGGED",
             "UID SORT RETURN (PARTIAL 2:3 UPDATE) (REVERSE SUBJECT) UTF-8 ALL", 'CANCELUPDATE "T1" "T2"']
    for _ in range(120):
        seed = rng.choice(seeds)
        if rng.random() < 0.5:
            text = seed[:rng.randrange(6, len(seed))]
        else:
            chars = list(seed)
            for _ in range(rng.randrange(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice('()" :0-*%\\~')
            text = "".join(chars)
        reply = conv.send(text)
        assert reply.tagged[:2] in (b"OK", b"NO", b"BA"), reply
        assert not reply.tagged.startswith(b"NO [SERVERBUG]"), reply
        assert conv.send("NOOP").tagged.startswith(b"OK")


# -- against Dovecot -------------------------------------------------------------------------

def test_same_answers_as_dovecot(user: User, dovecot: dv.Dovecot) -> None:
    """The same CONTEXT=SEARCH commands to both servers, updates included. SORT with
    UPDATE is left out: Dovecot does not offer CONTEXT=SORT (it sends position 0)."""
    ours = dv.login(user.server.port("imap"), user.address, PASSWORD)
    theirs = dv.login(dovecot.port, "context@soctrang.gov.vn", dv.PASSWORD)
    try:
        commands: list[str | bytes] = [
            *SETUP,
            "UID SEARCH RETURN (UPDATE) FLAGGED",
            "UID STORE 4 +FLAGS (\\Flagged)",
            "UID STORE 3 -FLAGS (\\Flagged)",
            "SEARCH RETURN (UPDATE COUNT) FLAGGED",
            "SEARCH RETURN (UPDATE MIN MAX) FLAGGED",
            "UID STORE 7 +FLAGS (\\Flagged)",
            "UID STORE 5 +FLAGS (\\Deleted)",
            "EXPUNGE",
            "NOOP",
            "SEARCH RETURN (PARTIAL 1:2) ALL",
            "UID SEARCH RETURN (PARTIAL 2:3) ALL",
            "UID SEARCH RETURN (PARTIAL 20:30) ALL",
            "UID SEARCH RETURN (PARTIAL 3:2) ALL",
            "UID SEARCH RETURN (PARTIAL 0:2) ALL",
            "UID SEARCH RETURN (PARTIAL 1:2 COUNT) ALL",
            "UID SEARCH RETURN (PARTIAL 1:2 UPDATE) ALL",
            "UID SORT RETURN (PARTIAL 1:2) (REVERSE ARRIVAL) UTF-8 ALL",
            "UID SEARCH RETURN (SAVE UPDATE) ALL",
            'CANCELUPDATE "T10"',
            'CANCELUPDATE "nope"',
            "CANCELUPDATE",
            "UID STORE 8 +FLAGS (\\Flagged)",
            append(9, True),
            "NOOP",
            "UNSELECT",
            "SELECT INBOX",
            "UID STORE 1 +FLAGS (\\Flagged)",
        ]
        diff = dv.differences(ours.run(commands), theirs.run(commands))
        assert not diff, "\n".join(d[:800] for d in diff)
    finally:
        ours.close()
        theirs.close()
