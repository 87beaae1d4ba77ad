"""IDLE across the workers of one `congthu serve` (issue 13): a message delivered by SMTP
through one worker, and an expunge made through one worker, reach the IDLE clients of
both workers (RFC 2177), one of them through the change feed between workers
(``congthu.store.changes.LocalFeed``), within seconds. APPEND and STORE across workers are
in ``test_workers.py``; the push latency goal itself is measured by ``bench/imap.py``."""

from __future__ import annotations

import asyncio
import smtplib
import time
from pathlib import Path

from tests.core.test_workers import USER, Served, _prepare, imap_login, one_per_worker, read_idle


def test_a_delivery_and_an_expunge_reach_idle_clients_on_both_workers(tmp_path: Path) -> None:
    served = Served(asyncio.run(_prepare(tmp_path / "data")))
    try:
        clients = one_per_worker(served)
        tags = {}
        for worker, client in clients.items():
            client.select("INBOX")
            tags[worker] = client._new_tag().decode()  # type: ignore[attr-defined]
            client.send(f"{tags[worker]} IDLE\r\n".encode())
            assert client.readline().startswith(b"+")
        for n in (1, 2):
            # Each delivery is taken by one worker: for the other worker's client it
            # crosses the feed, whichever worker took it.
            sent = time.monotonic()
            with smtplib.SMTP("127.0.0.1", served.settings.listen.smtp, timeout=30) as smtp:
                smtp.sendmail("ngoai@example.org", [USER],
                              f"From: <ngoai@example.org>\r\nTo: <{USER}>\r\nSubject: thu {n}\r\n\r\n"
                              f"Noi dung {n}.\r\n")
            for worker, client in clients.items():
                lines, _took = read_idle(client, f"* {n} EXISTS".encode(), 10)
                assert time.monotonic() - sent < 10, (worker, lines)
        # An expunge through a third connection (on either worker) reaches both.
        other, _worker = imap_login(served)
        other.select("INBOX")
        other.store("1", "+FLAGS", "(\\Deleted)")
        other.expunge()
        for client in clients.values():
            read_idle(client, b"* 1 EXPUNGE", 10)
        other.logout()
        for worker, client in clients.items():
            client.send(b"DONE\r\n")
            while not (line := client.readline()).startswith(tags[worker].encode()):
                pass
            assert b"OK" in line
            client.logout()
    finally:
        served.stop()

