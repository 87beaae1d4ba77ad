"""``congthu journal search|show|verify|purge``: the journal of inter-organisation mail
(Điều 7.3–7.5) for the records office.

``search`` and ``show`` act for a records officer named by ``--as ADDRESS``: the mailbox
must hold the ``records`` role (or ``admin``), and each search and read is written to the
audit trail under that address and the operating-system user. ``show ID > thu.eml``
writes the message's bytes exactly as kept, after checking them against their SHA-256.
Dates are days in Vietnam (UTC+7), as the regulation's periods are.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from congthu.accounts.roles import Forbidden
from congthu.cli import CommandError, Commands
from congthu.content.doctypes import TYPES, lookup
from congthu.journal import entries

if TYPE_CHECKING:
    from congthu.app import App

VIETNAM = timezone(timedelta(hours=7), "ICT")


def register(commands: Commands) -> None:
    group_help = "lưu thư giữa các cơ quan (Điều 7.3-7.5) / journal of inter-organisation mail"
    p = commands.command("search", "tìm thư đã lưu / search the journal", cmd_search, group="journal",
                         group_help=group_help)
    p.add_argument("--as", dest="reader", required=True, metavar="ADDRESS",
                   help="hộp thư của văn thư (vai trò records) / the records officer's mailbox")
    p.add_argument("--text", default="", help="trong tiêu đề, Message-ID, địa chỉ / in subject, Message-ID, addresses")
    p.add_argument("--address", default="", help="người gửi hoặc nhận / a sender or recipient")
    p.add_argument("--since", type=date.fromisoformat, help="từ ngày / from day (YYYY-MM-DD)")
    p.add_argument("--until", type=date.fromisoformat, help="đến hết ngày / up to and including day")
    p.add_argument("--type", dest="doctype", default="",
                   help="loại văn bản / document type: " + ", ".join(t.key for t in TYPES))
    p.add_argument("--limit", type=int, default=100)
    p = commands.command("show", "in thư đã lưu, đúng từng byte / write a kept message, byte for byte", cmd_show,
                         group="journal")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="reader", required=True, metavar="ADDRESS",
                   help="hộp thư của văn thư (vai trò records) / the records officer's mailbox")
    commands.command("verify", "kiểm tra toàn vẹn / check every entry against its SHA-256", cmd_verify,
                     group="journal")
    commands.command("purge", "xóa bản lưu quá hạn (journal.retention_days) / remove expired entries",
                     cmd_purge, group="journal")


def _client() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name: still the CLI
        return "cli"


async def _reader(app: App, address: str) -> int:
    mailbox = await app.store.get_mailbox(address)
    if mailbox is None:
        raise CommandError(f"Không có hộp thư / no such mailbox: {address}")
    return mailbox.id


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), VIETNAM)


async def cmd_search(app: App, args: argparse.Namespace) -> int:
    doctype = None
    if args.doctype:
        found = lookup(args.doctype)
        if found is None:
            raise CommandError(f"Loại văn bản không rõ / unknown document type: {args.doctype}")
        doctype = found.key
    reader = await _reader(app, args.reader)
    try:
        found_entries = await entries.search(
            app, reader, text=args.text, address=args.address,
            since=_day_start(args.since) if args.since else None,
            until=_day_start(args.until + timedelta(days=1)) if args.until else None,
            document_type=doctype, limit=args.limit, client=_client())
    except Forbidden as exc:
        raise CommandError(f"{args.reader}: không có vai trò văn thư / lacks the records role") from exc
    if not found_entries:
        print("Không có thư / nothing found")
        return 0
    for e in found_entries:
        print(f"{e.id}\t{e.sent_at.astimezone(VIETNAM):%Y-%m-%d %H:%M}\t{e.organisation} -> "
              f"{', '.join(e.org_recipients)}\t{e.document_type or '-'}\t{e.size} B")
        print(f"\tSubject: {e.subject}")
        print(f"\tMessage-ID: {e.message_id}\tSHA-256: {e.sha256}")
    return 0


async def cmd_show(app: App, args: argparse.Namespace) -> int:
    reader = await _reader(app, args.reader)
    try:
        _entry, raw = await entries.read_entry(app, reader, args.id, client=_client())
    except Forbidden as exc:
        raise CommandError(f"{args.reader}: không có vai trò văn thư / lacks the records role") from exc
    except entries.JournalError as exc:
        raise CommandError(str(exc)) from exc
    sys.stdout.flush()
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()
    return 0


async def cmd_verify(app: App, args: argparse.Namespace) -> int:
    problems = await entries.verify(app)
    for entry_id, problem in problems:
        print(f"{entry_id}\t{problem}")
    if problems:
        raise CommandError(f"{len(problems)} bản lưu hỏng / damaged entries")
    print("Toàn vẹn / every entry intact")
    return 0


async def cmd_purge(app: App, args: argparse.Namespace) -> int:
    removed = await entries.purge_expired(app)
    print(f"Đã xóa / removed: {removed} entr{'y' if removed == 1 else 'ies'}")
    return 0
