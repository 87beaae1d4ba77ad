"""A node draining on SIGTERM (``congthu serve`` as a real process: one process, and
two workers under the supervisor): ``/healthz`` answers 503 at once, so a balancer sends it nothing new;
the listeners stop accepting; an SMTP transaction under way is finished and its client
gets its 250; an idle SMTP session gets 421 and an IMAP IDLE session gets BYE; then the
process exits with 0. The same on every door: a session waiting between commands gets
its goodbye at once (IMAP BYE, POP3 -ERR [SYS/TEMP], LDAP's Notice of Disconnection),
and an IMAP command under way (an APPEND whose literal is being sent) is completed,
after the old 5 s grace, within ``server.drain_seconds``, before its session ends."""

from __future__ import annotations

import asyncio
import poplib
import select
import signal
import socket
import time
from pathlib import Path

import pytest
from ldap3 import NONE, Connection, Server

from congthu.app import App
from tests.cluster.nodes import Served, health
from tests.conftest import make_data_dir

PASSWORD = "Mk@12345678"
USER = "ntbinh@soctrang.gov.vn"


async def _prepare(path: Path, workers: int) -> Path:
    data = await make_data_dir(path, server={"workers": workers, "drain_seconds": 20})
    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox(USER, "Nguyễn Thanh Bình", quota_bytes=app.settings.mailbox_quota_bytes)
        await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    finally:
        await app.close()
    return data


class Line:
    """A line-oriented client on a raw socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return self.file.readline()

    def reply(self) -> bytes:
        """One SMTP reply (its last line)."""
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_the_node(tmp_path: Path, workers: int) -> None:
    data = asyncio.run(_prepare(tmp_path / "data", workers))
    served = Served(data)
    try:
        listen = served.settings.listen
        assert health(listen.http) == 200
        # A transaction under way: the message is half sent when the node is told to stop.
        smtp = Line(listen.smtp)
        assert smtp.reply().startswith(b"220")
        for command, code in ((b"EHLO mx.partner.example", b"250"), (b"MAIL FROM:<a@partner.example>", b"250"),
                              (f"RCPT TO:<{USER}>".encode(), b"250"), (b"DATA", b"354")):
            smtp.send(command + b"\r\n")
            assert smtp.reply().startswith(code)
        smtp.send(b"From: a@partner.example\r\nTo: " + USER.encode() + b"\r\nSubject: drain\r\n\r\nfirst half\r\n")
        # A session between transactions, and an IMAP client in IDLE.
        idle_smtp = Line(listen.smtp)
        assert idle_smtp.reply().startswith(b"220")
        idle_smtp.send(b"EHLO other.example\r\n")
        assert idle_smtp.reply().startswith(b"250")
        imap = Line(listen.imap)
        assert imap.line().startswith(b"* OK")
        imap.send(f"a LOGIN {USER} {PASSWORD}\r\n".encode())
        while not (line := imap.line()).startswith(b"a "):
            pass
        assert line.startswith(b"a OK"), line
        imap.send(b"b SELECT INBOX\r\n")
        while not imap.line().startswith(b"b OK"):
            pass
        imap.send(b"c IDLE\r\n")
        assert imap.line().startswith(b"+")

        served.proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        # Unhealthy at once, while the transaction is still open.
        deadline = time.monotonic() + 5
        while health(listen.http) != 503:
            assert time.monotonic() < deadline, "healthz did not turn 503"
            time.sleep(0.05)
        # The idle sessions are ended: 421 for SMTP (RFC 5321 section 3.8), BYE for IDLE.
        assert idle_smtp.reply().startswith(b"421 4.3.2")
        assert imap.line().startswith(b"* BYE")
        # IDLE is ended at once, not when the IMAP listener's 5 s grace runs out.
        assert time.monotonic() - stopped_at < 3.0
        # No new connection is taken.
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen.smtp), timeout=2).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "the SMTP listener still accepts"
            time.sleep(0.05)
        # The transaction under way is finished: its message is accepted.
        time.sleep(0.5)
        smtp.send(b"second half\r\n.\r\n")
        assert smtp.reply().startswith(b"250"), "the message under way was not accepted"
        assert served.events("smtp.accepted")
        # Then the session is ended and the node exits cleanly.
        assert smtp.reply().startswith(b"421")
        assert served.proc.wait(30) == 0, served.log_path.read_text()[-4000:]
        assert served.events("smtp.accepted")
        for client in (smtp, idle_smtp, imap):
            client.close()
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)


def _login_imap(port: int) -> Line:
    imap = Line(port)
    assert imap.line().startswith(b"* OK")
    imap.send(f"a LOGIN {USER} {PASSWORD}\r\n".encode())
    while not (line := imap.line()).startswith(b"a "):
        pass
    assert line.startswith(b"a OK"), line
    return imap


def _readable_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until ``sock`` has something to read (what the server sent, or its close)."""
    started = time.monotonic()
    readable, _w, _x = select.select([sock], [], [], seconds)
    assert readable, f"nothing from the server within {seconds} s"
    return time.monotonic() - started


def test_sigterm_ends_waiting_sessions_at_once_and_finishes_commands(tmp_path: Path) -> None:
    data = asyncio.run(_prepare(tmp_path / "data", 1))
    served = Served(data)
    try:
        listen = served.settings.listen
        # IMAP, selected and waiting for its next command (not in IDLE).
        waiting = _login_imap(listen.imap)
        waiting.send(b"b SELECT INBOX\r\n")
        while not (line := waiting.line()).startswith(b"b "):
            pass
        assert line.startswith(b"b OK"), line
        # IMAP, in the middle of an APPEND: half of the message's literal sent.
        body = (b"From: a@partner.example\r\nTo: " + USER.encode() + b"\r\nSubject: drain append\r\n\r\n"
                + b"x" * 78 + b"\r\n") * 8000
        appending = _login_imap(listen.imap)
        appending.send(b"c APPEND INBOX {" + str(len(body)).encode() + b"}\r\n")
        assert appending.line().startswith(b"+")
        half = len(body) // 2
        appending.send(body[:half])
        # POP3 (poplib), logged in and waiting.
        pop = poplib.POP3("127.0.0.1", listen.pop3, timeout=20)
        pop.user(USER)
        pop.pass_(PASSWORD)
        assert pop.stat()[0] == 0
        # LDAP (ldap3), connected and waiting.
        ldap = Connection(Server("127.0.0.1", port=listen.ldap, get_info=NONE), receive_timeout=20)
        ldap.open()
        time.sleep(0.3)  # the APPEND's first half is read by the server

        served.proc.send_signal(signal.SIGTERM)
        # The waiting sessions are told at once, not after a grace period.
        assert _readable_within(waiting.sock, 3) < 3
        assert waiting.line().startswith(b"* BYE [UNAVAILABLE]")
        assert waiting.line() == b"", "the IMAP session was not closed after BYE"
        _readable_within(pop.sock, 3)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[SYS/TEMP\]"):
            pop.noop()  # the -ERR written before closing: RFC 2449 section 8.1.2
        _readable_within(ldap.socket, 3)
        notice = b""
        while chunk := ldap.socket.recv(4096):
            notice += chunk
        # RFC 4511 section 4.4.1: messageID 0, an ExtendedResponse, resultCode
        # unavailable (52), responseName 1.3.6.1.4.1.1466.20036; then the connection closes.
        assert notice.startswith(b"\x30") and b"\x02\x01\x00\x78" in notice, notice
        assert b"\x0a\x01\x34" in notice and b"1.3.6.1.4.1.1466.20036" in notice, notice
        # The APPEND under way is let finish, longer than the listener's old 5 s grace
        # (server.drain_seconds is 20 here): its message is stored, then BYE.
        time.sleep(6)
        assert served.proc.poll() is None, "the node did not wait for the APPEND under way"
        appending.send(body[half:] + b"\r\n")
        while not (line := appending.line()).startswith(b"c "):
            pass
        assert line.startswith(b"c OK"), line
        assert appending.line().startswith(b"* BYE [UNAVAILABLE]")
        assert appending.line() == b""
        assert served.proc.wait(30) == 0, served.log_path.read_text()[-4000:]
        for client in (waiting, appending):
            client.close()
        pop.close()
        ldap.socket.close()
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)
    # The appended message is in the mailbox.
    served = Served(data, "serve2.log")
    try:
        imap = _login_imap(served.settings.listen.imap)
        imap.send(b"d STATUS INBOX (MESSAGES)\r\n")
        assert b"MESSAGES 1" in imap.line()
        imap.close()
    finally:
        served.stop()
