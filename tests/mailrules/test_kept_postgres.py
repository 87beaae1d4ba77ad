"""The mailboxes known to have no mail rule on (``mailrules/kept.py``) on PostgreSQL: a
rule saved on another node drops what this node kept, through the NOTIFY sent inside
the saving transaction (``store/changes.account_changed``), so this node's next delivery
runs the rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

from congthu.app import App
from congthu.mailrules import Vacation, rules
from congthu.mailrules.delivered import after_delivery, no_rules
from congthu.store import DeliveryResult
from tests.conftest import make_data_dir

ADDRESS = "binh@soctrang.gov.vn"
MESSAGE = b"From: an@soctrang.gov.vn\r\nTo: binh@soctrang.gov.vn\r\nSubject: Hop\r\n\r\nNoi dung.\r\n"


async def known_without_rules(app: App, mailbox_id: int, seconds: float = 10.0) -> bool:
    """Is ``mailbox_id`` still kept as having no rule after ``seconds`` at most of waiting
    for it to be dropped?"""
    for _ in range(int(seconds / 0.02)):
        if no_rules(app).unknown([mailbox_id]):
            return False
        await asyncio.sleep(0.02)
    return True


async def test_a_rule_saved_on_another_node_drops_the_kept_answer(tmp_path: Path, postgres: object) -> None:
    url = postgres.create_database()  # type: ignore[attr-defined]
    app = await App.open(await make_data_dir(tmp_path / "a", database={"url": url}))
    other = await App.open(await make_data_dir(tmp_path / "b", database={"url": url}))
    try:
        mailbox = await app.store.create_mailbox(ADDRESS, "Bình")
        delivered = [DeliveryResult(mailbox.id, uid=1)]
        await after_delivery(app, "an@soctrang.gov.vn", MESSAGE, "INBOX", delivered, {mailbox.id: ADDRESS})
        assert no_rules(app).unknown([mailbox.id]) == [mailbox.id]  # not listening: nothing kept
        await app.hub.listen_postgres(url)
        await after_delivery(app, "an@soctrang.gov.vn", MESSAGE, "INBOX", delivered, {mailbox.id: ADDRESS})
        assert no_rules(app).unknown([mailbox.id]) == []
        # A vacation reply switched on on the other node (which does not listen).
        await rules.set_vacation(other, mailbox, Vacation(enabled=True, body="Vắng."), actor=ADDRESS)
        assert not await known_without_rules(app, mailbox.id)
    finally:
        await other.close()
        await app.close()
