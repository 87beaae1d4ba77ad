"""The mailboxes known to have no mail rule on (``mailrules/kept.py``, issue 13): a
delivery to such a mailbox reads nothing for the rules in a server that hears the change
feed, and a rule saved by ANOTHER worker (a second App on the same data directory, as
``tests/ldap/test_login_states.py`` does) acts on the very next delivery; a rule saved
while a delivery's read is under way is not lost to it; a server that does not hear the
feed keeps nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from congthu.app import App
from congthu.mailrules import Vacation, rules
from congthu.mailrules.delivered import _with_rules, no_rules
from tests.conftest import ServerThread, database_calls, serving
from tests.mailrules.conftest import ST, messages, mx, parse, set_vacation, submit, wait_for
from tests.mailrules.test_vacation import mail

T = TypeVar("T")
BINH, AN, CHI = f"ntbinh@{ST}", f"lvan@{ST}", f"ptchi@{ST}"
OUTSIDE = "vanthu@cantho.gov.vn"


@pytest.fixture
def listening(tmp_path) -> Iterator[ServerThread]:
    """A server that listens to the change feed, as ``congthu serve`` does."""
    with serving(tmp_path / "data") as running:
        running.run(running.app.hub.listen_local())
        yield running


def on_other_worker(server: ServerThread, work: Callable[[App], Awaitable[T]]) -> T:
    """Run ``work(app)`` on a second App of the server's data directory (another worker)."""
    async def run() -> T:
        app = await App.open(server.data_dir)
        try:
            return await work(app)
        finally:
            await app.close()
    return asyncio.run(run())


def rule_reads(server: ServerThread, send: Callable[[], None]) -> int:
    """How many times the server read the mail rules while ``send`` ran."""
    with database_calls(server.app.db, ("congthu.mailrules",)) as calls:
        send()
    return sum(1 for call in calls if call.endswith("_with_rules"))


def test_a_rule_saved_by_another_worker_acts_on_the_next_delivery(listening):
    server = listening
    binh, an = server.add_user(BINH), server.add_user(AN)
    # The first delivery reads the rules (none); the next ones read nothing.
    assert rule_reads(server, lambda: mx(server, OUTSIDE, [BINH], mail(OUTSIDE, BINH))) == 1
    assert rule_reads(server, lambda: mx(server, OUTSIDE, [BINH], mail(OUTSIDE, BINH))) == 0
    assert server.app.smtp.no_rules is not None and server.app.smtp.no_rules.unknown([binh]) == []

    async def switch_on(app: App) -> None:
        mailbox = await app.store.get_mailbox_by_id(binh)
        assert mailbox is not None
        await rules.set_vacation(app, mailbox, Vacation(enabled=True, body="Tôi nghỉ phép."), actor=BINH)

    on_other_worker(server, switch_on)
    # The very next delivery reads the rule again and answers.
    assert rule_reads(server, lambda: submit(server, AN, [BINH], mail(AN, BINH, subject="Sau khi bật"))) == 1
    [reply] = wait_for(lambda: messages(server, an))
    assert parse(reply)["Subject"] == "Trả lời tự động: Sau khi bật"
    # A mailbox with a rule on is read at every delivery (the rule is needed).
    assert rule_reads(server, lambda: submit(server, AN, [BINH], mail(AN, BINH))) == 1

    # Forwarding switched on by another worker for a mailbox kept as having no rules.
    chi = server.add_user(CHI)
    mx(server, OUTSIDE, [CHI], mail(OUTSIDE, CHI))
    assert server.app.smtp.no_rules.unknown([chi]) == []

    async def forward(app: App) -> None:
        mailbox = await app.store.get_mailbox_by_id(chi)
        assert mailbox is not None
        await rules.set_forwarding(app, mailbox, [AN], enabled=True, keep_copy=True, actor=CHI)

    on_other_worker(server, forward)
    mx(server, OUTSIDE, [CHI], mail(OUTSIDE, CHI, subject="Chuyển tiếp"))
    wait_for(lambda: any(parse(m)["Subject"] == "Chuyển tiếp" for m in messages(server, an)))


def test_a_rule_saved_during_a_delivery_read_is_not_lost(listening):
    server = listening
    binh, an = server.add_user(BINH), server.add_user(AN)
    kept = no_rules(server.app)

    async def read_under_way() -> None:
        # A delivery's read of the rules begins (none on) ...
        epoch = kept.epoch
        ruled = await server.app.db.run_small_read(_with_rules, [binh])
        assert ruled == {}
        # ... a rule is saved meanwhile (this process: told on commit) ...
        mailbox = await server.app.store.get_mailbox_by_id(binh)
        assert mailbox is not None
        await rules.set_vacation(server.app, mailbox, Vacation(enabled=True, body="Vắng."), actor=BINH)
        # ... and the read's answer, now stale, is not kept.
        kept.keep([binh], epoch)
        assert kept.unknown([binh]) == [binh]
        # An answer read after the change is kept.
        kept.keep([binh], kept.epoch)
        assert kept.unknown([binh]) == []
        kept.forget(["r" + str(binh)])

    server.run(read_under_way())
    submit(server, AN, [BINH], mail(AN, BINH, subject="Trong khi đọc"))
    [reply] = wait_for(lambda: messages(server, an))
    assert parse(reply)["Subject"] == "Trả lời tự động: Trong khi đọc"


def test_nothing_kept_without_the_feed(server):
    binh, an = server.add_user(BINH), server.add_user(AN)
    for _ in range(2):
        assert rule_reads(server, lambda: mx(server, OUTSIDE, [BINH], mail(OUTSIDE, BINH))) == 1
    set_vacation(server, binh)
    submit(server, AN, [BINH], mail(AN, BINH, subject="Không nghe"))
    [reply] = wait_for(lambda: messages(server, an))
    assert parse(reply)["Subject"] == "Trả lời tự động: Không nghe"
