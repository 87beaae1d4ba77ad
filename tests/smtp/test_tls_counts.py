"""The tables of TLS reporting and MTA-STS, on SQLite and PostgreSQL: sessions counted
with additive upserts (RFC 8460 section 4), the day's report built from them (section
4.4), the rua of a TLSRPT record (section 3), policies stored and read back with their
fetch time (RFC 8461 section 5.1)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from congthu.app import App
from congthu.smtp import mtasts, tlsrpt

STS = tlsrpt.PolicyRef("sts", ("version: STSv1", "mode: enforce", "mx: mail.cantho.gov.vn", "max_age: 86400"),
                       ("mail.cantho.gov.vn",))


async def test_sessions_are_added_up_and_reported(any_app: App) -> None:
    await asyncio.gather(*(tlsrpt.count(any_app, "CanTho.gov.vn", STS) for _ in range(5)))
    for _ in range(2):
        await tlsrpt.count(any_app, "cantho.gov.vn", STS, "certificate-expired", "mail.cantho.gov.vn", "192.0.2.1")
    await tlsrpt.count(any_app, "cantho.gov.vn", tlsrpt.NO_POLICY, "starttls-not-supported", "mx.cantho.gov.vn",
                       "192.0.2.2")
    today = datetime.now(UTC).date()
    assert await any_app.db.run_read(tlsrpt.days_before, "9999-12-31") == [(today.isoformat(), "cantho.gov.vn")]
    rows = await any_app.db.run_read(tlsrpt.rows_of, today.isoformat(), "cantho.gov.vn")
    report = tlsrpt.build_report(any_app, today, "cantho.gov.vn", rows, "id-1@mail.soctrang.gov.vn")
    by_type = {p["policy"]["policy-type"]: p for p in report["policies"]}
    assert by_type["sts"] == {
        "policy": {"policy-type": "sts", "policy-domain": "cantho.gov.vn", "policy-string": list(STS.lines),
                   "mx-host": ["mail.cantho.gov.vn"]},
        "summary": {"total-successful-session-count": 5, "total-failure-session-count": 2},
        "failure-details": [{"result-type": "certificate-expired", "failed-session-count": 2,
                             "receiving-mx-hostname": "mail.cantho.gov.vn", "receiving-ip": "192.0.2.1"}],
    }
    assert by_type["no-policy-found"]["policy"] == {"policy-type": "no-policy-found", "policy-domain": "cantho.gov.vn"}
    assert by_type["no-policy-found"]["summary"]["total-failure-session-count"] == 1
    await any_app.db.run_write(tlsrpt.forget, today.isoformat(), "cantho.gov.vn")
    assert await any_app.db.run_read(tlsrpt.days_before, "9999-12-31") == []


def test_rua_of_the_record() -> None:
    assert tlsrpt.rua_addresses(["v=TLSRPTv1; rua=mailto:a@x.vn,https://r.x.vn/r"]) == ["mailto:a@x.vn",
                                                                                     "https://r.x.vn/r"]
    assert tlsrpt.rua_addresses(["v=spf1 -all"]) is None
    assert tlsrpt.rua_addresses(["v=TLSRPTv1; rua=mailto:a@x.vn", "v=TLSRPTv1; rua=mailto:b@x.vn"]) is None


async def test_policies_are_stored_with_their_fetch_time(any_app: App) -> None:
    fetched = time.time() - 100
    policy = mtasts.Policy("enforce", ("mail.cantho.gov.vn", "*.cantho.gov.vn"), 86400, "20261206", fetched)
    await any_app.db.run_write(mtasts._store, "cantho.gov.vn", policy)
    await any_app.db.run_write(mtasts._store, "cantho.gov.vn", policy)  # replaced, not doubled
    stored = await any_app.db.run_read(mtasts._read_stored, "cantho.gov.vn")
    assert stored == policy and abs(stored.fetched_at - fetched) < 0.01
    assert await mtasts.purge_expired(any_app) == 0
