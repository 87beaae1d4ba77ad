"""``congthu migrate imap`` against a private Dovecot (Debian's dovecot-imapd, started by
the test on loopback with tests/imap/dovecot.py): two users, a few hundred messages in
folders with Vietnamese names (modified UTF-7 on the wire), flags, keywords and internal
dates. Everything arrives (compared with imapclient on both servers), special folders
land in ours, a run SIGKILLed midway and restarted makes no duplicate, a lost checkpoint
is caught by the messages' bytes, and a further run changes nothing."""

from __future__ import annotations

import asyncio
import imaplib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from congthu.db import SQLITE_FILE
from congthu.imap import utf7
from tests.conftest import ServerThread, make_data_dir
from tests.imap.dovecot import PASSWORD as OLD_PASSWORD
from tests.imap.dovecot import Dovecot

PASSWORD = "Mk@12345678"
DOMAIN = "soctrang.gov.vn"
# Old folder -> ours, and how many messages each user has there.
FOLDERS = {
    "INBOX": ("INBOX", 60),
    "Sent Messages": ("Sent", 30),
    "Công văn đến": ("Công văn đến", 40),
    "Công văn đến/Năm 2024": ("Công văn đến/Năm 2024", 20),
    "Thư rác": ("Junk", 15),
    "Báo cáo & Tờ trình": ("Báo cáo & Tờ trình", 25),
}
USERS = [("a.old", f"nvan@{DOMAIN}"), ("b.old", f"tthb@{DOMAIN}")]
FLAG_SETS = ["", "\\Seen", "\\Seen \\Flagged", "\\Answered \\Seen", "$Forwarded \\Seen", "QuanTrong", "\\Draft"]


def _quoted(name: str) -> str:
    return '"' + utf7.encode(name) + '"'


def _message(user: str, folder: str, i: int) -> bytes:
    body = f"Kính gửi đồng chí,\r\nVăn bản số {i} của thư mục {folder}.\r\n" + "Nội dung. " * (i % 40)
    return (f"From: Phòng Tổng hợp <pth@{DOMAIN}>\r\nTo: {user}@old.example\r\n"
            f"Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?= {i}\r\nMessage-ID: <{user}.{abs(hash(folder))}.{i}@old.example>\r\n"
            f"Date: Mon, 1 Jan 2024 08:00:00 +0700\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n").encode()


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start()
    try:
        start = datetime(2019, 3, 4, 9, 30, tzinfo=UTC)
        for login, _address in USERS:
            c = imaplib.IMAP4("127.0.0.1", server.port, timeout=30)
            c.login(login, OLD_PASSWORD)
            for folder, (_ours, count) in FOLDERS.items():
                if folder != "INBOX":
                    assert c.create(_quoted(folder))[0] == "OK"
                for i in range(count):
                    flags = FLAG_SETS[i % len(FLAG_SETS)]
                    when = start + timedelta(days=i, minutes=len(folder))
                    typ, data = c.append(_quoted(folder), f"({flags})" if flags else None,
                                         imaplib.Time2Internaldate(when), _message(login, folder, i))
                    assert typ == "OK", data
            c.logout()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    data = asyncio.run(make_data_dir(tmp_path_factory.mktemp("migrate") / "data"))
    running = ServerThread(data).start()
    try:
        for _login, address in USERS:
            running.add_user(address, PASSWORD)
        yield running
    finally:
        running.stop()


def _contents(port: int, login: str, password: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every selectable folder -> sorted (Message-ID, flags, internal date, size), read
    with imapclient (not the migration's own reader)."""
    from imapclient import IMAPClient

    out: dict[str, list[tuple[Any, ...]]] = {}
    with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=30) as c:
        c.normalise_times = False
        c.login(login, password)
        for flags, _delim, name in c.list_folders():
            if b"\\Noselect" in flags:
                continue
            c.select_folder(name, readonly=True)
            rows = []
            uids = c.search("ALL")
            fetched = {} if not uids else c.fetch(uids, ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            for item in fetched.values():
                header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
                rows.append((header, tuple(sorted(f.decode() for f in item[b"FLAGS"] if f != b"\\Recent")),
                             item[b"INTERNALDATE"].astimezone(UTC), item[b"RFC822.SIZE"]))
            out[name] = sorted(rows)
    return out


def _users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.csv"
    path.write_text("old login,old password,new address\n"
                    + "".join(f"{login},{OLD_PASSWORD},{address}\n" for login, address in USERS))
    path.chmod(0o600)
    return path


def _command(ours: ServerThread, dovecot: Dovecot, users: Path, report: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "migrate", "imap",
           "--from", f"imap://127.0.0.1:{dovecot.port}", "--users", str(users), "--workers", "2",
           "--allow-plaintext"]
    return cmd + (["--report", str(report)] if report else [])


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _check_everything_arrived(ours: ServerThread, dovecot: Dovecot) -> None:
    for login, address in USERS:
        theirs = _contents(dovecot.port, login, OLD_PASSWORD)
        mine = _contents(ours.port("imap"), address, PASSWORD)
        for folder, (dest, count) in FOLDERS.items():
            assert len(theirs[folder]) == count
            assert mine[dest] == theirs[folder], f"{address}: {folder} -> {dest}"
        # Our own special folders the old server did not have stay empty.
        for empty in ("Drafts", "Trash", "Archive"):
            assert mine[empty] == []


def test_migrate_killed_resumed_and_idempotent(ours: ServerThread, dovecot: Dovecot, tmp_path: Path) -> None:
    users = _users_file(tmp_path)
    # 1. A run SIGKILLed after its first batches.
    proc = subprocess.Popen(_command(ours, dovecot, users), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "overall" in line and int(line.split("overall ")[1].split("/")[0]) >= 120:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    partial = _contents(ours.port("imap"), USERS[0][1], PASSWORD)
    # Killed midway: some but not all of the first user's 190 messages are here.
    assert 0 < sum(len(v) for v in partial.values()) < sum(c for _d, c in FOLDERS.values())

    # 2. Restarted: everything, once.
    report_path = tmp_path / "report.json"
    result = _run(_command(ours, dovecot, users, report_path))
    assert "Tổng / total" in result.stdout
    _check_everything_arrived(ours, dovecot)
    report = json.loads(report_path.read_text())
    assert {r["address"] for r in report} == {a for _l, a in USERS}
    assert all(r["error"] == "" and r["skipped"] == 0 for r in report)

    # 3. Again: nothing copied, nothing changed (no MODSEQ moved).
    before = _modseqs(ours)
    again = _run(_command(ours, dovecot, users, report_path))
    assert "Tổng / total: 0 thư" in again.stdout, again.stdout
    assert _modseqs(ours) == before
    _check_everything_arrived(ours, dovecot)


def _modseqs(ours: ServerThread) -> dict[str, int]:
    out = {}
    for _login, address in USERS:
        c = imaplib.IMAP4("127.0.0.1", ours.port("imap"), timeout=30)
        c.login(address, PASSWORD)
        for dest, _count in FOLDERS.values():
            typ, data = c.status(_quoted(dest), "(HIGHESTMODSEQ MESSAGES)")
            assert typ == "OK", data
            out[f"{address}/{dest}"] = data[0].decode()  # type: ignore[assignment, union-attr]
        c.logout()
    return out


def test_lost_checkpoint_caught_by_bytes(ours: ServerThread, dovecot: Dovecot, tmp_path: Path) -> None:
    """A crash after the appends but before their checkpoint: simulated by putting a
    folder's checkpoint back to zero. The next run recognises what is there."""
    users = _users_file(tmp_path)
    _run(_command(ours, dovecot, users))
    db = sqlite3.connect(ours.data_dir / SQLITE_FILE)
    with db:
        changed = db.execute("UPDATE migrate_folders SET last_uid = 0, dest_uid = 0 WHERE old_folder = ?",
                             ("Công văn đến",)).rowcount
    db.close()
    assert changed == 2
    report_path = tmp_path / "r.json"
    result = _run(_command(ours, dovecot, users, report_path))
    assert "Tổng / total: 0 thư" in result.stdout, result.stdout
    report = json.loads(report_path.read_text())
    for user in report:
        (folder,) = [f for f in user["folders"] if f["old"] == "Công văn đến"]
        assert folder["already_present"] == 40 and folder["copied"] == 0
    _check_everything_arrived(ours, dovecot)


def test_bad_input_is_one_line(ours: ServerThread, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a.old,only-two-columns\n")
    for args in (["--from", "http://x", "--users", str(bad)], ["--from", "imaps://127.0.0.1:1", "--users", str(bad)],
                 ["--from", "imaps://127.0.0.1:1", "--users", str(tmp_path / "missing.csv")]):
        result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "migrate", "imap",
                                 *args], capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr and result.stderr.strip(), result.stderr


def test_unreachable_server_reported_per_user(ours: ServerThread, tmp_path: Path) -> None:
    from tests.conftest import free_port

    users = _users_file(tmp_path)
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "migrate", "imap",
                             "--from", f"imaps://127.0.0.1:{free_port()}", "--users", str(users)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout.count("LỖI / ERROR") == 2 and "Traceback" not in result.stderr


def test_new_uidvalidity_starts_over_without_duplicates(ours: ServerThread, dovecot: Dovecot,
                                                         tmp_path: Path) -> None:
    """The old server renumbers a folder (deleted and made again with the same messages:
    a new UIDVALIDITY, RFC 9051 section 2.3.1.1): the folder is read again from its start
    and every message is recognised as already here."""
    users = _users_file(tmp_path)
    _run(_command(ours, dovecot, users))
    login = USERS[0][0]
    c = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=30)
    c.login(login, OLD_PASSWORD)
    c.select(_quoted("Thư rác"), readonly=True)
    old_validity = c.response("UIDVALIDITY")[1][0]
    fetched = c.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")[1]
    saved = [(item[0], item[1]) for item in fetched if isinstance(item, tuple)]
    c.close()
    assert c.delete(_quoted("Thư rác"))[0] == "OK" and c.create(_quoted("Thư rác"))[0] == "OK"
    for head, raw in saved:
        flags = " ".join(f.decode() for f in imaplib.ParseFlags(head) if f != b"\\Recent")
        date = head.split(b'INTERNALDATE "')[1].split(b'"')[0].decode()
        assert c.append(_quoted("Thư rác"), f"({flags})", f'"{date}"', raw)[0] == "OK"
    c.select(_quoted("Thư rác"), readonly=True)
    assert c.response("UIDVALIDITY")[1][0] != old_validity
    c.logout()
    report_path = tmp_path / "r.json"
    result = _run(_command(ours, dovecot, users, report_path))
    assert "Tổng / total: 0 thư" in result.stdout, result.stdout
    (user,) = [u for u in json.loads(report_path.read_text()) if u["old_login"] == login]
    (folder,) = [f for f in user["folders"] if f["old"] == "Thư rác"]
    assert (folder["found"], folder["already_present"], folder["copied"]) == (15, 15, 0)
    _check_everything_arrived(ours, dovecot)


def test_keep_old_addresses_makes_the_old_login_an_alias(ours: ServerThread, dovecot: Dovecot,
                                                         tmp_path: Path) -> None:
    """``--keep-old-addresses``: an old login that is an address (renamed under the naming
    rules) becomes an alias of the new address; mail sent to it over SMTP arrives."""
    import smtplib
    import time

    old, new = f"tthoa.cu@{DOMAIN}", f"tran.thi.hoa@{DOMAIN}"
    ours.add_user(new, PASSWORD)
    users = tmp_path / "users.csv"
    users.write_text(f"{old},{OLD_PASSWORD},{new}\n")
    users.chmod(0o600)
    result = _run(_command(ours, dovecot, users) + ["--keep-old-addresses"])
    assert f"{old} → {new}" in result.stdout, result.stdout
    with smtplib.SMTP("127.0.0.1", ours.port("smtp"), timeout=30) as client:
        client.sendmail("someone@example.net", [old], b"From: someone@example.net\r\nTo: " + old.encode()
                        + b"\r\nSubject: old address\r\nMessage-ID: <old.login@example.net>\r\n\r\nStill arrives\r\n")
    deadline = time.monotonic() + 30
    while not _contents(ours.port("imap"), new, PASSWORD)["INBOX"]:
        assert time.monotonic() < deadline, "mail to the old address did not arrive"
        time.sleep(0.2)
