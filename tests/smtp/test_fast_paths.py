"""The throughput paths of the MX door keep their meaning: DNS answers cached for their
TTL only (a changed SPF record is seen once it expires), pipelined replies (RFC 2920)
complete and in order, large messages analysed out of process like small ones, a new
session set up without aiosmtpd's look-over of every attribute, plain MAIL and RCPT
paths read without the RFC 5322 parser and as it reads them."""

from __future__ import annotations

import email.policy
import json
import random
import smtplib
import socket
import time
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP

from congthu.app import App
from congthu.smtp.commands import COMMANDS, Hooks
from congthu.smtp.server import _CountedProtocol
from tests.smtp.conftest import messages, parse, start_server
from tests.smtp.rawclient import Raw

BOB = "ntbinh@soctrang.gov.vn"
OUTSIDE = "vanthu@cantho.gov.vn"


def _message(n: int) -> bytes:
    return (f"From: Van thu <{OUTSIDE}>\r\nTo: {BOB}\r\nSubject: so {n}\r\n"
            f"Message-ID: <{n}.fast@cantho.gov.vn>\r\n\r\nnoi dung {n}\r\n").encode()


def test_dns_answers_are_cached_for_their_ttl_only(tmp_path, dns_server):
    dns_server.ttl = 2
    dns_server.add_txt("cantho.gov.vn", "v=spf1 -all")
    dns_server.add_txt("_dmarc.cantho.gov.vn", "v=DMARC1; p=none")
    server = start_server(tmp_path / "d", dns_server)
    try:
        bob = server.add_user(BOB)
        with smtplib.SMTP("127.0.0.1", server.port("smtp")) as client:
            client.ehlo("mail.cantho.gov.vn")
            for n in range(3):
                client.sendmail(OUTSIDE, [BOB], _message(n))
        assert dns_server.count("cantho.gov.vn", "TXT") == 1
        assert dns_server.count("_dmarc.cantho.gov.vn", "TXT") == 1
        # The record changes; the cached answer is used until its TTL runs out, no longer.
        dns_server.set_txt("cantho.gov.vn", "v=spf1 ip4:127.0.0.1 -all")
        time.sleep(2.3)
        with smtplib.SMTP("127.0.0.1", server.port("smtp")) as client:
            client.ehlo("mail.cantho.gov.vn")
            client.sendmail(OUTSIDE, [BOB], _message(3))
        assert dns_server.count("cantho.gov.vn", "TXT") == 2
        assert dns_server.count("_dmarc.cantho.gov.vn", "TXT") == 2  # read from the cache no longer either
        results = [parse(raw)["Authentication-Results"] for raw in messages(server, bob)]
        assert len(results) == 4
        assert all("spf=fail" in r and "dmarc=fail (p=none)" in r for r in results[:3])
        assert "spf=pass" in results[3] and "dmarc=pass (p=none)" in results[3]
    finally:
        server.stop()


def _recv_until(sock: socket.socket, marker: bytes) -> list[bytes]:
    """The chunks read until ``marker`` has arrived."""
    chunks: list[bytes] = []
    while marker not in b"".join(chunks):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
    return chunks


def test_pipelined_replies_come_in_order_and_together(mx):
    bob = mx.add_user(BOB)
    raw = Raw(mx.port("smtp"))
    try:
        assert raw.cmd("EHLO mail.cantho.gov.vn")[0] == 250
        raw.send(f"MAIL FROM:<{OUTSIDE}>\r\nRCPT TO:<khongco@soctrang.gov.vn>\r\n"
                 f"RCPT TO:<{BOB}>\r\nDATA\r\n".encode())
        chunks = _recv_until(raw.sock, b"354 ")
        replies = b"".join(chunks).split(b"\r\n")
        assert [r[:9] for r in replies if r] == [b"250 2.1.0", b"550 5.1.1", b"250 2.1.5", b"354 End d"]
        # RFC 2920 section 3.2: the group's replies leave in one write.
        assert len(chunks) == 1
        raw.send(_message(1) + b".\r\n")
        assert raw.reply()[0] == 250
        # A group that ends the session: every reply arrives before the connection closes.
        raw.send(f"MAIL FROM:<{OUTSIDE}>\r\nRCPT TO:<{BOB}>\r\nQUIT\r\n".encode())
        assert [raw.reply()[0] for _ in range(3)] == [250, 250, 221]
    finally:
        raw.close()
    assert len(messages(mx, bob)) == 1


def test_unpipelined_client_gets_each_reply(mx):
    mx.add_user(BOB)
    raw = Raw(mx.port("smtp"))
    try:
        assert raw.cmd("EHLO mail.cantho.gov.vn")[0] == 250
        assert raw.cmd(f"MAIL FROM:<{OUTSIDE}>")[0] == 250
        assert raw.cmd(f"RCPT TO:<{BOB}>")[0] == 250
        assert raw.cmd("RSET")[0] == 250
        assert raw.cmd("QUIT")[0] == 221
    finally:
        raw.close()


def test_large_message_analysed_like_a_small_one(mx):
    """A message above the out-of-process threshold: its subject and attachment name
    (RFC 2047, RFC 2231) come out of the analysis the same as for a small one."""
    bob = mx.add_user(BOB)
    sizes = []
    for n, payload in enumerate((b"x" * 1000, b"x" * 600_000)):
        msg = EmailMessage()
        msg["From"] = f"Văn thư <{OUTSIDE}>"
        msg["To"] = BOB
        msg["Subject"] = f"Công văn số {n} về việc triển khai"
        msg.set_content("Kính gửi anh Bình.")
        msg.add_attachment(payload, maintype="application", subtype="pdf", filename="Quyết định số 1.pdf")
        raw = msg.as_bytes(policy=email.policy.SMTP)
        sizes.append(len(raw))
        with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
            client.sendmail(OUTSIDE, [BOB], raw)

    async def analysed() -> list[tuple[str, str]]:
        folder = await mx.app.store.get_folder(bob, "INBOX")
        assert folder is not None
        found = []
        for m in await mx.app.store.folder_index(folder.id):
            content = await mx.app.store.get_content(m.content_id)
            found.append((content.subject, json.dumps(content.structure, ensure_ascii=False)))
        return found

    from congthu.smtp import delivery

    assert sizes[0] < delivery.INLINE_ANALYSIS and sizes[1] > delivery.PROCESS_ANALYSIS
    results = mx.run(analysed())
    assert [subject for subject, _ in results] == [f"Công văn số {n} về việc triển khai" for n in range(2)]
    for _subject, structure in results:
        assert "Quyết định số 1.pdf" in structure


def test_a_new_session_knows_every_command_and_hook(app: App) -> None:
    """aiosmtpd's tables of a session, built from the short ``dir()`` of the session and
    of ``Hooks``: the handler hooks are those of the full look-over; its own AUTH
    mechanisms none (AUTH is ``cmd_auth``'s, and EHLO's AUTH line ``handle_EHLO``'s)."""
    session = _CountedProtocol(Hooks(), COMMANDS, app, door="submission", implicit_tls=False)
    assert session._auth_methods == {}
    assert sorted(session._handle_hooks) == sorted(
        n[7:] for n in object.__dir__(Hooks()) if n.startswith("handle_")) == ["DATA", "EHLO", "MAIL", "RCPT"]
    assert session._ehlo_hook_ver == "new"
    assert set(session._smtp_methods) == set(COMMANDS)


def test_plain_paths_are_read_as_aiosmtpd_reads_them(app: App) -> None:
    session = _CountedProtocol(Hooks(), COMMANDS, app, door="mx", implicit_tls=False)
    paths = ["<a@b>", "<vanthu@cantho.gov.vn> SIZE=100", "<a@b>  BODY=8BITMIME", "<a.b+c@d-e.f> RET=HDRS",
             "<a..b@c>", "<.a@b>", "<a@b.>", "<a@b> (c)", "<a(b)@c>", '<"x y"@b>', "<a@[1.2.3.4]>", "<>",
             "< a@b>", "<a@b >", "<a@b>x", "<a@b>\tX", "<ü@b>", "<@x,@y:a@b>", "<" + "x" * 65 + "@b>",
             "<" + "x" * 64 + "@b>", "a@b", ""]
    rng = random.Random(7)
    atext = "abcXYZ0189!#$%&'*+/=?^_`{|}~-"
    for _ in range(3000):
        local = ".".join("".join(rng.choice(atext) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 3)))
        domain = ".".join("".join(rng.choice("ab-9Z") for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 3)))
        paths.append(f"<{local}@{domain}>" + rng.choice(["", " SIZE=1", "  X", " (c)", " =x", " A B", ">"]))
    for limit in (0, 64):
        session.local_part_limit = limit
        for path in paths:
            assert session._getaddr(path) == SMTP._getaddr(session, path), path
