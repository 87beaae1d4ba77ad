"""Delegation commands (Điều 12): ``delegate grant|revoke|list``.

``delegate grant OWNER GRANTEE RIGHTS`` gives GRANTEE the RFC 4314 rights RIGHTS on
OWNER's mailbox ("lrs" read only, "lrswipkxtea" everything, "0" send as the owner; see
``congthu.delegation``), replacing earlier rights. ``delegate revoke OWNER GRANTEE``
removes the grant. ``delegate list [MAILBOX]`` shows the grants on and to MAILBOX, or
every grant. Addresses may be given without the domain. Every change is audited, with
the system user who ran the command as the actor.
"""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING

from sqlalchemy import or_, true

from congthu import delegation
from congthu.cli import CommandError, Commands
from congthu.delegation.tables import delegations

if TYPE_CHECKING:
    from congthu.app import App

_RIGHTS_HELP = ("quyền RFC 4314 / rights: l xem, r đọc, s đánh dấu đã đọc, w cờ, i thêm thư, "
                "k tạo thư mục, x xóa thư mục, t đánh dấu xóa, e xóa hẳn, a quản trị, 0 gửi thay; "
                f"chỉ đọc / read only: {delegation.READ_ONLY}")


def register(commands: Commands) -> None:
    g, gh = "delegate", "ủy quyền hộp thư (Điều 12) / mailbox delegation"
    p = commands.command("grant", "ủy quyền / grant rights on a mailbox", cmd_grant, group=g, group_help=gh)
    p.add_argument("owner", help="hộp thư được ủy quyền / the mailbox delegated")
    p.add_argument("grantee", help="người được ủy quyền / who receives the rights")
    p.add_argument("rights", help=_RIGHTS_HELP)
    p = commands.command("revoke", "thu hồi ủy quyền / revoke a grant", cmd_revoke, group=g)
    p.add_argument("owner")
    p.add_argument("grantee")
    p = commands.command("list", "danh sách ủy quyền / list grants", cmd_list, group=g)
    p.add_argument("mailbox", nargs="?", help="chỉ ủy quyền của/cho hộp thư này / only grants on or to this mailbox")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name (containers without passwd entries)
        return "cli"


async def _mailbox_id(app: App, text: str) -> tuple[int, str]:
    from congthu.directory import Directory

    address = Directory(app).address_of(text.strip())
    mailbox = await app.store.get_mailbox(address)
    if mailbox is None:
        raise CommandError(f"Không có hộp thư / no such mailbox: {address}")
    return mailbox.id, mailbox.address


async def cmd_grant(app: App, args: argparse.Namespace) -> int:
    owner, owner_address = await _mailbox_id(app, args.owner)
    grantee, grantee_address = await _mailbox_id(app, args.grantee)
    try:
        rights = await delegation.grant(app, owner, grantee, args.rights, granted_by=_actor())
    except delegation.InvalidRights as exc:
        raise CommandError(str(exc)) from None
    if rights:
        print(f"{owner_address} -> {grantee_address}: {rights}")
    else:
        print(f"{owner_address} -> {grantee_address}: đã thu hồi / revoked")
    return 0


async def cmd_revoke(app: App, args: argparse.Namespace) -> int:
    owner, owner_address = await _mailbox_id(app, args.owner)
    grantee, grantee_address = await _mailbox_id(app, args.grantee)
    if not await delegation.revoke(app, owner, grantee, revoked_by=_actor()):
        raise CommandError(f"Không có ủy quyền / no grant: {owner_address} -> {grantee_address}")
    print(f"{owner_address} -> {grantee_address}: đã thu hồi / revoked")
    return 0


async def cmd_list(app: App, args: argparse.Namespace) -> int:
    condition: object = true()
    if args.mailbox:
        mailbox, _address = await _mailbox_id(app, args.mailbox)
        condition = or_(delegations.c.owner_mailbox_id == mailbox, delegations.c.grantee_mailbox_id == mailbox)
    grants = await delegation._grants(app, condition)
    if not grants:
        print("Không có ủy quyền / no grants")
        return 0
    width = max(len(g.owner_address) for g in grants)
    for g in grants:
        print(f"{g.owner_address:<{width}}  ->  {g.grantee_address}  {g.rights}")
    return 0
