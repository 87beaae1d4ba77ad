"""Real clients against the server: mbsync (isync) syncing a 1,000-message mailbox both
ways (a second run transfers nothing) and curl listing and fetching over imap://."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import need
from tests.imap.conftest import PASSWORD, message

pytestmark = pytest.mark.slow


def _deliver_many(user, count: int) -> None:  # type: ignore[no-untyped-def]
    store = user.server.app.store

    async def run() -> None:
        for i in range(count):
            await store.deliver(message(f"Thư máy chủ {i}", f"Nội dung {i}"), [user.id])
    user.server.run(run(), timeout=300)


def test_mbsync_two_way_sync_of_1000_messages(user, tmp_path: Path) -> None:
    need("mbsync", "isync")
    _deliver_many(user, 500)
    inbox = tmp_path / "mail" / "INBOX"
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True)
    for i in range(500):
        (inbox / "cur" / f"17000000{i:02d}.{i}.local:2,S").write_bytes(
            message(f"Thư máy trạm {i}", f"Nội dung {i}").replace(b"\r\n", b"\n"))
    app = user.server.app
    config = tmp_path / "mbsyncrc"
    config.write_text(f"""
IMAPAccount test
Host localhost
Port {user.server.port("imaps")}
User {user.address}
Pass {PASSWORD}
SSLType IMAPS
CertificateFile {app.tls.cert_path}
PipelineDepth 50

IMAPStore remote
Account test

MaildirStore local
Path {tmp_path / "mail"}/
Inbox {inbox}

Channel sync
Far :remote:
Near :local:
Patterns INBOX
Create Both
Sync All
SyncState *
""")

    def run() -> str:
        done = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=240,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    run()
    local = sorted(p.name for p in (inbox / "cur").iterdir()) + sorted(p.name for p in (inbox / "new").iterdir())
    assert len(local) == 1000
    folder = user.server.run(app.store.get_folder(user.id, "INBOX"))
    status = user.server.run(app.store.folder_status(folder.id))
    assert status.messages == 1000
    before = (status.uidnext, status.highestmodseq, sorted(local))

    run()  # nothing left to do
    local = sorted(p.name for p in (inbox / "cur").iterdir()) + sorted(p.name for p in (inbox / "new").iterdir())
    status = user.server.run(app.store.folder_status(folder.id))
    assert (status.uidnext, status.highestmodseq, sorted(local)) == before


def test_curl_lists_and_fetches(user) -> None:
    need("curl")
    raw = message("Gửi qua curl", "Nội dung")
    user.deliver(raw)
    base = f"imap://127.0.0.1:{user.server.port('imap')}"
    auth = ["--user", f"{user.address}:{PASSWORD}", "--max-time", "20", "-s", "-S"]
    listing = subprocess.run(["curl", *auth, base + "/"], capture_output=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert b'"INBOX"' in listing.stdout and b"\\Sent" in listing.stdout
    fetched = subprocess.run(["curl", *auth, base + "/INBOX;UID=1"], capture_output=True, timeout=30)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == raw
    search = subprocess.run(["curl", *auth, base + "/INBOX?SUBJECT%20curl"], capture_output=True, timeout=30)
    assert b"* SEARCH 1" in search.stdout
    tls = subprocess.run(["curl", *auth, "--insecure", f"imaps://127.0.0.1:{user.server.port('imaps')}/INBOX;UID=1"],
                         capture_output=True, timeout=30)
    assert tls.returncode == 0 and tls.stdout == raw
