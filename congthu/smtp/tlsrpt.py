"""SMTP TLS reporting, the sending side (RFC 8460): what became of our outbound TLS
sessions, reported daily to the domains that ask for it.

**Counting** (section 4). Every outbound SMTP session to a remote MX (not the smarthost)
is counted once, by UTC day, recipient domain, the policy it ran under and its result
(``count``, from ``client.py``): the policy is DANE ("tlsa": the host's TLSA records),
MTA-STS ("sts": the policy's lines and mx patterns) or none ("no-policy-found"); the
result is a success (TLS negotiated, and authenticated where the policy asks) or a
result-type of section 4.3 with the MX host and address: ``starttls-not-supported``,
``certificate-host-mismatch``, ``certificate-expired``, ``certificate-not-trusted``,
``validation-failure``, ``tlsa-invalid``, ``dnssec-invalid``,
``sts-policy-fetch-error``, ``sts-policy-invalid``, ``sts-webpki-invalid``. The counts
are rows of ``smtp_tls_results``, added to with one upsert per session by every worker
and node.

**The report** (section 4.4): ``build_report`` writes a day's aggregate JSON for one
domain from its rows; ``rua_addresses`` reads where it goes (section 3). They are sent
by ``tlsreports.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from congthu.log import event
from congthu.smtp.tables import smtp_tls_results

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["NO_POLICY", "PolicyRef", "build_report", "count", "days_before", "forget", "rows_of", "rua_addresses"]

_KEY = ["day", "policy_domain", "policy_type", "policy_key", "result", "mx_host", "ip"]


@dataclass(frozen=True)
class PolicyRef:
    """The policy an outbound session ran under (RFC 8460 section 4.4 "policy")."""

    type: str  # "sts", "tlsa", "no-policy-found"
    lines: tuple[str, ...] = ()  # policy-string
    mx: tuple[str, ...] = ()  # mx-host


NO_POLICY = PolicyRef("no-policy-found")


def _add(conn: Connection, row: dict[str, Any]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(smtp_tls_results).values(**row)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=_KEY, set_={"sessions": smtp_tls_results.c.sessions + stmt.excluded.sessions}))


async def count(app: App, domain: str, policy: PolicyRef, result: str = "", mx_host: str = "",
                ip: str = "") -> None:
    """Count one outbound session to ``domain``: a success (``result`` ""), or a failure
    with its result-type, MX host and address. Never fails the delivery."""
    if not app.settings.smtp.tls_reports:
        return
    text = "\n".join(policy.lines)
    row = {"day": datetime.now(UTC).date().isoformat(), "policy_domain": domain.lower(),
           "policy_type": policy.type, "policy_key": hashlib.sha256(text.encode()).hexdigest()[:16],
           "result": result, "mx_host": mx_host if result else "", "ip": ip if result else "",
           "policy_text": text, "mx_patterns": "\n".join(policy.mx), "sessions": 1}
    try:
        await app.db.run_write(_add, row)
    except Exception as exc:  # a report is worth less than the delivery that goes on
        event("smtp.tlsrpt_count_failed", domain=domain, error=str(exc)[:300])


def rua_addresses(records: list[str]) -> list[str] | None:
    """Section 3: the ``rua`` URIs of the one ``v=TLSRPTv1`` record, or None (no record,
    or several)."""
    found = [r for r in records if r.replace(" ", "").startswith("v=TLSRPTv1;")]
    if len(found) != 1:
        return None
    for part in found[0].split(";")[1:]:
        key, _eq, value = part.strip().partition("=")
        if key.strip() == "rua":
            return [u.strip() for u in value.split(",") if u.strip()]
    return None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(app: App, day: date, domain: str, rows: list[Any], report_id: str) -> dict[str, Any]:
    """The aggregate report of section 4.4 for ``domain`` on ``day`` from its rows."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    policies: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        entry = policies.get((row.policy_type, row.policy_key))
        if entry is None:
            policy: dict[str, Any] = {"policy-type": row.policy_type, "policy-domain": domain}
            if row.policy_text:
                policy["policy-string"] = row.policy_text.split("\n")
            if row.mx_patterns:
                policy["mx-host"] = row.mx_patterns.split("\n")
            entry = policies[(row.policy_type, row.policy_key)] = {
                "policy": policy,
                "summary": {"total-successful-session-count": 0, "total-failure-session-count": 0},
                "failure-details": [],
            }
        if not row.result:
            entry["summary"]["total-successful-session-count"] += row.sessions
            continue
        entry["summary"]["total-failure-session-count"] += row.sessions
        detail: dict[str, Any] = {"result-type": row.result, "failed-session-count": row.sessions}
        if row.mx_host:
            detail["receiving-mx-hostname"] = row.mx_host
        if row.ip:
            detail["receiving-ip"] = row.ip
        entry["failure-details"].append(detail)
    for entry in policies.values():
        if not entry["failure-details"]:
            del entry["failure-details"]
    return {
        "organization-name": app.settings.system.operator or app.settings.system.domain,
        "date-range": {"start-datetime": _iso(start),
                       "end-datetime": _iso(start + timedelta(days=1) - timedelta(seconds=1))},
        "contact-info": f"postmaster@{app.settings.system.domain}",
        "report-id": report_id,
        "policies": list(policies.values()),
    }


# -- the day's rows (for tlsreports.py) ----------------------------------------------------


def days_before(conn: Connection, before: str) -> list[tuple[str, str]]:
    return [(r.day, r.policy_domain) for r in conn.execute(
        select(smtp_tls_results.c.day, smtp_tls_results.c.policy_domain)
        .where(smtp_tls_results.c.day < before).distinct()
        .order_by(smtp_tls_results.c.day, smtp_tls_results.c.policy_domain))]


def rows_of(conn: Connection, day: str, domain: str) -> list[Any]:
    table = smtp_tls_results
    return list(conn.execute(select(table).where(table.c.day == day, table.c.policy_domain == domain)
                             .order_by(table.c.policy_type, table.c.policy_key, table.c.result,
                                       table.c.mx_host, table.c.ip)))


def forget(conn: Connection, day: str, domain: str) -> None:
    table = smtp_tls_results
    conn.execute(delete(table).where(table.c.day == day, table.c.policy_domain == domain))
