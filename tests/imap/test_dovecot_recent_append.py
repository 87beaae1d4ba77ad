"""\\Recent after an APPEND by a session that has the folder selected, against a private
Dovecot 2.3 (the differential tests of ``test_dovecot_diff.py``; issue 13).

RFC 3501 section 2.3.2: a message is \\Recent in exactly one session, the first told of
it. A read-write session that APPENDs to the folder it has selected is told first (the
EXISTS before its OK): we claim the message in the APPEND's own transaction
(``store.recent.claim_in``). A read-only session (EXAMINE) must not take \\Recent away
(section 6.3.2), and an APPEND to another folder claims nothing. Dovecot's answers are the
reference: FETCH FLAGS, SEARCH RECENT and NEW in the appending session, STATUS RECENT and
SELECT in another session. (``dovecot.normalise`` drops the "n RECENT" that follows an
EXISTS, which RFC 3501 section 7.3.2 lets each server send when it likes; the flags and
counts compared here are what a client acts on.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from tests.imap import dovecot as dv
from tests.imap.test_dovecot_diff import Pair, pair

__all__ = ["pair"]  # the fixture, used by name

_RAW = b"From: a@soctrang.gov.vn\r\nSubject: moi\r\n\r\nnoi dung\r\n"
_DATE = "07-Mar-2026 10:00:00 +0700"


def _append(folder: str, flags: str = "") -> bytes:
    return dv.append_command(folder, _RAW, _DATE, flags)


def _unquoted(reply: dv.Reply) -> dv.Reply:
    # STATUS "Luu" (we) or STATUS Luu (Dovecot): the same astring (RFC 3501 section 9).
    return replace(reply, untagged=[re.sub(rb'^(\* STATUS )"([A-Za-z]+)"', rb"\1\2", line)
                                    for line in reply.untagged])


def _check(p: Pair, commands: Sequence[str | bytes]) -> None:
    """``Pair.check``, the mailbox name of STATUS compared as the astring it is."""
    ours, theirs = p.run(commands)
    diff = dv.differences([_unquoted(r) for r in ours], [_unquoted(r) for r in theirs])
    assert not diff, "\n".join(diff)


def test_recent_after_append_by_the_selecting_session(pair: Pair) -> None:
    # The corpus was appended by this session before it selected: the SELECT claims it.
    _check(pair, ["SELECT INBOX", "FETCH 1:* (FLAGS)", "SEARCH RECENT"])
    # Its own APPEND to the folder it has selected: \Recent here, with its EXISTS.
    _check(pair, [_append("INBOX"), "FETCH 1:* (FLAGS)", "SEARCH RECENT", "SEARCH NEW", "NOOP"])
    _check(pair, [_append("INBOX", "\\Seen"), "FETCH 8:* (FLAGS)", "SEARCH RECENT", "SEARCH NEW"])
    other = pair.second()
    try:
        # Nothing is left \Recent for anyone else.
        _check(other, ["STATUS INBOX (MESSAGES RECENT UNSEEN)", "SELECT INBOX", "SEARCH RECENT",
                     "FETCH 1:* (FLAGS)"])
        # The other session (now read-write on INBOX too) APPENDs: \Recent there, not here.
        _check(other, [_append("INBOX"), "SEARCH RECENT", "FETCH 10 (FLAGS)"])
        _check(pair, ["NOOP", "FETCH 10 (FLAGS)", "SEARCH RECENT"])
    finally:
        other.close()


def test_recent_after_append_by_a_read_only_session(pair: Pair) -> None:
    """EXAMINE: the appending session sees the message \\Recent but does not claim it
    (RFC 3501 section 6.3.2); the next read-write SELECT does."""
    _check(pair, ["EXAMINE INBOX"])
    _check(pair, [_append("INBOX"), "FETCH 7:* (FLAGS)", "SEARCH RECENT"])
    other = pair.second()
    try:
        _check(other, ["STATUS INBOX (MESSAGES RECENT)", "SELECT INBOX", "SEARCH RECENT", "FETCH 7 (FLAGS)"])
        _check(other, ["CLOSE"])
    finally:
        other.close()


def test_recent_after_append_to_another_folder(pair: Pair) -> None:
    """An APPEND to a folder other than the one selected claims nothing: the next session
    to select that folder is the first told."""
    _check(pair, ["CREATE Luu", "SELECT INBOX", _append("Luu"), _append("Luu", "\\Seen"), "NOOP",
                "SEARCH RECENT"])
    _check(pair, ["STATUS Luu (MESSAGES RECENT UNSEEN)"])
    other = pair.second()
    try:
        _check(other, ["SELECT Luu", "FETCH 1:* (FLAGS)", "SEARCH RECENT"])
        # Then one appended by the session that has Luu selected: \Recent there.
        _check(other, [_append("Luu"), "FETCH 1:* (FLAGS)", "SEARCH RECENT"])
        # (UNSELECT first: Dovecot sends OK [CLOSED] at a SELECT over another always, we
        # as RFC 7162 section 3.2.11 asks, once QRESYNC is enabled.)
        _check(pair, ["STATUS Luu (MESSAGES RECENT)", "UNSELECT", "SELECT Luu", "SEARCH RECENT"])
    finally:
        other.close()
