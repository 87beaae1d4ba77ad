"""User commands: ``user add|move|leave|list``.

``user add ADDRESS --name "Họ Tên" [--password P]`` creates a mailbox with that address
(a one-time password is printed unless --password is given; either way the password was
chosen for the user, not by the user, so it must meet the rules of Điều 13.2 and be
changed at first login: ``Accounts.prepare_issued``). ``user add --name "Họ Tên"
--org sotttt [--title ..] [--rank N]`` registers an official in the directory with the
address of Điều 3.2/3.3 (or ADDRESS, validated, when given as well).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from congthu.accounts.cli import actor
from congthu.cli import CommandError, Commands
from congthu.directory import Directory, DirectoryError, naming


def register(commands: Commands) -> None:
    g, gh = "user", "người dùng và hộp thư / users and mailboxes"
    p = commands.command("add", "tạo hộp thư / add a mailbox (with --org: an official, address by Điều 3)",
                         cmd_user_add, group=g, group_help=gh)
    p.add_argument("address", nargs="?", help="địa chỉ (không bắt buộc với --org) / address (optional with --org)")
    p.add_argument("--name", required=True, help='họ và tên / full name, "Nguyễn Thanh Bình"')
    p.add_argument("--password", help="mật khẩu ban đầu, đủ mạnh, phải đổi khi đăng nhập lần đầu (mặc định: một lần) / "
                   "first password: must meet the rules and be changed at first login (default: one-time)")
    p.add_argument("--org", help="tổ chức công tác (địa chỉ, mã hoặc id) / organisation")
    p.add_argument("--title", default="", help="chức vụ / title")
    p.add_argument("--rank", type=int, help="cấp lãnh đạo, 1 cao nhất / leadership rank, 1 highest (Điều 3.3a)")
    p.add_argument("--registered", help="ngày đăng ký dd/mm/yyyy / registration date (Điều 3.3a)")
    p.add_argument("--code", help="mã cán bộ / staff code")
    p.add_argument("--kind", default="personal", choices=["personal", "organisation", "subunit"],
                   help="(without --org) mailbox kind")

    p = commands.command("move", "chuyển công tác / move an official to another organisation", cmd_user_move,
                         group=g)
    p.add_argument("person", help="địa chỉ hoặc mã cán bộ / address or staff code")
    p.add_argument("--org", required=True)
    p.add_argument("--title")
    p.add_argument("--rank", type=int)

    p = commands.command("leave", "nghỉ việc, chuyển khỏi tỉnh: thu hồi hộp thư (Điều 4.5) / revoke on departure",
                         cmd_user_leave, group=g)
    p.add_argument("person", help="địa chỉ hoặc mã cán bộ / address or staff code")

    p = commands.command("list", "danh sách hộp thư / list mailboxes", cmd_user_list, group=g)
    p.add_argument("--org", help="chỉ cán bộ của tổ chức này / only the officials of this organisation")


async def cmd_user_add(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    directory = Directory(app)
    args.name = " ".join(args.name.split())
    if not args.name:
        raise CommandError("Thiếu họ và tên / --name must not be empty")
    if args.org:
        registered = None
        if args.registered:
            try:
                registered = datetime.strptime(args.registered, "%d/%m/%Y").replace(tzinfo=UTC)
            except ValueError:
                raise CommandError(f"Ngày không hợp lệ / invalid date (dd/mm/yyyy): {args.registered}") from None
        try:
            person, proposal, password = await directory.add_person(
                args.name, args.org, title=args.title, rank=args.rank, registered=registered,
                address=args.address, password=args.password, code=args.code)
        except DirectoryError as exc:
            raise CommandError(str(exc)) from None
        print(person.address)
        print(f"  {proposal.explain()}")
    else:
        if not args.address:
            raise CommandError("Cần ADDRESS hoặc --org / give an ADDRESS or --org")
        address = directory.address_of(args.address)
        try:
            local = directory.local_of(address)
        except DirectoryError as exc:
            raise CommandError(str(exc)) from None
        problem = naming.validate_local(local)
        if problem:
            raise CommandError(f"Địa chỉ không hợp lệ / invalid address {address}: {problem}")
        holder = await directory.holder_of(address)
        if holder:
            raise CommandError(f"Địa chỉ đã dùng / address taken: {address}: {holder}")
        from congthu.store import StoreError

        # Chosen for someone else: the strength rules first (before the mailbox exists),
        # and it must be changed at first login (Điều 13.2).
        issued = await app.accounts.prepare_issued(args.password, address=address, names=[args.name])
        try:
            mailbox = await app.store.create_mailbox(address, args.name, kind=args.kind,
                                                     quota_bytes=app.settings.mailbox_quota_bytes)
        except StoreError as exc:
            raise CommandError(str(exc)) from None
        await app.accounts.issue_password(mailbox.id, issued, actor=actor(), client="cli")
        password = issued.password
        print(mailbox.address)
    if not args.password:
        print(f"mật khẩu một lần / one-time password: {password}")
    print("Người dùng phải đổi mật khẩu khi đăng nhập lần đầu / it must be changed at first login.")
    return 0


async def cmd_user_move(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        person = await Directory(app).move_person(args.person, args.org, title=args.title, rank=args.rank)
    except DirectoryError as exc:
        raise CommandError(str(exc)) from None
    print(f"{person.full_name} <{person.address}> → {person.org_name}")
    return 0


async def cmd_user_leave(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        person = await Directory(app).person_leaves(args.person)
    except DirectoryError as exc:
        raise CommandError(str(exc)) from None
    print(f"{person.full_name} <{person.address}>: đã thu hồi / revoked (dữ liệu được giữ / data kept)")
    return 0


async def cmd_user_list(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    if args.org:
        try:
            people = await Directory(app).list_people(args.org)
        except DirectoryError as exc:
            raise CommandError(str(exc)) from None
        for p in people:
            print(f"{p.address:40} {p.full_name} — {p.title}")
        return 0
    for mailbox in await app.store.list_mailboxes():
        print(f"{mailbox.address:40} {mailbox.kind:12} {mailbox.status:9} {mailbox.display_name}")
    return 0
