"""The journal of inter-organisation mail (Điều 7.3–7.5), end to end: a message sent over
real SMTP submission (smtplib, STARTTLS on port 587) from one organisation mailbox to
another is kept byte for byte as sent (the exact bytes the client submitted, with their
Date and Message-ID; the recipient's IMAP BODY[] is the same bytes behind its trace
fields), with its document type; the recipient deleting and expunging it and the store's
garbage collection leave the entry whole; the attachment is on disk once; the retention
purge removes it; the records office finds and reads it through the CLI, a user without
the role cannot."""

from __future__ import annotations

import email.utils
import imaplib
import io
import os
import smtplib
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from congthu.accounts import roles
from congthu.accounts.roles import Forbidden
from congthu.journal import entries
from congthu.store import utcnow
from tests.conftest import ServerThread
from tests.content.documents import docx
from tests.folders import folder_index_of
from tests.smtp.test_submission import tls_client

REPO = Path(__file__).resolve().parents[2]
CONGTHU = REPO / ".venv" / "bin" / "congthu"
PASSWORD = "Mk@12345678"
SENDER = "sotttt@soctrang.gov.vn"
RECEIVER = "sotuphap@soctrang.gov.vn"
PERSON = "ntbinh@soctrang.gov.vn"
CLERK = "vanthu@soctrang.gov.vn"


def plan_document() -> bytes:
    """A DOCX whose heading is "KẾ HOẠCH", with an image large enough (over the store's
    64 KiB split threshold once encoded) to be a blob of its own."""
    data = docx(["ỦY BAN NHÂN DÂN TỈNH SÓC TRĂNG", "SỞ THÔNG TIN VÀ TRUYỀN THÔNG", "Số: 45/KH-STTTT",
                 "KẾ HOẠCH", "Chuyển đổi số năm 2027"])
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("word/media/image1.png", os.urandom(90_000))
    return buffer.getvalue()


def message(attachment: bytes, subject: str = "V/v triển khai kế hoạch chuyển đổi số") -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f"Sở Thông tin và Truyền thông <{SENDER}>"
    msg["To"] = f"Sở Tư pháp <{RECEIVER}>"
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(domain="soctrang.gov.vn")
    msg.set_content("Kính gửi Sở Tư pháp,\nSở Thông tin và Truyền thông gửi kế hoạch kèm theo.\n")
    msg.add_attachment(attachment, maintype="application",
                       subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                       filename="kế hoạch chuyển đổi số.docx")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def submit(server: ServerThread, sender: str, recipients: list[str], raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.login(sender, PASSWORD)
        client.sendmail(sender, recipients, raw)


def congthu(server: ServerThread, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(CONGTHU), "--data", str(server.data_dir), *args], capture_output=True,
                          timeout=120, cwd=REPO)


@pytest.fixture
def parties(server: ServerThread) -> dict[str, int]:
    async def setup() -> dict[str, int]:
        ids: dict[str, int] = {}
        for address, kind in ((SENDER, "organisation"), (RECEIVER, "organisation"), (PERSON, "personal"),
                              (CLERK, "personal")):
            mailbox = await server.app.store.create_mailbox(address, kind=kind)
            await server.app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
            ids[address] = mailbox.id
        await roles.grant(server.app, ids[CLERK], roles.RECORDS)
        return ids
    return server.run(setup())


def imap_body(server: ServerThread, address: str) -> bytes:
    with imaplib.IMAP4("127.0.0.1", server.port("imap")) as client:
        client.starttls(tls_client())
        client.login(address, PASSWORD)
        client.select("INBOX")
        _typ, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert data[0] is not None and isinstance(data[0], tuple)
        return data[0][1]


def imap_delete_all(server: ServerThread, address: str) -> None:
    with imaplib.IMAP4("127.0.0.1", server.port("imap")) as client:
        client.starttls(tls_client())
        client.login(address, PASSWORD)
        client.select("INBOX")
        client.store("1:*", "+FLAGS", "(\\Deleted)")
        client.expunge()
        _typ, data = client.search(None, "ALL")
        assert data == [b""]


def without_trace(raw: bytes) -> bytes:
    """The message behind the trace fields our delivery put before it."""
    while raw.startswith((b"Return-Path:", b"Received:", b"X-CongThu-Scan:")):
        end = raw.index(b"\r\n")
        while raw[end + 2:end + 3] in (b" ", b"\t"):
            end = raw.index(b"\r\n", end + 2)
        raw = raw[end + 2:]
    return raw


def test_inter_organisation_mail_is_kept_as_sent(server: ServerThread, parties: dict[str, int]) -> None:
    app = server.app
    raw = message(plan_document())
    submit(server, SENDER, [RECEIVER], raw)
    # Not journal mail: a person writing to an organisation, an organisation to a person.
    submit(server, PERSON, [RECEIVER], message(b"PK", "Báo cáo cá nhân").replace(SENDER.encode(), PERSON.encode()))
    submit(server, SENDER, [PERSON], message(b"PK", "Thông báo").replace(RECEIVER.encode(), PERSON.encode()))

    found = server.run(entries.search(app, parties[CLERK]))
    assert len(found) == 1
    entry = found[0]
    assert (entry.organisation, entry.org_recipients, entry.submitted_by) == (SENDER, [RECEIVER], SENDER)
    assert entry.document_type == "ke_hoach"  # the attached document's heading, over the subject's "V/v"
    assert entry.subject == "V/v triển khai kế hoạch chuyển đổi số" and entry.door == "submission"
    _entry, kept = server.run(entries.read_entry(app, parties[CLERK], entry.id))
    # As sent: exactly the bytes the client submitted, and what the recipient reads
    # behind its trace fields.
    assert kept == raw
    body = imap_body(server, RECEIVER)
    assert body != kept and without_trace(body) == kept

    # The records office through the CLI: search (accents ignored) and show, byte for byte.
    listing = congthu(server, "journal", "search", "--as", CLERK, "--text", "chuyen doi so", "--type", "Kế hoạch")
    assert listing.returncode == 0, listing.stderr.decode()
    assert f"{entry.id}\t".encode() in listing.stdout and SENDER.encode() in listing.stdout
    shown = congthu(server, "journal", "show", str(entry.id), "--as", CLERK)
    assert shown.returncode == 0 and shown.stdout == raw
    # Without the role: refused, on the CLI and in the functions, and audited.
    for args in (["search", "--as", PERSON], ["show", str(entry.id), "--as", RECEIVER]):
        refused = congthu(server, "journal", *args)
        assert refused.returncode != 0 and refused.stdout == b""
        assert b"records" in refused.stderr and b"Traceback" not in refused.stderr
    with pytest.raises(Forbidden):
        server.run(entries.search(app, parties[PERSON]))
    with pytest.raises(Forbidden):
        server.run(entries.read_entry(app, parties[RECEIVER], entry.id))

    # The recipient deletes and expunges; the store collects its garbage: the entry stays
    # whole, and the attachment's blob, which the store and the journal shared, with it.
    def blobs_of_entry() -> list[str]:
        from sqlalchemy import select

        from congthu.journal.tables import journal_segments

        def read(conn):  # type: ignore[no-untyped-def]
            return [r.blob for r in conn.execute(select(journal_segments.c.blob)
                                                 .where(journal_segments.c.entry_id == entry.id))]
        return server.run(app.db.run_read(read))

    segments = blobs_of_entry()
    assert len(segments) >= 3  # head, the large attachment, the rest

    async def stored_segments() -> list[str]:
        first = (await folder_index_of(app.store, parties[RECEIVER]))[0]
        return [digest for digest, _n in (await app.store.get_content(first.content_id)).segments]

    # The attachment is one blob for the mailbox's copy and the journal's: on disk once.
    assert set(segments) & set(server.run(stored_segments()))
    stored = app.store.blobs
    shared_before = {d: stored.path(d).stat().st_ino for d in segments}
    imap_delete_all(server, RECEIVER)
    server.run(app.store.collect_garbage(grace_seconds=0))
    assert {d: stored.path(d).stat().st_ino for d in segments} == shared_before
    _entry, kept = server.run(entries.read_entry(app, parties[CLERK], entry.id))
    assert kept == raw
    assert congthu(server, "journal", "verify").returncode == 0

    # Retention: kept while the period runs, removed after it, then its blobs collected.
    app.settings.journal.retention_days = 30
    assert server.run(entries.purge_expired(app, utcnow() + timedelta(days=29))) == 0
    assert server.run(entries.purge_expired(app, utcnow() + timedelta(days=31))) == 1
    assert server.run(entries.search(app, parties[CLERK])) == []
    server.run(app.store.collect_garbage(grace_seconds=0))
    assert not any(stored.exists(d) for d in segments)


def test_the_journal_can_be_switched_off(server: ServerThread, parties: dict[str, int]) -> None:
    server.app.settings.journal.scope = "off"
    submit(server, SENDER, [RECEIVER], message(b"PK"))
    assert server.run(entries.search(server.app, parties[CLERK])) == []


def test_a_delegate_sending_for_the_organisation_is_journalled(server: ServerThread, parties: dict[str, int]) -> None:
    """Điều 12: the leader's delegate (a person) sends for the organisation, From the
    organisation's address: the entry is the organisation's, submitted by the person."""
    from congthu.delegation import grant

    server.run(grant(server.app, parties[SENDER], parties[PERSON], "lr0"))
    raw = message(b"PK", "Giấy mời họp giao ban")
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.login(PERSON, PASSWORD)
        client.sendmail(SENDER, [RECEIVER], raw)
    [entry] = server.run(entries.search(server.app, parties[CLERK], document_type="giay_moi"))
    assert (entry.organisation, entry.submitted_by, entry.org_recipients) == (SENDER, PERSON, [RECEIVER])
    assert server.run(entries.read_entry(server.app, parties[CLERK], entry.id))[1] == raw
