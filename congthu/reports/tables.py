"""Tables of the reports (Điều 9.13, 11.8): the aggregates counted as things happen.

* ``report_counters``: one row per (day in Vietnam's time, organisation, metric), its
  value the sum of every increment; several workers and nodes add into the same row
  with an additive upsert (``counters.py``), so the figures of a day are the sum of
  what every process counted. Kept for years: a year of a province is at most
  days x organisations x metrics (365 x 2,000 x 25, about 18 million rows in the worst
  case; in practice only the organisations with activity that day have rows).
* ``report_months``: the same counts per month, for the month, quarter and year reports;
* ``report_active``: the mailboxes used (a successful login on any door) in a month,
  one row each, so the usage ratio of any period is a count of distinct mailboxes.
* ``report_mailings``: the periodic reports mailed (``jobs.py``), so each is mailed once.
* ``report_states``: the mailboxes' states and storage per organisation as they were on a
  day (``snapshot.py``), so that the report of a past period shows the states at its end
  rather than those of today. Kept for ``reports.snapshot_days`` days, and the last day
  of every month for good (the month, quarter and year reports end on one).

Only this package's modules import them; other packages count through ``app.reports``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Index, Integer, String, Table

from congthu.db import metadata

report_counters = Table(
    "report_counters",
    metadata,
    Column("day", Date, primary_key=True),
    # dir_orgs.id of the organisation the mailbox belonged to when it was counted; 0 for
    # mailboxes outside the directory (system mailboxes) and unknown senders.
    Column("org_id", Integer, primary_key=True, autoincrement=False),
    # "login.imap", "mail.sent", "mail.sent.province", "stopped.spam", ... (counters.py)
    Column("metric", String(48), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Index("ix_report_counters_org_day", "org_id", "day"),
)

# The same counts per month (day = the first of the month), added by the same flush, so
# a year's report reads 12 rows per organisation and metric instead of 365.
report_months = Table(
    "report_months",
    metadata,
    Column("month", Date, primary_key=True),
    Column("org_id", Integer, primary_key=True, autoincrement=False),
    Column("metric", String(48), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

report_active = Table(
    "report_active",
    metadata,
    # The first day of the month (Vietnam's time).
    Column("month", Date, primary_key=True),
    Column("mailbox_id", Integer, primary_key=True, autoincrement=False),
)

report_mailings = Table(
    "report_mailings",
    metadata,
    # "2026-11", "2026-Q4", "2026".
    Column("period", String(16), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("recipient", String(320), nullable=False),
)

report_states = Table(
    "report_states",
    metadata,
    # Vietnam's day; the snapshot of a day is retaken through the day, so it ends as the
    # states of its last hour.
    Column("day", Date, primary_key=True),
    Column("org_id", Integer, primary_key=True, autoincrement=False),
    Column("metric", String(48), primary_key=True),  # figures.STATE_METRICS
    Column("value", BigInteger, nullable=False),
)
