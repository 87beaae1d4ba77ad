"""The housekeeping jobs of the content package and the journal share one wrapper
(``cluster.leases.housekeeping``): once per interval across every process and node, a
failed run logged and counted as done (tried again at the next interval, not at every
check)."""

from __future__ import annotations

import logging

import pytest

from congthu.app import App
from congthu.cluster.leases import housekeeping
from congthu.content import jobs as content_jobs
from congthu.journal import jobs as journal_jobs


async def test_a_run_once_per_interval_and_a_failure_counts_as_done(any_app: App,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="congthu.events")
    runs: list[int] = []

    async def work() -> None:
        runs.append(1)
        raise RuntimeError("the database is away")

    job = housekeeping(any_app.db, "test.housekeeping", 3600.0, work, failed="test.job_failed")
    ran, _wait = await job.run_once()
    assert ran and runs == [1]
    assert any("test.job_failed" in r.getMessage() and "the database is away" in r.getMessage()
               for r in caplog.records)
    # Another worker (another job object on the same database) finds it done for the hour.
    again = housekeeping(any_app.db, "test.housekeeping", 3600.0, work, failed="test.job_failed")
    ran, wait = await again.run_once()
    assert not ran and runs == [1] and wait > 1


async def test_the_packages_jobs_use_it(app: App) -> None:
    for module in (content_jobs, journal_jobs):
        [job] = module.jobs(app)
        assert job.cr_code.co_name == "forever" and job.cr_frame.f_locals["self"].work.__qualname__.startswith(
            "housekeeping.")
        job.close()
