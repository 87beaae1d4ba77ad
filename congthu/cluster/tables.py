"""Tables of the cluster package: the leases of periodic jobs (see ``congthu.cluster.leases``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table

from congthu.db import metadata

job_leases = Table(
    "job_leases",
    metadata,
    # One row per periodic job ("directory.publish", "accounts.reminders"...).
    Column("name", String(100), primary_key=True),
    # Random token of the run in progress ("host pid random"), or NULL between runs:
    # only the holder renews or ends its lease.
    Column("holder", String(100), nullable=True),
    # The lease of the run in progress: renewed while it runs; past it, another worker
    # or node may take the job over (the holder died).
    Column("expires_at", DateTime(timezone=True), nullable=True),
    # When the last run that did its work began: the next is due a period later.
    Column("last_run_at", DateTime(timezone=True), nullable=True),
)
