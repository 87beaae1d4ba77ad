"""``congthu quarantine list|release|delete``: the messages the content pipeline held
(Điều 9.9), for administrators."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from congthu.cli import CommandError, Commands
from congthu.content import quarantine

if TYPE_CHECKING:
    from congthu.app import App


def register(commands: Commands) -> None:
    group_help = "thư bị giữ lại (cách ly) / quarantined messages"
    commands.command("list", "liệt kê thư bị giữ / list held messages", cmd_list,
                     group="quarantine", group_help=group_help)
    p = commands.command("release", "chuyển thư vào hộp thư người nhận / deliver to the recipients",
                         cmd_release, group="quarantine", group_help=group_help)
    p.add_argument("ids", nargs="+", type=int, help="quarantine ids")
    p = commands.command("delete", "xóa hẳn thư bị giữ / delete for good", cmd_delete,
                         group="quarantine", group_help=group_help)
    p.add_argument("ids", nargs="+", type=int, help="quarantine ids")


async def cmd_list(app: App, args: argparse.Namespace) -> int:
    held = await quarantine.list_held(app)
    if not held:
        print("Không có thư bị giữ / no held messages")
        return 0
    for h in held:
        print(f"{h.id}\t{h.held_at:%Y-%m-%d %H:%M}\t{h.size} B\t{h.door}\t<{h.mail_from}>\t{h.rule}\t{h.reason}")
        print(f"\tSubject: {h.subject}")
        for address, _mailbox_id in h.recipients:
            print(f"\t-> {address}")
    return 0


async def cmd_release(app: App, args: argparse.Namespace) -> int:
    missing = [i for i in args.ids if await quarantine.release(app, i, actor="cli") is None]
    if missing:
        raise CommandError(f"Không có thư bị giữ với mã / no held message with id: {', '.join(map(str, missing))}")
    print(f"Đã chuyển / released: {len(args.ids)} message(s)")
    return 0


async def cmd_delete(app: App, args: argparse.Namespace) -> int:
    missing = [i for i in args.ids if await quarantine.delete_held(app, i, actor="cli") is None]
    if missing:
        raise CommandError(f"Không có thư bị giữ với mã / no held message with id: {', '.join(map(str, missing))}")
    print(f"Đã xóa / deleted: {len(args.ids)} message(s)")
    return 0
