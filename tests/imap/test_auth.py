"""Greeting, CAPABILITY, NOOP, LOGOUT, ID, ENABLE, STARTTLS, implicit TLS, LOGIN and
AUTHENTICATE (PLAIN with and without SASL-IR), RFC 5530 codes."""

from __future__ import annotations

import base64
import imaplib
import socket
import ssl

import pytest

from tests.imap.conftest import PASSWORD, raw_command


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_greeting_and_capability(server) -> None:
    c = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    assert c.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1")
    caps = c.capabilities
    assert "STARTTLS" in caps and "AUTH=PLAIN" in caps and "LITERAL+" in caps
    assert c.noop()[0] == "OK"
    typ, data = c.logout()
    assert typ == "BYE"


def test_login_and_authenticated_capabilities(user) -> None:
    c = imaplib.IMAP4("127.0.0.1", user.server.port("imap"))
    typ, data = c.login(user.address, PASSWORD)
    assert typ == "OK" and b"[CAPABILITY " in data[0] and b"QRESYNC" in data[0]
    typ, data = c.capability()
    caps = data[0].split()
    for cap in (b"IDLE", b"NAMESPACE", b"UIDPLUS", b"MOVE", b"SPECIAL-USE", b"CONDSTORE", b"QUOTA", b"ACL",
                b"ESEARCH", b"SORT", b"APPENDLIMIT=26214400", b"UTF8=ACCEPT", b"LIST-STATUS", b"STATUS=SIZE"):
        assert cap in caps
    c.logout()


def test_login_wrong_password(user) -> None:
    c = imaplib.IMAP4("127.0.0.1", user.server.port("imap"))
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login(user.address, "wrong-Password1!")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login("nobody@soctrang.gov.vn", PASSWORD)
    # Still usable after failures.
    assert c.login(user.address, PASSWORD)[0] == "OK"


def test_must_change_password_gives_expired(new_user) -> None:
    u = new_user(must_change=True)
    c = imaplib.IMAP4("127.0.0.1", u.server.port("imap"))
    with pytest.raises(imaplib.IMAP4.error) as info:
        c.login(u.address, PASSWORD)
    assert "[EXPIRED]" in str(info.value) and "doi-mat-khau" in str(info.value)


def test_commands_outside_their_state(server) -> None:
    with socket.create_connection(("127.0.0.1", server.port("imap"))) as s:
        s.recv(4096)
        assert b"a BAD" in raw_command(s, b"a SELECT INBOX\r\n", until=b"a ")
        assert b"b BAD" in raw_command(s, b"b FETCH 1 FLAGS\r\n", until=b"b ")
        assert b"c BAD" in raw_command(s, b"c ENABLE CONDSTORE\r\n", until=b"c ")


def test_authenticate_plain_with_and_without_sasl_ir(user) -> None:
    c = imaplib.IMAP4("127.0.0.1", user.server.port("imap"))
    # imaplib sends the mechanism, waits for "+", then the response (no SASL-IR).
    typ, _ = c.authenticate("PLAIN", lambda _: f"\0{user.address}\0{PASSWORD}".encode())
    assert typ == "OK"
    with socket.create_connection(("127.0.0.1", user.server.port("imap"))) as s:
        s.recv(4096)
        ir = base64.b64encode(f"\0{user.address}\0{PASSWORD}".encode())
        reply = raw_command(s, b"a AUTHENTICATE PLAIN " + ir + b"\r\n", until=b"a ")
        assert b"a OK [CAPABILITY" in reply
        reply = raw_command(s, b"b AUTHENTICATE PLAIN " + base64.b64encode(b"\0x\0y") + b"\r\n", until=b"b ")
        assert b"b BAD" in reply  # already authenticated


def test_authenticate_cancel_and_garbage(server) -> None:
    with socket.create_connection(("127.0.0.1", server.port("imap"))) as s:
        s.recv(4096)
        reply = raw_command(s, b"a AUTHENTICATE PLAIN\r\n", until=b"+ ")
        assert reply.startswith(b"+ ")
        assert b"a BAD" in raw_command(s, b"*\r\n", until=b"a ")
        assert b"b BAD" in raw_command(s, b"b AUTHENTICATE PLAIN !!!notbase64\r\n", until=b"b ")
        assert b"c NO [CANNOT]" in raw_command(s, b"c AUTHENTICATE GSSAPI\r\n", until=b"c ")


def test_starttls_then_login(user) -> None:
    c = imaplib.IMAP4("127.0.0.1", user.server.port("imap"))
    assert c.starttls(_tls())[0] == "OK"
    assert "STARTTLS" not in c.capabilities
    assert c.login(user.address, PASSWORD)[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()


def test_starttls_refuses_pipelined_plaintext(server) -> None:
    with socket.create_connection(("127.0.0.1", server.port("imap"))) as s:
        s.recv(4096)
        reply = raw_command(s, b"a STARTTLS\r\nb LOGIN x y\r\n", until=b"a ")
        assert b"a BAD" in reply


def test_implicit_tls(user) -> None:
    c = imaplib.IMAP4_SSL("127.0.0.1", user.server.port("imaps"), ssl_context=_tls())
    assert "STARTTLS" not in c.capabilities
    assert c.login(user.address, PASSWORD)[0] == "OK"
    c.logout()


def test_id_and_enable(user) -> None:
    c = user.client()
    typ, data = c.xatom("ID", '("name" "pytest" "version" "1")')
    assert typ == "OK"
    assert any(b'"name" "C' in d for d in c.untagged_responses.get("ID", []))
    typ, data = c.xatom("ENABLE", "CONDSTORE UTF8=ACCEPT NOSUCH")
    assert typ == "OK"
    assert c.untagged_responses["ENABLED"][0].split() == [b"CONDSTORE", b"UTF8=ACCEPT"]


def test_loginsdisabled_without_tls_off_loopback(server) -> None:
    """The dev setting allows plaintext only over loopback; the rule is the accounts' one."""
    c = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    assert "LOGINDISABLED" not in c.capabilities  # loopback + dev mode
    assert server.app.accounts.plaintext_allowed(False, "192.0.2.7") is False


def test_authenticate_scram_sha_256(user) -> None:
    import scramp

    client = scramp.ScramClient(["SCRAM-SHA-256"], user.address, PASSWORD)
    c = imaplib.IMAP4("127.0.0.1", user.server.port("imap"))
    assert "AUTH=SCRAM-SHA-256" in c.capabilities
    steps = iter(["first", "final", "verify"])

    def respond(challenge: bytes) -> bytes:
        step = next(steps)
        if step == "first":
            return client.get_client_first().encode()
        if step == "final":
            client.set_server_first(challenge.decode())
            return client.get_client_final().encode()
        client.set_server_final(challenge.decode())  # checks the server's proof
        return b""

    typ, _ = c.authenticate("SCRAM-SHA-256", respond)
    assert typ == "OK"
    assert c.select("INBOX")[0] == "OK"


def test_starttls_repeatedly(server) -> None:
    """The ClientHello that follows the OK at once must never be lost (no race)."""
    for _ in range(25):
        c = imaplib.IMAP4("127.0.0.1", server.port("imap"))
        assert c.starttls(_tls())[0] == "OK"
        assert c.noop()[0] == "OK"
        c.logout()
