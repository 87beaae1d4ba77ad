"""The rules' storage on SQLite and on a real PostgreSQL: saved, read back, audited in
the same transaction, and the once-per-period claim of RFC 3834 section 4.2 (a
conditional write, so two deliveries at once answer once)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from congthu import audit
from congthu.app import App
from congthu.mailrules import RuleRefused, Vacation, rules
from congthu.mailrules.vacation import claim_reply

BINH, AN = "ntbinh@soctrang.gov.vn", "lvan@soctrang.gov.vn"


async def test_rules_saved_read_and_audited(any_app: App) -> None:
    binh = await any_app.store.create_mailbox(BINH, "Nguyễn Thị Bình")
    await any_app.store.create_mailbox(AN, "Lê Văn An")
    assert await rules.get_vacation(any_app, binh.id) == Vacation()
    saved = await rules.set_vacation(any_app, binh, Vacation(True, " Vắng  mặt ", "Tôi nghỉ phép.\r\n",
                                                             date(2026, 12, 7), date(2026, 12, 11)), actor=BINH)
    assert await rules.get_vacation(any_app, binh.id) == saved == Vacation(
        True, "Vắng mặt", "Tôi nghỉ phép.\n", date(2026, 12, 7), date(2026, 12, 11))
    forwarding = await rules.set_forwarding(any_app, binh, ["LVAN@soctrang.gov.vn", AN], enabled=True,
                                            keep_copy=False, actor=BINH)
    assert forwarding.targets == (AN,)
    assert await rules.get_forwarding(any_app, binh.id) == forwarding
    with pytest.raises(RuleRefused):
        await rules.set_forwarding(any_app, binh, ["x@gmail.com"], enabled=True, keep_copy=True, actor=BINH)
    assert await rules.get_forwarding(any_app, binh.id) == forwarding  # unchanged
    assert await rules.set_signature(any_app, binh, "Bình\r\nSở Nội vụ\n\n", actor=BINH) == "Bình\nSở Nội vụ"
    assert await rules.get_signature(any_app, binh.id) == "Bình\nSở Nội vụ"
    trail = [(r.action, r.actor, r.target) for r in await audit.records(any_app, action="mailrules")]
    assert trail == [("mailrules.vacation", BINH, BINH), ("mailrules.forwarding", BINH, BINH),
                     ("mailrules.signature", BINH, BINH)]
    assert (await audit.verify(any_app)).ok


async def test_once_per_sender_per_period(any_app: App) -> None:
    binh = await any_app.store.create_mailbox(BINH, "")
    now = any_app.accounts.clock()
    week = timedelta(days=7)
    claims = await asyncio.gather(*(any_app.db.run_write(claim_reply, binh.id, "Vanthu@CanTho.gov.vn", now, week)
                                    for _ in range(5)))
    assert sorted(claims) == [False, False, False, False, True]
    assert not await any_app.db.run_write(claim_reply, binh.id, "vanthu@cantho.gov.vn", now + week / 2, week)
    assert await any_app.db.run_write(claim_reply, binh.id, "khac@cantho.gov.vn", now, week)
    assert await any_app.db.run_write(claim_reply, binh.id, "vanthu@cantho.gov.vn", now + week, week)
    assert not await any_app.db.run_write(claim_reply, binh.id, "vanthu@cantho.gov.vn", now + week * 1.5, week)
    # Saving the reply starts a new period for everyone.
    await rules.set_vacation(any_app, binh, Vacation(True, "", "x"), actor=BINH)
    assert await any_app.db.run_write(claim_reply, binh.id, "vanthu@cantho.gov.vn", now + week * 1.5, week)
