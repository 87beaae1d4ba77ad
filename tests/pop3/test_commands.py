"""POP3 with poplib: every command of RFC 1939, CAPA, STLS, POP3S, SASL, response codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import poplib
import socket
import ssl
import threading
import time
from typing import cast

import pytest

from tests.conftest import ServerThread
from tests.folders import folder_index_of
from tests.pop3.conftest import (
    DOMAIN,
    PASSWORD,
    connect,
    deliver,
    get,
    inbox_uids,
    insecure_context,
    login,
    longcmd,
    mark_deleted_by_imap,
    message,
    put,
    short,
)


def capabilities(client: poplib.POP3) -> dict[str, list[str]]:
    return {k: v for k, v in client.capa().items()}


def test_greeting_and_capa(server: ServerThread) -> None:
    client = connect(server)
    try:
        assert client.getwelcome().startswith(b"+OK ")
        assert "sẵn sàng / ready" in client.getwelcome().decode()
        caps = capabilities(client)
        for name in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "STLS"):
            assert name in caps, name
        assert caps["SASL"] == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
        assert caps["IMPLEMENTATION"] == ["Cong-Thu"]
    finally:
        client.quit()


def test_every_transaction_command(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    raws = [message(n) for n in (1, 2, 3)]
    uids = [deliver(server, mailbox_id, raw) for raw in raws]
    client = login(server, address)
    try:
        count, size = client.stat()
        assert (count, size) == (3, sum(len(r) for r in raws))
        listing = client.list()
        assert listing[1] == [f"{n} {len(r)}".encode() for n, r in enumerate(raws, 1)]
        assert client.list(2) == f"+OK 2 {len(raws[1])}".encode()
        folder = server.run(server.app.store.get_folder(mailbox_id, "INBOX"))
        assert folder is not None
        expected_uidl = [f"{n} {folder.uidvalidity}.{uid}".encode() for n, uid in enumerate(uids, 1)]
        assert client.uidl()[1] == expected_uidl
        assert client.uidl(3) == b"+OK " + expected_uidl[2]
        resp, lines, octets = client.retr(1)
        assert resp.startswith(b"+OK")
        assert b"\r\n".join(lines) + b"\r\n" == raws[0]
        assert client.noop() == b"+OK"
        assert client.dele(2).startswith(b"+OK")
        with pytest.raises(poplib.error_proto, match="already deleted"):
            client.dele(2)
        with pytest.raises(poplib.error_proto, match="already deleted"):
            client.retr(2)
        with pytest.raises(poplib.error_proto, match="no such message"):
            client.list(9)
        with pytest.raises(poplib.error_proto, match="invalid message number"):
            short(client, "RETR abc")
        assert client.stat() == (2, len(raws[0]) + len(raws[2]))
        assert [line.split()[0] for line in client.list()[1]] == [b"1", b"3"]
        assert client.rset().startswith(b"+OK")
        assert client.stat()[0] == 3
        client.dele(1)
        assert client.quit().startswith(b"+OK")
    finally:
        client.close()
    # QUIT in TRANSACTION enters UPDATE: only message 1 is removed (RFC 1939 section 6).
    assert inbox_uids(server, mailbox_id) == uids[1:]


def test_commands_in_the_wrong_state(server: ServerThread, user: tuple[str, int]) -> None:
    address, _ = user
    client = connect(server)
    try:
        with pytest.raises(poplib.error_proto, match="not allowed in the AUTHORIZATION state"):
            client.stat()
        with pytest.raises(poplib.error_proto, match="USER first"):
            client.pass_(PASSWORD)
        with pytest.raises(poplib.error_proto, match="unknown command"):
            short(client, "XYZZ")
        client.user(address)
        client.pass_(PASSWORD)
        with pytest.raises(poplib.error_proto, match="not allowed in the TRANSACTION state"):
            client.user(address)
        # RFC 2449 section 5: CAPA in TRANSACTION has no USER, SASL or STLS.
        caps = capabilities(client)
        assert "USER" not in caps and "SASL" not in caps and "STLS" not in caps
        assert "UIDL" in caps
    finally:
        client.quit()


def test_top_line_counts(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    body = "".join(f"dòng {i}\r\n" for i in range(1, 6))
    raw = message(1, body=body)
    head = raw[: raw.index(b"\r\n\r\n")]
    deliver(server, mailbox_id, raw)
    client = login(server, address)
    try:
        for n in (0, 1, 2, 5, 6, 1000):
            _resp, lines, _octets = client.top(1, n)
            header_lines = head.split(b"\r\n")
            assert lines[: len(header_lines)] == header_lines
            assert lines[len(header_lines)] == b""
            assert lines[len(header_lines) + 1:] == [f"dòng {i}".encode() for i in range(1, min(n, 5) + 1)]
        with pytest.raises(poplib.error_proto, match="invalid line count"):
            short(client, "TOP 1 -1")
        with pytest.raises(poplib.error_proto, match="TOP msg n"):
            short(client, "TOP 1")
        # TOP does not count as retrieval: the message stays unseen.
    finally:
        client.quit()
    meta = server.run(folder_index_of(server.app.store, mailbox_id))
    assert meta[0].flags == 0


def test_retr_marks_seen_at_quit(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    deliver(server, mailbox_id, message(1))
    deliver(server, mailbox_id, message(2))
    client = login(server, address)
    client.retr(2)
    client.quit()
    assert [m.flags for m in server.run(folder_index_of(server.app.store, mailbox_id))] == [0, 1]


def test_dot_stuffing_and_vietnamese_round_trip(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    body = (".bắt đầu bằng dấu chấm\r\n..hai dấu chấm\r\n.\r\n"
            "Cộng hòa xã hội chủ nghĩa Việt Nam — Độc lập, Tự do, Hạnh phúc\r\n. \r\n.")
    raw = message(1, body=body, subject="Thư có dấu chấm đầu dòng")
    deliver(server, mailbox_id, raw)
    # poplib un-stuffs; what it returns must be the stored bytes exactly.
    client = login(server, address)
    try:
        _resp, lines, _ = client.retr(1)
        assert b"\r\n".join(lines) == raw
    finally:
        client.quit()
    # On the wire every line that starts with "." carries one more.
    with socket.create_connection(("127.0.0.1", server.port("pop3")), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(f"USER {address}\r\nPASS {PASSWORD}\r\nRETR 1\r\n".encode())
        for _ in range(3):
            assert reader.readline().startswith(b"+OK")
        wire = []
        while (line := reader.readline()) != b".\r\n":
            wire.append(line)
        sock.sendall(b"QUIT\r\n")
    text = b"".join(wire)
    assert b"\r\n..b\xe1\xba\xaft" in text and b"\r\n...hai" in text and b"\r\n..\r\n" in text
    assert b"\r\n.. \r\n" in text and text.endswith(b"\r\n..\r\n")  # final CRLF added


def test_big_message_with_many_dot_lines(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    body = "".join(f".dòng {i} bắt đầu bằng dấu chấm\r\n" for i in range(150_000))
    raw = message(1, body=body)
    assert len(raw) > 5_000_000
    deliver(server, mailbox_id, raw)
    client = login(server, address)
    try:
        started = time.monotonic()
        _resp, lines, octets = client.retr(1)
        assert time.monotonic() - started < 10
        assert b"\r\n".join(lines) + b"\r\n" == raw
        assert octets == len(raw)  # poplib counts what is left after un-stuffing
    finally:
        client.quit()


def test_bare_lf_message_is_sent_with_crlf(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    raw = message(1).replace(b"\r\n", b"\n")
    deliver(server, mailbox_id, raw)
    client = login(server, address)
    try:
        _resp, lines, _ = client.retr(1)
        assert b"\n".join(lines) + b"\n" == raw
        assert all(b"\r" not in line for line in lines)
    finally:
        client.quit()


def test_uidl_stable_across_sessions_and_deletions(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    for n in range(1, 6):
        deliver(server, mailbox_id, message(n))

    def uidl_map() -> dict[bytes, bytes]:
        client = login(server, address)
        try:
            pairs = [line.split() for line in client.uidl()[1]]
            retrieved = {uid: b"\r\n".join(client.retr(int(num))[1]) for num, uid in pairs}
        finally:
            client.quit()
        return retrieved

    first = uidl_map()
    assert len(first) == 5 and len(set(first)) == 5
    assert uidl_map() == first  # a second session sees the same ids for the same messages
    client = login(server, address)
    client.dele(2)
    client.dele(4)
    client.quit()
    deliver(server, mailbox_id, message(6))
    after = uidl_map()
    kept = {k: v for i, (k, v) in enumerate(first.items()) if i not in (1, 3)}
    assert {k: v for k, v in after.items() if k in first} == kept
    assert len(after) == 4 and len(set(after) - set(first)) == 1


def test_quit_removes_only_what_this_session_marked(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    uids = [deliver(server, mailbox_id, message(n)) for n in (1, 2, 3)]
    mark_deleted_by_imap(server, mailbox_id, uids[2])  # \Deleted from IMAP, not expunged
    client = login(server, address)
    assert client.stat()[0] == 3
    late = deliver(server, mailbox_id, message(4))  # arrives during the session
    assert client.stat()[0] == 3  # RFC 1939: the maildrop is fixed for the session
    client.dele(1)
    client.quit()
    assert inbox_uids(server, mailbox_id) == [uids[1], uids[2], late]


def test_lost_connection_deletes_nothing(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    uids = [deliver(server, mailbox_id, message(n)) for n in (1, 2)]
    client = login(server, address)
    client.dele(1)
    client.close()  # no QUIT: no UPDATE state
    deadline = time.monotonic() + 5
    while True:  # the lock goes once the server has seen the close
        try:
            again = login(server, address)
            break
        except poplib.error_proto:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert again.stat()[0] == 2
    again.quit()
    assert inbox_uids(server, mailbox_id) == uids


def test_maildrop_lock_in_use(server: ServerThread, user: tuple[str, int]) -> None:
    address, _ = user
    first = login(server, address)
    second = connect(server)
    second.user(address)
    with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[IN-USE\]"):
        second.pass_(PASSWORD)
    first.quit()
    second.user(address)
    assert second.pass_(PASSWORD).startswith(b"+OK")
    second.quit()


def test_password_with_spaces(server: ServerThread) -> None:
    address = f"ltmai@{DOMAIN}"
    server.add_user(address, "Mật khẩu có dấu cách 9!")
    client = login(server, address, "Mật khẩu có dấu cách 9!")
    client.quit()


def test_expired_password_says_where_to_change_it(server: ServerThread) -> None:
    address = f"moi@{DOMAIN}"
    server.add_user(address, PASSWORD, must_change=True)
    client = connect(server)
    client.user(address)
    with pytest.raises(poplib.error_proto) as failed:
        client.pass_(PASSWORD)
    answer = failed.value.args[0].decode()
    assert answer.startswith("-ERR [AUTH] Mật khẩu đã hết hạn")
    assert "/doi-mat-khau" in answer and "password expired" in answer
    client.quit()


def test_failed_logins_are_slow_and_the_third_closes(server: ServerThread, user: tuple[str, int]) -> None:
    address, _ = user
    client = connect(server)
    started = time.monotonic()
    for attempt in range(1, 4):
        client.user(address)
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[AUTH\]"):
            client.pass_("Sai@mat-khau1")
        assert time.monotonic() - started >= 0.5 * attempt * (attempt + 1) / 2 - 0.05
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        client.noop()  # the server has hung up
    client.close()
    # A right password still works on a new connection.
    login(server, address).quit()


def test_plaintext_refused_without_tls(strict_server: ServerThread) -> None:
    address = f"dvthong@{DOMAIN}"
    strict_server.add_user(address, PASSWORD)
    client = connect(strict_server)
    try:
        caps = capabilities(client)
        assert "STLS" in caps and "USER" not in caps
        assert caps["SASL"] == ["SCRAM-SHA-256"]  # the password never crosses the wire
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*use STLS"):
            client.user(address)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*use STLS"):
            short(client, "AUTH PLAIN " + base64.b64encode(f"\0{address}\0{PASSWORD}".encode()).decode())
        client.stls(insecure_context())
        caps = capabilities(client)
        assert "USER" in caps and "STLS" not in caps
        assert caps["SASL"] == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
        client.user(address)
        assert client.pass_(PASSWORD).startswith(b"+OK")
    finally:
        client.quit()


def test_stls(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    raw = message(1)
    deliver(server, mailbox_id, raw)
    client = connect(server)
    try:
        client.stls(insecure_context())
        assert cast(ssl.SSLSocket, client.sock).version() in ("TLSv1.2", "TLSv1.3")
        with pytest.raises(poplib.error_proto, match="TLS already active"):
            short(client, "STLS")
        client.user(address)
        client.pass_(PASSWORD)
        assert b"\r\n".join(client.retr(1)[1]) + b"\r\n" == raw
    finally:
        client.quit()


def test_stls_discards_plaintext_sent_after_it(server: ServerThread) -> None:
    """RFC 2595 section 4 / CVE-2011-0411: a command pipelined after STLS in the clear
    must not be run as if it had come through TLS."""
    with socket.create_connection(("127.0.0.1", server.port("pop3")), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b"STLS\r\nCAPA\r\n")
        assert reader.readline().startswith(b"+OK")
        with insecure_context().wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(b"QUIT\r\n")
            answer = tls.recv(1024)
            assert answer.startswith(b"+OK") and b"bye" in answer  # not the CAPA list


def test_pop3_ssl(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    raw = message(1)
    deliver(server, mailbox_id, raw)
    client = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=insecure_context(), timeout=15)
    try:
        assert "STLS" not in capabilities(client)
        client.user(address)
        client.pass_(PASSWORD)
        assert b"\r\n".join(client.retr(1)[1]) + b"\r\n" == raw
    finally:
        client.quit()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_sasl_plain_and_login(server: ServerThread, user: tuple[str, int]) -> None:
    address, _ = user
    # RFC 5034: initial response.
    client = connect(server)
    assert short(client, f"AUTH PLAIN {_b64(chr(0) + address + chr(0) + PASSWORD)}").startswith(b"+OK")
    client.quit()
    # Without it: an empty challenge, then the response.
    client = connect(server)
    put(client, "AUTH PLAIN")
    assert get(client) == b"+ "
    assert short(client, _b64(f"{address}\0{address}\0{PASSWORD}")).startswith(b"+OK")
    client.quit()
    # LOGIN: user, then password.
    client = connect(server)
    put(client, "AUTH LOGIN")
    assert get(client) == b"+ " + _b64("Username:").encode()
    put(client, _b64(address))
    assert get(client) == b"+ " + _b64("Password:").encode()
    assert short(client, _b64(PASSWORD)).startswith(b"+OK")
    client.quit()
    # Cancel, garbage, another user's authorisation identity, a wrong password.
    client = connect(server)
    put(client, "AUTH PLAIN")
    assert get(client) == b"+ "
    with pytest.raises(poplib.error_proto, match="cancelled"):
        short(client, "*")
    with pytest.raises(poplib.error_proto, match="invalid base64"):
        short(client, "AUTH PLAIN !!!")
    with pytest.raises(poplib.error_proto, match="unsupported mechanism"):
        short(client, "AUTH CRAM-MD5")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        short(client, f"AUTH PLAIN {_b64('admin@' + DOMAIN + chr(0) + address + chr(0) + PASSWORD)}")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        short(client, f"AUTH PLAIN {_b64(chr(0) + address + chr(0) + 'Sai@1234567')}")
    # Bare AUTH lists the mechanisms (RFC 1734 style, which some clients still use).
    resp, lines, _ = longcmd(client, "AUTH")
    assert lines == [b"SCRAM-SHA-256", b"PLAIN", b"LOGIN"]
    client.close()


def test_pipelining(server: ServerThread, user: tuple[str, int]) -> None:
    address, mailbox_id = user
    for n in range(1, 4):
        deliver(server, mailbox_id, message(n))
    with socket.create_connection(("127.0.0.1", server.port("pop3")), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        commands = [f"USER {address}", f"PASS {PASSWORD}", "STAT", "DELE 1", "NOOP", "STAT"]
        sock.sendall("".join(c + "\r\n" for c in commands).encode())
        answers = [reader.readline() for _ in commands]
        assert all(a.startswith(b"+OK") for a in answers), answers
        assert answers[2].startswith(b"+OK 3 ") and answers[5].startswith(b"+OK 2 ")
        sock.sendall(b"RSET\r\nQUIT\r\n")
        assert reader.readline().startswith(b"+OK")
        assert reader.readline().startswith(b"+OK")


def test_many_concurrent_sessions(server: ServerThread) -> None:
    addresses = [f"user{i}@{DOMAIN}" for i in range(8)]
    ids = [server.add_user(a, PASSWORD) for a in addresses]
    for mailbox_id in ids:
        deliver(server, mailbox_id, message(mailbox_id))
    errors: list[BaseException] = []

    def fetch(address: str) -> None:
        try:
            client = login(server, address)
            assert client.stat()[0] == 1
            client.retr(1)
            client.quit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(a,)) for a in addresses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors


def scram_login(client: poplib.POP3, address: str, password: str) -> bytes:
    """A SCRAM-SHA-256 client (RFC 5802 section 3) over POP3 AUTH (RFC 5034)."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={address},r={nonce}"
    put(client, "AUTH SCRAM-SHA-256 " + _b64("n,," + first_bare))
    line = get(client)
    assert line.startswith(b"+ "), line
    server_first = base64.b64decode(line[2:]).decode()
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    without_proof = f"c={_b64('n,,')},r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    put(client, _b64(f"{without_proof},p={base64.b64encode(proof).decode()}"))
    line = get(client)
    if not line.startswith(b"+ "):
        return line  # refused before the server's proof
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = hmac.digest(server_key, auth_message, "sha256")
    assert base64.b64decode(line[2:]) == b"v=" + base64.b64encode(expected)
    put(client, "")
    return get(client)


def test_scram_without_tls(strict_server: ServerThread) -> None:
    """SCRAM-SHA-256 needs no TLS: the password itself never crosses the wire."""
    address = f"dvthong@{DOMAIN}"
    strict_server.add_user(address, PASSWORD)
    client = connect(strict_server)
    try:
        assert scram_login(client, address, "Sai@12345678").startswith(b"-ERR [AUTH]")
        assert scram_login(client, address, PASSWORD).startswith(b"+OK")
        assert client.stat() == (0, 0)
    finally:
        client.quit()
