"""The counters (``congthu/reports/counters.py``): written by the background task every
few seconds and at close, added up across Apps (the workers of one data directory on
SQLite, the nodes of one PostgreSQL), put in the organisation of the mailbox, messages
classed by where they go."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.directory import Directory
from congthu.reports.counters import mail_class
from congthu.reports.tables import report_active, report_counters, report_months
from tests.conftest import make_data_dir

NOW = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)  # 1 December 01:30 in Vietnam


def rows(conn: Connection) -> dict[tuple[date, int, str], int]:
    return {(r.day, r.org_id, r.metric): r.value for r in conn.execute(select(report_counters))}


def months(conn: Connection) -> dict[tuple[date, int, str], int]:
    return {(r.month, r.org_id, r.metric): r.value for r in conn.execute(select(report_months))}


def active(conn: Connection) -> set[tuple[date, int]]:
    return {(r.month, r.mailbox_id) for r in conn.execute(select(report_active))}


async def _org_and_person(app: App) -> tuple[int, int, int]:
    directory = Directory(app)
    org = (await directory.add_org("Sở Tư pháp", code="STP"))[0]
    unit = (await directory.add_org("Phòng Hành chính", parent=org.id))[0]
    person = (await directory.add_person("Nguyễn Văn Tư", unit.id))[0]
    assert person.mailbox_id is not None
    return org.id, unit.id, person.mailbox_id


async def test_two_apps_add_up_and_close_writes_the_rest(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    first, second = await App.open(data), await App.open(data)
    try:
        _org, unit, mailbox_id = await _org_and_person(first)
        for app in (first, second):
            app.accounts.clock = lambda: NOW
            for _ in range(500):
                app.reports.login(mailbox_id, "imap")
            app.reports.login(mailbox_id, "password")  # the change page re-checks: not a sign-in
    finally:
        await second.close()
        await first.close()
    check = await App.open(data)
    try:
        day = date(2026, 12, 1)  # Vietnam's day
        assert await check.db.run_read(rows) == {(day, unit, "login.imap"): 1000}
        assert await check.db.run_read(months) == {(date(2026, 12, 1), unit, "login.imap"): 1000}
        assert await check.db.run_read(active) == {(date(2026, 12, 1), mailbox_id)}
    finally:
        await check.close()


async def test_logins_fall_on_their_vietnam_day_as_the_clock_moves(tmp_path: Path) -> None:
    """The day is worked out again only when the clock leaves the one found last
    (``ReportCounters._today``): logins on both sides of Vietnam's midnight (17:00 UTC),
    and after the clock is set back, are counted on their own days."""
    data = await make_data_dir(tmp_path / "data")
    app = await App.open(data)
    try:
        _org, unit, mailbox_id = await _org_and_person(app)
        moments = [datetime(2026, 11, 30, 16, 59, 59, tzinfo=UTC), datetime(2026, 11, 30, 17, 0, tzinfo=UTC),
                   datetime(2026, 11, 30, 16, 0, tzinfo=UTC), datetime(2026, 12, 1, 16, 59, tzinfo=UTC)]
        now = moments[:1]
        app.accounts.clock = lambda: now[0]
        for moment in moments:
            now[0] = moment
            app.reports.login(mailbox_id, "ldap")
    finally:
        await app.close()
    check = await App.open(data)
    try:
        assert await check.db.run_read(rows) == {(date(2026, 11, 30), unit, "login.ldap"): 2,
                                                 (date(2026, 12, 1), unit, "login.ldap"): 2}
    finally:
        await check.close()


async def test_the_background_task_writes_every_few_seconds(app: App) -> None:
    _org, unit, mailbox_id = await _org_and_person(app)
    app.accounts.clock = lambda: NOW
    app.reports.flush_seconds = 0.2
    app.reports.mail(None, "vanthu@bocongan.gov.vn", [("tu@soctrang.gov.vn", mailbox_id)])
    for _ in range(50):
        await asyncio.sleep(0.1)
        if await app.db.run_read(rows):
            break
    assert await app.db.run_read(rows) == {(date(2026, 12, 1), unit, "mail.received.gov"): 1}


async def test_mail_between_agencies_and_within_one(app: App) -> None:
    directory = Directory(app)
    org, unit, tu = await _org_and_person(app)
    other = (await directory.add_org("Sở Y tế"))[0]
    nam = (await directory.add_person("Lê Văn Năm", other.id))[0]
    boss = (await directory.add_person("Trần Văn Sáu", org))[0]
    app.accounts.clock = lambda: NOW
    # From the unit's official: to the department's head (same agency), to the other
    # department, to a state domain, outside, and to an address of ours with no mailbox.
    app.reports.mail(tu, "tu@x", [("sau@x", boss.mailbox_id), ("nam@x", nam.mailbox_id),
                                  ("a@bocongan.gov.vn", None), ("b@gmail.com", None),
                                  ("c@soctrang.gov.vn", None)])
    app.reports.verdict("refuse", "7.8", tu, [nam.mailbox_id])
    app.reports.verdict("junk", "9.9 spam", None, [nam.mailbox_id, boss.mailbox_id])
    app.reports.verdict("refuse", "8.1", tu, [])  # a size refusal is not counted
    await app.reports.flush()
    day = date(2026, 12, 1)
    assert await app.db.run_read(rows) == {
        (day, unit, "mail.sent"): 1, (day, unit, "mail.sent.org"): 1, (day, unit, "mail.sent.province"): 2,
        (day, unit, "mail.sent.gov"): 1, (day, unit, "mail.sent.outside"): 1,
        (day, org, "mail.received.org"): 1, (day, other.id, "mail.received.province"): 1,
        (day, unit, "stopped.classified"): 1, (day, other.id, "spam.junk"): 1, (day, org, "spam.junk"): 1,
    }


def test_classes_of_addresses() -> None:
    local = {"soctrang.gov.vn"}
    assert mail_class("a@soctrang.gov.vn", local) == "province"
    assert mail_class("a@SocTrang.Gov.Vn", local) == "province"
    assert mail_class("a@bocongan.gov.vn", local) == "gov"
    assert mail_class("a@gov.vn", local) == "gov"
    assert mail_class("a@notgov.vn", local) == "outside"
    assert mail_class("a@gov.vn.example.com", local) == "outside"
    assert mail_class("", local) == "outside"


async def test_nodes_of_one_postgresql_add_up(tmp_path: Path, postgres: object) -> None:
    url = postgres.create_database()  # type: ignore[attr-defined]
    node_a = await make_data_dir(tmp_path / "a", database={"url": url})
    node_b = await make_data_dir(tmp_path / "b", database={"url": url})
    first = await App.open(node_a)
    second = await App.open(node_b)
    try:
        _org, unit, mailbox_id = await _org_and_person(first)
        for app in (first, second):
            app.accounts.clock = lambda: NOW
            for door in ("imap", "pop3", "imap"):
                app.reports.login(mailbox_id, door)
            await app.reports.flush()
        first.reports.login(mailbox_id, "ldap")
    finally:
        await first.close()
        await second.close()
    check = await App.open(node_a)
    try:
        day = date(2026, 12, 1)
        assert await check.db.run_read(rows) == {(day, unit, "login.imap"): 4, (day, unit, "login.pop3"): 2,
                                                 (day, unit, "login.ldap"): 1}
    finally:
        await check.close()
