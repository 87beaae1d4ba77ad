"""Commands of the API's tokens (an administrator's, on the server):

    congthu api token create NAME --scope requests:write [--scope ...] [--org sotttt]
                             [--owner admin@domain] [--days 365] [--description TEXT]
    congthu api token list
    congthu api token revoke ID

``create`` prints the token once (only its SHA-256 is kept). ``--owner`` is the account
whose rights the token carries (default: the system's administrator,
``system.admin_address``); ``--org`` limits it to an organisation and its sub-units.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from congthu.api.tokens import SCOPES, TokenError, Tokens
from congthu.cli import CommandError, Commands

if TYPE_CHECKING:
    from congthu.app import App

ACTOR = "cli"


def register(commands: Commands) -> None:
    token = commands.command("token", "mã truy cập API / API tokens", cmd_list, group="api",
                             group_help="API REST cho ứng dụng khác (docs/api.md) / the REST API")
    actions = token.add_subparsers(dest="token_action", metavar="ACTION", required=True)
    p = actions.add_parser("create", help="tạo mã truy cập (hiện một lần) / make a token (shown once)")
    p.add_argument("name", help="tên ứng dụng / what it is for, e.g. hr-system")
    p.add_argument("--scope", action="append", required=True,
                   help=f"phạm vi (lặp lại được) / scope (repeatable): {', '.join(SCOPES)}")
    p.add_argument("--org", help="chỉ tổ chức này và đơn vị con / only this organisation and its units")
    p.add_argument("--owner", help="tài khoản mang quyền / the account whose rights it carries "
                                   "(default: the administrator)")
    p.add_argument("--days", type=int, help="số ngày hiệu lực / days valid (default api.token_days)")
    p.add_argument("--description", default="")
    p.set_defaults(handler=cmd_create, needs_app=True)
    p = actions.add_parser("list", help="liệt kê / list tokens")
    p.set_defaults(handler=cmd_list, needs_app=True)
    p = actions.add_parser("revoke", help="thu hồi ngay / revoke at once")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_revoke, needs_app=True)


async def cmd_create(app: App, args: argparse.Namespace) -> int:
    system = app.settings.system
    owner = args.owner or f"{system.admin_address}@{system.domain}"
    try:
        made, secret = await Tokens(app).create(args.name, args.scope, owner=owner, actor=ACTOR, org=args.org,
                                                days=args.days, description=args.description)
    except TokenError as exc:
        raise CommandError(str(exc)) from None
    print(secret)
    print(f"# id {made.id}, {made.name}: {' '.join(made.scopes)}; owner {owner}"
          + (f"; org {made.org_id}" if made.org_id else "")
          + f"; expires {made.expires_at:%Y-%m-%d}. Lưu lại ngay: không hiện lại / keep it now: never shown again.")
    return 0


async def cmd_list(app: App, args: argparse.Namespace) -> int:
    tokens = Tokens(app)
    now = tokens.now()
    for t in await tokens.listing():
        owner = await app.store.get_mailbox_by_id(t.owner_id)
        used = f"{t.last_used_at:%Y-%m-%d %H:%M} from {t.last_used_from}" if t.last_used_at else "never used"
        print(f"{t.id}\t{t.name}\t{t.hint}…\t{t.state(now)}\t{' '.join(t.scopes)}\t"
              f"owner {owner.address if owner else t.owner_id}\torg {t.org_id or '-'}\t"
              f"expires {t.expires_at:%Y-%m-%d}\t{used}")
    return 0


async def cmd_revoke(app: App, args: argparse.Namespace) -> int:
    if not await Tokens(app).revoke(args.id, actor=ACTOR):
        raise CommandError(f"Không có mã truy cập đang hiệu lực / no such active token: {args.id}")
    print(f"Đã thu hồi / revoked: {args.id}")
    return 0
