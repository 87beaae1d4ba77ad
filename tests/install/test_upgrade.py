"""``congthu upgrade``: nothing to do on an up-to-date database; with a migration pending
(the migrate branch taken back out of a real database: its table dropped and its
revision forgotten, as on an install of the version before it), a backup is written
first, then the migration is applied and the mail is still there. No systemd service
runs here (``--no-restart``)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from congthu.app import App
from congthu.db import SQLITE_FILE
from tests.conftest import make_data_dir


def _congthu(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "congthu", "--data", str(data), *args], capture_output=True,
                          text=True, timeout=300)


async def _with_mail(data: Path) -> None:
    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox("nangcap@soctrang.gov.vn", "Nâng cấp", quota_bytes=10**8)
        await app.store.deliver(b"From: a@b\r\nSubject: before the upgrade\r\n\r\nhello\r\n", [mailbox.id])
    finally:
        await app.close()


def test_upgrade_backs_up_then_migrates(tmp_path: Path) -> None:
    data = asyncio.run(make_data_dir(tmp_path / "data"))
    asyncio.run(_with_mail(data))
    same = _congthu(data, "upgrade", "--no-restart")
    assert same.returncode == 0 and "up to date" in same.stdout, same.stdout + same.stderr

    db = sqlite3.connect(data / SQLITE_FILE)
    with db:
        db.execute("DROP TABLE migrate_folders")
        assert db.execute("DELETE FROM alembic_version WHERE version_num = 'migrate_0001'").rowcount == 1
    db.close()
    inside = _congthu(data, "upgrade", "--no-restart", "--backup-dir", str(data / "b"))
    assert inside.returncode != 0 and "must not be inside" in inside.stderr

    backup = tmp_path / "before"
    result = _congthu(data, "upgrade", "--no-restart", "--backup-dir", str(backup))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "migrate_0001" in result.stdout and "applied 1 migration" in result.stdout, result.stdout
    manifest = json.loads((backup / "congthu-backup.json").read_text())
    assert manifest["engine"] == "sqlite"
    # The backup is of the database before the upgrade: without the table.
    before = sqlite3.connect(backup / SQLITE_FILE)
    assert not before.execute("SELECT name FROM sqlite_master WHERE name = 'migrate_folders'").fetchall()
    before.close()
    after = sqlite3.connect(data / SQLITE_FILE)
    assert after.execute("SELECT name FROM sqlite_master WHERE name = 'migrate_folders'").fetchall()
    assert after.execute("SELECT count(*) FROM messages").fetchone() == (1,)
    after.close()
    assert "up to date" in _congthu(data, "upgrade", "--no-restart").stdout
