"""smtp.messages_per_hour: the per-user count lives in the database, so two nodes on one
database count together and a restart forgets nothing (congthu/smtp/ratelimit.py)."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from congthu.app import App
from congthu.smtp import ratelimit
from tests.smtp.conftest import PASSWORD, start_server
from tests.smtp.test_submission import tls_client

HOUR = 3600
START = 490_000 * HOUR  # the start of some hour


async def test_sliding_hour_estimate(any_app: App) -> None:
    box = await any_app.store.create_mailbox("canbo@soctrang.gov.vn")
    assert await ratelimit.sent_last_hour(any_app, box.id, START) == 0
    for _ in range(4):
        await ratelimit.count_sent(any_app, box.id, START + 10)
    assert await ratelimit.sent_last_hour(any_app, box.id, START + 20) == 4
    # A quarter into the next hour, three quarters of the previous hour still count.
    assert await ratelimit.sent_last_hour(any_app, box.id, START + HOUR + HOUR / 4) == 3
    await ratelimit.count_sent(any_app, box.id, START + HOUR + HOUR / 4)
    assert await ratelimit.sent_last_hour(any_app, box.id, START + HOUR + HOUR / 4) == 4
    assert await ratelimit.sent_last_hour(any_app, box.id, START + 2 * HOUR + HOUR / 2) == 0.5
    # Two idle hours later nothing counts, and counting starts afresh.
    assert await ratelimit.sent_last_hour(any_app, box.id, START + 3 * HOUR) == 0
    await ratelimit.count_sent(any_app, box.id, START + 3 * HOUR)
    assert await ratelimit.sent_last_hour(any_app, box.id, START + 3 * HOUR) == 1
    other = await any_app.store.create_mailbox("vanthu@soctrang.gov.vn")
    assert await ratelimit.sent_last_hour(any_app, other.id, START + 3 * HOUR) == 0


async def test_two_nodes_count_together(any_app: App) -> None:
    other = await App.open(any_app.data_dir)
    try:
        box = await any_app.store.create_mailbox("canbo@soctrang.gov.vn")
        nodes = [any_app, other] * 10
        await asyncio.gather(*(ratelimit.count_sent(node, box.id, START + 5) for node in nodes))
        assert await ratelimit.sent_last_hour(other, box.id, START + 6) == 20
    finally:
        await other.close()


@pytest.mark.timeout(120)
def test_limit_survives_a_restart(tmp_path, dns_server) -> None:
    user = "canbo@soctrang.gov.vn"
    data = tmp_path / "d"
    server = start_server(data, dns_server, smtp={"messages_per_hour": 2})
    try:
        server.add_user(user)
        with smtplib.SMTP("127.0.0.1", server.port("submission")) as client:
            client.starttls(context=tls_client())
            client.ehlo()
            client.login(user, PASSWORD)
            for _ in range(2):
                client.sendmail(user, [user], f"From: {user}\r\nSubject: x\r\n\r\nx\r\n")
            assert client.mail(user)[0] == 451
    finally:
        server.stop()
    again = start_server(data, dns_server, smtp={"messages_per_hour": 2})
    try:
        with smtplib.SMTP("127.0.0.1", again.port("submission")) as client:
            client.starttls(context=tls_client())
            client.ehlo()
            client.login(user, PASSWORD)
            code, text = client.mail(user)
            assert (code, text[:5]) == (451, b"4.7.1")
    finally:
        again.stop()
