"""APPEND: APPENDUID, flags and dates, LITERAL+, APPENDLIMIT and quota answered before the
message is sent, TRYCREATE."""

from __future__ import annotations

import socket

from tests.imap.conftest import message, raw_command


def test_append_with_flags_and_date(user) -> None:
    c = user.client()
    raw = message("Báo cáo tháng 3")
    typ, data = c.append("Sent", "(\\Seen $Work)", '"02-Mar-2026 08:30:00 +0700"', raw)
    assert typ == "OK" and data[0].startswith(b"[APPENDUID ")
    uidvalidity, uid = data[0].split()[1:3]
    c.select("Sent")
    typ, data = c.uid("FETCH", uid.rstrip(b"]").decode(), "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    assert b"FLAGS (\\Seen \\Recent $Work)" in data[0][0] and b'INTERNALDATE "02-Mar-2026 01:30:00 +0000"' in data[0][0]
    assert data[0][1] == raw


def test_append_to_missing_folder_says_trycreate(user) -> None:
    c = user.client()
    typ, data = c.append("Missing", None, None, message())
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")


def test_append_literal_plus_and_selected_exists(user) -> None:
    raw = message()
    with socket.create_connection(("127.0.0.1", user.server.port("imap"))) as s:
        s.recv(4096)
        raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
        raw_command(s, b"b SELECT INBOX\r\n", until=b"b OK")
        reply = raw_command(s, b"c APPEND INBOX {%d+}\r\n" % len(raw) + raw + b"\r\n", until=b"c ")
        assert b"c OK [APPENDUID" in reply and b"* 1 EXISTS" in reply


def test_appendlimit_refused_before_the_literal(user) -> None:
    limit = user.server.app.settings.message_max_bytes
    with socket.create_connection(("127.0.0.1", user.server.port("imap"))) as s:
        s.recv(4096)
        raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
        reply = raw_command(s, b"b APPEND INBOX {%d}\r\n" % (limit + 1), until=b"b ")
        assert reply.startswith(b"b NO [TOOBIG]")
        assert b"c OK" in raw_command(s, b"c NOOP\r\n", until=b"c OK")
        # A LITERAL+ over APPENDLIMIT: refused and closed, its bytes not read (RFC 7888 section 4).
        s.sendall(b"d APPEND INBOX {%d+}\r\n" % (limit + 10) + b"x" * 1000)
        reply = raw_command(s, b"", until=b"* BYE")
        assert reply.startswith(b"d NO [TOOBIG]") and b"* BYE" in reply


def test_overquota_before_the_literal(new_user) -> None:
    u = new_user()
    u.server.run(u.server.app.store.update_mailbox(u.id, quota_bytes=5000))
    c = u.client()
    assert c.append("INBOX", None, None, message(body="a" * 1000))[0] == "OK"
    with socket.create_connection(("127.0.0.1", u.server.port("imap"))) as s:
        s.recv(4096)
        raw_command(s, f"a LOGIN {u.address} Mk@12345678\r\n".encode(), until=b"a OK")
        reply = raw_command(s, b"b APPEND INBOX {6000}\r\n", until=b"b ")
        assert reply.startswith(b"b NO [OVERQUOTA]")
    # Within the announced size but over the quota in the store: still OVERQUOTA.
    typ, data = c.append("INBOX", None, None, message(body="b" * 3200))
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]")
