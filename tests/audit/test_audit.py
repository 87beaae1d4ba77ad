"""The audit trail: chained records, serialised writers, tamper detection by `congthu audit verify`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3

import pytest

from congthu import audit
from congthu.app import App
from tests.accounts.helpers import cli, congthu


async def test_chain_of_concurrent_writers_has_no_fork(app: App) -> None:
    await asyncio.gather(*(audit.record(app, "test.write", f"actor{i}", "target", {"i": i, "text": "Bình"},
                                        client=f"test 10.0.0.{i}") for i in range(60)))
    result = await audit.verify(app)
    assert result.ok and result.count == 60
    found = await audit.records(app, action="test")
    assert [r.id for r in found] == list(range(1, 61))
    for prev, cur in zip(found, found[1:], strict=False):
        assert cur.prev_hash == prev.hash
    assert found[0].prev_hash == audit.GENESIS
    assert {r.details["i"] for r in found} == set(range(60))
    assert result.head == found[-1].hash


async def test_the_database_refuses_updates_and_deletes(app: App) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    await audit.record(app, "test.write", "a", "b", {})
    with pytest.raises(DBAPIError):
        await app.db.run_write(lambda conn: conn.execute(text("UPDATE audit_log SET actor = 'x'")))
    with pytest.raises(DBAPIError):
        await app.db.run_write(lambda conn: conn.execute(text("DELETE FROM audit_log")))
    assert (await audit.verify(app)).ok


async def _logins(app: App) -> None:
    mailbox = await app.store.create_mailbox("ntbinh@soctrang.gov.vn", "Nguyễn Thanh Bình")
    await app.accounts.set_password(mailbox.id, "Song@Hau7River", must_change=False)
    for password in ("Song@Hau7River", "Sai#MatKhau1", "Song@Hau7River", "Sai#MatKhau2", "Song@Hau7River"):
        await app.accounts.authenticate("ntbinh@soctrang.gov.vn", password, protocol="pop3",
                                        client_ip="127.0.0.1")


def _tamper(app: App, *statements: str) -> None:
    with sqlite3.connect(app.data_dir / "meta.db") as db:
        # Someone with the database file in hand removes the guard first.
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("DROP TRIGGER audit_log_no_delete")
        for statement in statements:
            db.execute(statement)


async def test_verify_detects_a_record_changed_by_hand(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    await _logins(app)
    assert await cli(app, "audit", "verify") == 0
    out = capsys.readouterr().out
    assert "nguyên vẹn" in out and "Số bản ghi / records: 5" in out
    await app.close()

    # Turn a failed login into a harmless-looking one.
    _tamper(app, "UPDATE audit_log SET action = 'login.ok' WHERE id = 2")
    bad = congthu(app.data_dir, "audit", "verify")
    assert bad.returncode == 1
    assert "record 2" in bad.stdout and "content changed" in bad.stdout
    assert "record 3" not in bad.stdout  # the next record still links to the stored hash


async def test_verify_detects_a_changed_record_whose_hash_was_recomputed_and_a_deleted_one(app: App) -> None:
    await _logins(app)
    rows = await audit.records(app)
    target = rows[1]
    forged = audit.record_hash(target.id, target.at, "login.ok", target.actor, target.target, target.client,
                               '{"protocol":"pop3"}', target.prev_hash)
    await app.close()
    _tamper(app, f"UPDATE audit_log SET action='login.ok', details='{{\"protocol\":\"pop3\"}}', hash='{forged}' "
                 "WHERE id = 2")
    reopened = await App.open(app.data_dir)
    try:
        result = await audit.verify(reopened)
        assert [(p.id, "link" in p.reason) for p in result.problems] == [(3, True)]
        with sqlite3.connect(app.data_dir / "meta.db") as db:
            db.execute("DELETE FROM audit_log WHERE id = 4")
        result = await audit.verify(reopened)
        assert (5, True) in [(p.id, "missing" in p.reason) for p in result.problems]
    finally:
        await reopened.close()


async def test_list_and_export(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    await _logins(app)
    capsys.readouterr()
    assert await cli(app, "audit", "list", "--action", "login.failed") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("\tlogin.failed\tntbinh@soctrang.gov.vn\t" in line for line in lines)
    assert "pop3 127.0.0.1" in lines[0]

    assert await cli(app, "audit", "export", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["action"] for r in rows] == ["login.ok", "login.failed", "login.ok", "login.failed", "login.ok"]
    assert rows[1]["prev_hash"] == rows[0]["hash"]

    out = app.data_dir / "audit.jsonl"
    assert await cli(app, "audit", "export", "--format", "jsonl", "--output", str(out)) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 5 and records[1]["details"]["reason"] == "bad-credentials"


async def test_both_engines_chain_logins_and_refuse_edits(any_app: App) -> None:
    """SQLite and PostgreSQL alike: concurrent writers make one chain; edits are refused."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    app = any_app
    mailbox = await app.store.create_mailbox("ntbinh@soctrang.gov.vn", "Nguyễn Thanh Bình")
    await app.accounts.set_password(mailbox.id, "Song@Hau7River", must_change=False)
    attempts = [app.accounts.authenticate("ntbinh@soctrang.gov.vn", pw, protocol="imap", client_ip=f"192.0.2.{i}")
                for i, pw in enumerate(["Song@Hau7River", "Sai#MatKhau1"] * 10)]
    writes = [audit.record(app, "test.write", "cli:test", f"t{i}", {"i": i}) for i in range(20)]
    results, _ids = await asyncio.gather(asyncio.gather(*attempts), asyncio.gather(*writes))
    assert sum(1 for r in results if r.ok) == 10
    verified = await audit.verify(app)
    assert verified.ok and verified.count == 40
    with pytest.raises(DBAPIError):
        await app.db.run_write(lambda conn: conn.execute(text("UPDATE audit_log SET actor = 'x' WHERE id = 1")))
    assert (await audit.verify(app)).ok
