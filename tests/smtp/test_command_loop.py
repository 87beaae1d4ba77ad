"""The SMTP doors' command loop (aiosmtpd's ``SMTP._handle_client``, dispatching to our
command table): each rule it applies to a line before the command's
handler, and the reply it gives, over a real socket to a running server. The replies are
aiosmtpd's, made bilingual with enhanced codes by ``errors``; the session goes on after
each, except where the rule closes it (RFC 5321 section 3.8)."""

from __future__ import annotations

import pytest

from tests.conftest import ServerThread
from tests.smtp.conftest import messages
from tests.smtp.rawclient import Raw
from tests.smtp.test_close import assert_closed

BOB = "ntbinh@soctrang.gov.vn"
OUTSIDE = "vanthu@cantho.gov.vn"


def _reply_line(raw: Raw, line: bytes) -> bytes:
    """Send ``line`` and CRLF; the last line of the reply, whole."""
    raw.send(line + b"\r\n")
    while True:
        got = raw.file.readline()
        assert got, "closed"
        if got[3:4] != b"-":
            return got.rstrip(b"\r\n")


@pytest.mark.parametrize(("line", "reply"), [
    (b"", b"500 5.5.2 "),  # an empty line
    (b"   ", b"500 5.5.2 "),  # only blanks: no verb
    (b"N\xc3\x94OP", b"500 5.5.2 "),  # a verb that is not ASCII
    (b"NOOP " + b"x" * 600, b"500 5.5.6 "),  # over the 512 octets of RFC 5321 section 4.5.3.1.4
    (b"XYZZY", b'500 5.5.2 '),  # an unknown verb
])
def test_a_bad_line_is_answered_and_the_session_goes_on(mx: ServerThread, line: bytes, reply: bytes) -> None:
    raw = Raw(mx.port("smtp"))
    try:
        assert raw.greeting[0] == 220
        assert _reply_line(raw, b"EHLO mail.cantho.gov.vn").startswith(b"250 ")
        assert _reply_line(raw, line).startswith(reply)
        assert _reply_line(raw, b"noop").startswith(b"250 ")  # verbs are case-insensitive
    finally:
        raw.close()


def test_an_unknown_verb_is_named_in_the_reply(mx: ServerThread) -> None:
    raw = Raw(mx.port("smtp"))
    try:
        assert _reply_line(raw, b"xyzzy now").endswith(b' / command "XYZZY" not recognized')
    finally:
        raw.close()


def test_a_line_over_the_reader_limit_is_read_to_its_end(mx: ServerThread) -> None:
    """A line longer than the stream's buffer limit (64 KiB) is read through to its CRLF
    and answered once; the next line is a command again."""
    raw = Raw(mx.port("smtp"))
    try:
        assert _reply_line(raw, b"NOOP " + b"y" * 200_000).startswith(b"500 5.5.6 ")
        assert _reply_line(raw, b"NOOP").startswith(b"250 ")
    finally:
        raw.close()


def test_five_unknown_verbs_close_the_session(mx: ServerThread) -> None:
    raw = Raw(mx.port("smtp"))
    for _ in range(4):
        assert _reply_line(raw, b"BOGUS").startswith(b"500 5.5.2 ")
    # aiosmtpd's "502 5.5.1 Too many unrecognized commands" as ``errors`` words it: the
    # connection closes, so 421 (RFC 5321 section 3.8).
    last = _reply_line(raw, b"BOGUS")
    assert last.startswith(b"421 4.7.0 ") and last.endswith(b"too many unrecognized commands, closing")
    assert_closed(raw)


def test_the_call_limit_closes_the_session(mx: ServerThread) -> None:
    """AUTH five times at most on a connection (the limit is per verb): the sixth is
    answered 421 and the connection closed."""
    raw = Raw(mx.port("smtp"))
    assert _reply_line(raw, b"EHLO mail.cantho.gov.vn").startswith(b"250 ")
    for _ in range(5):
        assert not _reply_line(raw, b"AUTH PLAIN AGFiYwBkZWY=").startswith(b"421")
    assert _reply_line(raw, b"AUTH PLAIN AGFiYwBkZWY=").startswith(b"421 4.7.0 ")
    assert_closed(raw)


def test_an_8bit_argument_reaches_the_command_as_sent(mx: ServerThread) -> None:
    """The argument is read as UTF-8 (SMTPUTF8, RFC 6531): a sender with a non-ASCII
    local part is kept as written (the stored message's Return-Path)."""
    mailbox = mx.add_user(BOB)
    sender = "bình@cantho.gov.vn"
    raw = Raw(mx.port("smtp"))
    try:
        assert _reply_line(raw, b"EHLO mail.cantho.gov.vn").startswith(b"250 ")
        assert _reply_line(raw, f"MAIL FROM:<{sender}> SMTPUTF8".encode()).startswith(b"250 ")
        assert _reply_line(raw, f"RCPT TO:<{BOB}>".encode()).startswith(b"250 ")
        assert _reply_line(raw, b"DATA").startswith(b"354 ")
        body = f"From: {OUTSIDE}\r\nTo: {BOB}\r\nSubject: loop\r\n\r\nhello\r\n.".encode()
        assert _reply_line(raw, body).startswith(b"250 ")
        assert _reply_line(raw, b"QUIT").startswith(b"221 ")
    finally:
        raw.close()
    [stored] = [m for m in messages(mx, mailbox) if b"Subject: loop" in m]
    assert f"<{sender}>".encode() in stored.split(b"\r\n\r\n")[0]
