"""Mailbox names that are not Net-Unicode (RFC 9051 section 5.1, RFC 5198 section 2;
RFC 6855 section 3): invalid 8-bit bytes and control characters, sent raw, as UTF-8 or
hidden in modified UTF-7 (RFC 3501 section 5.1.3), get a clear NO on every command that
takes a name, never NO [SERVERBUG], and never become a folder. Compared with Dovecot
2.3, which answers NO to each of these (it accepts C1 controls, which we refuse too)."""

from __future__ import annotations

import socket

import pytest

from tests.imap.conftest import PASSWORD, raw_command

# Quoted mailbox names as sent on the wire, none of which may become a folder.
BAD_NAMES = [
    b'"f\x80/y"',        # an 8-bit byte that is not UTF-8
    b'"\xc3("',          # a broken UTF-8 sequence
    b'"&AAA-"',          # U+0000 NUL in modified UTF-7
    b'"x&AA0-y"',        # CR
    b'"x&AAo-y"',        # LF
    b'"&AAE-"',          # another C0 control
    b'"a&AH8-"',         # DEL
    b'"a&AIU-"',         # C1 control (NEL)
    b'"a\x01b"',         # a raw control character in a quoted string
    b'"a\x7fb"',         # a raw DEL
]


def _session(user) -> socket.socket:  # type: ignore[no-untyped-def]
    s = socket.create_connection(("127.0.0.1", user.server.port("imap")), timeout=10)
    s.recv(4096)
    reply = raw_command(s, f"L LOGIN {user.address} {PASSWORD}\r\n".encode(), until=b"L OK")
    assert b"L OK" in reply
    return s


def _tagged(s: socket.socket, tag: bytes, command: bytes) -> bytes:
    """Send one command, return its tagged reply line."""
    s.sendall(tag + b" " + command + b"\r\n")
    data = b""
    while True:
        for line in data.split(b"\r\n")[:-1]:
            if line.startswith(tag + b" "):
                return line
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk


@pytest.mark.parametrize("utf8", [False, True], ids=["utf7", "utf8-accept"])
def test_names_that_are_not_net_unicode_are_refused(user, utf8: bool) -> None:  # type: ignore[no-untyped-def]
    s = _session(user)
    try:
        if utf8:
            assert b"E OK" in _tagged(s, b"E", b"ENABLE UTF8=ACCEPT")
        assert _tagged(s, b"k", b"CREATE keep").startswith(b"k OK")
        for n, name in enumerate(BAD_NAMES):
            if utf8 and b"&" in name:
                continue  # not modified UTF-7 once UTF-8 is enabled
            for verb, command in (("create", b"CREATE " + name),
                                  ("rename", b"RENAME keep " + name),
                                  ("select", b"SELECT " + name),
                                  ("append", b"APPEND " + name + b" {3+}\r\nabc"),
                                  ("status", b"STATUS " + name + b" (MESSAGES)"),
                                  ("subscribe", b"SUBSCRIBE " + name)):
                tag = b"t%d%s" % (n, verb.encode())
                reply = _tagged(s, tag, command)
                assert reply.startswith(tag + b" NO"), (name, reply)
                assert b"SERVERBUG" not in reply, (name, reply)
        listed = raw_command(s, b'l LIST "" "*"\r\n', until=b"l OK")
        assert b"keep" in listed
        for raw in (b"\x00", b"\x01", b"\x7f", b"\x80", b"\xc2\x85", b"&AAA-", b"&AAE-", b"&AIU-", b"&AH8-"):
            assert raw not in listed.split(b"\r\n", 1)[1], (raw, listed)
    finally:
        s.close()
    # Nothing was stored and the server logged no bug.
    names = [f.name for f in user.server.run(user.server.app.store.list_folders(user.id))]
    assert "keep" in names and all(n.isprintable() for n in names), names


def test_good_names_still_work(user) -> None:  # type: ignore[no-untyped-def]
    s = _session(user)
    try:
        for tag, name in ((b"a", b'"Th&AbA- &AREA4w- g&Hu0-i"'), (b"b", b'"D&Hu8- &AOE-n/2026"'), (b"c", b"~foo")):
            assert _tagged(s, tag, b"CREATE " + name).startswith(tag + b" OK"), name
            assert _tagged(s, tag + b"s", b"SELECT " + name).startswith(tag + b"s OK"), name
    finally:
        s.close()
