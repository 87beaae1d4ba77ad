"""Work that must happen once across worker processes and nodes sharing one database:
periodic jobs under a lease (``congthu.cluster.leases``) and the outbound queue's claims
(``congthu.smtp.queue``). Two Apps on one data directory stand for two workers (SQLite)
or two nodes (PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from congthu.app import App
from congthu.cluster.leases import PeriodicJob, holding
from congthu.directory import jobs as directory_jobs
from congthu.smtp import queue
from tests.conftest import free_port, make_data_dir


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_apps(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[App, App]]:
    """Two Apps on one database: two workers on SQLite, or two nodes on PostgreSQL."""
    database: dict[str, Any] = {}
    if request.param == "postgresql":
        database["url"] = request.getfixturevalue("postgres").create_database()
    port = free_port()
    data = await make_data_dir(tmp_path / "data", database=database, smtp={
        "smarthost": f"127.0.0.1:{port}", "smarthost_verify_tls": False, "outbound_timeout": 10.0})
    first, second = await App.open(data), await App.open(data)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f'"event": "{name}"' in r.getMessage()]


async def test_two_apps_publish_the_directory_once(two_apps: tuple[App, App],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="congthu.events")
    first, second = two_apps
    # Both start at once, as the workers of one server (or two nodes) do: both find no
    # publication yet; only the lease's holder publishes.
    tasks = [asyncio.create_task(directory_jobs.jobs(app)[0]) for app in two_apps]
    try:
        index = directory_jobs._target(first) / "index.html"
        for _ in range(300):
            if index.exists() and _events(caplog, "directory.published"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # time enough for a second publication, were there one
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Once, and no second attempt either (two at once collide: one fails).
    assert len(_events(caplog, "directory.published")) == 1
    assert _events(caplog, "directory.publish_failed") == []
    # Either App, asked again now, finds the period not over.
    ran, wait = await directory_jobs.publication(second).run_once()
    assert not ran and wait > 0


async def test_a_lease_runs_out_when_its_holder_dies(two_apps: tuple[App, App]) -> None:
    first, second = two_apps
    now = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    runs: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> bool:
        runs.append("first")
        started.set()
        await release.wait()
        return True

    async def quick() -> bool:
        runs.append("second")
        return True

    a = PeriodicJob(first.db, "test.job", lambda: 3600.0, slow, lease=600.0, clock=lambda: now[0])
    b = PeriodicJob(second.db, "test.job", lambda: 3600.0, quick, lease=600.0, clock=lambda: now[0])
    held = asyncio.create_task(a.run_once())
    await started.wait()
    assert await b.run_once() == (False, 300.0)  # held, and never run yet: look again later
    # The holder stops renewing (its process died): past its lease, the job is taken over.
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)
    now[0] += timedelta(seconds=30)
    ran, _wait = await b.run_once()
    assert ran and runs == ["first", "second"]
    # Once run, not again in the same period, by either.
    now[0] += timedelta(seconds=60)
    assert (await b.run_once())[0] is False
    assert (await a.run_once())[0] is False
    # A run that found nothing to do does not count the period.
    now[0] += timedelta(hours=1, seconds=1)
    idle = PeriodicJob(first.db, "test.job", lambda: 3600.0, lambda: asyncio.sleep(0, False),
                       clock=lambda: now[0])
    assert (await idle.run_once())[0] is False
    ran, _wait = await b.run_once()
    assert ran and runs == ["first", "second", "second"]


class _Sink:
    """An SMTP server that takes its time over DATA and counts what it received."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.5)  # both runners are at work meanwhile
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 OK"


async def test_two_runners_send_a_queued_message_once(two_apps: tuple[App, App]) -> None:
    first, second = two_apps
    host, port = first.settings.smtp.smarthost.split(":")
    sink = _Sink()
    controller = Controller(sink, hostname=host, port=int(port))
    controller.start()
    try:
        raw = b"From: ntbinh@soctrang.gov.vn\r\nTo: lan@example.net\r\nSubject: mot lan\r\n\r\nNoi dung.\r\n"
        queue_id = await queue.enqueue(first, raw, "ntbinh@soctrang.gov.vn", [("lan@example.net", None)])
        # Both runners find the message due and set out to send it at the same moment.
        await asyncio.gather(queue.attempt(first, queue_id, "example.net"),
                             queue.attempt(second, queue_id, "example.net"))
        assert sink.received == [("ntbinh@soctrang.gov.vn", ["lan@example.net"])]
        # And two whole runners, each seeing the other's claim.
        await queue.enqueue(second, raw, "ntbinh@soctrang.gov.vn", [("lan@example.net", None)])
        runners = [queue.Runner(first), queue.Runner(second)]
        started = await asyncio.gather(*(r.run_once() for r in runners))
        assert sum(started) >= 1
        await asyncio.gather(*(t for r in runners for t in list(r.tasks)))
        assert len(sink.received) == 2 and await queue.list_queue(second) == []
        assert await queue.list_queue(first) == []
    finally:
        controller.stop()


async def test_a_job_cancelled_at_any_point_ends(app: App) -> None:
    """The server's stop cancels every job's loop and waits for it: wherever the
    cancellation lands (in the work, as the lease is given back, taking the next one), the
    loop ends cancelled rather than going back to sleep for hours (a loop that swallowed
    it held ``congthu serve``'s stop, and the test fixture's 30 s join, for good)."""
    now = datetime(2026, 12, 6, tzinfo=UTC)
    for turns in range(8):
        returned = asyncio.Event()

        async def work(returned: asyncio.Event = returned) -> bool:
            returned.set()
            return True

        job = PeriodicJob(app.db, f"test.cancel.{turns}", lambda: 3600.0, work, clock=lambda: now)
        task = asyncio.create_task(job.forever())
        await returned.wait()  # (not wait_for: its extra task would add loop turns)
        for _ in range(turns):  # 0: while the lease keeper is being stopped
            await asyncio.sleep(0)
        task.cancel()
        done, _pending = await asyncio.wait([task], timeout=10)
        assert done, f"the job's loop did not end when cancelled {turns} turns after its work"
        assert task.cancelled()


async def test_work_holding_a_lease_cancelled_at_any_point_ends(app: App) -> None:
    """``holding`` (the blob store's garbage collection, a backup): wherever the server's
    stop lands (in the block, as the lease keeper is stopped, as the lease is given back),
    the task ends cancelled and the lease is free again."""
    for turns in range(8):
        inside = asyncio.Event()

        async def hold(inside: asyncio.Event = inside) -> None:
            async with holding(app.db, "test.holding"):
                inside.set()
            await asyncio.sleep(3600)  # a loop that swallowed the stop would sleep here

        task = asyncio.create_task(hold())
        await inside.wait()
        for _ in range(turns):  # 0: in the block; then while the keeper and the lease end
            await asyncio.sleep(0)
        task.cancel()
        done, _pending = await asyncio.wait([task], timeout=10)
        assert done, f"the holder did not end when cancelled {turns} turns after entering"
        assert task.cancelled()
        async with holding(app.db, "test.holding"):  # given back
            pass
