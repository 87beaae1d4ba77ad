"""Outbound SMTP (aiosmtplib): one transaction for the recipients of one domain.

Destinations (RFC 5321 section 5.1): the configured smarthost, else the domain's MX
hosts by preference (the domain itself without MX; a null MX, RFC 7505, fails at once),
each address of each host in turn until one answers. A 5xx reply from a host that
answered is final; a connection failure or a 4xx greeting tries the next host.

TLS: STARTTLS whenever the server offers it (RFC 3207), without certificate checks
(opportunistic: most MX certificates are not verifiable), unless the domain publishes an
MTA-STS policy in "enforce" mode (RFC 8461 section 5, ``mtasts.py``): then only the MX
hosts its policy names are tried, each with STARTTLS and a certificate valid for its
name. In "testing" mode (RFC 8461 section 5) mail goes as without a policy, but the
certificate of a host the policy names is checked all the same, for the TLS report:
STARTTLS with verification first; when the certificate fails, the failure is reported
and logged (``smtp.mta_sts_failure``) and the same host is connected to again without
verification, which delivers. The smarthost's certificate is verified
(``smtp.smarthost_verify_tls``). With ``smtp.dane`` and a DNSSEC-secure MX answer, an MX host with secure TLSA records gets
mail only over STARTTLS with a certificate chain matching them (RFC 7672, ``dane.py``),
whatever the MTA-STS policy says of it (RFC 8461 section 2: DANE takes precedence); a
host whose TLSA lookup fails is not used. When no host can be used securely the
message waits in the queue (4.7.5) with the reason.

TLS reporting (RFC 8460, ``tlsrpt.py``): every session to an MX host is counted once, a
success or the failure's result-type, under the policy it ran under; in MTA-STS
"testing" mode a session with a certificate failure, or with a host the policy does not
name, is a failure (RFC 8460 section 4.3) although the message went.

DSN (RFC 3461 section 4.1): a server that offers the extension is given the sender's
RET and ENVID on MAIL and each recipient's NOTIFY and ORCPT on RCPT, and then sends the
notices itself (``Outcome.dsn_passed``); to one that does not, nothing is passed and
the queue reports "relayed" to a sender who asked for success notices.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import aiosmtplib

from congthu.log import event
from congthu.smtp import dane, mtasts, tlsrpt
from congthu.smtp import dns as smtpdns
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


@dataclass(frozen=True)
class Target:
    """One address of one host to try."""

    host: str
    address: str
    port: int
    verify: bool  # a certificate valid for the host (MTA-STS "enforce", the smarthost)
    tlsa: dane.HostTLSA | None = None  # DANE applies: the host's secure TLSA records
    # MTA-STS "testing": check the certificate for the report only (RFC 8461 section 5).
    check: bool = False
    # MTA-STS "testing": the policy does not name the host; it is used, the session is a failure.
    unnamed: bool = False


class _Unreachable(Exception):
    """This host could not take part: try the next one. ``tls_result``: the RFC 8460
    result-type when TLS failed ("" otherwise)."""

    def __init__(self, text: str, tls_result: str = "") -> None:
        super().__init__(text)
        self.tls_result = tls_result


class _Unverified(_Unreachable):
    """MTA-STS "testing": the certificate check failed (``tls_result`` says how); the
    host is to be connected to again without it."""


def _certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind a failed STARTTLS, if that is what it was
    (aiosmtplib wraps the handshake's errors)."""
    current: BaseException | None = exc
    for _depth in range(5):
        if current is None or isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _tls_result(exc: BaseException) -> str:
    """The RFC 8460 section 4.3.1 result-type of a failed TLS negotiation."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return "certificate-expired"
        if code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return "certificate-host-mismatch"
        if code in (2, 18, 19, 20, 21):  # unknown issuer, self-signed, no local issuer
            return "certificate-not-trusted"
    return "validation-failure"


def _status_of(code: int, message: str) -> str:
    head = message.split(" ", 1)[0] if message else ""
    parts = head.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] in "245":
        return head
    return f"{str(code)[0]}.0.0" if code else "4.0.0"


def _all(recipients: list[str], kind: str, reply: str, status: str, remote: str = "") -> list[Outcome]:
    return [Outcome(r, kind, reply, status, remote) for r in recipients]


async def destinations(app: App, domain: str) -> tuple[list[Target], bool]:
    """The targets to try, best first, and whether the MX answer was DNSSEC-secure."""
    settings = app.settings.smtp
    if settings.smarthost:
        host, _, port = settings.smarthost.rpartition(":") if ":" in settings.smarthost else (settings.smarthost, "", "25")
        return [Target(host, host, int(port or 25), settings.smarthost_verify_tls)], False
    result: list[Target] = []
    hosts, secure = await smtpdns.mx_hosts(app, domain)
    for host in hosts:
        try:
            addresses = await smtpdns.host_addresses(app, host)
        except smtpdns.DNSTemporary:
            continue
        result.extend(Target(host, address, settings.mx_port, False) for address in addresses[:2])
    return result, secure


# The sender's RFC 3461 parameters: RET, ENVID, and (NOTIFY, ORCPT) by recipient address.
DSNParameters = tuple[str, str, dict[str, tuple[str, str]]]


async def send(app: App, domain: str, mail_from: str, recipients: list[str], raw: bytes,
               smtputf8: bool = False, dsn: DSNParameters | None = None) -> list[Outcome]:
    """Deliver ``raw`` to ``recipients`` (all at ``domain``); one Outcome each."""
    try:
        targets, secure = await destinations(app, domain)
    except smtpdns.DNSPermanent as exc:
        return _all(recipients, "perm", str(exc), "5.1.2")
    except smtpdns.DNSTemporary as exc:
        return _all(recipients, "temp", f"DNS: {exc}", "4.4.3")
    if not targets:
        return _all(recipients, "temp", f"không tìm được máy chủ nhận thư / no reachable mail host for {domain}", "4.4.4")
    # DANE first (RFC 7672 section 2.2): only after a secure MX answer.
    tlsa: dict[str, dane.HostTLSA | None] = {}
    broken: dict[str, str] = {}
    if secure:
        for host in dict.fromkeys(t.host for t in targets):
            try:
                tlsa[host] = await dane.tlsa_for(app, host)
            except smtpdns.DNSTemporary as exc:
                broken[host] = str(exc)
                event("smtp.dane_failure", domain=domain, host=host, reason=f"TLSA lookup failed: {exc}")
                await tlsrpt.count(app, domain, tlsrpt.PolicyRef("tlsa", (), (host,)), "dnssec-invalid", host)
    policy = None if app.settings.smtp.smarthost else await mtasts.policy_for(app, domain)
    sts = policy is not None and policy.mode != "none"
    if sts and policy is not None:
        reported = tlsrpt.PolicyRef("sts", tuple(policy.lines()), policy.mx)
    elif domain in app.smtp.mta_sts_failures and not app.settings.smtp.smarthost:
        reported = tlsrpt.PolicyRef("sts")
        await tlsrpt.count(app, domain, reported, app.smtp.mta_sts_failures[domain])
    else:
        reported = tlsrpt.NO_POLICY
    chosen: list[Target] = []
    unmatched: list[str] = []
    for target in targets:
        records = tlsa.get(target.host)
        if target.host in broken:
            continue
        if records is not None:  # DANE takes precedence over MTA-STS (RFC 8461 section 2)
            chosen.append(replace(target, tlsa=records))
        elif sts and policy is not None and not policy.matches(target.host):
            if target.host not in unmatched:
                unmatched.append(target.host)
            if policy.mode != "enforce":
                chosen.append(replace(target, unnamed=True))
        elif sts and policy is not None:
            chosen.append(replace(target, verify=True) if policy.mode == "enforce" else replace(target, check=True))
        else:
            chosen.append(target)
    if unmatched and policy is not None:
        event("smtp.mta_sts_failure", domain=domain, mode=policy.mode, reason="mx not in policy", hosts=unmatched)
        if policy.mode == "enforce":  # not used: no session; in "testing" the session is counted
            for host in unmatched:
                await tlsrpt.count(app, domain, reported, "validation-failure", host)
    if not chosen:
        if broken:
            return _all(recipients, "temp", f"DANE: không tra được bản ghi TLSA / TLSA lookup failed: "
                        f"{'; '.join(broken.values())}", "4.7.5")
        return _all(recipients, "temp", f"không máy chủ nào khớp chính sách MTA-STS của {domain} / "
                    f"no MX host matches the MTA-STS policy of {domain}", "4.7.5")
    last, status = "no answer", "4.4.1"
    for target in chosen:
        under = (tlsrpt.PolicyRef("tlsa", tuple(r.text() for r in target.tlsa.records), (target.host,))
                 if target.tlsa is not None else reported)
        checked = ""  # MTA-STS "testing": the certificate check's result-type when it failed
        try:
            try:
                outcomes, encrypted = await _transaction(app, target, domain, mail_from, recipients, raw,
                                                         smtputf8, dsn)
            except _Unverified as exc:
                # RFC 8461 section 5, "testing": the failure is reported, the message goes
                # as without a policy (the same host again, unverified: one session counted).
                event("smtp.mta_sts_failure", domain=domain, mode="testing", host=target.host,
                      address=target.address, reason=str(exc)[:300], result=exc.tls_result)
                checked = exc.tls_result
                outcomes, encrypted = await _transaction(app, replace(target, check=False), domain, mail_from,
                                                         recipients, raw, smtputf8, dsn)
        except _Unreachable as exc:
            last = f"{target.host} [{target.address}]:{target.port}: {exc}"
            if exc.tls_result and (target.verify or target.tlsa is not None):
                status = "4.7.5"  # RFC 3463: security features not supported
            if (checked or exc.tls_result) and not app.settings.smtp.smarthost:
                await tlsrpt.count(app, domain, under, checked or exc.tls_result, target.host, target.address)
            continue
        if not app.settings.smtp.smarthost:
            # "testing" (RFC 8460 section 4.3): delivered, but a failure all the same when
            # the certificate failed or the policy does not name the host.
            result = checked or ("validation-failure" if target.unnamed else "")
            await tlsrpt.count(app, domain, under, result or ("" if encrypted else "starttls-not-supported"),
                               target.host, target.address)
        return outcomes
    if broken:
        last += f"; DANE: TLSA lookup failed: {'; '.join(broken.values())}"
    return _all(recipients, "temp", last, status)


def _rcpt_options(dsn: DSNParameters | None, address: str) -> list[str]:
    notify, orcpt = dsn[2].get(address, ("", "")) if dsn else ("", "")
    options = [f"NOTIFY={notify}"] if notify else []
    if orcpt:
        kind, _sep, original = orcpt.partition(";")
        options.append(f"ORCPT={kind};{xtext_encode(original)}")
    return options


async def _starttls(app: App, client: aiosmtplib.SMTP, target: Target, domain: str) -> bool:
    """STARTTLS as the target requires (``_Unreachable`` with the RFC 8460 result-type
    when it fails); whether the session is now encrypted."""
    required = target.verify or target.tlsa is not None
    if not client.supports_extension("starttls"):
        if required:
            raise _Unreachable("máy chủ không hỗ trợ STARTTLS / the server offers no STARTTLS",
                               "starttls-not-supported")
        return False
    name: str | None = target.host
    if target.verify or target.check:
        context = mtasts.verifying_context(app)
    else:  # DANE checks the chain itself (RFC 7672 section 8.1: SNI is the host name)
        context = client_context(verify=False)
        name = target.host if target.tlsa is not None else None
    try:
        await client.starttls(tls_context=context, server_hostname=name)
    except (ssl.SSLError, aiosmtplib.SMTPConnectError) as exc:
        failed = _certificate_failure(exc) if target.check else None
        if failed is not None:
            raise _Unverified(str(exc) or type(exc).__name__, _tls_result(failed)) from exc
        if isinstance(exc, ssl.SSLError):
            result = _tls_result(exc) if required else "validation-failure"
        else:  # the handshake failed: aiosmtplib's wrapping
            cause = exc.__cause__ or exc.__context__
            result = _tls_result(cause) if isinstance(cause, ssl.SSLError) else "validation-failure"
        raise _Unreachable(str(exc) or type(exc).__name__, result) from exc
    if target.tlsa is not None:
        chain = dane.peer_chain(client.get_transport_info("ssl_object"))
        problem = dane.verify(chain, target.tlsa, [target.host, domain])
        if problem is not None:
            event("smtp.dane_failure", domain=domain, host=target.host, address=target.address, reason=problem)
            raise _Unreachable(f"DANE: {problem}", "tlsa-invalid")
    # RFC 3207 section 4.2: the extensions offered before TLS are forgotten (aiosmtplib
    # clears them); ask again, or SIZE, 8BITMIME, SMTPUTF8 and DSN would look absent.
    await client.ehlo()
    return True


async def _transaction(app: App, target: Target, domain: str, mail_from: str, recipients: list[str], raw: bytes,
                       smtputf8: bool, dsn: DSNParameters | None = None) -> tuple[list[Outcome], bool]:
    """One SMTP transaction with ``target``: the outcomes and whether it was encrypted."""
    settings = app.settings
    timeout = settings.smtp.outbound_timeout
    host, address = target.host, target.address
    client = aiosmtplib.SMTP(hostname=address, port=target.port, local_hostname=settings.system.hostname,
                             timeout=timeout, start_tls=False, use_tls=False, validate_certs=target.verify)
    remote = f"{host} [{address}]"
    try:
        try:
            await client.connect()
            await client.ehlo()
            encrypted = await _starttls(app, client, target, domain)
        except _Unreachable:
            raise
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
                            "5.6.7", remote), encrypted
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
                return _all(recipients, "perm", f"{exc.code} {exc.message}", _status_of(exc.code, exc.message),
                            remote), encrypted
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
        return [outcomes[r] for r in recipients], encrypted
    finally:
        try:
            if client.is_connected:
                await client.quit()
        except Exception:
            client.close()
