"""``congthu store reindex``: analyse again the messages stored by earlier versions, so
that SEARCH TEXT/BODY, TO/FROM/CC of group names, SORT DATE and PREVIEW work for them
as for new mail (``congthu.store.reindex`` says what and how). Run once after an
upgrade; it may run while the server runs, and may be stopped and started again."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from congthu.cli import CommandError, Commands
from congthu.store.reindex import REINDEX_BATCH, Reindexed

if TYPE_CHECKING:
    from congthu.app import App


def register(commands: Commands) -> None:
    p = commands.command(
        "reindex", "phân tích lại thư lưu bởi phiên bản cũ / analyse again messages stored by older versions",
        cmd_reindex, group="store", group_help="kho thư / the mail store")
    p.add_argument("--batch", type=int, default=REINDEX_BATCH,
                   help=f"thư mỗi giao dịch / messages per transaction (default {REINDEX_BATCH})")


async def cmd_reindex(app: App, args: argparse.Namespace) -> int:
    if not 1 <= args.batch <= 10_000:
        raise CommandError("--batch phải từ 1 đến 10000 / --batch must be 1 to 10000")
    pending = await app.store.reindex_pending()
    print(f"Cần phân tích lại / to analyse again: {pending}")

    def progress(done: Reindexed) -> None:
        print(f"  {done.done}/{pending} (content id {done.last_id})", flush=True)

    result = await app.store.reindex(batch=args.batch, progress=progress if pending else None)
    print(f"Xong / done: {result.done}; văn bản tìm kiếm đổi / search text changed: {result.text_changed}")
    if result.failed_count:
        ids = ", ".join(map(str, result.failed))
        print(f"LỖI / ERROR: không đọc được {result.failed_count} thư / unreadable: content ids {ids} "
              f"(congthu check --deep)")
        return 1
    return 0
