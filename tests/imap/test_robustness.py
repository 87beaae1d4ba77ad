"""Bad clients: garbage, long lines, huge and unterminated literals, slow readers, many
connections, pipelining. Each gets a clear BAD/NO or a closed connection; the server
goes on serving others."""

from __future__ import annotations

import socket
import time

from tests.imap.conftest import message, raw_command


def _connect(server) -> socket.socket:  # type: ignore[no-untyped-def]
    s = socket.create_connection(("127.0.0.1", server.port("imap")))
    s.recv(4096)
    return s


def _alive(server) -> None:  # type: ignore[no-untyped-def]
    with _connect(server) as s:
        assert b"z OK" in raw_command(s, b"z NOOP\r\n", until=b"z OK")


def test_garbage_gets_bad(server) -> None:
    with _connect(server) as s:
        for junk in (b"\r\n", b"???\r\n", b"a\r\n", b"a FROB\r\n", b'a LOGIN "unterminated\r\n',
                     b"a LOGIN {abc}\r\n", b"\x00\xff\xfe\r\n", b"a UID NOOP\r\n"):
            reply = raw_command(s, junk, until=b"\r\n")
            assert b"BAD" in reply, junk
    _alive(server)


def test_too_many_bad_commands_close(server) -> None:
    with _connect(server) as s:
        s.sendall(b"x FROB\r\n" * 30)
        data = b""
        s.settimeout(5)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        assert b"* BYE" in data


def test_long_line(server) -> None:
    with _connect(server) as s:
        reply = raw_command(s, b"a NOOP " + b"x" * 200_000 + b"\r\n", until=b"\r\n")
        assert b"BAD" in reply and b"too long" in reply
        assert b"b OK" in raw_command(s, b"b NOOP\r\n", until=b"b ")


def test_huge_literal_refused_before_reading(server) -> None:
    with _connect(server) as s:
        reply = raw_command(s, b"a LOGIN {99999999999}\r\n", until=b"\r\n")
        assert reply.startswith(b"a BAD") and b"+ " not in reply[:2]
    with _connect(server) as s:
        # LITERAL+ too large: refused and closed without reading (RFC 7888 section 4).
        reply = raw_command(s, b"b LOGIN {100000+}\r\n" + b"x" * 100 + b" y\r\nc NOOP\r\n", until=b"* BYE")
        assert b"b BAD" in reply and b"c OK" not in reply


def test_unterminated_literal_times_out_alone(user) -> None:
    s = _connect(user.server)
    try:
        raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
        assert raw_command(s, b"b APPEND INBOX {5000}\r\n", until=b"\r\n").startswith(b"+")
        s.sendall(b"only a few bytes")
        _alive(user.server)  # others are served while this one waits
    finally:
        s.close()


def test_slow_reader_does_not_block_others(user) -> None:
    big = message(attachment=b"z" * 3_000_000)
    user.deliver(big)
    s = _connect(user.server)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
        raw_command(s, b"b SELECT INBOX\r\n", until=b"b OK")
        s.sendall(b"c FETCH 1 BODY.PEEK[]\r\nd FETCH 1 BODY.PEEK[]\r\n")  # and never read
        time.sleep(0.5)
        start = time.monotonic()
        c = user.client()
        c.select("INBOX")
        assert c.fetch("1", "(RFC822.SIZE)")[0] == "OK"
        assert time.monotonic() - start < 5
    finally:
        s.close()


def test_pipelined_commands(user) -> None:
    with _connect(user.server) as s:
        cmds = (f"a LOGIN {user.address} Mk@12345678\r\nb SELECT INBOX\r\nc NOOP\r\n"
                f"d LIST \"\" INBOX\r\ne LOGOUT\r\n").encode()
        reply = raw_command(s, cmds, until=b"e OK")
        for tag in (b"a OK", b"b OK", b"c OK", b"d OK", b"* BYE", b"e OK"):
            assert tag in reply


def test_pipelined_answers_come_before_any_wait_for_the_client(user) -> None:
    """Pipelined commands are answered in one write once no command is waiting in the
    input; whatever then waits for the client (a literal's "+", a SASL challenge, IDLE,
    the next command) must come with every answer before it, in order."""
    with _connect(user.server) as s:
        login = f"a LOGIN {user.address} Mk@12345678\r\n".encode()
        reply = raw_command(s, login + b"b SELECT INBOX\r\nc NOOP\r\nd APPEND INBOX {5}\r\n", until=b"\r\n+ ")
        assert reply.index(b"a OK") < reply.index(b"b OK") < reply.index(b"c OK") < reply.index(b"\r\n+ ")
        reply = raw_command(s, b"hello\r\ne NOOP\r\nf NOOP\r\ng IDLE\r\n", until=b"\r\n+ idling")
        assert reply.index(b"d OK") < reply.index(b"e OK") < reply.index(b"f OK") < reply.index(b"\r\n+ idling")
        reply = raw_command(s, b"DONE\r\nh NOOP\r\ni CHECK\r\n", until=b"i OK")
        assert reply.index(b"g OK") < reply.index(b"h OK") < reply.index(b"i OK")
    with _connect(user.server) as s:
        reply = raw_command(s, b"a NOOP\r\nb CAPABILITY\r\nc AUTHENTICATE PLAIN\r\n", until=b"\r\n+ ")
        assert reply.index(b"a OK") < reply.index(b"b OK") < reply.index(b"\r\n+ ")
        reply = raw_command(s, b"*\r\n", until=b"c BAD")
        assert b"c BAD" in reply


def test_many_connections(user) -> None:
    socks = []
    try:
        for _ in range(300):
            socks.append(_connect(user.server))
        c = user.client()
        assert c.noop()[0] == "OK"
    finally:
        for s in socks:
            s.close()
    _alive(user.server)


def test_random_bytes_on_the_wire(user) -> None:
    """Seeded random junk, including literal markers, in every state: the server answers
    or closes, and keeps serving others."""
    import random

    rng = random.Random(5)
    pieces = [b"{5}\r\n", b"{3+}\r\nabc", b"\r\n", b"(", b")", b'"', b"\\", b"*", b"UID ", b"FETCH ",
              b"1:*", b"BODY[", b"\x00", b"\xff", b"a ", b"IDLE\r\n", b"DONE\r\n", b"SELECT INBOX\r\n"]
    for round_ in range(20):
        with _connect(user.server) as s:
            if round_ % 2:
                raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
            junk = b"".join(rng.choice(pieces) for _ in range(60)) + b"\r\nz NOOP\r\n"
            s.settimeout(5)
            try:
                s.sendall(junk)
                s.recv(65536)
            except OSError:
                pass
    _alive(user.server)


def _closed_after(s: socket.socket, limit: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (fails on a timeout)."""
    s.settimeout(limit)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_oversize_literal_plus_closes_without_reading(user) -> None:
    """RFC 7888 section 4: a non-synchronising literal larger than we accept is refused
    and the connection closed; none of its bytes is read, before login or after."""
    for login, command in ((False, b"a LOGIN {999999999+}\r\n"),
                           (True, b"a CREATE {999999999+}\r\n"),
                           (True, b"a APPEND INBOX {999999999+}\r\n")):
        with _connect(user.server) as s:
            if login:
                raw_command(s, f"L LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"L OK")
            started = time.monotonic()
            s.sendall(command + b"only a few bytes of it")
            reply = _closed_after(s)
            assert time.monotonic() - started < 4, command
            assert reply.startswith((b"a BAD [TOOBIG]", b"a NO [TOOBIG]")), (command, reply)
            assert b"* BYE" in reply, reply
    _alive(user.server)


def test_refused_append_within_appendlimit_is_read_past(new_user) -> None:
    """APPEND over quota (but within APPENDLIMIT) with LITERAL+: NO [OVERQUOTA], the bytes
    are read past and the connection goes on (as Dovecot does)."""
    u = new_user()
    u.server.run(u.server.app.store.update_mailbox(u.id, quota_bytes=5000))
    with _connect(u.server) as s:
        raw_command(s, f"L LOGIN {u.address} Mk@12345678\r\n".encode(), until=b"L OK")
        body = b"x" * 6000
        reply = raw_command(s, b"a APPEND INBOX {6000+}\r\n" + body + b"\r\nb NOOP\r\n", until=b"b OK")
        assert b"a NO [OVERQUOTA]" in reply and b"b OK" in reply
