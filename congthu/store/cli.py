"""The store's commands.

* ``congthu store reindex``: analyse again the messages stored by earlier versions, so
  that SEARCH TEXT/BODY, TO/FROM/CC of group names, SORT DATE and PREVIEW work for them
  as for new mail (``congthu.store.reindex`` says what and how). Run once after an
  upgrade; it may run while the server runs, and may be stopped and started again. It
  ends by putting what is pending into the search index (``congthu.store.indexer``);
  with ``--search-index`` it first builds that index again from every message.
* ``congthu blobs migrate --to s3|disk``: copy the blobs from the data directory's disk
  store to the configured S3 bucket, or back (``congthu.store.blob_migration``);
  resumable, verified by SHA-256 (docs/object-storage.md).
* ``congthu blobs gc``: remove now the blobs of deleted mail, as the periodic job does
  (``congthu.store.jobs``).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from congthu.cli import CommandError, Commands
from congthu.cluster.leases import LeaseBusy
from congthu.store.blob_backends import open_blob_store
from congthu.store.blob_migration import Migration, migrate_blobs
from congthu.store.jobs import collect
from congthu.store.reindex import REINDEX_BATCH, Reindexed

if TYPE_CHECKING:
    from congthu.app import App


def register(commands: Commands) -> None:
    p = commands.command(
        "reindex", "phân tích lại thư lưu bởi phiên bản cũ / analyse again messages stored by older versions",
        cmd_reindex, group="store", group_help="kho thư / the mail store")
    p.add_argument("--batch", type=int, default=REINDEX_BATCH,
                   help=f"thư mỗi giao dịch / messages per transaction (default {REINDEX_BATCH})")
    p.add_argument("--search-index", action="store_true",
                   help="lập lại chỉ mục tìm kiếm từ mọi thư / build the search index again from every message")
    p = commands.command(
        "migrate", "chép blob giữa đĩa và S3 / copy the blobs between disk and S3 (resumable, verified)",
        cmd_migrate_blobs, group="blobs", group_help="kho blob (nội dung thư) / the blob store (message bytes)")
    p.add_argument("--to", required=True, choices=("s3", "disk"),
                   help="đích / target: s3 (from the data directory's blobs/) or disk (from the S3 bucket)")
    p.add_argument("--verify", action="store_true",
                   help="đọc lại và băm mọi blob ở đích / read every target blob back and hash it")
    p.add_argument("--jobs", type=int, default=8, help="số blob chép song song / blobs copied side by side (1-64)")
    p = commands.command(
        "gc", "xóa blob của thư đã xóa / remove the blobs of deleted mail now", cmd_gc, group="blobs")
    p.add_argument("--grace-minutes", type=int, default=None,
                   help="giữ blob mới hơn / keep blobs younger than this (default [blobs] gc_grace_minutes, ≥ 10)")


async def cmd_reindex(app: App, args: argparse.Namespace) -> int:
    if not 1 <= args.batch <= 10_000:
        raise CommandError("--batch phải từ 1 đến 10000 / --batch must be 1 to 10000")
    if args.search_index:
        await app.store.rebuild_search_index()
        print("Đã lập lại chỉ mục tìm kiếm / search index built again", flush=True)
    pending = await app.store.reindex_pending()
    print(f"Cần phân tích lại / to analyse again: {pending}")

    def progress(done: Reindexed) -> None:
        print(f"  {done.done}/{pending} (content id {done.last_id})", flush=True)

    result = await app.store.reindex(batch=args.batch, progress=progress if pending else None)
    print(f"Xong / done: {result.done}; văn bản tìm kiếm đổi / search text changed: {result.text_changed}; "
          f"đưa vào chỉ mục tìm kiếm / put into the search index: {result.indexed}")
    if result.failed_count:
        ids = ", ".join(map(str, result.failed))
        print(f"LỖI / ERROR: không đọc được {result.failed_count} thư / unreadable: content ids {ids} "
              f"(congthu check --deep)")
        return 1
    return 0


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


async def cmd_migrate_blobs(app: App, args: argparse.Namespace) -> int:
    if not 1 <= args.jobs <= 64:
        raise CommandError("--jobs phải từ 1 đến 64 / --jobs must be 1 to 64")
    settings = app.settings.blobs
    if not settings.s3_endpoint:
        raise CommandError("Chưa cấu hình S3 / S3 is not configured: set [blobs] s3_endpoint, s3_bucket, "
                           "s3_access_key and s3_secret_key in congthu.toml", 2)
    source_kind = "disk" if args.to == "s3" else "s3"
    source = open_blob_store(settings, app.data_dir, source_kind)
    target = open_blob_store(settings, app.data_dir, args.to)
    print(f"Chép / copying: {source.describe()} -> {target.describe()}", flush=True)

    def progress(done: Migration) -> None:
        print(f"  {done.listed} blob: đã chép / copied {done.copied} ({_mib(done.copied_bytes)}), "
              f"đã có / already there {done.skipped}", flush=True)

    try:
        done = await asyncio.to_thread(migrate_blobs, source, target, verify=args.verify, jobs=args.jobs,
                                       progress=progress)
    finally:
        source.close()
        target.close()
    print(f"Xong / done: {done.listed} blob trong nguồn / in the source; đã chép / copied {done.copied} "
          f"({_mib(done.copied_bytes)}); đã có sẵn / already there {done.skipped}"
          + (f"; đã kiểm SHA-256 ở đích / verified in the target {done.verified}" if args.verify else ""))
    if done.vanished:
        print(f"Đã bị xóa khỏi nguồn trong lúc chép (thu gom rác) / removed from the source meanwhile "
              f"(garbage collection): {len(done.vanished)}")
    for digest in done.corrupt:
        print(f"LỖI / ERROR: blob hỏng ở nguồn, không chép / corrupt in the source, not copied: {digest} "
              f"(congthu check --deep)")
    for digest in done.bad_target:
        print(f"LỖI / ERROR: blob ở đích đọc lại sai / wrong when read back from the target: {digest} "
              f"(chạy lại / run again)")
    if not done.ok:
        return 1
    if settings.backend != args.to:
        print(f"Tiếp theo / next: đặt / set [blobs] backend = \"{args.to}\" trong / in congthu.toml, "
              f"chạy lại lệnh này rồi khởi động lại / run this command again, then restart")
    return 0


async def cmd_gc(app: App, args: argparse.Namespace) -> int:
    if args.grace_minutes is not None and args.grace_minutes < 10:
        raise CommandError("--grace-minutes phải ≥ 10 / must be at least 10 (a delivery may be writing)")
    try:
        removed = await collect(app, grace_minutes=args.grace_minutes, wait=60.0)
    except LeaseBusy:
        raise CommandError("Một bản sao lưu đang chạy, hãy thử lại sau / a backup holds the blob "
                           "store: try again when it ends") from None
    print(f"Đã xóa / removed: {removed} blob")
    return 0
