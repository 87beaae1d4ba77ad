"""Core commands: init, serve, check, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
from pathlib import Path
from typing import Any

from congthu import config
from congthu.accounts import roles
from congthu.app import App, default_data_dir
from congthu.cli import CommandError, Commands


def register(commands: Commands) -> None:
    p = commands.command("init", "khởi tạo thư mục dữ liệu / initialise a data directory",
                         cmd_init, needs_app=False)
    p.add_argument("--domain", help="tên miền thư / mail domain (default soctrang.gov.vn)")
    p.add_argument("--hostname", help="tên máy chủ / host name (default mail.<domain>)")
    p.add_argument("--dev", action="store_true",
                   help="development: allow plaintext logins over loopback")
    p.add_argument("--admin", default="", help="first administrator's address (default admin@<domain>)")

    p = commands.command("serve", "chạy mọi dịch vụ / run every service", cmd_serve, needs_app=False)
    p.add_argument("--only", help="comma-separated services to run (e.g. imap,imaps)")

    p = commands.command("check", "kiểm tra cấu hình và lưu trữ / check config and storage", cmd_check)
    p.add_argument("--deep", action="store_true",
                   help="đọc mọi blob, so với tên SHA-256 của nó / read every blob and check it against its "
                        "SHA-256 name and the messages that need it")

    p = commands.command("backup", "sao lưu / consistent backup of a running system", cmd_backup)
    p.add_argument("dest", nargs="?", help="empty or new directory")
    p.add_argument("--into", metavar="DIR",
                   help="sao lưu định kỳ / scheduled backup: a new DIR/<UTC time>, unchanged blobs hard-linked "
                        "from the newest backup there, older ones removed (--keep)")
    p.add_argument("--keep", type=int, default=14, metavar="N",
                   help="with --into: the number of backups kept (default 14)")

    p = commands.command("restore", "khôi phục vào thư mục dữ liệu trống / restore into an empty data directory",
                         cmd_restore, needs_app=False)
    p.add_argument("src", help="a directory written by `congthu backup`")
    p.add_argument("--database-url", metavar="URL",
                   help="khôi phục vào CSDL PostgreSQL khác (đã tạo, trống) / restore into this (existing, empty) "
                        "PostgreSQL database instead of the backed-up configuration's")
    p.add_argument("--s3-bucket", metavar="NAME",
                   help="dùng bucket S3 này / use this S3 bucket (then: congthu blobs migrate --to s3)")


async def initialise(data_dir: Path, *, domain: str | None = None, hostname: str | None = None,
                     dev: bool = False, overrides: dict[str, dict[str, Any]] | None = None) -> config.Settings:
    """Create the data directory: config with comments, TLS and DKIM keys, database schema."""
    from congthu import tls
    from congthu.config.template import render

    data_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = data_dir / config.CONFIG_FILE
    if cfg_path.exists():
        settings = config.load(data_dir)
    else:
        settings = config.Settings()
        if domain:
            settings.system.domain = domain.lower()
            settings.system.hostname = f"mail.{domain.lower()}"
        if hostname:
            settings.system.hostname = hostname
        settings.system.dev_allow_plaintext_loopback = dev
        for section, values in (overrides or {}).items():
            for key, value in values.items():
                setattr(getattr(settings, section), key, value)
        cfg_path.write_text(render(settings), encoding="utf-8")
        config.load(data_dir)  # what we wrote must load
    cert_path, key_path = data_dir / settings.tls.cert, data_dir / settings.tls.key
    if not cert_path.exists() or not key_path.exists():
        tls.write_self_signed(cert_path, key_path, [settings.system.hostname, settings.system.domain])
    dkim_key = data_dir / settings.smtp.dkim_key
    if not dkim_key.exists():
        _write_dkim_key(dkim_key)
    app = await App.open(data_dir)
    await app.close()
    return settings


def _write_dkim_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    path.chmod(0o600)


async def cmd_init(args: argparse.Namespace) -> int:
    data_dir = default_data_dir(args.data)
    existed = (data_dir / config.CONFIG_FILE).exists()
    settings = await initialise(data_dir, domain=args.domain, hostname=args.hostname, dev=args.dev)
    print(f"Thư mục dữ liệu / data directory: {data_dir}")
    if existed:
        print("Đã khởi tạo từ trước / already initialised; nothing overwritten.")
        return 0
    admin = args.admin or f"{settings.system.admin_address}@{settings.system.domain}"
    app = await App.open(data_dir)
    try:
        if await app.store.get_mailbox(admin) is None:
            mailbox = await app.store.create_mailbox(admin, "Quản trị hệ thống", kind="organisation",
                                                     quota_bytes=settings.mailbox_quota_bytes)
            issued = await app.accounts.issue_password(mailbox.id, actor="cli:init", client="cli")
            await roles.grant(app, mailbox.id, roles.ADMIN, actor="cli:init")
            print(f"Quản trị viên đầu tiên / first administrator: {admin}")
            print(f"Mật khẩu dùng một lần / one-time password: {issued.password}")
            print("Đổi mật khẩu khi đăng nhập lần đầu / change it at first login.")
    finally:
        await app.close()
    return 0


async def cmd_serve(args: argparse.Namespace) -> int:
    from congthu import log, server, workers

    data_dir = default_data_dir(args.data)
    worker = workers.worker_number()
    log.configure(args.verbose, worker=worker)
    if worker is None:
        if not (data_dir / config.CONFIG_FILE).exists():
            await initialise(data_dir)
        settings = _only(config.load(data_dir), args.only)
        count = workers.worker_count(settings)
        if count > 1:
            return await _supervise(data_dir, settings, count, args)
    else:
        workers.die_with_parent()
    # One process serving (a worker, or the whole server with server.workers = 1); a
    # worker's supervisor has brought the schema up to date already.
    app = await App.open(data_dir, upgrade=worker is None)
    _only(app.settings, args.only)
    if app.settings.database.url.startswith("postgresql"):
        await app.hub.listen_postgres(app.settings.database.url)
    else:
        await app.hub.listen_local()

    def ready(services: list[Any]) -> None:
        # What start-up made (modules, routes, statements, settings) lives as long as the
        # process: moved out of the garbage collector's reach, a full collection walks the
        # objects of the mail being served only (a 100,000-message folder's index made the
        # first FETCH after it pay a 60-130 ms pass over everything). Here, not in
        # ``server.serve``, which tests run many times in one process.
        gc.collect()
        gc.freeze()
        if worker is not None:
            workers.report_ready(services)
            return
        _banner(data_dir, app.settings, [[s.name, getattr(s, "port", 0)] for s in services])

    try:
        await server.serve(app, ready=ready)
    finally:
        await app.close()
    return 0


def _only(settings: config.Settings, only: str | None) -> config.Settings:
    """``--only``: switch off (port 0) every listener not named."""
    if only:
        wanted = {s.strip() for s in only.split(",")}
        for f in dataclasses.fields(settings.listen):
            if f.name != "host" and f.name not in wanted:
                setattr(settings.listen, f.name, 0)
    return settings


def _banner(data_dir: Path, settings: config.Settings, services: list[list[Any]], pids: list[int] | None = None) -> None:
    listen = settings.listen
    print(f"Công Thư đang chạy / running, data: {data_dir}", flush=True)
    for name, port in services:
        print(f"  {name:<12} {listen.host}:{port or getattr(listen, name, '')}", flush=True)
    if pids:
        print(f"  {'workers':<12} {len(pids)} (pid {', '.join(map(str, pids))})", flush=True)


async def _supervise(data_dir: Path, settings: config.Settings, count: int, args: argparse.Namespace) -> int:
    """``congthu serve`` with several worker processes (``congthu.workers``)."""
    from congthu import workers

    app = await App.open(data_dir)  # the schema migrations, once, before any worker
    await app.close()
    supervisor = workers.Supervisor(
        settings, workers.worker_command(data_dir, verbose=args.verbose, only=args.only), count,
        banner=lambda info, pids: _banner(data_dir, settings, info.get("services", []), pids))
    try:
        supervisor.bind()
    except OSError as exc:
        raise CommandError(f"Không mở được cổng / cannot listen on {exc.strerror}") from None
    try:
        return await supervisor.run()
    except workers.WorkerFailed as exc:
        raise CommandError(str(exc), exc.code) from None


async def cmd_check(app: App, args: argparse.Namespace) -> int:
    from sqlalchemy import text
    from sqlalchemy.engine import Connection

    def ping(conn: Connection) -> None:
        conn.execute(text("SELECT 1"))

    problems = []
    await app.db.run_read(ping)
    if not app.tls.available:
        problems.append(f"no TLS certificate at {app.tls.cert_path}")
    found = await app.store.check(deep=args.deep)
    problems += found.problems()
    mailboxes = await app.store.list_mailboxes()
    print(f"Cấu hình / config: OK ({app.data_dir / config.CONFIG_FILE})")
    print(f"Cơ sở dữ liệu / database: OK ({app.db.url.split('@')[-1]})")
    checked = f"; {found.blobs_on_disk} đọc và so SHA-256 / read and hashed" if args.deep else ""
    print(f"Hộp thư / mailboxes: {len(mailboxes)}; blobs: {found.referenced} referenced{checked}")
    for note in found.notes():
        print(f"LƯU Ý / NOTE: {note}")
    for problem in problems:
        print(f"LỖI / ERROR: {problem}")
    return 1 if problems else 0


async def cmd_backup(app: App, args: argparse.Namespace) -> int:
    from congthu.backup import BackupError, backup, rotate

    if (args.dest is None) == (args.into is None):
        raise CommandError("Cần đúng một trong DEST hoặc --into DIR / give either DEST or --into DIR")
    try:
        if args.into is not None:
            summary = await rotate(app, Path(args.into).resolve(), args.keep)
            dest = Path(summary["path"])
        else:
            dest = Path(args.dest).resolve()
            summary = await backup(app, dest)
    except (BackupError, OSError) as exc:
        raise CommandError(f"Sao lưu không được / backup failed: {exc}") from None
    print(f"Đã sao lưu / backed up to {dest}: {summary}")
    return 0


async def cmd_restore(args: argparse.Namespace) -> int:
    from congthu.backup import BackupError, restore

    data_dir = default_data_dir(args.data)
    try:
        summary = await asyncio.to_thread(restore, Path(args.src).resolve(), data_dir,
                                          database_url=args.database_url, s3_bucket=args.s3_bucket)
    except BackupError as exc:
        raise CommandError(str(exc)) from None
    print(f"Đã khôi phục / restored into {data_dir}: {summary}")
    if config.load(data_dir).blobs.backend == "s3":
        print("Blob ở đĩa / blobs are on disk: đưa vào bucket / put them into the bucket with "
              "`congthu blobs migrate --to s3`, rồi / then `congthu check --deep`")
    return 0
