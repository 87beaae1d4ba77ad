"""``congthu quickstart --domain D [--hostname H]``: a production install on a fresh Debian
server, in one command.

1. the data directory (``/var/lib/congthu`` unless ``--data``) with the production
   configuration: every door on the standard ports on all addresses, plaintext logins
   refused (no development exception), a self-signed certificate to replace with the
   province's, the DKIM key, the database schema, the first administrator;
2. the system user that owns it (``useradd --system``, no shell, no login);
3. the hardened systemd unit (``unit.py``), checked by ``systemd-analyze verify``;
4. the daily backup (``congthu-backup.service`` and ``.timer``, ``unit.backup_units``)
   into ``/var/backups/congthu`` (or ``--backup-dir``), owned by the same user;
5. the DNS records to publish and the firewall ports to open.

``congthu upgrade`` (``upgrade.py``) applies a new version's migrations after a backup.
Run again, it changes nothing that exists (configuration, keys, user) and says so.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

from congthu import config
from congthu.accounts import roles
from congthu.app import App
from congthu.cli import CommandError, Commands
from congthu.cli.core import initialise
from congthu.install.unit import BACKUP_SERVICE, BACKUP_TIMER, UNIT_NAME, backup_units, systemd_unit
from congthu.install.upgrade import cmd_upgrade, register_upgrade
from congthu.smtp.cli import dns_records

DEFAULT_DATA = Path("/var/lib/congthu")
DEFAULT_BACKUPS = Path("/var/backups/congthu")
PRODUCTION_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993,
                    "pop3": 110, "pop3s": 995, "ldap": 389, "ldaps": 636, "http": 80, "https": 443}
_NAME = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,30}")
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


def register(commands: Commands) -> None:
    p = commands.command("quickstart", "cài đặt cho vận hành thật / production install", cmd_quickstart,
                         needs_app=False)
    p.add_argument("--domain", required=True, help="tên miền thư / mail domain, e.g. soctrang.gov.vn")
    p.add_argument("--hostname", help="tên máy chủ thư / mail host name (default mail.<domain>)")
    p.add_argument("--user", default="congthu", help="system user the server runs as (default congthu)")
    p.add_argument("--listen", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--unit-dir", type=Path, default=Path("/etc/systemd/system"),
                   help="where the systemd unit is written (default /etc/systemd/system)")
    p.add_argument("--admin", help="first administrator's address (default admin@<domain>)")
    p.add_argument("--acme-email", metavar="EMAIL",
                   help="obtain the certificate from Let's Encrypt (ACME, HTTP-01 on port 80); contact address")
    p.add_argument("--acme-directory", default=LETS_ENCRYPT, metavar="URL",
                   help="another ACME CA's directory URL (with --acme-email)")
    p.add_argument("--backup-dir", type=Path, default=DEFAULT_BACKUPS, metavar="DIR",
                   help="where the daily backups go (default /var/backups/congthu; better another disk)")
    p.add_argument("--backup-keep", type=int, default=14, metavar="N",
                   help="daily backups kept (default 14)")
    p = commands.command("upgrade", "nâng cấp cơ sở dữ liệu, sao lưu trước / upgrade the database after a "
                         "backup", cmd_upgrade, needs_app=False)
    register_upgrade(p)


def _ensure_user(name: str, home: Path) -> bool:
    """Create the system user (and its group) unless it exists; True if created."""
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run([useradd, "--system", "--user-group", "--home-dir", str(home), "--no-create-home",
                             "--shell", "/usr/sbin/nologin", "--comment", "Cong Thu mail server", name],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise CommandError(f"useradd {name}: {result.stderr.strip() or result.returncode}")
    return True


def _own(data_dir: Path, name: str) -> None:
    entry = pwd.getpwnam(name)
    for root, dirs, files in os.walk(data_dir):
        for item in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
            os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    data_dir.chmod(0o750)


def _command() -> Path:
    """The installed ``congthu`` program beside this interpreter (a venv or /usr/bin)."""
    beside = Path(sys.executable).parent / "congthu"
    found = beside if beside.exists() else shutil.which("congthu")
    if not found:
        raise CommandError("không tìm thấy chương trình congthu / the congthu program is not installed")
    return Path(found).absolute()


def verify_unit(path: Path) -> tuple[bool, str]:
    """``systemd-analyze verify`` on the unit: (passed, what it said about it); (True, "")
    without systemd. A setting it cannot parse is only a warning ("ignoring") with exit
    status 0, so any line about the unit file fails too."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return True, ""
    result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=120)
    about = [line for line in (result.stdout + result.stderr).splitlines() if str(path) in line]
    return result.returncode == 0 and not about, "\n".join(about) or result.stderr.strip()


async def cmd_quickstart(args: argparse.Namespace) -> int:
    domain = args.domain.strip().lower().rstrip(".")
    hostname = (args.hostname or f"mail.{domain}").strip().lower().rstrip(".")
    for what, value in (("--domain", domain), ("--hostname", hostname)):
        if not _NAME.fullmatch(value):
            raise CommandError(f"{what}: tên miền không hợp lệ / invalid domain name {value!r}")
    if not _USER.fullmatch(args.user):
        raise CommandError(f"--user: tên không hợp lệ / invalid user name {args.user!r}")
    if args.backup_keep < 1:
        raise CommandError("--backup-keep phải từ 1 trở lên / must be at least 1")
    data_dir = Path(args.data).absolute() if args.data else DEFAULT_DATA
    existed = (data_dir / config.CONFIG_FILE).exists()
    listen = {"host": args.listen, **PRODUCTION_PORTS}
    overrides: dict[str, dict[str, object]] = {"listen": listen}
    if args.acme_email:
        overrides["tls"] = {"acme_directory": args.acme_directory, "acme_email": args.acme_email}
    settings = await initialise(data_dir, domain=domain, hostname=hostname, dev=False, overrides=overrides)
    print(f"1. Thư mục dữ liệu / data directory: {data_dir}"
          + (" (đã có, giữ nguyên / existed, kept)" if existed else ""))
    if settings.system.dev_allow_plaintext_loopback:
        print("   CẢNH BÁO / WARNING: dev_allow_plaintext_loopback is on in the existing configuration")
    app = await App.open(data_dir)
    try:
        admin = (args.admin or f"{settings.system.admin_address}@{settings.system.domain}").lower()
        if await app.store.get_mailbox(admin) is None:
            mailbox = await app.store.create_mailbox(admin, "Quản trị hệ thống", kind="organisation",
                                                     quota_bytes=settings.mailbox_quota_bytes)
            issued = await app.accounts.issue_password(mailbox.id, actor="cli:quickstart", client="cli")
            await roles.grant(app, mailbox.id, roles.ADMIN, actor="cli:quickstart")
            print(f"   Quản trị viên / administrator: {admin}, mật khẩu dùng một lần / one-time password: "
                  f"{issued.password}")
        records = dns_records(app)
    finally:
        await app.close()

    created = _ensure_user(args.user, data_dir)
    _own(data_dir, args.user)
    print(f"2. Người dùng hệ thống / system user: {args.user}" + (" (mới / created)" if created else " (đã có / existed)"))

    args.unit_dir.mkdir(parents=True, exist_ok=True)
    unit_path = args.unit_dir / UNIT_NAME
    unit_path.write_text(systemd_unit(_command(), data_dir, args.user), encoding="utf-8")
    passed, said = verify_unit(unit_path)
    print(f"3. Dịch vụ systemd / systemd unit: {unit_path}"
          + ("" if passed else f"\n   systemd-analyze verify: {said}"))
    print("   systemctl daemon-reload && systemctl enable --now congthu")

    backups = args.backup_dir.absolute()
    backups.mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = pwd.getpwnam(args.user)
    os.chown(backups, entry.pw_uid, entry.pw_gid)  # the backups in it are the user's already
    backups.chmod(0o700)
    service, timer = backup_units(_command(), data_dir, args.user, backups, args.backup_keep)
    (args.unit_dir / BACKUP_SERVICE).write_text(service, encoding="utf-8")
    (args.unit_dir / BACKUP_TIMER).write_text(timer, encoding="utf-8")
    checked = verify_unit(args.unit_dir / BACKUP_TIMER)  # verifies the service it starts too
    passed = passed and checked[0]
    print(f"4. Sao lưu hằng ngày / daily backup: {backups} (01:30, {args.backup_keep} kept), "
          f"{args.unit_dir / BACKUP_TIMER}" + ("" if checked[0] else f"\n   systemd-analyze verify: {checked[1]}"))
    print(f"   systemctl enable --now {BACKUP_TIMER}")

    print("5. Bản ghi DNS cần công bố / DNS records to publish:")
    print(f"   {hostname}.\tIN\tA\t<địa chỉ IP / the server's address> (and AAAA, PTR)")
    for line in records:
        print(f"   {line}")
    print("   Tường lửa / firewall: open TCP " + ", ".join(
        str(p) for p in sorted(PRODUCTION_PORTS.values())))
    if settings.tls.acme_directory:
        print(f"   Chứng chỉ / certificate: from {settings.tls.acme_directory} at the first start (HTTP-01 on "
              "port 80: the A record must point here), renewed by the server itself")
    else:
        print(f"   Chứng chỉ / certificate: self-signed in {data_dir / settings.tls.cert}; replace it and its key "
              "with the province's (or set tls.acme_directory) and `systemctl reload congthu`.")
    return 0 if passed else 1
