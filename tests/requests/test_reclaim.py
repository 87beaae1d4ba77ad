"""Reclamation of Điều 4.4 with an injected clock: warnings on time (30 and 7 days
before), once each; reclaimed at six months since creation or last access; a new access
starts the period again; organisation mailboxes and leaders exempt; the reclaimed
address is not issued again by the naming engine; restore brings back every message
with its flags and a new one-time password."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from congthu import audit
from congthu.accounts import AuthStatus
from congthu.app import App
from congthu.directory import Directory
from congthu.requests import reclaim
from congthu.store import flags
from congthu.store.access import record_access
from tests.folders import folder_index_of

MESSAGE = (b"From: a@example.org\r\nTo: x@soctrang.gov.vn\r\nSubject: Lich hop\r\n"
           b"Date: Sat, 05 Dec 2026 09:00:00 +0700\r\nMessage-ID: <1@example.org>\r\n\r\nNoi dung.\r\n")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_add_months() -> None:
    assert reclaim.add_months(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2027, 2, 28, tzinfo=UTC)
    assert reclaim.add_months(datetime(2027, 8, 31, tzinfo=UTC), 6) == datetime(2028, 2, 29, tzinfo=UTC)
    assert reclaim.add_months(datetime(2026, 12, 6, 3, tzinfo=UTC), 6) == datetime(2027, 6, 6, 3, tzinfo=UTC)


async def inbox_count(app: App, mailbox_id: int) -> int:
    return len(await folder_index_of(app.store, mailbox_id))


async def test_warn_reclaim_restore(app: App, tmp_path: Path) -> None:
    d = Directory(app)
    org, _p, _pw = await d.add_org("Sở Tư pháp")
    tam, _p, tam_password = await d.add_person("Lê Văn Tâm", org.id)
    busy, _p, _pw = await d.add_person("Đỗ Thị Lan", org.id)
    leader, _p, _pw = await d.add_person("Hoàng Văn Lãnh", org.id)
    await d.set_leader(org.id, leader.id)
    assert tam.mailbox_id is not None and busy.mailbox_id is not None and org.mailbox_id is not None
    delivered = await app.store.deliver(MESSAGE, [tam.mailbox_id], flags=flags.SEEN | flags.FLAGGED,
                                        keywords=["$Important"])
    assert delivered[0].ok
    flags_before = [m.flag_names for m in await folder_index_of(app.store, tam.mailbox_id)]
    assert ["\\Seen", "\\Flagged", "$Important"] in flags_before
    mailbox = await app.store.get_mailbox_by_id(tam.mailbox_id)
    assert mailbox is not None
    due = reclaim.add_months(reclaim.last_use(mailbox), 6)
    clock = Clock(due - timedelta(days=31))
    app.accounts.clock = clock

    assert await reclaim.run(app) == reclaim.Pass([], [])
    org_mail_before = await inbox_count(app, org.mailbox_id)
    clock.now = due - timedelta(days=30)
    # Lan used her mailbox ten days ago (any door stamps last access).
    await app.db.run_write(record_access, busy.mailbox_id, clock.now - timedelta(days=10))
    first = await reclaim.run(app)
    assert first.warned == [(tam.address, 30)] and first.reclaimed == []
    assert await inbox_count(app, tam.mailbox_id) == 2
    assert await inbox_count(app, org.mailbox_id) == org_mail_before + 1  # the organisation is told too
    assert await reclaim.run(app) == reclaim.Pass([], [])  # once
    clock.now = due - timedelta(days=7)
    assert (await reclaim.run(app)).warned == [(tam.address, 7)]
    clock.now = due - timedelta(seconds=1)
    assert (await reclaim.run(app)).reclaimed == []
    clock.now = due
    done = await reclaim.run(app)
    assert done.reclaimed == [tam.address]
    mailbox = await app.store.get_mailbox_by_id(tam.mailbox_id)
    assert mailbox is not None and mailbox.status == reclaim.RECLAIMED
    assert [r.target for r in await audit.records(app, action="mailbox.reclaimed")] == [tam.address]
    # Exempt: the organisation's mailbox and its leader (never warned either); Lan's period restarted.
    for other in (org.mailbox_id, leader.mailbox_id, busy.mailbox_id):
        box = await app.store.get_mailbox_by_id(other)  # type: ignore[arg-type]
        assert box is not None and box.status == "active"
    # Every door refuses it; the address is not issued to a namesake.
    before = await app.accounts.authenticate(tam.address, tam_password, protocol="web", client_ip="127.0.0.1",
                                             secure=True)
    assert before.status is AuthStatus.DISABLED
    namesake, proposal, _pw = await d.add_person("Lê Văn Tâm", org.id)
    assert namesake.address != tam.address
    # The export is readable without Công Thư: the bytes as received, the flags in the index.
    exported = tmp_path / "tam.zip"
    assert await reclaim.export(app, tam.address, exported) == 3
    with zipfile.ZipFile(exported) as archive:
        first_eml = archive.read(f"INBOX/{delivered[0].uid}.eml")
        index = archive.read("index.csv").decode()
    assert first_eml == MESSAGE
    assert f"INBOX\",{delivered[0].uid}," in index and "\\Seen \\Flagged $Important" in index
    # Restore: every message with its flags, a new one-time password, a new period.
    password = await reclaim.restore(app, tam.address, actor="it")
    mailbox = await app.store.get_mailbox_by_id(tam.mailbox_id)
    assert mailbox is not None and mailbox.status == "active"
    assert [m.flag_names for m in await folder_index_of(app.store, tam.mailbox_id)][:1] == flags_before
    assert await inbox_count(app, tam.mailbox_id) == 3
    result = await app.accounts.authenticate(tam.address, password, protocol="web", client_ip="127.0.0.1",
                                             secure=True)
    assert result.status is AuthStatus.EXPIRED
    again = await reclaim.run(app)
    assert tam.address not in [a for a, _days in again.warned] and again.reclaimed == []
