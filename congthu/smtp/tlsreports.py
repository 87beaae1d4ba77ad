"""SMTP TLS reports sent (RFC 8460 section 5): once a UTC day is over, each recipient
domain we sent to that asks for reports gets the day's aggregate report of our TLS
sessions with it (counted by ``tlsrpt.count``).

``send_reports`` runs hourly under a job lease (``congthu/smtp/jobs.py``), so that one
worker of one node sends. For each day and domain it looks up the
``_smtp._tls.<domain>`` TXT record (section 3: exactly one ``v=TLSRPTv1`` record, its
``rua`` URIs), writes the report (section 4.4, ``tlsrpt.build_report``), gzips it
(section 5.1: ``application/tlsrpt+gzip``, named
``submitter!policy-domain!begin!end!id.json.gz``) and queues it for its ``mailto:``
addresses as a ``multipart/report; report-type="tlsrpt"`` message with the
``TLS-Report-Domain`` and ``TLS-Report-Submitter`` fields (section 5.3), DKIM-signed,
through our own outbound queue, which retries. To its ``https:`` URIs (section 5.4) the
same gzipped report is POSTed once (``httpspost.post``: the guards against a URI that
aims our server at internal hosts), to the first ``MAX_HTTPS_URIS`` of them: retrying is
optional (section 5.5), and a collector that took a report but answered late does not
get it twice. Other schemes, and further ``https:`` URIs, are logged and skipped. Each report's outcome is logged
(``smtp.tlsrpt_sent``, ``smtp.tlsrpt_posted``, ``smtp.tlsrpt_post_failed``) and
audited (``smtp.tlsrpt_sent``: the day, the domain, the report id, each address and URI
with its outcome). Then the day's rows of the domain are removed; a domain with no
record gets nothing, and its rows are removed too.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import secrets
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from congthu import audit
from congthu.log import event
from congthu.smtp import addresses, dkimsign, httpspost, queue, tlsrpt
from congthu.smtp import dns as smtpdns

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["MAX_HTTPS_URIS", "SENDER_LOCAL", "compressed", "send_reports"]

SENDER_LOCAL = "noreply-smtp-tls-reporting"
# A record may list any number of URIs; each POST may take smtp.tlsrpt_https_timeout.
MAX_HTTPS_URIS = 4


def compressed(report: dict[str, Any]) -> bytes:
    """Section 5.2: the report's JSON, gzipped (``application/tlsrpt+gzip``)."""
    return gzip.compress(json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"), mtime=0)


def _message(app: App, domain: str, day: date, report: dict[str, Any], body: bytes, to: list[str]) -> bytes:
    """Section 5.3: the report as a multipart/report message (section 5.1 names its file)."""
    ours = app.settings.system.domain
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    filename = f"{ours}!{domain}!{start}!{start + 86399}!{report['report-id'].split('@')[0]}.json.gz"
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = email.utils.formataddr(("Báo cáo TLS / TLS reporting", f"{SENDER_LOCAL}@{ours}"))
    msg["To"] = ", ".join(to)
    msg["Subject"] = f"Report Domain: {domain} Submitter: {ours} Report-ID: <{report['report-id']}>"
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = email.utils.make_msgid(domain=ours)
    msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = ours
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(f"Báo cáo TLS tổng hợp (RFC 8460) của {ours} cho {domain}, ngày {day.isoformat()} (UTC).\n"
                    f"This is an aggregate TLS report (RFC 8460) from {ours} for {domain}, "
                    f"{day.isoformat()} (UTC).\n", charset="utf-8")
    msg.add_attachment(body, maintype="application", subtype="tlsrpt+gzip", filename=filename)
    msg.set_type("multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes()


async def _local_mailbox(app: App, address: str) -> int | None:
    """The mailbox of a report address of ours (the queue delivers it there), else None."""
    if not addresses.is_local(app, address):
        return None
    try:
        return await addresses.resolve(app, address)
    except addresses.RecipientRefused:
        return None


async def send_reports(app: App, before: date | None = None) -> int:
    """Send the reports of every UTC day before ``before`` (default: today) to the
    domains that ask for them; how many reports were queued or posted."""
    if not app.settings.smtp.tls_reports:
        return 0
    cutoff = (before or datetime.now(UTC).date()).isoformat()
    sent = 0
    for day, domain in await app.db.run_read(tlsrpt.days_before, cutoff):
        try:
            uris = tlsrpt.rua_addresses(await smtpdns.txt(app, f"_smtp._tls.{domain}"))
        except smtpdns.DNSTemporary as exc:
            event("smtp.tlsrpt_deferred", domain=domain, day=day, error=str(exc)[:200])
            continue  # asked again at the next run
        if uris:
            sent += await _send_report(app, day, domain, uris)
        await app.db.run_write(tlsrpt.forget, day, domain)
    return sent


async def _send_report(app: App, day: str, domain: str, uris: list[str]) -> int:
    """The day's report of ``domain`` to its ``rua`` URIs: 1 if it went anywhere (queued
    for a mailto address or posted), else 0."""
    mailto = [unquote(u[7:].split("?")[0]) for u in uris if u.lower().startswith("mailto:")]
    mailto = [a for a in mailto if addresses.valid_mailbox(a, True)]
    https = [u for u in uris if u.lower().startswith("https:")]
    for other in [u for u in uris if not u.lower().startswith(("mailto:", "https:"))] + https[MAX_HTTPS_URIS:]:
        event("smtp.tlsrpt_uri_skipped", domain=domain, uri=other[:200])
    https = https[:MAX_HTTPS_URIS]
    if not mailto and not https:
        return 0
    rows = await app.db.run_read(tlsrpt.rows_of, day, domain)
    report_id = f"{day}.{secrets.token_hex(8)}@{app.settings.system.hostname}"
    report = tlsrpt.build_report(app, date.fromisoformat(day), domain, rows, report_id)
    body = compressed(report)
    outcomes: dict[str, str] = {}
    if mailto:
        raw = _message(app, domain, date.fromisoformat(day), report, body, mailto)
        signed = await dkimsign.sign(app, raw)
        await queue.enqueue(app, signed, f"{SENDER_LOCAL}@{app.settings.system.domain}",
                            [(a, await _local_mailbox(app, a)) for a in mailto], kind="tlsrpt")
        event("smtp.tlsrpt_sent", domain=domain, day=day, to=mailto, report_id=report_id)
        outcomes.update((f"mailto:{a}", "queued") for a in mailto)
    for uri in https:
        result = await httpspost.post(app, uri, body)
        event("smtp.tlsrpt_posted" if result.outcome == "posted" else "smtp.tlsrpt_post_failed", domain=domain,
              day=day, uri=uri[:300], outcome=result.outcome, detail=result.detail, address=result.address,
              report_id=report_id)
        outcomes[uri[:300]] = f"{result.outcome}: {result.detail}"
    await audit.record(app, "smtp.tlsrpt_sent", "system", domain,
                       {"day": day, "report_id": report_id, "to": outcomes})
    posted = any(v.startswith(("queued", "posted")) for v in outcomes.values())
    return 1 if posted else 0
