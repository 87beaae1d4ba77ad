"""Outbound SMTP (aiosmtplib): one transaction for the recipients of one domain.

Destinations (RFC 5321 section 5.1): the configured smarthost, else the domain's MX
hosts by preference (the domain itself without MX; a null MX, RFC 7505, fails at once),
each address of each host in turn until one answers. A 5xx reply from a host that
answered is final; a connection failure or a 4xx greeting tries the next host.

TLS: STARTTLS whenever the server offers it (RFC 3207), without certificate checks
(opportunistic: most MX certificates are not verifiable), unless the domain publishes an
MTA-STS policy in "enforce" mode (RFC 8461 section 5, ``mtasts.py``): then only the MX
hosts its policy names are tried, each with STARTTLS and a certificate valid for its
name. The smarthost's certificate is verified (``smtp.smarthost_verify_tls``).

DSN (RFC 3461 section 4.1): a server that offers the extension is given the sender's
RET and ENVID on MAIL and each recipient's NOTIFY and ORCPT on RCPT, and then sends the
notices itself (``Outcome.dsn_passed``); to one that does not, nothing is passed and
the queue reports "relayed" to a sender who asked for success notices.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosmtplib

from congthu.log import event
from congthu.smtp import dns as smtpdns
from congthu.smtp import mtasts
from congthu.smtp.dsn import xtext_encode
from congthu.tls import client_context

if TYPE_CHECKING:
    from congthu.app import App


@dataclass(frozen=True)
class Outcome:
    address: str
    kind: str  # "ok", "temp", "perm"
    reply: str  # the remote reply (or our reason), for logs and DSNs
    status: str = ""  # RFC 3463 code
    remote: str = ""  # host that answered
    dsn_passed: bool = False  # the DSN parameters were handed on (RFC 3461 section 4.1)


class _Unreachable(Exception):
    """This host could not take part: try the next one."""


def _status_of(code: int, message: str) -> str:
    head = message.split(" ", 1)[0] if message else ""
    parts = head.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] in "245":
        return head
    return f"{str(code)[0]}.0.0" if code else "4.0.0"


def _all(recipients: list[str], kind: str, reply: str, status: str, remote: str = "") -> list[Outcome]:
    return [Outcome(r, kind, reply, status, remote) for r in recipients]


async def destinations(app: App, domain: str) -> list[tuple[str, str, int, bool]]:
    """(host name, address, port, verify TLS) to try, best first."""
    settings = app.settings.smtp
    if settings.smarthost:
        host, _, port = settings.smarthost.rpartition(":") if ":" in settings.smarthost else (settings.smarthost, "", "25")
        return [(host, host, int(port or 25), settings.smarthost_verify_tls)]
    result: list[tuple[str, str, int, bool]] = []
    for host in await smtpdns.mx_hosts(app, domain):
        try:
            addresses = await smtpdns.host_addresses(app, host)
        except smtpdns.DNSTemporary:
            continue
        result.extend((host, address, settings.mx_port, False) for address in addresses[:2])
    return result


# The sender's RFC 3461 parameters: RET, ENVID, and (NOTIFY, ORCPT) by recipient address.
DSNParameters = tuple[str, str, dict[str, tuple[str, str]]]


async def send(app: App, domain: str, mail_from: str, recipients: list[str], raw: bytes,
               smtputf8: bool = False, dsn: DSNParameters | None = None) -> list[Outcome]:
    """Deliver ``raw`` to ``recipients`` (all at ``domain``); one Outcome each."""
    try:
        targets = await destinations(app, domain)
    except smtpdns.DNSPermanent as exc:
        return _all(recipients, "perm", str(exc), "5.1.2")
    except smtpdns.DNSTemporary as exc:
        return _all(recipients, "temp", f"DNS: {exc}", "4.4.3")
    if not targets:
        return _all(recipients, "temp", f"không tìm được máy chủ nhận thư / no reachable mail host for {domain}", "4.4.4")
    policy = None if app.settings.smtp.smarthost else await mtasts.policy_for(app, domain)
    if policy is not None and policy.mode != "none":
        unmatched = sorted({h for h, _a, _p, _v in targets if not policy.matches(h)})
        if unmatched:
            event("smtp.mta_sts_failure", domain=domain, mode=policy.mode, reason="mx not in policy", hosts=unmatched)
        if policy.mode == "enforce":
            targets = [(h, a, p, True) for h, a, p, _v in targets if policy.matches(h)]
            if not targets:
                return _all(recipients, "temp", f"không máy chủ nào khớp chính sách MTA-STS của {domain} / "
                            f"no MX host matches the MTA-STS policy of {domain}", "4.7.5")
    last = "no answer"
    for host, address, port, verify in targets:
        try:
            return await _transaction(app, host, address, port, verify, mail_from, recipients, raw, smtputf8,
                                      dsn)
        except _Unreachable as exc:
            last = f"{host} [{address}]:{port}: {exc}"
    return _all(recipients, "temp", last, "4.4.1")


def _rcpt_options(dsn: DSNParameters | None, address: str) -> list[str]:
    notify, orcpt = dsn[2].get(address, ("", "")) if dsn else ("", "")
    options = [f"NOTIFY={notify}"] if notify else []
    if orcpt:
        kind, _sep, original = orcpt.partition(";")
        options.append(f"ORCPT={kind};{xtext_encode(original)}")
    return options


async def _transaction(app: App, host: str, address: str, port: int, verify: bool, mail_from: str,
                       recipients: list[str], raw: bytes, smtputf8: bool,
                       dsn: DSNParameters | None = None) -> list[Outcome]:
    settings = app.settings
    timeout = settings.smtp.outbound_timeout
    client = aiosmtplib.SMTP(hostname=address, port=port, local_hostname=settings.system.hostname,
                             timeout=timeout, start_tls=False, use_tls=False, validate_certs=verify)
    remote = f"{host} [{address}]"
    try:
        try:
            await client.connect()
            await client.ehlo()
            if client.supports_extension("starttls"):
                context = mtasts.verifying_context(app) if verify else client_context(verify=False)
                await client.starttls(tls_context=context, server_hostname=host if verify else None)
                # RFC 3207 section 4.2: the extensions offered before TLS are forgotten
                # (aiosmtplib clears them); ask again, or SIZE, 8BITMIME, SMTPUTF8 and DSN
                # would look absent.
                await client.ehlo()
            elif verify:
                raise _Unreachable("máy chủ không hỗ trợ STARTTLS / smarthost offers no STARTTLS")
        except (OSError, ssl.SSLError, aiosmtplib.SMTPException, TimeoutError) as exc:
            raise _Unreachable(str(exc) or type(exc).__name__) from exc
        options: list[str] = []
        if client.supports_extension("size"):
            options.append(f"SIZE={len(raw)}")
        if not raw.isascii() and client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        encoding = "ascii"
        if smtputf8:
            if not client.supports_extension("smtputf8"):
                return _all(recipients, "perm", f"{remote} không hỗ trợ SMTPUTF8 / does not support SMTPUTF8",
                            "5.6.7", remote)
            options.append("SMTPUTF8")
            encoding = "utf-8"
        passed = dsn is not None and client.supports_extension("dsn")
        if passed and dsn is not None:
            options += [f"RET={dsn[0]}"] if dsn[0] else []
            options += [f"ENVID={xtext_encode(dsn[1])}"] if dsn[1] else []
        try:
            await client.mail(mail_from, options=options, encoding=encoding)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                return _all(recipients, "perm", f"{exc.code} {exc.message}", _status_of(exc.code, exc.message), remote)
            raise _Unreachable(f"{exc.code} {exc.message}") from exc
        except (OSError, aiosmtplib.SMTPException, TimeoutError) as exc:
            raise _Unreachable(str(exc) or type(exc).__name__) from exc
        outcomes: dict[str, Outcome] = {}
        accepted: list[str] = []
        for rcpt in recipients:
            try:
                await client.rcpt(rcpt, options=_rcpt_options(dsn, rcpt) if passed else [], encoding=encoding)
                accepted.append(rcpt)
            except aiosmtplib.SMTPResponseException as exc:
                kind = "perm" if exc.code >= 500 else "temp"
                outcomes[rcpt] = Outcome(rcpt, kind, f"{exc.code} {exc.message}", _status_of(exc.code, exc.message), remote)
            except (OSError, aiosmtplib.SMTPException, TimeoutError) as exc:
                raise _Unreachable(str(exc) or type(exc).__name__) from exc
        if accepted:
            try:
                response = await client.data(raw)
                for rcpt in accepted:
                    outcomes[rcpt] = Outcome(rcpt, "ok", f"{response.code} {response.message}", "2.0.0", remote,
                                             passed)
            except aiosmtplib.SMTPResponseException as exc:
                kind = "perm" if exc.code >= 500 else "temp"
                for rcpt in accepted:
                    outcomes[rcpt] = Outcome(rcpt, kind, f"{exc.code} {exc.message}", _status_of(exc.code, exc.message), remote)
            except (OSError, aiosmtplib.SMTPException, TimeoutError) as exc:
                # Lost after DATA began: the remote may or may not have it. Retrying may
                # duplicate, giving up may lose: RFC 5321 section 6.1 prefers duplicates.
                for rcpt in accepted:
                    outcomes[rcpt] = Outcome(rcpt, "temp", f"{remote}: {exc}", "4.4.2", remote)
        return [outcomes[r] for r in recipients]
    finally:
        try:
            if client.is_connected:
                await client.quit()
        except Exception:
            client.close()
