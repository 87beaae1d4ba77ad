"""Migration benchmark (issue 19): ``congthu migrate imap`` beside mbsync (isync) copying
the same mailbox between the same two servers in the same run.

    .venv/bin/python bench/migrate.py [--messages 5000] [--folders 20] [--files]

A private Dovecot (Debian's dovecot-imapd, ``tests/imap/dovecot.py``) gets one user with
the messages spread over folders with Vietnamese names, flags and keywords; a congthu
server (a data directory under /tmp, loopback ports) gets two empty mailboxes. Then:

1. ``congthu migrate imap --workers 1`` copies the Dovecot user into the first mailbox;
2. ``mbsync`` (Far: Dovecot, Near: congthu over IMAPS, ``Sync Pull``, ``Create Near``)
   copies the same user into the second.

Each is timed from its start to its exit and printed in messages per second, with the
count found afterwards in each mailbox. ``--files`` also times ``congthu migrate mbox``
of the same number of messages from one mbox file.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import mailbox
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from congthu.imap import utf7  # noqa: E402
from tests.conftest import ServerThread, make_data_dir  # noqa: E402
from tests.imap.dovecot import PASSWORD as OLD_PASSWORD  # noqa: E402
from tests.imap.dovecot import Dovecot  # noqa: E402

PASSWORD = "Mk@12345678"
DOMAIN = "soctrang.gov.vn"
FLAG_SETS = ["", "\\Seen", "\\Seen \\Flagged", "\\Answered \\Seen", "$Forwarded \\Seen", "QuanTrong \\Seen"]
TOPICS = ["Công văn đến", "Công văn đi", "Báo cáo", "Tờ trình", "Quyết định", "Kế hoạch", "Thông báo",
          "Giấy mời", "Biên bản", "Hợp đồng"]


def message(i: int, folder: str) -> bytes:
    body = (f"Kính gửi đồng chí,\r\nVăn bản số {i} thuộc thư mục {folder}.\r\n" + "Nội dung công việc. " * 60)
    return (f"From: Văn phòng UBND <vanphong@{DOMAIN}>\r\nTo: chuyen.vien@old.example\r\n"
            f"Subject: Văn bản {i}\r\nMessage-ID: <bench.{i}@old.example>\r\n"
            f"Date: Mon, 1 Jan 2024 08:00:00 +0700\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n").encode()


def folder_names(count: int) -> list[str]:
    names = ["INBOX", "Sent Messages"]
    i = 0
    while len(names) < count:
        topic = TOPICS[i % len(TOPICS)]
        names.append(f"{topic}/Năm {2015 + i // len(TOPICS)}" if i >= len(TOPICS) else topic)
        i += 1
    return names[:count]


def fill_dovecot(dovecot: Dovecot, login: str, total: int, folders: list[str]) -> None:
    c = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=60)
    c.login(login, OLD_PASSWORD)
    start = datetime(2016, 1, 1, 8, 0, tzinfo=UTC)
    for name in folders:
        if name != "INBOX":
            c.create('"' + utf7.encode(name) + '"')
    for i in range(total):
        name = folders[i % len(folders)]
        flags = FLAG_SETS[i % len(FLAG_SETS)]
        when = imaplib.Time2Internaldate(start + timedelta(hours=i))
        typ, data = c.append('"' + utf7.encode(name) + '"', f"({flags})" if flags else None, when, message(i, name))
        if typ != "OK":
            raise RuntimeError(f"APPEND to dovecot: {data!r}")
    c.logout()


def count_messages(server: ServerThread, address: str) -> int:
    c = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=60)
    c.login(address, PASSWORD)
    total = 0
    for line in c.list()[1]:
        assert isinstance(line, bytes)
        if b"\\Noselect" in line:
            continue
        name = line.rsplit(b' "/" ', 1)[1].decode()
        status = c.status(name, "(MESSAGES)")[1][0]
        assert isinstance(status, bytes)
        total += int(status.rsplit(b"MESSAGES ", 1)[1].rstrip(b")"))
    c.logout()
    return total


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=7200)
    elapsed = time.monotonic() - started
    if done.returncode != 0 or "rror" in done.stderr:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def mbsync_config(path: Path, dovecot: Dovecot, login: str, server: ServerThread, address: str) -> None:
    # Every folder but our own special ones, which are not on the far side.
    patterns = "* !Archive !Drafts !Junk !Sent !Trash"
    path.write_text(f"""\
IMAPAccount old
Host 127.0.0.1
Port {dovecot.port}
User {login}
Pass {OLD_PASSWORD}
SSLType None
AuthMechs LOGIN
PipelineDepth 50

IMAPStore old
Account old

IMAPAccount ours
Host localhost
Port {server.port("imaps")}
User {address}
Pass {PASSWORD}
SSLType IMAPS
CertificateFile {server.app.tls.cert_path}
PipelineDepth 50

IMAPStore ours
Account ours

Channel copy
Far :old:
Near :ours:
Patterns {patterns}
Create Near
Sync Pull
Expunge None
SyncState {path.parent / "mbsync-state"}/
""")
    (path.parent / "mbsync-state").mkdir(exist_ok=True)


def line(what: str, count: int, seconds: float, found: int) -> str:
    return f"{what:28} {count:6d} messages in {seconds:7.1f} s = {count / seconds:7.1f} messages/s ({found} arrived)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--folders", type=int, default=20)
    parser.add_argument("--files", action="store_true", help="also time `congthu migrate mbox`")
    args = parser.parse_args()
    if shutil.which("mbsync") is None:
        sys.exit("mbsync is not installed (apt-get install isync)")
    work = Path(tempfile.mkdtemp(prefix="congthu-bench-migrate-"))
    dovecot = Dovecot().start()
    server = None
    try:
        login = "old.user"
        folders = folder_names(args.folders)
        started = time.monotonic()
        fill_dovecot(dovecot, login, args.messages, folders)
        print(f"Dovecot: {args.messages} messages in {len(folders)} folders "
              f"({time.monotonic() - started:.1f} s to APPEND)", flush=True)
        data = asyncio.run(make_data_dir(work / "data"))
        server = ServerThread(data).start()
        targets = {"congthu": f"migrate.bench@{DOMAIN}", "mbsync": f"mbsync.bench@{DOMAIN}",
                   "mbox": f"mbox.bench@{DOMAIN}"}
        for address in targets.values():
            server.add_user(address, PASSWORD)
        users = work / "users.csv"
        users.write_text(f"{login},{OLD_PASSWORD},{targets['congthu']}\n")
        users.chmod(0o600)
        congthu = [sys.executable, "-m", "congthu", "--data", str(data)]
        results = []
        seconds = timed([*congthu, "migrate", "imap", "--from", f"imap://127.0.0.1:{dovecot.port}", "--users",
                         str(users), "--workers", "1", "--allow-plaintext"], work)
        results.append(line("congthu migrate imap", args.messages, seconds, count_messages(server, targets["congthu"])))
        config = work / "mbsyncrc"
        mbsync_config(config, dovecot, login, server, targets["mbsync"])
        seconds = timed(["mbsync", "-c", str(config), "-a"], work)
        results.append(line("mbsync (isync)", args.messages, seconds, count_messages(server, targets["mbsync"])))
        if args.files:
            path = work / "bench.mbox"
            box = mailbox.mbox(path)
            for i in range(args.messages):
                box.add(mailbox.mboxMessage(message(i, "mbox").replace(b"\r\n", b"\n")))
            box.close()
            seconds = timed([*congthu, "migrate", "mbox", str(path), "--to", targets["mbox"], "--folder", "Lưu trữ"],
                            work)
            results.append(line("congthu migrate mbox", args.messages, seconds, count_messages(server, targets["mbox"])))
        print("\n".join(results))
    finally:
        if server is not None:
            server.stop()
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
