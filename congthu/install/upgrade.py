"""``congthu upgrade``: bring a production install's database to the installed version,
with a backup first (issue 19).

Run it as root after installing the new version of the package:

1. the schema revisions the installed code has and the database lacks are listed
   (Alembic, one branch per package: ``congthu/migrations``); none: nothing to do
   but say so (``--force-backup`` still backs up);
2. a full backup (``congthu.backup``: the database's online snapshot, then the blobs) is
   written to ``--backup-dir`` (default ``<data>.backups/before-upgrade-<UTC time>``,
   beside the data directory, never inside it), while the old server goes on serving;
3. the systemd service is stopped (when it runs), the migrations are applied, and the
   service is started again with the new code (``--no-restart`` leaves it alone).

Mail delivered between the backup and the stop is in the data directory, which the
migrations change but never delete from; only restoring the backup after a failed
upgrade would lose those minutes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection

from congthu import db as congthu_db
from congthu.app import App
from congthu.backup import BackupError, backup
from congthu.cli import CommandError
from congthu.install.unit import UNIT_NAME

MIGRATIONS = Path(congthu_db.__file__).parent / "migrations"


def pending(conn: Connection) -> list[str]:
    """The revisions of the installed code not applied to this database, oldest first."""
    # alembic is imported here, for start-up time: `congthu --help` and the commands
    # that open no database would pay a quarter of a second for it.
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    applied = set(MigrationContext.configure(conn).get_current_heads())
    done: set[str] = set()
    for head in applied:
        done.update(rev.revision for rev in script.iterate_revisions(head, "base"))
    return [rev.revision for rev in reversed(list(script.walk_revisions())) if rev.revision not in done]


def _systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return None
    return subprocess.run([systemctl, *args], capture_output=True, text=True, timeout=300)


def _service_running(service: str) -> bool:
    result = _systemctl("is-active", "--quiet", service)
    return result is not None and result.returncode == 0


async def cmd_upgrade(args: argparse.Namespace) -> int:
    data_dir = Path(args.data).absolute() if args.data else Path("/var/lib/congthu")
    app = await App.open(data_dir, upgrade=False)
    try:
        missing = await app.db.run_read(pending)
        if not missing and not args.force_backup:
            print("Cơ sở dữ liệu đã mới nhất / the database is up to date: nothing to do")
            return 0
        print(f"1. Cần áp dụng / to apply: {len(missing)} migration(s)"
              + (f": {', '.join(missing)}" if missing else ""))
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        dest = args.backup_dir or data_dir.parent / f"{data_dir.name}.backups" / f"before-upgrade-{stamp}"
        if dest.resolve().is_relative_to(data_dir.resolve()):
            raise CommandError(f"--backup-dir: không được nằm trong thư mục dữ liệu / must not be inside {data_dir}")
        try:
            manifest = await backup(app, dest)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        print(f"2. Sao lưu / backup: {dest} ({manifest.get('blobs', '?')} blobs)")
    finally:
        await app.close()
    if not missing:
        return 0
    service = args.service
    running = not args.no_restart and _service_running(service)
    if running:
        stopped = _systemctl("stop", service)
        if stopped is None or stopped.returncode != 0:
            raise CommandError(f"systemctl stop {service}: {stopped.stderr.strip() if stopped else 'no systemctl'}")
        print(f"3. Đã dừng / stopped {service}")
    try:
        app = await App.open(data_dir, upgrade=True)
        left = await app.db.run_read(pending)
        await app.close()
    except Exception as exc:
        raise CommandError(f"nâng cấp thất bại / upgrade failed: {exc}; khôi phục / restore with "
                           f"`congthu --data <empty directory> restore {dest}`") from None
    finally:
        if running:
            started = _systemctl("start", service)
            ok = started is not None and started.returncode == 0
            print(f"5. {'Đã chạy lại / started' if ok else 'KHÔNG chạy lại được / could NOT start'} {service}")
    if left:
        raise CommandError(f"còn lại / still missing: {', '.join(left)}")
    print(f"4. Đã áp dụng / applied {len(missing)} migration(s)")
    if not running and not args.no_restart:
        print(f"   {service} không chạy qua systemd / not running under systemd: start it yourself")
    return 0


def register_upgrade(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backup-dir", type=Path, metavar="DIR",
                        help="where the backup goes (default <data>.backups/before-upgrade-<time>)")
    parser.add_argument("--service", default=UNIT_NAME, help=f"systemd service (default {UNIT_NAME})")
    parser.add_argument("--no-restart", action="store_true", help="do not stop and start the service")
    parser.add_argument("--force-backup", action="store_true", help="back up even when nothing is to apply")
