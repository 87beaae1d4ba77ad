"""Directory commands: ``name``, ``org``, ``alias``, ``directory`` and ``import``.

(``user add|move|leave|list`` are in congthu.cli.users.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from congthu.cli import CommandError, Commands
from congthu.directory import Directory, DirectoryError, naming


def register(commands: Commands) -> None:
    p = commands.command("person", "địa chỉ cá nhân theo Điều 3.2 / personal address by Điều 3.2",
                         cmd_name_person, group="name", group_help="đặt tên địa chỉ theo Điều 3 / address naming",
                         needs_app=False)
    p.add_argument("full_name", help='"Nguyễn Thanh Bình"')
    p.add_argument("--explain", action="store_true", help="show the rule")
    p = commands.command("org", "địa chỉ tổ chức theo Điều 3.1 / organisation address by Điều 3.1",
                         cmd_name_org, group="name", needs_app=False)
    p.add_argument("name", help='"Sở Thông tin và Truyền thông"')
    p.add_argument("--parent", help="địa chỉ tổ chức cấp trên / parent's address (sub-unit, Điều 3.1b)")
    p.add_argument("--type", dest="type_words", help="loại hình nếu tên không bắt đầu bằng loại hình đã biết")
    p.add_argument("--explain", action="store_true", help="show the rule")

    g = "org"
    gh = "tổ chức / organisations"
    p = commands.command("add", "thêm tổ chức / add an organisation and its mailbox", cmd_org_add,
                         group=g, group_help=gh)
    p.add_argument("name")
    p.add_argument("--parent", help="tổ chức cấp trên (địa chỉ, mã hoặc id) / parent organisation")
    p.add_argument("--address", help="địa chỉ do người quản trị chọn (Điều 3.1b, 3.3c) / operator's address")
    p.add_argument("--type", dest="type_words", help="loại hình / organisation type if not recognised")
    p.add_argument("--code", help="mã tổ chức / code")
    p.add_argument("--password", help="mật khẩu (mặc định: một lần) / password (default: one-time)")
    p = commands.command("list", "danh sách tổ chức / list organisations", cmd_org_list, group=g)
    p.add_argument("--all", action="store_true", help="kể cả tổ chức đã sáp nhập, giải thể / include past ones")
    p = commands.command("show", "chi tiết tổ chức / show an organisation", cmd_org_show, group=g)
    p.add_argument("org")
    p = commands.command("rename", "đổi tên tổ chức / rename (old address stays as an alias)", cmd_org_rename,
                         group=g)
    p.add_argument("org")
    p.add_argument("new_name")
    p.add_argument("--address")
    p.add_argument("--type", dest="type_words")
    p = commands.command("merge", "sáp nhập / merge organisations (old addresses keep delivering)",
                         cmd_org_merge, group=g)
    p.add_argument("orgs", nargs="+", help="các tổ chức bị sáp nhập / organisations merged")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--into", help="vào tổ chức đã có / into an existing organisation")
    target.add_argument("--name", help="thành tổ chức mới tên là / into a new organisation named")
    p.add_argument("--parent")
    p.add_argument("--address")
    p = commands.command("split", "chia tách / split an organisation (first part is the main successor)",
                         cmd_org_split, group=g)
    p.add_argument("org")
    p.add_argument("--part", action="append", required=True, metavar="NAME[=ADDRESS]")
    p = commands.command("dissolve", "giải thể / dissolve an organisation", cmd_org_dissolve, group=g)
    p.add_argument("org")
    p.add_argument("--successor", help="tổ chức kế thừa / successor organisation")
    p = commands.command("leader", "đặt thủ trưởng / set an organisation's leader", cmd_org_leader, group=g)
    p.add_argument("org")
    p.add_argument("person", help="địa chỉ hoặc mã cán bộ / address or staff code")

    g = "alias"
    p = commands.command("add", "thêm bí danh / add an alias", cmd_alias_add, group=g,
                         group_help="bí danh / aliases")
    p.add_argument("alias")
    p.add_argument("target", help="hộp thư nhận / mailbox the alias delivers to")
    p.add_argument("--days", type=int, help="hết hạn sau N ngày / expires after N days")
    p.add_argument("--reason", default="")
    p = commands.command("list", "danh sách bí danh / list aliases", cmd_alias_list, group=g)
    p.add_argument("--all", action="store_true", help="kể cả bí danh hết hạn / include expired")
    p = commands.command("remove", "xóa bí danh (địa chỉ vẫn được giữ) / remove (address stays reserved)",
                         cmd_alias_remove, group=g)
    p.add_argument("alias")

    g = "directory"
    p = commands.command("search", "tìm trong danh bạ / search (accents and case ignored)", cmd_search,
                         group=g, group_help="danh bạ / the directory")
    p.add_argument("text", nargs="+")
    p.add_argument("--limit", type=int, default=50)
    p = commands.command("publish", "xuất bản danh bạ / publish HTML, CSV, XLSX, vCard, JSON (Điều 9.8)",
                         cmd_publish, group=g)
    p.add_argument("dest", nargs="?", help="thư mục / directory (default: directory.publish_dir)")

    p = commands.command("import", "nhập tổ chức và cán bộ từ CSV/XLSX; `import template DEST` ghi tệp mẫu / "
                                   "import organisations and staff; `import template DEST` writes the template",
                         cmd_import)
    p.add_argument("file", help="tệp CSV/XLSX, hoặc 'template'")
    p.add_argument("dest", nargs="?", help="(với template) nơi ghi tệp mẫu, .xlsx hoặc .csv")
    p.add_argument("--dry-run", action="store_true", help="chỉ kiểm tra và đề xuất địa chỉ / check and propose only")
    p.add_argument("--out", help="thư mục ghi tệp mật khẩu / where the password files go")
    p.add_argument("--quiet", action="store_true", help="không liệt kê từng địa chỉ / no per-row lines")


def _fail(exc: Exception) -> CommandError:
    return CommandError(str(exc.args[0] if exc.args else exc))


# -- name ------------------------------------------------------------------------------


def cmd_name_person(args: argparse.Namespace) -> int:
    try:
        local = naming.person_local(args.full_name)
    except naming.NamingError as exc:
        raise _fail(exc) from None
    print(local)
    if args.explain:
        name = naming.split_name(args.full_name)
        print(f"[{naming.RULE_PERSON}] họ/family {name.family!r}, tên đệm/middle {name.middle!r}, "
              f"tên/given {name.given!r}")
    return 0


def cmd_name_org(args: argparse.Namespace) -> int:
    try:
        local = naming.org_local(args.name, parent=args.parent, type_words=args.type_words)
        analysed = naming.analyse_org(args.name, parent=args.parent, type_words=args.type_words)
    except naming.NamingError as exc:
        raise _fail(exc) from None
    print(local)
    if args.explain:
        rule = naming.RULE_SUBUNIT if args.parent else naming.RULE_ORG
        print(f"[{rule}] loại hình/type {analysed.type_part!r} + chữ cái đầu/initials {analysed.name_part!r}")
        for note in analysed.notes:
            print(note)
    return 0


# -- org -------------------------------------------------------------------------------


async def cmd_org_add(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        org, proposal, password = await Directory(app).add_org(
            args.name, parent=args.parent, address=args.address, type_words=args.type_words,
            code=args.code, password=args.password)
    except DirectoryError as exc:
        raise _fail(exc) from None
    print(org.address)
    print(f"  {proposal.explain()}")
    if not args.password:
        print(f"  mật khẩu một lần / one-time password: {password}")
    return 0


async def cmd_org_list(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    d = Directory(app)
    if args.all:
        for org in await d.list_orgs(include_inactive=True):
            print(f"{org.address:40} {org.status:10} {org.name}")
        return 0
    for depth, org in await d.org_tree():
        print(f"{'  ' * depth}{org.address:{max(10, 40 - 2 * depth)}} {org.name}")
    return 0


async def cmd_org_show(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    d = Directory(app)
    try:
        org = await d.get_org(args.org)
    except DirectoryError as exc:
        raise _fail(exc) from None
    print(f"{org.name}\n  địa chỉ / address: {org.address}\n  loại / kind: {org.kind} ({org.type_words})")
    print(f"  trạng thái / status: {org.status}, từ / from {org.valid_from}"
          + (f" đến / to {org.valid_to}" if org.valid_to else ""))
    if org.parent_id:
        print(f"  thuộc / under: {(await d.get_org(org.parent_id)).address}")
    if org.successor_id:
        print(f"  kế thừa / successor: {(await d.get_org(org.successor_id)).address}")
    people = await d.list_people(org.id) if org.status == "active" else []
    leader = next((p for p in people if p.id == org.leader_id), None)
    if leader:
        print(f"  thủ trưởng / leader: {leader.full_name} <{leader.address}>")
    aliases = [a for a in await d.list_aliases() if a.mailbox_id == org.mailbox_id]
    for alias in aliases:
        print(f"  bí danh / alias: {alias.address}")
    print(f"  {len(people)} người / people")
    for p in people:
        print(f"    {p.address:40} {p.full_name} — {p.title}")
    return 0


async def cmd_org_rename(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        org, changed = await Directory(app).rename_org(args.org, args.new_name, address=args.address,
                                                       type_words=args.type_words)
    except DirectoryError as exc:
        raise _fail(exc) from None
    print(f"{org.name} <{org.address}>")
    for old, new in changed:
        print(f"  {old} → {new} (địa chỉ cũ vẫn nhận thư / old address still delivers)")
    return 0


async def cmd_org_merge(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        org, password = await Directory(app).merge_orgs(args.orgs, into=args.into, name=args.name,
                                                        parent=args.parent, address=args.address)
    except DirectoryError as exc:
        raise _fail(exc) from None
    print(f"{org.name} <{org.address}>")
    if password:
        print(f"  mật khẩu một lần / one-time password: {password}")
    return 0


async def cmd_org_split(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    parts = []
    for part in args.part:
        name, _, address = part.partition("=")
        parts.append((name.strip(), address.strip() or None))
    try:
        orgs, passwords = await Directory(app).split_org(args.org, parts)
    except DirectoryError as exc:
        raise _fail(exc) from None
    for org, pw in zip(orgs, passwords, strict=True):
        print(f"{org.name} <{org.address}>  mật khẩu một lần / one-time password: {pw}")
    return 0


async def cmd_org_dissolve(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        org = await Directory(app).dissolve_org(args.org, successor=args.successor)
    except DirectoryError as exc:
        raise _fail(exc) from None
    print(f"{org.name} <{org.address}>: {org.status}")
    return 0


async def cmd_org_leader(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        await Directory(app).set_leader(args.org, args.person)
    except DirectoryError as exc:
        raise _fail(exc) from None
    return 0


# -- alias -----------------------------------------------------------------------------


async def cmd_alias_add(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        alias = await Directory(app).add_alias(args.alias, args.target, days=args.days, reason=args.reason)
    except DirectoryError as exc:
        raise _fail(exc) from None
    print(f"{alias.address} → {alias.target}")
    return 0


async def cmd_alias_list(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    for alias in await Directory(app).list_aliases(include_expired=args.all):
        until = f" (đến / until {alias.expires_at:%d/%m/%Y})" if alias.expires_at else ""
        state = "" if alias.live else " [hết hạn / expired]"
        print(f"{alias.address:40} → {alias.target}{until}{state}  {alias.reason}")
    return 0


async def cmd_alias_remove(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        await Directory(app).remove_alias(args.alias)
    except DirectoryError as exc:
        raise _fail(exc) from None
    return 0


# -- directory -------------------------------------------------------------------------


async def cmd_search(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    hits = await Directory(app).search(" ".join(args.text), limit=args.limit)
    for hit in hits:
        if hit.kind == "org":
            print(f"{hit.address:40} {hit.name} [tổ chức]")
        else:
            print(f"{hit.address:40} {hit.name} — {hit.title}, {hit.organisation}")
    if not hits:
        print("không tìm thấy / nothing found", file=sys.stderr)
        return 1
    return 0


async def cmd_publish(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from congthu.directory.publish import publish

    for path in await publish(app, args.dest):
        print(path)
    return 0


async def cmd_import(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from congthu.directory.importer import Importer, ImportFileError, write_template

    if args.file == "template":
        if not args.dest:
            raise CommandError("Cần nơi ghi tệp mẫu / give a destination: congthu import template mau.xlsx")
        print(write_template(Path(args.dest)))
        return 0
    if args.dest:
        raise CommandError(f"Thừa tham số / unexpected argument {args.dest!r}")
    try:
        report = await Importer(app).run(Path(args.file), dry_run=args.dry_run,
                                         out_dir=Path(args.out) if args.out else None)
    except (ImportFileError, OSError) as exc:
        raise CommandError(str(exc)) from None
    for line in report.lines(verbose=not args.quiet):
        print(line)
    return 1 if report.errors else 0
