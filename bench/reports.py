"""Reports (issue 18): the time to make the reports of a province of 20,000 mailboxes with
a year of aggregates (goal: at most 5 s), and what counting costs a delivery.

    .venv/bin/python bench/reports.py [--mailboxes 20000] [--orgs 300] [--metrics 20]
                                      [--postgres]

The province is written straight into the tables (the bench's own bulk rows: the
directory's organisations and people, the store's mailboxes through
``MailStore.insert_mailboxes``, credentials, and a year of counters: every day, every
organisation, ``--metrics`` metrics, so about 365 x 300 x 20 = 2.2 million daily rows,
their monthly sums, and the mailboxes used each month). Then each report is made and
rendered: the year, a quarter, a month, an on-demand span (daily rows for its partial
months), one department, as figures, XLSX and PDF.

Counting: the cost of ``app.reports.mail`` and ``login`` per call (what a delivery and a
login add), of a flush of 10,000 increments, and of local deliveries with and without
the counting call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from congthu.accounts.tables import credentials, password_history  # noqa: E402
from congthu.app import App  # noqa: E402
from congthu.directory.tables import dir_orgs, dir_people  # noqa: E402
from congthu.reports.counters import DOORS  # noqa: E402
from congthu.reports.figures import build  # noqa: E402
from congthu.reports.pdf import pdf_bytes  # noqa: E402
from congthu.reports.periods import month, quarter, span, year  # noqa: E402
from congthu.reports.tables import report_active, report_counters, report_months  # noqa: E402
from congthu.reports.xlsx import xlsx_bytes  # noqa: E402
from congthu.store.mailboxes import NewMailbox  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402

METRICS = [f"login.{d}" for d in DOORS] + [
    "mail.sent", "mail.sent.org", "mail.sent.province", "mail.sent.gov", "mail.sent.outside",
    "mail.received.org", "mail.received.province", "mail.received.gov", "mail.received.outside",
    "stopped.spam", "stopped.virus", "stopped.classified", "spam.junk", "login.extra1", "login.extra2"]


async def province(app: App, mailboxes: int, orgs: int, metrics: int) -> tuple[float, int]:
    """Write the province and its year; returns (seconds, daily counter rows)."""
    rng = random.Random(18)
    started = time.perf_counter()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    top = max(orgs // 10, 1)

    def directory(conn):  # the bench's own bulk rows
        org_boxes = app.store.insert_mailboxes(conn, [
            NewMailbox(f"org{i}@soctrang.gov.vn", f"Cơ quan {i}", "organisation" if i < top else "subunit")
            for i in range(orgs)])
        conn.execute(insert(dir_orgs), [
            {"id": i + 1, "code": f"ORG{i}", "parent_id": None if i < top else (i % top) + 1,
             "kind": "organisation" if i < top else "subunit", "type_words": "", "name": f"Cơ quan số {i}",
             "address": f"org{i}@soctrang.gov.vn", "local_part": f"org{i}", "mailbox_id": org_boxes[i],
             "valid_from": date(2020, 1, 1), "status": "active", "search_key": "", "created_at": now}
            for i in range(orgs)])
        people = mailboxes - orgs
        ids = app.store.insert_mailboxes(conn, [NewMailbox(f"p{i}@soctrang.gov.vn", f"Người {i}")
                                                for i in range(people)])
        conn.execute(insert(dir_people), [
            {"org_id": (i % orgs) + 1, "family_name": "Nguyễn", "middle_name": "Văn", "given_name": f"A{i}",
             "full_name": f"Nguyễn Văn A{i}", "title": "", "registered_at": now, "mailbox_id": mid,
             "phone": "", "status": "active", "search_key": "", "created_at": now, "updated_at": now}
            for i, mid in enumerate(ids)])
        changed = [now + timedelta(days=rng.randint(0, 364)) for _ in ids]
        conn.execute(insert(credentials), [
            {"mailbox_id": mid, "password_hash": "x", "must_change": False, "changed_at": when}
            for mid, when in zip(ids, changed, strict=True)])
        conn.execute(insert(password_history), [
            {"mailbox_id": mid, "password_hash": "x", "set_at": when} for mid, when in zip(ids, changed, strict=True)])
        return ids

    people = await app.db.run_write(directory)
    chosen = METRICS[:metrics]
    total = 0
    for m in range(1, 13):
        first = date(2026, m, 1)
        last = (first + timedelta(days=32)).replace(day=1)

        def fill(conn, first=first, last=last):  # noqa: ANN001 - the bench's own bulk rows
            count, sums = 0, {}
            day = first
            while day < last:
                batch = []
                for org in range(1, orgs + 1):
                    for metric in chosen:
                        value = rng.randint(0, 50)
                        batch.append({"day": day, "org_id": org, "metric": metric, "value": value})
                        sums[(org, metric)] = sums.get((org, metric), 0) + value
                conn.execute(insert(report_counters), batch)
                count += len(batch)
                day += timedelta(days=1)
            conn.execute(insert(report_months), [{"month": first, "org_id": o, "metric": k, "value": v}
                                                 for (o, k), v in sums.items()])
            conn.execute(insert(report_active), [{"month": first, "mailbox_id": mid}
                                                 for mid in people if rng.random() < 0.8])
            return count

        total += await app.db.run_write(fill)
    return time.perf_counter() - started, total


async def timed(label: str, work) -> None:  # noqa: ANN001
    started = time.perf_counter()
    result = await work()
    print(f"  {label:<52} {time.perf_counter() - started:6.2f} s{result or ''}")


async def reports(app: App) -> None:
    now = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)
    for label, period, org in (("year 2026, whole system", year(2026), None),
                               ("quarter 2026-Q4, whole system", quarter(2026, 4), None),
                               ("month 2026-11, whole system", month(2026, 11), None),
                               ("span 2026-03-15..2026-09-20 (daily rows)", span(date(2026, 3, 15),
                                                                                date(2026, 9, 20)), None),
                               ("year 2026, one department (ORG1)", year(2026), "ORG1")):
        async def figures(period=period, org=org):  # noqa: ANN001
            report = await build(app, period, org, now=now)
            return f"  ({len(report.rows)} rows)"

        await timed(f"{label}: figures", figures)
        report = await build(app, period, org, now=now)

        async def files(report=report):  # noqa: ANN001
            return f"  (PDF {len(pdf_bytes(report)) // 1024} KB, XLSX {len(xlsx_bytes(report)) // 1024} KB)"

        await timed(f"{label}: + PDF and XLSX", files)


async def counting(app: App, count: int) -> None:
    boxes = [(await app.store.create_mailbox(f"c{i}@soctrang.gov.vn", quota_bytes=10**12)).id for i in range(3)]
    recipients = [("c0@soctrang.gov.vn", boxes[0]), ("x@bocongan.gov.vn", None), ("y@example.com", None)]
    started = time.perf_counter()
    for _ in range(count):
        app.reports.mail(boxes[1], "c1@soctrang.gov.vn", recipients)
    mail_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for _ in range(count):
        app.reports.login(boxes[2], "imap")
    login_us = (time.perf_counter() - started) / count * 1e6
    for i in range(10000):
        app.reports.count(boxes[i % 3], f"bench.{i % 50}", 1, date(2026, 1, 1) + timedelta(days=i % 200))
    started = time.perf_counter()
    await app.reports.flush()
    flush_ms = (time.perf_counter() - started) * 1000
    print(f"  app.reports.mail (3 recipients): {mail_us:.2f} µs a call; app.reports.login: {login_us:.2f} µs; "
          f"flush of 10,000 increments (200 days x 50 metrics): {flush_ms:.0f} ms")
    raw = b"From: c1@soctrang.gov.vn\r\nTo: c0@soctrang.gov.vn\r\nSubject: do\r\n\r\n" + b"x" * 10000 + b"\r\n"
    for counted in (False, True, False, True):
        started = time.perf_counter()
        for _ in range(300):
            await app.store.deliver(raw, [boxes[0]])
            if counted:
                app.reports.mail(boxes[1], "c1@soctrang.gov.vn", recipients)
        rate = 300 / (time.perf_counter() - started)
        print(f"  local deliveries of 10 KB {'with' if counted else 'without'} counting: {rate:7.1f} /s")
    await app.reports.flush()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=20000)
    parser.add_argument("--orgs", type=int, default=300)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--count", type=int, default=100000, help="calls timed for the counting cost")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    print(f"# bench/reports.py on {platform.node()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}")
    pg = None
    with tempfile.TemporaryDirectory() as tmp:
        database = {}
        if args.postgres:
            from tests.postgres import PostgresServer

            pg = PostgresServer().start()
            database["url"] = pg.create_database()
        data = await make_data_dir(Path(tmp) / "data", database=database)
        app = await App.open(data)
        try:
            seconds, rows = await province(app, args.mailboxes, args.orgs, args.metrics)
            engine = "postgresql" if args.postgres else "sqlite"
            print(f"{engine}: province written in {seconds:.1f} s: {args.mailboxes:,} mailboxes, {args.orgs} "
                  f"organisations, {rows:,} daily counter rows (a year, {args.metrics} metrics)")
            await reports(app)
            print("counting:")
            await counting(app, args.count)
        finally:
            await app.close()
            if pg is not None:
                pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
