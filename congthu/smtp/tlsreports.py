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
through our own outbound queue, which retries. ``https:`` URIs (section 5.4) are not
posted to: they are logged. Then the day's rows of the domain are removed; a domain
with no record gets nothing, and its rows are removed too.
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

from congthu.log import event
from congthu.smtp import addresses, dkimsign, queue, tlsrpt
from congthu.smtp import dns as smtpdns

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["SENDER_LOCAL", "send_reports"]

SENDER_LOCAL = "noreply-smtp-tls-reporting"


def _message(app: App, domain: str, day: date, report: dict[str, Any], to: list[str]) -> bytes:
    """Section 5.3: the report as a multipart/report message (section 5.1 names its file)."""
    ours = app.settings.system.domain
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    filename = f"{ours}!{domain}!{start}!{start + 86399}!{report['report-id'].split('@')[0]}.json.gz"
    body = gzip.compress(json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"), mtime=0)
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
    """Queue the reports of every UTC day before ``before`` (default: today) to the
    domains that ask for them; how many messages were queued."""
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
            mailto = [unquote(u[7:].split("?")[0]) for u in uris if u.lower().startswith("mailto:")]
            mailto = [a for a in mailto if addresses.valid_mailbox(a, True)]
            for other in (u for u in uris if not u.lower().startswith("mailto:")):
                event("smtp.tlsrpt_uri_skipped", domain=domain, uri=other[:200])
            if mailto:
                rows = await app.db.run_read(tlsrpt.rows_of, day, domain)
                report_id = f"{day}.{secrets.token_hex(8)}@{app.settings.system.hostname}"
                report = tlsrpt.build_report(app, date.fromisoformat(day), domain, rows, report_id)
                raw = _message(app, domain, date.fromisoformat(day), report, mailto)
                signed = await dkimsign.sign(app, raw)
                await queue.enqueue(app, signed, f"{SENDER_LOCAL}@{app.settings.system.domain}",
                                    [(a, await _local_mailbox(app, a)) for a in mailto], kind="tlsrpt")
                event("smtp.tlsrpt_sent", domain=domain, day=day, to=mailto, report_id=report_id)
                sent += 1
        await app.db.run_write(tlsrpt.forget, day, domain)
    return sent

