"""Virus scan and spam scoring (Điều 9.9) through real SMTP (smtplib) against the test
server, with real clamd and rspamd started privately (``daemons.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from congthu import audit
from congthu.cli import main as cli_main
from congthu.content import rspamd as rspamd_client
from tests.conftest import ServerThread
from tests.content import documents
from tests.content.daemons import EICAR, GTUBE, SAMPLE, Clamd, Rspamd
from tests.smtp.conftest import messages, parse, start_server

SENDER = "nguoigui@example.org"
RECIPIENT = "vanthu@soctrang.gov.vn"


@contextlib.contextmanager
def content_server(path: Path, dns: Any, **content: Any) -> Iterator[ServerThread]:
    server = start_server(path, dns, content={"timeout": 10.0, **content})
    try:
        yield server
    finally:
        server.stop()


def send(server: ServerThread, msg: Any) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=60) as client:
        client.send_message(msg, from_addr=SENDER, to_addrs=[RECIPIENT])


def vietnamese(body: str = "Kính gửi Văn phòng UBND tỉnh,\nxin gửi kế hoạch họp tuần tới.\nTrân trọng.",
               attachments: Any = ()) -> Any:
    return documents.message(SENDER, RECIPIENT, "Kế hoạch họp giao ban tuần 49", body, attachments)


def audit_actions(server: ServerThread) -> list[Any]:
    return [r for r in server.run(audit.records(server.app)) if r.action.startswith("content.")]


def test_clean_message_delivered_gtube_refused(tmp_path, dns_server, clamd: Clamd, rspamd: Rspamd):
    with content_server(tmp_path / "data", dns_server, clamd=clamd.address, rspamd=rspamd.url) as server:
        box = server.add_user(RECIPIENT)
        send(server, vietnamese())
        inbox = messages(server, box)
        assert len(inbox) == 1
        delivered = parse(inbox[0])
        assert "giao ban" in delivered["Subject"] and "X-CongThu-Scan" not in delivered
        assert "Trân trọng" in delivered.get_content()
        # GTUBE: refused in the transaction (content.spam_action = "refuse", the default).
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(server, vietnamese(body="Quảng cáo\n" + GTUBE.decode()))
        assert refused.value.smtp_code == 554 and b"spam" in refused.value.smtp_error
        assert len(messages(server, box)) == 1
        entry = audit_actions(server)[-1]
        assert entry.action == "content.refuse" and entry.details["rule"] == "9.9 spam"
        assert entry.actor == SENDER and entry.target == RECIPIENT


def test_gtube_to_junk_by_setting(tmp_path, dns_server, rspamd: Rspamd):
    with content_server(tmp_path / "data", dns_server, rspamd=rspamd.url, spam_action="junk") as server:
        box = server.add_user(RECIPIENT)
        send(server, vietnamese(body=GTUBE.decode()))
        assert messages(server, box) == []
        junk = [parse(m) for m in messages(server, box, "Junk")]
        assert len(junk) == 1 and junk[0]["X-Spam-Action"] == "reject" and "GTUBE" in junk[0]["X-Spam-Symbols"]
        assert audit_actions(server)[-1].action == "content.junk"


def test_rspamd_receives_our_authentication_results(rspamd: Rspamd):
    """Our SPF/DKIM/DMARC results reach rspamd as symbols (congthu/content/data/rspamd.local.lua)."""
    raw = vietnamese().as_bytes()
    checked = asyncio.run(rspamd_client.check(rspamd.url, raw, seconds=30, ip="127.0.0.1", helo="mx.example.org",
                                              mail_from=SENDER, recipients=[RECIPIENT],
                                              auth={"spf": "fail", "dkim": "none", "dmarc": "fail"}))
    assert "CONGTHU_SPF_FAIL" in checked.symbols and "CONGTHU_DMARC_FAIL" in checked.symbols
    assert checked.symbols["CONGTHU_DMARC_FAIL"] > 0


def test_eicar_refused_also_in_zip(tmp_path, dns_server, clamd: Clamd):
    with content_server(tmp_path / "data", dns_server, clamd=clamd.address) as server:
        box = server.add_user(RECIPIENT)
        for attachment in [("eicar.com", "application/octet-stream", EICAR),
                           ("ho-so.zip", "application/zip", documents.zip_of({"tai-lieu/eicar.com": EICAR})),
                           ("mau.zip", "application/zip", documents.zip_of({"mau.bin": b"xx" + SAMPLE}))]:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                send(server, vietnamese(attachments=[attachment]))
            assert refused.value.smtp_code == 554
            assert b"5.7.1" in refused.value.smtp_error and b"CongThu.Test" in refused.value.smtp_error
        assert messages(server, box) == []
        assert [r.details["rule"] for r in audit_actions(server)] == ["9.9 virus"] * 3


def test_clamd_stopped_mid_run_then_back(tmp_path, dns_server, clamd: Clamd):
    """clamd down: 451, the sender keeps the message; once clamd is back it is accepted."""
    with content_server(tmp_path / "data", dns_server, clamd=clamd.address) as server:
        box = server.add_user(RECIPIENT)
        send(server, vietnamese())
        clamd.stop()
        try:
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                send(server, vietnamese(body="Thư thứ hai"))
            assert deferred.value.smtp_code == 451 and b"4.3.0" in deferred.value.smtp_error
            assert len(messages(server, box)) == 1
        finally:
            clamd.start()
        send(server, vietnamese(body="Thư thứ hai"))  # the sender's retry
        assert [parse(m).get_content().strip() for m in messages(server, box)][1] == "Thư thứ hai"
        assert audit_actions(server)[-1].action == "content.tempfail"


def test_unavailable_deliver_setting_marks_the_message(tmp_path, dns_server):
    with content_server(tmp_path / "data", dns_server, clamd=f"unix:{tmp_path}/no-clamd.sock",
                        unavailable="deliver") as server:
        box = server.add_user(RECIPIENT)
        send(server, vietnamese())
        delivered = parse(messages(server, box)[0])
        assert delivered["X-CongThu-Scan"] == "not scanned, unavailable: clamd"
        assert audit_actions(server)[-1].details["reason"] == "not scanned: clamd unavailable"


@pytest.fixture
def silent_scanner() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung clamd or rspamd)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for s in held:
            s.close()
        listener.close()


def test_hung_scanner_times_out(tmp_path, dns_server, silent_scanner):
    with content_server(tmp_path / "data", dns_server, clamd=f"127.0.0.1:{silent_scanner}",
                        rspamd=f"http://127.0.0.1:{silent_scanner}", timeout=1.0) as server:
        server.add_user(RECIPIENT)
        started = time.monotonic()
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            send(server, vietnamese())
        assert deferred.value.smtp_code == 451
        assert time.monotonic() - started < 10


def test_quarantine_notice_release_delete(tmp_path, dns_server, clamd: Clamd, capsys):
    with content_server(tmp_path / "data", dns_server, clamd=clamd.address, virus_action="quarantine") as server:
        box = server.add_user(RECIPIENT)
        send(server, vietnamese(attachments=[("eicar.com", "application/octet-stream", EICAR)]))
        send(server, vietnamese(attachments=[("mau.zip", "application/zip",
                                              documents.zip_of({"mau.bin": SAMPLE}))]))
        # The recipient is told, without the dangerous part.
        notices = messages(server, box)
        assert len(notices) == 2
        notice = parse(notices[0])
        assert "bị giữ lại" in notice["Subject"] and not notice.is_multipart()
        assert EICAR.decode() not in notice.get_content() and "CongThu.Test.EICAR" in notice.get_content()
        data = str(server.data_dir)
        assert cli_main(["--data", data, "quarantine", "list"]) == 0
        listed = capsys.readouterr().out
        assert listed.count(f"-> {RECIPIENT}") == 2 and "virus CongThu.Test.EICAR" in listed
        ids = [int(line.split("\t")[0]) for line in listed.splitlines() if line[:1].isdigit()]
        assert cli_main(["--data", data, "quarantine", "release", str(ids[0])]) == 0
        released = parse(messages(server, box)[-1])
        assert len(messages(server, box)) == 3
        assert [p.get_content() for p in released.iter_attachments()] == [EICAR]
        assert cli_main(["--data", data, "quarantine", "delete", str(ids[1])]) == 0
        capsys.readouterr()
        assert cli_main(["--data", data, "quarantine", "list"]) == 0
        assert "no held messages" in capsys.readouterr().out
        assert cli_main(["--data", data, "quarantine", "delete", str(ids[1])]) != 0
        assert not any((server.data_dir / "quarantine").iterdir())
        actions = [r.action for r in audit_actions(server)]
        assert actions == ["content.quarantine", "content.quarantine", "content.released", "content.deleted"]


def test_submission_scanned_too(tmp_path, dns_server, clamd: Clamd, rspamd: Rspamd):
    """The same pipeline on 587: a virus or spam from our own user is refused (never
    quarantined: the user must know), to local and remote recipients alike."""
    from tests.smtp.conftest import PASSWORD
    from tests.smtp.test_submission import tls_client

    with content_server(tmp_path / "data", dns_server, clamd=clamd.address, rspamd=rspamd.url,
                        virus_action="quarantine", spam_action="junk") as server:
        server.add_user("chuyenvien@soctrang.gov.vn", PASSWORD)
        box = server.add_user(RECIPIENT)
        for body, attachments, code in [("Kính gửi.", [("eicar.com", "application/octet-stream", EICAR)], 554),
                                        (GTUBE.decode(), [], 554), ("Kính gửi, xin cảm ơn.", [], 250)]:
            msg = documents.message("chuyenvien@soctrang.gov.vn", RECIPIENT, "Công văn", body, attachments)
            with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=60) as client:
                client.starttls(context=tls_client())
                client.login("chuyenvien@soctrang.gov.vn", PASSWORD)
                if code == 250:
                    client.send_message(msg, to_addrs=[RECIPIENT, "doitac@example.org"])
                    continue
                with pytest.raises(smtplib.SMTPDataError) as refused:
                    client.send_message(msg, to_addrs=[RECIPIENT, "doitac@example.org"])
                assert refused.value.smtp_code == code
        assert len(messages(server, box)) == 1
        assert [r.details["rule"] for r in audit_actions(server)] == ["9.9 virus", "9.9 spam"]
