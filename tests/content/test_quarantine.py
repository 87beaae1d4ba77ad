"""The quarantine's table and files on both engines (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from congthu import audit
from congthu.content import quarantine
from tests.content import documents
from tests.folders import folder_messages


async def test_hold_list_release_delete(any_app):
    app = any_app
    box = await app.store.create_mailbox("vanthu@soctrang.gov.vn", "Văn thư", quota_bytes=10 * 1024 * 1024)
    raw = documents.message("x@example.org", "vanthu@soctrang.gov.vn", "Hóa đơn", "Mở tệp đính kèm",
                            [("hoa-don.zip", "application/zip", b"PK...")]).as_bytes()
    recipients: list[tuple[str, int | None]] = [("vanthu@soctrang.gov.vn", box.id), ("doitac@example.org", None)]
    first = await quarantine.hold(app, raw, door="mx", mail_from="x@example.org", recipients=recipients,
                                  subject="Hóa đơn", rule="9.9 virus", reason="virus Test.Sample")
    second = await quarantine.hold(app, raw, door="mx", mail_from="x@example.org", recipients=recipients,
                                   subject="Hóa đơn", rule="9.9 virus", reason="virus Test.Sample")
    held = await quarantine.list_held(app)
    assert [h.id for h in held] == [first, second]
    assert held[0].recipients == recipients and held[0].subject == "Hóa đơn" and held[0].size == len(raw)
    notices = await folder_messages(app.store, box.id)
    assert len(notices) == 2 and b"hoa-don.zip" not in notices[0]
    # The same bytes held twice are one file, kept while either is held.
    assert len(list(app.path(quarantine.DIRECTORY).iterdir())) == 1
    assert (await quarantine.release(app, first, actor="admin@soctrang.gov.vn")).id == first
    assert (await folder_messages(app.store, box.id))[-1] == raw
    assert len(list(app.path(quarantine.DIRECTORY).iterdir())) == 1
    assert await quarantine.release(app, first) is None
    assert (await quarantine.delete_held(app, second)).id == second
    assert await quarantine.list_held(app) == []
    assert list(app.path(quarantine.DIRECTORY).iterdir()) == []
    actions = [(r.action, r.actor) for r in await audit.records(app)]
    assert actions == [("content.released", "admin@soctrang.gov.vn"), ("content.deleted", "admin")]


async def test_expired_held_messages_purged(any_app):
    app = any_app
    raw = b"Subject: x\r\n\r\nx\r\n"
    held = await quarantine.hold(app, raw, door="mx", mail_from="x@example.org", recipients=[("a@example.org", None)],
                                 subject="x", rule="9.9 spam", reason="spam")
    now = datetime.now(UTC)
    assert await quarantine.purge_expired(app, now + timedelta(days=29)) == 0
    assert await quarantine.purge_expired(app, now + timedelta(days=31)) == 1
    assert await quarantine.list_held(app) == [] and list(app.path(quarantine.DIRECTORY).iterdir()) == []
    assert [(r.action, r.details["ids"]) for r in await audit.records(app)] == [("content.expired", [held])]
