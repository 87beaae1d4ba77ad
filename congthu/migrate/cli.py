"""``congthu migrate imap --from imaps://host[:port] --users FILE [--workers N]``, and
``congthu migrate mbox|maildir|eml|zimbra PATH --to ADDRESS [--keep-old-address OLD]``.

FILE is CSV: old login, old password, new address (one user a line; "#" lines and a
header line are ignored). Several users are copied at once; a progress line is printed
per batch (the user's count and the overall count), a report per user at the end (and
as JSON with ``--report``). Running it again resumes where it stopped and copies only
what is new. The file imports (``importer.py``) print the same report for one mailbox.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from congthu.cli import CommandError, Commands
from congthu.migrate.aliases import AliasError, keep_old_address
from congthu.migrate.copier import Options, UserJob, UserReport, migrate_user
from congthu.migrate.files import EmlSource, FileSource, FileSourceError, MaildirSource, MboxSource
from congthu.migrate.folders import destination
from congthu.migrate.importer import import_files
from congthu.migrate.source import OldFolder, parse_url
from congthu.migrate.zimbra import ZimbraSource

if TYPE_CHECKING:
    from congthu.app import App


def register(commands: Commands) -> None:
    group_help = "chuyển thư từ hệ thống cũ / move mail in from an old system"
    p = commands.command("imap", "chép thư từ máy chủ IMAP cũ / copy mail from an old IMAP server", cmd_imap,
                         group="migrate", group_help=group_help)
    p.add_argument("--from", dest="source", required=True, metavar="URL", help="imaps://host[:port] or imap://")
    p.add_argument("--users", required=True, type=Path, metavar="FILE",
                   help="CSV: old login, old password, new address")
    p.add_argument("--workers", type=int, default=4, help="users copied at once (default 4)")
    p.add_argument("--insecure", action="store_true", help="do not check the old server's certificate")
    p.add_argument("--allow-plaintext", action="store_true",
                   help="imap:// without STARTTLS: passwords in clear (trusted network only)")
    p.add_argument("--report", type=Path, metavar="FILE", help="write the per-user report as JSON")
    p.add_argument("--keep-old-addresses", action="store_true",
                   help="an old login that is an address becomes an alias of the new address")
    kinds = {
        "mbox": ("FILE", "nhập một tệp mbox / import one mbox file"),
        "maildir": ("DIR", "nhập một Maildir và thư mục con / import a Maildir and its sub-folders"),
        "eml": ("DIR", "nhập thư mục tệp .eml / import a directory of .eml files"),
        "zimbra": ("FILE", "nhập bản xuất Zimbra (.tgz) / import a Zimbra account export (.tgz)"),
    }
    for kind, (metavar, text) in kinds.items():
        p = commands.command(kind, text, cmd_files, group="migrate", group_help=group_help)
        p.set_defaults(kind=kind)
        p.add_argument("path", type=Path, metavar=metavar)
        p.add_argument("--to", required=True, metavar="ADDRESS", help="the mailbox here that receives the mail")
        if kind in ("mbox", "eml"):
            p.add_argument("--folder", metavar="NAME",
                           help="our folder (default: from the file name for mbox, INBOX for .eml)")
        p.add_argument("--keep-old-address", metavar="OLD",
                       help="the person's old address becomes an alias of --to (mail to it keeps arriving)")
        p.add_argument("--report", type=Path, metavar="FILE", help="write the report as JSON")


def read_users(path: Path) -> list[UserJob]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: không đọc được / cannot read: {exc}") from None
    if os.name == "posix" and path.stat().st_mode & 0o004:
        print(f"CẢNH BÁO / WARNING: {path} holds passwords and is readable by everyone", file=sys.stderr)
    jobs: list[UserJob] = []
    seen: set[str] = set()
    for number, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 3:
            raise CommandError(f"{path}:{number}: cần 3 cột / needs 3 columns: old login, old password, new address")
        login, password, address = row[0].strip(), row[1], row[2].strip().lower()
        if number == 1 and "@" not in address:
            continue  # header line
        if not login or not password or "@" not in address:
            raise CommandError(f"{path}:{number}: dòng không hợp lệ / invalid line")
        if (login, address) in seen or address in seen:
            raise CommandError(f"{path}:{number}: {address} lặp lại / appears twice")
        seen.add(address)
        jobs.append(UserJob(login, password, address))
    if not jobs:
        raise CommandError(f"{path}: không có người dùng nào / no users")
    return jobs


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n / 1024:.0f} KiB"


class Progress:
    """Counts of every user and overall, printed as one line per batch."""

    def __init__(self, users: int) -> None:
        self.users = users
        self.per_user: dict[str, tuple[int, int]] = {}
        self.finished = 0

    def update(self, report: UserReport, done: int, found: int) -> None:
        self.per_user[report.address] = (done, found)
        all_done = sum(d for d, _f in self.per_user.values())
        all_found = sum(f for _d, f in self.per_user.values())
        print(f"{report.address}: {done}/{found} | tổng / overall {all_done}/{all_found} thư, "
              f"{self.finished}/{self.users} người / users", flush=True)


async def cmd_imap(app: App, args: argparse.Namespace) -> int:
    try:
        source = parse_url(args.source)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.workers < 1:
        raise CommandError("--workers phải ≥ 1 / must be at least 1")
    jobs = read_users(args.users)
    options = Options(source, verify_tls=not args.insecure, allow_plaintext=args.allow_plaintext)
    progress = Progress(len(jobs))
    slots = asyncio.Semaphore(args.workers)

    async def one(job: UserJob) -> UserReport:
        async with slots:
            print(f"{job.address}: bắt đầu / starting ({job.old_login} @ {source.text})", flush=True)
            report = await migrate_user(app, options, job, progress.update)
            progress.finished += 1
            return report

    reports = await asyncio.gather(*(one(job) for job in jobs))
    failed = False
    if args.keep_old_addresses:
        for job in jobs:
            if "@" in job.old_login:
                failed = not await _keep_old(app, job.old_login, job.address) or failed
    return _finish(reports, args.report) or int(failed)


def _finish(reports: list[UserReport], report_path: Path | None) -> int:
    """Print the per-user report (and write it as JSON); the exit status."""
    print("\nBáo cáo / report")
    for r in reports:
        status = f"LỖI / ERROR: {r.error}" if r.error else "xong / done"
        print(f"{r.address} ({r.old_login}): {r.copied} thư / messages copied, {_size(r.copied_bytes)}, "
              f"{r.skipped} bỏ qua / skipped — {status}")
        for f in r.folders:
            line = f"    {f.old} -> {f.dest}: {f.copied}/{f.found} copied"
            if f.already:
                line += f", {f.already} already present"
            print(line)
            for where, reason in f.skipped:
                print(f"        {'UID ' if isinstance(where, int) else ''}{where}: {reason}")
    total = sum(r.copied for r in reports)
    print(f"Tổng / total: {total} thư / messages, {_size(sum(r.copied_bytes for r in reports))}, "
          f"{sum(1 for r in reports if r.error)} người lỗi / users with errors")
    if report_path:
        report_path.write_text(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2),
                               encoding="utf-8")
    return 1 if any(r.error for r in reports) else 0


async def _keep_old(app: App, old: str, new: str) -> bool:
    try:
        print(await keep_old_address(app, old, new))
        return True
    except AliasError as exc:
        print(f"LỖI / ERROR: {exc}", file=sys.stderr)
        return False


# -- files: mbox, Maildir, .eml, Zimbra -------------------------------------------------


def _file_source(args: argparse.Namespace, app: App) -> FileSource:
    path: Path = args.path
    if not path.exists():
        raise CommandError(f"{path}: không có / does not exist")
    if args.kind == "mbox":
        folder = args.folder or destination(OldFolder(path.stem if path.suffix in (".mbox", ".mbx") else path.name,
                                                      None, frozenset()))
        return MboxSource(path, "INBOX" if folder.lower() == "mbox" else folder,
                          ZoneInfo(app.settings.system.timezone))
    if args.kind == "maildir":
        return MaildirSource(path)
    if args.kind == "eml":
        return EmlSource(path, args.folder or "INBOX")
    return ZimbraSource(path)


async def cmd_files(app: App, args: argparse.Namespace) -> int:
    address = args.to.strip().lower()
    if "@" not in address:
        raise CommandError(f"--to: không phải địa chỉ / not an address: {args.to!r}")
    if await app.store.get_mailbox(address) is None:
        raise CommandError(f"{address}: không có hộp thư / no such mailbox here (create it first)")
    try:
        reader = _file_source(args, app)
    except FileSourceError as exc:
        raise CommandError(str(exc)) from None
    if args.kind == "mbox":
        def where(name: str) -> str:
            return name
    elif args.kind == "eml":
        def where(name: str) -> str:
            return "/".join(p.replace("/", "-") for p in name.split("/"))
    else:
        def where(name: str) -> str:
            return destination(OldFolder(name, "/", frozenset()))

    def show(report: UserReport, done: int, found: int) -> None:
        print(f"{report.address}: {done}/{found} thư / messages", flush=True)

    print(f"{address}: bắt đầu / starting ({reader.source})", flush=True)
    report = await import_files(app, reader, address, where, show)
    status = _finish([report], args.report)
    if args.keep_old_address and not await _keep_old(app, args.keep_old_address, address):
        status = 1
    return status
