"""Commands of the accounts and audit packages.

    congthu user passwd ADDRESS [--password-stdin]   change a password (Điều 13.2 rules)
    congthu user reset ADDRESS                       new one-time password, must change
    congthu user unlock ADDRESS|IP                   lift a guessing lock
    congthu user totp ADDRESS enable|confirm CODE|disable|status
    congthu user app-password ADDRESS add LABEL|list|revoke ID
    congthu user role ADDRESS list|grant ROLE|revoke ROLE [--scope ORG]
    congthu audit list|export|verify
    congthu service add NAME [--description TEXT] | list | remove NAME | reset NAME
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from congthu import audit
from congthu.accounts import roles, totp
from congthu.accounts.passwords import PasswordRejected
from congthu.accounts.services import ServiceError
from congthu.cli import CommandError, Commands

if TYPE_CHECKING:
    from congthu.app import App
    from congthu.store import Mailbox


def register(commands: Commands) -> None:
    user_help = "hộp thư người dùng / user mailboxes"
    p = commands.command("passwd", "đổi mật khẩu / change a password", cmd_passwd, group="user",
                         group_help=user_help)
    p.add_argument("address")
    p.add_argument("--password-stdin", action="store_true",
                   help="đọc mật khẩu mới từ stdin / read the new password from standard input")

    p = commands.command("reset", "cấp mật khẩu dùng một lần / issue a one-time password", cmd_reset,
                         group="user", group_help=user_help)
    p.add_argument("address")

    p = commands.command("unlock", "mở khóa tài khoản hoặc địa chỉ máy khách / unlock an account or client address",
                         cmd_unlock, group="user", group_help=user_help)
    p.add_argument("key", metavar="ADDRESS|IP")

    p = commands.command("totp", "xác thực hai lớp / two-factor (TOTP)", cmd_totp, group="user",
                         group_help=user_help)
    p.add_argument("address")
    p.add_argument("action", choices=["enable", "confirm", "disable", "status"])
    p.add_argument("code", nargs="?", help="mã 6 số / the 6-digit code (confirm)")

    p = commands.command("app-password", "mật khẩu ứng dụng / app passwords for mail clients",
                         cmd_app_password, group="user", group_help=user_help)
    p.add_argument("address")
    p.add_argument("action", choices=["add", "list", "revoke"])
    p.add_argument("value", nargs="?", help="LABEL (add) or ID (revoke)")

    p = commands.command("role", "vai trò / roles (admin, supervisor, org_manager)", cmd_role, group="user",
                         group_help=user_help)
    p.add_argument("address")
    p.add_argument("action", choices=["list", "grant", "revoke"])
    p.add_argument("role", nargs="?", choices=[r for r in roles.ROLES if r != roles.OFFICIAL])
    p.add_argument("--scope", default=None, help="mã cơ quan / organisation id (org_manager; records: only that organisation)")

    audit_help = "nhật ký kiểm tra / audit trail"
    p = commands.command("list", "xem nhật ký / list records", cmd_audit_list, group="audit", group_help=audit_help)
    _filters(p)
    p.add_argument("--limit", type=int, default=100)

    p = commands.command("export", "xuất nhật ký / export records", cmd_audit_export, group="audit",
                         group_help=audit_help)
    _filters(p)
    p.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    p.add_argument("--output", "-o", help="tệp / file (default: standard output)")

    commands.command("verify", "kiểm tra chuỗi băm / verify the hash chain", cmd_audit_verify, group="audit",
                     group_help=audit_help)

    service_help = "tài khoản dịch vụ (ứng dụng, không phải người) / service accounts (applications, not people)"
    p = commands.command("add", "tạo tài khoản dịch vụ, in khóa bí mật một lần / add one; prints its secret once",
                         cmd_service_add, group="service", group_help=service_help)
    p.add_argument("name", help="a-z 0-9 . - _ (không phải địa chỉ thư / not a mail address)")
    p.add_argument("--description", default="", help="dùng cho việc gì / what it is for")
    commands.command("list", "danh sách / list service accounts", cmd_service_list, group="service",
                     group_help=service_help)
    p = commands.command("remove", "xóa / remove a service account", cmd_service_remove, group="service",
                         group_help=service_help)
    p.add_argument("name")
    p = commands.command("reset", "cấp khóa bí mật mới / issue a new secret (the old one stops working)",
                         cmd_service_reset, group="service", group_help=service_help)
    p.add_argument("name")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="YYYY-MM-DD[THH:MM]")
    p.add_argument("--until", help="YYYY-MM-DD[THH:MM]")
    p.add_argument("--action", default="", help="prefix, e.g. login or password.changed")
    p.add_argument("--actor", default="")
    p.add_argument("--target", default="")


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


async def _mailbox(app: App, address: str) -> Mailbox:
    mailbox = await app.store.get_mailbox(address)
    if mailbox is None:
        raise CommandError(f"Không có hộp thư / no such mailbox: {address}")
    return mailbox


def _read_new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CommandError("Không đọc được mật khẩu từ stdin / no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise CommandError("Không có thiết bị đầu cuối để nhập mật khẩu: dùng --password-stdin / "
                           "no terminal to type the password on: use --password-stdin")
    try:
        first = getpass.getpass("Mật khẩu mới / new password: ")
        second = getpass.getpass("Nhập lại / again: ")
    except EOFError:
        raise CommandError("Không đọc được mật khẩu / no password was typed") from None
    if first != second:
        raise CommandError("Hai lần nhập không khớp / the two entries differ")
    return first


async def cmd_passwd(app: App, args: argparse.Namespace) -> int:
    mailbox = await _mailbox(app, args.address)
    password = _read_new_password(args)
    try:
        await app.accounts.change_password(mailbox.id, password, actor=actor(), client="cli")
    except PasswordRejected as exc:
        lines = "\n".join(f"  - {r.message}" for r in exc.refusals)
        raise CommandError(f"Mật khẩu không được chấp nhận / password refused:\n{lines}") from None
    print(f"Đã đổi mật khẩu / password changed: {mailbox.address}")
    return 0


async def cmd_reset(app: App, args: argparse.Namespace) -> int:
    mailbox = await _mailbox(app, args.address)
    password = await app.accounts.reset_password(mailbox.id, actor=actor(), client="cli")
    print(f"Mật khẩu dùng một lần / one-time password for {mailbox.address}: {password}")
    print("Người dùng phải đổi khi đăng nhập lần đầu / it must be changed at first login.")
    return 0


async def cmd_unlock(app: App, args: argparse.Namespace) -> int:
    count = await app.accounts.unlock(args.key, actor=actor(), client="cli")
    if count:
        print(f"Đã mở khóa / unlocked: {args.key}")
    else:
        print(f"Không có khóa nào / nothing was locked: {args.key}")
    return 0


async def cmd_totp(app: App, args: argparse.Namespace) -> int:
    mailbox = await _mailbox(app, args.address)
    accounts = app.accounts
    if args.action == "status":
        on = await accounts.totp_enabled(mailbox.id)
        print(f"{mailbox.address}: {'bật / on' if on else 'tắt / off'}")
        return 0
    if args.action == "disable":
        await accounts.totp_disable(mailbox.id, actor=actor())
        print(f"Đã tắt xác thực hai lớp / two-factor turned off: {mailbox.address}")
        return 0
    if args.action == "enable":
        secret = await accounts.totp_begin(mailbox.id)
        print(f"Khóa bí mật / secret: {secret}")
        print(f"URI (mã QR / QR code): {totp.uri(secret, mailbox.address)}")
        print(f"Xác nhận bằng / confirm with: congthu user totp {mailbox.address} confirm CODE")
        return 0
    if not args.code:
        raise CommandError("Cần mã 6 số / the 6-digit code is needed")
    codes = await accounts.totp_confirm(mailbox.id, args.code, actor=actor())
    if codes is None:
        raise CommandError("Mã không đúng hoặc chưa bật / wrong code, or enable was not run")
    print("Đã bật xác thực hai lớp / two-factor is on. Mã khôi phục (dùng một lần) / recovery codes (single use):")
    for code in codes:
        print(f"  {code}")
    print("Từ nay ứng dụng thư dùng mật khẩu ứng dụng / mail clients now need app passwords: "
          f"congthu user app-password {mailbox.address} add LABEL")
    return 0


async def cmd_app_password(app: App, args: argparse.Namespace) -> int:
    mailbox = await _mailbox(app, args.address)
    accounts = app.accounts
    if args.action == "add":
        label = args.value or "mail"
        password = await accounts.add_app_password(mailbox.id, label, actor=actor())
        print(f"Mật khẩu ứng dụng / app password ({label}): {password}")
        print("Chỉ hiển thị một lần / shown only once.")
        return 0
    if args.action == "list":
        for item in await accounts.list_app_passwords(mailbox.id):
            used = item["last_used_at"].isoformat(timespec="seconds") if item["last_used_at"] else "-"
            print(f"{item['id']}\t{item['label']}\t{item['created_at']:%Y-%m-%d}\t{used}")
        return 0
    if not args.value or not args.value.isdigit():
        raise CommandError("Cần ID / an ID is needed (see list)")
    if not await accounts.revoke_app_password(mailbox.id, int(args.value), actor=actor()):
        raise CommandError(f"Không có mật khẩu ứng dụng {args.value} / no such app password")
    print(f"Đã thu hồi / revoked: {args.value}")
    return 0


async def cmd_role(app: App, args: argparse.Namespace) -> int:
    mailbox = await _mailbox(app, args.address)
    if args.action == "list":
        held = await roles.grants(app, mailbox.id)
        print(f"{mailbox.address}: {roles.NAMES[roles.OFFICIAL]}")
        for g in held:
            print(f"  {g.role}{' ' + g.scope if g.scope else ''}: {roles.NAMES.get(g.role, g.role)}")
        return 0
    if not args.role:
        raise CommandError("Cần vai trò / a role is needed: admin, supervisor, org_manager")
    try:
        if args.action == "grant":
            changed = await roles.grant(app, mailbox.id, args.role, args.scope, actor=actor())
        else:
            changed = await roles.revoke(app, mailbox.id, args.role, args.scope, actor=actor())
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(("Đã cấp / granted" if args.action == "grant" else "Đã thu hồi / revoked") if changed
          else "Không thay đổi / nothing changed")
    return 0


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Ngày không hợp lệ / invalid date: {value}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _records(app: App, args: argparse.Namespace, limit: int | None) -> list[audit.Record]:
    return await audit.records(app, since=_when(args.since), until=_when(args.until), action=args.action,
                               actor=args.actor, target=args.target, limit=limit, newest_first=limit is not None)


async def cmd_audit_list(app: App, args: argparse.Namespace) -> int:
    found = await _records(app, args, args.limit)
    for r in reversed(found):
        details = json.dumps(r.details, ensure_ascii=False, default=str)
        print(f"{r.id}\t{r.at:%Y-%m-%d %H:%M:%S}\t{r.action}\t{r.actor}\t{r.target}\t{r.client}\t{details}")
    return 0


async def cmd_audit_export(app: App, args: argparse.Namespace) -> int:
    found = await _records(app, args, None)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115, ASYNC230
    try:
        if args.format == "jsonl":
            for r in found:
                out.write(json.dumps(r.as_dict(), ensure_ascii=False, default=str) + "\n")
        else:
            writer = csv.writer(out)
            writer.writerow(["id", "at", "action", "actor", "target", "client", "details", "prev_hash", "hash"])
            for r in found:
                d = r.as_dict()
                writer.writerow([d["id"], d["at"], d["action"], d["actor"], d["target"], d["client"],
                                 json.dumps(d["details"], ensure_ascii=False, default=str), d["prev_hash"], d["hash"]])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


async def cmd_audit_verify(app: App, args: argparse.Namespace) -> int:
    result = await audit.verify(app)
    for problem in result.problems:
        print(f"LỖI / ERROR: bản ghi / record {problem.id}: {problem.reason}")
    print(f"Số bản ghi / records: {result.count}; băm cuối / head hash: {result.head}")
    if result.ok:
        print("Chuỗi nhật ký nguyên vẹn / the audit chain is intact")
        return 0
    print("Nhật ký đã bị sửa / the audit trail was tampered with")
    return 1


async def cmd_service_add(app: App, args: argparse.Namespace) -> int:
    try:
        secret = await app.accounts.add_service(args.name, description=args.description, actor=actor())
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    print(f"Tài khoản dịch vụ / service account: {args.name.strip().lower()}")
    print(f"Khóa bí mật (chỉ hiển thị một lần) / secret (shown only once): {secret}")
    return 0


async def cmd_service_list(app: App, args: argparse.Namespace) -> int:
    for service in await app.accounts.list_services():
        used = service.last_used_at.isoformat(timespec="seconds") if service.last_used_at else "-"
        print(f"{service.name}\t{service.created_at:%Y-%m-%d}\t{used}\t{service.description}")
    return 0


async def cmd_service_remove(app: App, args: argparse.Namespace) -> int:
    try:
        await app.accounts.remove_service(args.name, actor=actor())
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    print(f"Đã xóa / removed: {args.name}")
    return 0


async def cmd_service_reset(app: App, args: argparse.Namespace) -> int:
    try:
        secret = await app.accounts.reset_service(args.name, actor=actor())
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
    print(f"Khóa bí mật mới (chỉ hiển thị một lần) / new secret (shown only once): {secret}")
    return 0
