"""offlineimap3 (Debian ``offlineimap3``) against the server over IMAPS: a two-way sync of a
1,000-message mailbox (messages on the server come down, messages in the local Maildir go
up), in bounded time, and a second run that transfers nothing."""

from __future__ import annotations

import subprocess
import time
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.conftest import need
from tests.imap.conftest import PASSWORD, message

pytestmark = pytest.mark.slow

COUNT = 500  # on each side: a 1,000-message mailbox, as for mbsync


def _local_names(maildir: Path) -> list[str]:
    return sorted(p.name for sub in ("cur", "new") for p in (maildir / sub).iterdir())


def test_offlineimap_two_way_sync(user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    need("offlineimap", "offlineimap3")
    store = user.server.app.store

    async def deliver() -> None:
        for i in range(COUNT):
            await store.deliver(message(f"Thư máy chủ {i}", f"Nội dung {i}"), [user.id])
    user.server.run(deliver(), timeout=120)
    maildir = tmp_path / "mail" / "INBOX"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i in range(COUNT):
        (maildir / "cur" / f"17000000{i:03d}.{i}.local:2,S").write_bytes(
            message(f"Thư máy trạm {i}", f"Nội dung {i}", message_id=f"<local{i}@soctrang.gov.vn>")
            .replace(b"\r\n", b"\n"))
    config = tmp_path / "offlineimaprc"
    config.write_text(f"""
[general]
accounts = test
metadata = {tmp_path / "state"}
maxsyncaccounts = 1
ui = quiet

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {tmp_path / "mail"}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {user.server.port("imaps")}
remoteuser = {user.address}
remotepass = {PASSWORD}
ssl = yes
sslcacertfile = {user.server.app.tls.cert_path}
folderfilter = lambda name: name == "INBOX"
maxconnections = 1
""")

    def run() -> float:
        started = time.monotonic()
        done = subprocess.run(["offlineimap", "-c", str(config), "-o", "-u", "quiet"], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ERROR" not in done.stdout + done.stderr, done.stdout + done.stderr
        return time.monotonic() - started

    first = run()
    assert first < 60, f"first sync took {first:.0f} s"
    local = _local_names(maildir)
    assert len(local) == 2 * COUNT
    folder = user.server.run(store.get_folder(user.id, "INBOX"))
    status = user.server.run(store.folder_status(folder.id))
    assert status.messages == 2 * COUNT
    # Every local message went up (by Message-ID), and every server message came down.
    index = user.server.run(store.folder_index(folder.id))
    found = user.server.run(store.get_contents([m.content_id for m in index]))
    ids = {c.message_id for c in found.values()}
    assert {f"<local{i}@soctrang.gov.vn>" for i in range(COUNT)} <= ids
    local_ids = [BytesParser().parse(p.open("rb"), headersonly=True)["Message-ID"]
                 for sub in ("cur", "new") for p in (maildir / sub).iterdir()]
    assert len(set(local_ids)) == 2 * COUNT and set(local_ids) == ids
    before = (status.uidnext, status.highestmodseq, local)

    second = run()  # nothing left to do
    assert second < 60
    status = user.server.run(store.folder_status(folder.id))
    assert (status.uidnext, status.highestmodseq, _local_names(maildir)) == before
