"""Delegation commands (Điều 12): ``delegate grant|revoke|list``.

``delegate grant OWNER GRANTEE --rights RIGHTS`` gives GRANTEE the RFC 4314 rights
RIGHTS on the whole of OWNER's mailbox ("lrs" read only, "lrswipkxtea" everything, "0"
send as the owner; see ``congthu.delegation``), replacing earlier mailbox-wide rights;
empty rights remove the mailbox-wide grant. With ``--folder NAME`` the rights are that
folder's own, replacing the mailbox-wide ones there (e.g. only "Công văn đến",
read-only); empty rights then mean "nothing on this folder" (it is hidden from a
delegate of the whole mailbox). INBOX has no rights of its own: its rights are the
mailbox-wide grant. RIGHTS may also be given as a third argument, as before.
``--until DAY`` (YYYY-MM-DD or DD/MM/YYYY, inclusive, the system's time zone) ends the
whole delegation (every grant of GRANTEE on OWNER's mailbox) after that day, ``--until
never`` takes its end away; without ``--until`` the delegation keeps the end it has
(``congthu.delegation.term``).

``delegate revoke OWNER GRANTEE`` takes away every right of GRANTEE on OWNER's mailbox
(mailbox-wide and per folder); with ``--folder NAME`` only that folder's own grant, so
the folder follows the mailbox-wide grant again. ``delegate list [MAILBOX]`` shows the
grants on and to MAILBOX, or every grant, folder grants with their folder, each with its
end and, once past it, marked expired (no door honours it). Addresses may
be given without the domain. Every change is audited, with the system user who ran the
command as the actor.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from typing import TYPE_CHECKING

from congthu import delegation
from congthu.cli import CommandError, Commands
from congthu.delegation.term import Keep
from congthu.directory import Directory
from congthu.store import normalise_folder_name

if TYPE_CHECKING:
    from congthu.app import App

_RIGHTS_HELP = ("quyền RFC 4314 / rights: l xem, r đọc, s đánh dấu đã đọc, w cờ, i thêm thư, "
                "k tạo thư mục, x xóa thư mục, t đánh dấu xóa, e xóa hẳn, a quản trị, 0 gửi thay "
                f"(chỉ cho cả hộp thư / mailbox-wide only); chỉ đọc / read only: {delegation.READ_ONLY}")
_UNTIL_HELP = ("ủy quyền hết hiệu lực sau ngày này (YYYY-MM-DD hoặc DD/MM/YYYY); never: không thời hạn / the "
               "delegation ends after this day; never: no end")
_FOLDER_HELP = ("chỉ thư mục này, ví dụ \"Công văn đến\" (không có: cả hộp thư) / only this folder "
                "(without: the whole mailbox)")


def register(commands: Commands) -> None:
    g, gh = "delegate", "ủy quyền hộp thư (Điều 12) / mailbox delegation"
    p = commands.command("grant", "ủy quyền / grant rights on a mailbox or one of its folders", cmd_grant,
                         group=g, group_help=gh)
    p.add_argument("owner", help="hộp thư được ủy quyền / the mailbox delegated")
    p.add_argument("grantee", help="người được ủy quyền / who receives the rights")
    p.add_argument("rights", nargs="?", help=_RIGHTS_HELP)
    p.add_argument("--rights", dest="rights_option", metavar="RIGHTS", help=_RIGHTS_HELP)
    p.add_argument("--folder", help=_FOLDER_HELP)
    p.add_argument("--until", metavar="DAY", help=_UNTIL_HELP)
    p = commands.command("revoke", "thu hồi ủy quyền / revoke a grant", cmd_revoke, group=g)
    p.add_argument("owner")
    p.add_argument("grantee")
    p.add_argument("--folder", help="chỉ quyền riêng của thư mục này / only this folder's own grant")
    p = commands.command("list", "danh sách ủy quyền / list grants", cmd_list, group=g)
    p.add_argument("mailbox", nargs="?", help="chỉ ủy quyền của/cho hộp thư này / only grants on or to this mailbox")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name (containers without passwd entries)
        return "cli"


async def _mailbox_id(app: App, text: str) -> tuple[int, str]:
    address = Directory(app).address_of(text.strip())
    mailbox = await app.store.get_mailbox(address)
    if mailbox is None:
        raise CommandError(f"Không có hộp thư / no such mailbox: {address}")
    return mailbox.id, mailbox.address


async def _folder(app: App, owner: int, name: str | None) -> tuple[int | None, str]:
    """The folder's id and name (None, "" without --folder)."""
    if name is None:
        return None, ""
    folder = await app.store.get_folder(owner, normalise_folder_name(name))
    if folder is None:
        raise CommandError(f"Không có thư mục / no such folder: {name}")
    if folder.name == delegation.INBOX:
        raise CommandError("Quyền trên INBOX là quyền trên cả hộp thư: bỏ --folder / INBOX's rights are the "
                           "mailbox-wide grant: leave out --folder")
    return folder.id, folder.name


def _where(owner_address: str, folder: str) -> str:
    return f"{owner_address} [{folder}]" if folder else owner_address


async def cmd_grant(app: App, args: argparse.Namespace) -> int:
    if args.rights is not None and args.rights_option is not None and args.rights != args.rights_option:
        raise CommandError("Hai giá trị quyền khác nhau / two different rights given")
    rights_text = args.rights_option if args.rights_option is not None else args.rights
    if rights_text is None:
        raise CommandError("Thiếu quyền / rights missing (--rights)")
    owner, owner_address = await _mailbox_id(app, args.owner)
    grantee, grantee_address = await _mailbox_id(app, args.grantee)
    folder_id, folder = await _folder(app, owner, args.folder)
    zone = app.settings.system.timezone
    try:
        if args.until is None:
            end: datetime | None | Keep = delegation.KEEP
        elif args.until.strip().lower() == "never":
            end = None
        else:
            end = delegation.parse_end(args.until, app.accounts.clock(), zone)
        rights = await delegation.grant(app, owner, grantee, rights_text, folder_id=folder_id, granted_by=_actor(),
                                        expires_at=end)
    except (delegation.InvalidRights, delegation.InvalidTerm) as exc:
        raise CommandError(str(exc)) from None
    where = _where(owner_address, folder)
    if rights:
        ends = [g.expires_at for g in await delegation.grants_of(app, owner)
                if g.grantee_mailbox_id == grantee and g.expires_at is not None]
        until = f" (đến hết / until {delegation.last_day(ends[0], zone):%d/%m/%Y})" if ends else ""
        print(f"{where} -> {grantee_address}: {rights}{until}")
    elif folder:
        print(f"{where} -> {grantee_address}: không có quyền trên thư mục này / no rights on this folder")
    else:
        print(f"{where} -> {grantee_address}: đã thu hồi quyền trên cả hộp thư / mailbox-wide grant revoked")
    return 0


async def cmd_revoke(app: App, args: argparse.Namespace) -> int:
    owner, owner_address = await _mailbox_id(app, args.owner)
    grantee, grantee_address = await _mailbox_id(app, args.grantee)
    folder_id, folder = await _folder(app, owner, args.folder)
    where = _where(owner_address, folder)
    if not await delegation.revoke(app, owner, grantee, folder_id=folder_id, revoked_by=_actor()):
        raise CommandError(f"Không có ủy quyền / no grant: {where} -> {grantee_address}")
    if folder:
        print(f"{where} -> {grantee_address}: đã thu hồi, thư mục theo quyền cả hộp thư / revoked, "
              "the folder follows the mailbox-wide grant")
    else:
        print(f"{where} -> {grantee_address}: đã thu hồi / revoked")
    return 0


async def cmd_list(app: App, args: argparse.Namespace) -> int:
    mailbox = None
    if args.mailbox:
        mailbox, _address = await _mailbox_id(app, args.mailbox)
    grants = await delegation.list_grants(app, mailbox, expired=True)
    if not grants:
        print("Không có ủy quyền / no grants")
        return 0
    # One line a grant: owner, grantee, rights ("-" = none), then the folder of a folder
    # grant (a mailbox-wide grant has none), then its end and whether it is past.
    width = max(len(g.owner_address) for g in grants)
    gwidth = max(len(g.grantee_address) for g in grants)
    now, zone = app.accounts.clock(), app.settings.system.timezone
    for g in grants:
        line = f"{g.owner_address:<{width}}  ->  {g.grantee_address:<{gwidth}}  {g.rights or '-'}"
        if g.folder is not None:
            line = f"{line:<{width + gwidth + 20}}  thư mục / folder: {g.folder}"
        if g.expires_at is not None:
            day = delegation.last_day(g.expires_at, zone)
            state = "đến hết / until" if g.in_force(now) else "HẾT HẠN / EXPIRED"
            line = f"{line}  {state} {day:%d/%m/%Y}"
        print(line.rstrip())
    return 0
