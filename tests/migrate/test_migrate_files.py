"""``congthu migrate mbox|maildir|eml|zimbra``: files built with Python's ``mailbox``
module (mbox with Status/X-Status flags, Maildir with ``:2,`` flags, Maildir++
sub-folders and Dovecot keywords), a directory of .eml files and a Zimbra ``?fmt=tgz``
export made the way Zimbra's ArchiveFormatter writes it; the result read back over IMAP
with imaplib: bytes, flags, internal dates and folders. A second run changes nothing; a
broken file is one clear line, a broken message is listed in the report; a damaged
archive keeps what came before it and the run with the whole file completes it without
duplicates. ``--keep-old-address`` makes the old address an alias: mail sent to it over
SMTP arrives."""

from __future__ import annotations

import asyncio
import imaplib
import io
import json
import mailbox
import re
import smtplib
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from congthu.imap import utf7
from tests.conftest import ServerThread, make_data_dir

PASSWORD = "Mk@12345678"
DOMAIN = "soctrang.gov.vn"
OLD_DOMAIN = "haugiang.gov.vn"  # merged in (2025): mail to it is ours too
LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")  # system.timezone of the test configuration


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    data = asyncio.run(make_data_dir(tmp_path_factory.mktemp("migrate-files") / "data",
                                     system={"extra_domains": [OLD_DOMAIN]}))
    running = ServerThread(data).start()
    try:
        yield running
    finally:
        running.stop()


def _message(i: int, tag: str, body_extra: str = "") -> bytes:
    body = f"Kính gửi đồng chí,\nVăn bản số {i} ({tag}).\n{body_extra}" + "Nội dung. " * (i % 30) + "\n"
    return (f"From: Văn phòng <vp@{DOMAIN}>\nTo: nguoi.nhan@{DOMAIN}\nSubject: {tag} {i}\n"
            f"Message-ID: <{tag}.{i}@old.example>\nDate: Mon, 1 Jan 2024 08:00:00 +0700\n"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            f"{body}").encode()


def _crlf(raw: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def _migrate(ours: ServerThread, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "migrate", *args],
                            capture_output=True, text=True, timeout=600)
    assert "Traceback" not in result.stderr, result.stderr
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _read(ours: ServerThread, address: str) -> dict[str, list[tuple[bytes, frozenset[str], datetime]]]:
    """Every folder of the mailbox over IMAP: (bytes, flags, internal date) in UID order."""
    c = imaplib.IMAP4("127.0.0.1", ours.port("imap"), timeout=60)
    c.login(address, PASSWORD)
    out: dict[str, list[tuple[bytes, frozenset[str], datetime]]] = {}
    for line in c.list()[1]:
        assert isinstance(line, bytes)
        name = line.rsplit(b' "/" ', 1)[1].strip(b'"').decode()
        typ, _data = c.select(f'"{name}"', readonly=True)
        assert typ == "OK"
        rows = []
        typ, data = c.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0]
            flags = frozenset(f.decode() for f in imaplib.ParseFlags(head) if f != b"\\Recent")
            when = head.split(b'INTERNALDATE "')[1].split(b'"')[0].decode()
            rows.append((item[1], flags, datetime.strptime(when, "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)))
        out[utf7.decode(name)] = rows
    c.logout()
    return out


def _modseqs(ours: ServerThread, address: str) -> list[bytes]:
    c = imaplib.IMAP4("127.0.0.1", ours.port("imap"), timeout=60)
    c.login(address, PASSWORD)
    out = []
    for line in c.list()[1]:
        assert isinstance(line, bytes)
        name = line.rsplit(b' "/" ', 1)[1].strip(b'"').decode()
        out.append(c.status(f'"{name}"', "(MESSAGES HIGHESTMODSEQ)")[1][0])  # type: ignore[arg-type]
    c.logout()
    return out


# -- mbox --------------------------------------------------------------------------------

MBOX_FLAGS = ["", "RO", "ROA", "ROF", "OD", "ROAF"]
MBOX_IMAP = {"": set(), "RO": {"\\Seen"}, "ROA": {"\\Seen", "\\Answered"}, "ROF": {"\\Seen", "\\Flagged"},
             "OD": {"\\Deleted"}, "ROAF": {"\\Seen", "\\Answered", "\\Flagged"}}


def _mbox_date(i: int) -> datetime:
    return datetime(2018, 5, 6, 7, 8, 9, tzinfo=LOCAL_ZONE) + timedelta(days=i, minutes=i)


def _build_mbox(path: Path, count: int, tag: str = "mbox") -> list[bytes]:
    box = mailbox.mbox(path)
    originals = []
    for i in range(count):
        raw = _message(i, tag, body_extra=">From the quoted line stays as it is\n" if i == 3 else "")
        m = mailbox.mboxMessage(raw)
        # asctime in the writer's local time, as local delivery agents write it.
        m.set_from(f"vp@{DOMAIN}", _mbox_date(i).timetuple())
        m.set_flags(MBOX_FLAGS[i % len(MBOX_FLAGS)])
        box.add(m)
        originals.append(raw)
    box.flush()
    box.close()
    return originals


def test_mbox_flags_dates_bytes_and_second_run(ours: ServerThread, tmp_path: Path) -> None:
    address = f"mbox.user@{DOMAIN}"
    ours.add_user(address, PASSWORD)
    path = tmp_path / "Công văn đến.mbox"
    originals = _build_mbox(path, 40)
    report = tmp_path / "r.json"
    first = _migrate(ours, "mbox", str(path), "--to", address, "--report", str(report))
    assert "Tổng / total: 40 thư" in first.stdout, first.stdout
    got = _read(ours, address)["Công văn đến"]
    assert [r[0] for r in got] == [_crlf(o) for o in originals]  # Status/X-Status taken out
    for i, (_raw, flags, when) in enumerate(got):
        assert flags == MBOX_IMAP[MBOX_FLAGS[i % len(MBOX_FLAGS)]], i
        assert when == _mbox_date(i).astimezone(UTC)
    data = json.loads(report.read_text())
    assert data[0]["copied"] == 40 and data[0]["skipped"] == 0 and data[0]["error"] == ""

    before = _modseqs(ours, address)
    again = _migrate(ours, "mbox", str(path), "--to", address)
    assert "Tổng / total: 0 thư" in again.stdout, again.stdout
    assert _modseqs(ours, address) == before

    # Mail added to the old mbox afterwards: only it is copied.
    box = mailbox.mbox(path)
    late = mailbox.mboxMessage(_message(99, "late"))
    late.set_from("x@y", _mbox_date(99).timetuple())
    box.add(late)
    box.flush()
    box.close()
    third = _migrate(ours, "mbox", str(path), "--to", address)
    assert "Tổng / total: 1 thư" in third.stdout, third.stdout
    assert len(_read(ours, address)["Công văn đến"]) == 41


def test_broken_files_are_one_clear_line(ours: ServerThread, tmp_path: Path) -> None:
    address = f"broken.user@{DOMAIN}"
    ours.add_user(address, PASSWORD)
    not_mbox = tmp_path / "x.mbox"
    not_mbox.write_bytes(b"Subject: not an mbox\n\nhello\n")
    not_tgz = tmp_path / "x.tgz"
    not_tgz.write_bytes(b"PK\x03\x04 a zip file")
    cases = [["mbox", str(not_mbox), "--to", address], ["mbox", str(tmp_path / "missing"), "--to", address],
             ["maildir", str(tmp_path), "--to", address], ["zimbra", str(not_tgz), "--to", address],
             ["mbox", str(not_mbox), "--to", f"nobody@{DOMAIN}"], ["eml", str(not_mbox), "--to", address]]
    for args in cases:
        result = _migrate(ours, *args, ok=False)
        assert result.returncode != 0
        assert result.stderr.strip() and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    # Nothing arrived.
    assert all(not rows for rows in _read(ours, address).values())


# -- Maildir -----------------------------------------------------------------------------------

MAILDIR_CASES = [("", set()), ("S", {"\\Seen"}), ("RS", {"\\Answered", "\\Seen"}), ("FS", {"\\Flagged", "\\Seen"}),
                 ("DS", {"\\Draft", "\\Seen"}), ("PS", {"$Forwarded", "\\Seen"}), ("ST", {"\\Seen", "\\Deleted"}),
                 ("Sa", {"\\Seen", "QuanTrong"})]


def test_maildir_folders_flags_keywords_dates(ours: ServerThread, tmp_path: Path) -> None:
    address = f"maildir.user@{DOMAIN}"
    ours.add_user(address, PASSWORD)
    root = mailbox.Maildir(tmp_path / "Maildir")
    folders = {"INBOX": root}
    folders["Sent"] = root.add_folder("Sent")
    folders["Công văn đi"] = root.add_folder(utf7.encode("Công văn đi"))  # Dovecot writes modified UTF-7
    folders["Công văn đi/2024"] = root.add_folder(utf7.encode("Công văn đi") + ".2024")
    expected: dict[str, list[tuple[bytes, set[str], datetime]]] = {}
    start = datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)
    n = 0
    for name, box in folders.items():
        (Path(box._path) / "dovecot-keywords").write_text("0 QuanTrong\n")  # type: ignore[attr-defined]
        rows = []
        for i in range(12):
            raw = _message(n, "md")
            m = mailbox.MaildirMessage(raw)
            letters, flags = MAILDIR_CASES[i % len(MAILDIR_CASES)]
            if letters:
                m.set_subdir("cur")
                m.set_flags(letters)
            when = start + timedelta(hours=n)
            m.set_date(when.timestamp())
            box.add(m)
            rows.append((_crlf(raw), flags, when))
            n += 1
        expected[name] = rows
    result = _migrate(ours, "maildir", str(tmp_path / "Maildir"), "--to", address)
    assert f"Tổng / total: {n} thư" in result.stdout, result.stdout
    got = _read(ours, address)
    for name, rows in expected.items():
        mine = sorted((r[0], r[1], r[2]) for r in got[name])
        assert mine == sorted((raw, frozenset(flags), when) for raw, flags, when in rows), name
    assert _migrate(ours, "maildir", str(tmp_path / "Maildir"), "--to", address).stdout.count(
        "Tổng / total: 0 thư") == 1


# -- .eml ----------------------------------------------------------------------------------------


def test_eml_directory_with_a_broken_file(ours: ServerThread, tmp_path: Path) -> None:
    address = f"eml.user@{DOMAIN}"
    ours.add_user(address, PASSWORD)
    top = tmp_path / "emls"
    (top / "Dự án" / "2023").mkdir(parents=True)
    received = "Received: from mx.old (mx.old [10.0.0.1])\n\tby mail.old; Tue, 2 May 2023 10:11:12 +0700\n"
    files = {top / "a.eml": received.encode() + _message(1, "eml"),
             top / "Dự án" / "b.eml": _message(2, "eml"),
             top / "Dự án" / "2023" / "c.eml": _message(3, "eml")}
    for path, raw in files.items():
        path.write_bytes(raw)
    (top / "empty.eml").write_bytes(b"")
    (top / "noise.eml").write_bytes(b"\x00\x01\x02 binary noise without any header")
    (top / "notes.txt").write_text("not mail")
    report = tmp_path / "r.json"
    result = _migrate(ours, "eml", str(top), "--to", address, "--report", str(report))
    assert "Tổng / total: 3 thư" in result.stdout, result.stdout
    got = _read(ours, address)
    assert [r[0] for r in got["INBOX"]] == [_crlf(files[top / "a.eml"])]
    assert got["INBOX"][0][2] == datetime(2023, 5, 2, 3, 11, 12, tzinfo=UTC)  # the Received: date
    assert got["INBOX/Dự án"][0][2] == datetime(2024, 1, 1, 1, 0, tzinfo=UTC)  # the Date: header
    assert [r[0] for r in got["INBOX/Dự án/2023"]] == [_crlf(files[top / "Dự án" / "2023" / "c.eml"])]
    skipped = {s["uid"]: s["reason"] for s in json.loads(report.read_text())[0]["folders"][0]["skipped"]}
    assert set(skipped) == {"empty.eml", "noise.eml", "notes.txt"}, skipped
    assert "empty" in skipped["empty.eml"] and "not a message" in skipped["noise.eml"]


# -- Zimbra -----------------------------------------------------------------------------------------

# (folder path in the archive, flags as Zimbra keeps them, tags, what IMAP must show)
ZIMBRA_ITEMS = [
    ("Inbox", "u", "", {}),
    ("Inbox", "", "", {"\\Seen"}),
    ("Inbox", "r", "", {"\\Seen", "\\Answered"}),
    ("Inbox!1", "fu", "Quan trọng:Dự án", {"\\Flagged", "Quan_trọng", "Dự_án"}),
    ("Sent", "s", "", {"\\Seen"}),
    ("Drafts", "d", "", {"\\Seen", "\\Draft"}),
    ("Inbox/Dự án", "w", "", {"\\Seen", "$Forwarded"}),
    ("Junk", "u", "", {}),
]
ZIMBRA_DEST = {"Inbox": "INBOX", "Inbox!1": "INBOX", "Sent": "Sent", "Drafts": "Drafts",
               "Inbox/Dự án": "INBOX/Dự án", "Junk": "Junk"}


def _zimbra_export(path: Path) -> list[tuple[str, bytes, set[str], datetime]]:
    """A .tgz laid out as Zimbra's ArchiveFormatter writes it: <path>.meta then the item."""
    expected = []
    with tarfile.open(path, "w:gz") as archive:
        def add(name: str, data: bytes, mtime: float) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(mtime)
            archive.addfile(info, io.BytesIO(data))

        for n, (folder, letters, tags, flags) in enumerate(ZIMBRA_ITEMS):
            raw = _message(n, "zimbra")
            when = datetime(2016, 7, 8, 9, 10, 11, tzinfo=UTC) + timedelta(days=n)
            item_id = 257 + n
            meta = {"id": item_id, "type": 5, "parent_id": -1, "folder_id": 2, "index_id": 0, "imap_id": item_id,
                    "date": int(when.timestamp()), "size": len(raw), "volume_id": 0, "unread": 1 if "u" in letters else 0,
                    "flags": 0, "subject": f"zimbra {n}", "mod_metadata": 1, "change_date": 0, "mod_content": 1,
                    "FlagStr": letters, "Path": f"/{folder}/zimbra {n}", "TagNames": tags, "Ver": 10}
            name = f"{folder}/{item_id:010d}-zimbra {n}.eml"
            add(name + ".meta", json.dumps(meta, ensure_ascii=False).encode(), when.timestamp())
            add(name, raw, when.timestamp())
            expected.append((ZIMBRA_DEST[folder], _crlf(raw), flags, when))
        contact = {"id": 900, "type": 6, "date": 0, "size": 10, "flags": 0, "Ver": 10}
        add("Contacts/0000000900-Nguyễn Văn A.meta", json.dumps(contact).encode(), 0)
        add("Contacts/0000000900-Nguyễn Văn A", b"BEGIN:VCARD", 0)
    return expected


def test_zimbra_export_and_a_damaged_archive(ours: ServerThread, tmp_path: Path) -> None:
    address = f"zimbra.user@{DOMAIN}"
    ours.add_user(address, PASSWORD)
    export = tmp_path / "user.tgz"
    expected = _zimbra_export(export)
    # The same archive cut short: what comes before the damage is imported, the run fails.
    damaged = tmp_path / "damaged.tgz"
    whole = export.read_bytes()
    damaged.write_bytes(whole[: len(whole) * 2 // 3])
    cut = _migrate(ours, "zimbra", str(damaged), "--to", address, ok=False)
    assert cut.returncode == 1 and "damaged archive" in cut.stdout, cut.stdout + cut.stderr
    # The whole export: everything, once, with no duplicate of what the damaged run added.
    report = tmp_path / "r.json"
    result = _migrate(ours, "zimbra", str(export), "--to", address, "--report", str(report))
    assert "Traceback" not in result.stdout
    got = _read(ours, address)
    mine = sorted((folder, raw, flags, when) for folder, rows in got.items() for raw, flags, when in rows)
    assert mine == sorted((f, raw, frozenset(flags), when) for f, raw, flags, when in expected)
    folders = json.loads(report.read_text())[0]["folders"]
    contacts = [f for f in folders if f["old"] == "Contacts"]
    assert contacts and "not mail" in contacts[0]["skipped"][0]["reason"]
    assert _migrate(ours, "zimbra", str(export), "--to", address).stdout.count("Tổng / total: 0 thư") == 1


# -- old addresses ----------------------------------------------------------------------------------


def test_keep_old_address_receives_mail_over_smtp(ours: ServerThread, tmp_path: Path) -> None:
    new = f"nguyen.van.binh@{DOMAIN}"
    old = f"nvbinh@{OLD_DOMAIN}"
    ours.add_user(new, PASSWORD)
    path = tmp_path / "Inbox.mbox"
    _build_mbox(path, 3, tag="old")
    result = _migrate(ours, "mbox", str(path), "--to", new, "--keep-old-address", old)
    assert f"{old} → {new}" in result.stdout, result.stdout
    again = _migrate(ours, "mbox", str(path), "--to", new, "--keep-old-address", old)
    assert "alias exists" in again.stdout
    with smtplib.SMTP("127.0.0.1", ours.port("smtp"), timeout=30) as client:
        client.sendmail("sender@example.net", [old], b"From: sender@example.net\r\nTo: " + old.encode()
                        + b"\r\nSubject: to the old address\r\nMessage-ID: <old-addr@example.net>\r\n\r\nXin chao\r\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inbox = _read(ours, new)["INBOX"]
        if any(b"to the old address" in raw for raw, _f, _w in inbox):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("mail to the old address did not arrive")
    assert len(inbox) == 4
    # An old address in a domain that is not ours cannot receive here: said clearly.
    foreign = _migrate(ours, "mbox", str(path), "--to", new, "--keep-old-address", "a@example.org", ok=False)
    assert foreign.returncode == 1 and "extra_domains" in foreign.stderr


# -- scale ---------------------------------------------------------------------------------------------


def test_five_thousand_messages_killed_resumed(ours: ServerThread, tmp_path: Path) -> None:
    """5,000 messages in one mbox: the run killed midway, run again, everything once.
    The rate is printed (no timing assertion: the machine is shared)."""
    import os
    import signal

    address = f"scale.user@{DOMAIN}"
    ours.add_user(address, PASSWORD)
    path = tmp_path / "big.mbox"
    count = 5000
    _build_mbox(path, count, tag="scale")
    cmd = [sys.executable, "-m", "congthu", "--data", str(ours.data_dir), "migrate", "mbox", str(path),
           "--to", address, "--folder", "Lưu trữ"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    started = time.monotonic()
    for line in proc.stdout:
        m = re.search(r": (\d+)/(\d+) thư", line)
        if m and int(m.group(1)) >= 1000:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    partial = len(_read(ours, address)["Lưu trữ"])
    assert 1000 <= partial < count
    result = _migrate(ours, "mbox", str(path), "--to", address, "--folder", "Lưu trữ")
    elapsed = time.monotonic() - started
    rows = _read(ours, address)["Lưu trữ"]
    assert len(rows) == count
    assert len({raw for raw, _f, _w in rows}) == count
    print(f"\nmigrate mbox: {count} messages in {elapsed:.1f} s ({count / elapsed:.0f} messages/s), "
          f"killed after {partial} and resumed")
    assert "Tổng / total:" in result.stdout
