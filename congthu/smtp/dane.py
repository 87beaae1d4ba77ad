"""DANE for SMTP (RFC 7672, on RFC 6698 and RFC 7671): the TLSA records of a remote MX
host, looked up and believed only when DNSSEC authenticated them, and the server's
certificate checked against them.

**When** (RFC 7672 section 2.2). ``smtp.dane`` is on only where the resolvers of
``smtp.dns_servers`` validate DNSSEC and are reached over a path we trust (the local
one, RFC 7672 section 2.1.1, RFC 6698 section 4.1): their AD bit (RFC 4035 section
3.2.3, asked for by setting AD in the query, RFC 6840 section 5.7) is then what says an
answer is authenticated ("secure"). DANE applies to a host only when the domain's MX
answer, the host's address answer and the TLSA answer for ``_25._tcp.<host>`` are all
secure (sections 2.2.1, 2.2.2). An insecure answer, or a secure answer that there is no
TLSA record, means no DANE for the host (delivery goes on as before: MTA-STS or
opportunistic TLS). A TLSA lookup that fails (SERVFAIL: DNSSEC-bogus, a timeout) after
a secure MX makes the host unusable for now (section 2.2: "the SMTP client MUST NOT
deliver" to it), so the message waits.

**How** (section 3). With usable TLSA records the client must use STARTTLS (a server
without it is a failure, never a downgrade) and the certificate chain must match one
record. Usable records: certificate usages DANE-TA(2) and DANE-EE(3) (section 3.1.3:
PKIX-TA(0) and PKIX-EE(1) are not for SMTP), selectors Cert(0) and SPKI(1), matching
types Full(0), SHA2-256(1), SHA2-512(2) (RFC 6698 section 2.1). DANE-EE matches the
server's own certificate, without name or date checks (section 3.1.1). DANE-TA names a
trust anchor that must be in the chain the server sends; the chain is then validated up
to it, with the MX host name (or the recipient domain) as the name to match and the
dates checked (sections 3.1.2, 3.2.2), with ``cryptography``'s X.509 verifier: the
server certificate needs a subjectAltName, each issuer above it basicConstraints CA;
the Web PKI's other extension rules (key usage, key identifiers) are not asked of a
private anchor that DNSSEC vouches for (RFC 7671 section 5.2.2). When
every record is unusable, TLS is still required, without authentication (section 2.2).
DANE takes precedence over MTA-STS for the hosts it covers (RFC 8461 section 2).
"""

from __future__ import annotations

import hashlib
import ssl
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.flags
import dns.resolver
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification
from cryptography.x509.verification import Criticality, ExtensionPolicy

from congthu.smtp import dns as smtpdns

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["TLSA", "HostTLSA", "matches", "peer_chain", "tlsa_for", "verify"]

PORT = 25
USAGES = (2, 3)  # DANE-TA, DANE-EE (RFC 7672 section 3.1.3)
SELECTORS = (0, 1)  # Cert, SPKI
MATCHING = (0, 1, 2)  # Full, SHA2-256, SHA2-512


@dataclass(frozen=True)
class TLSA:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        return self.usage in USAGES and self.selector in SELECTORS and self.mtype in MATCHING

    def text(self) -> str:
        """Presentation form (RFC 6698 section 2.2), as TLS reports carry it."""
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


@dataclass(frozen=True)
class HostTLSA:
    """The secure TLSA RRset of one MX host: ``records`` all of it, ``usable`` those this
    client can check (none usable: TLS without authentication)."""

    host: str
    records: tuple[TLSA, ...]

    @property
    def usable(self) -> tuple[TLSA, ...]:
        return tuple(r for r in self.records if r.usable)


def _secure(answer: dns.resolver.Answer) -> bool:
    return bool(answer.response.flags & dns.flags.AD)


async def secure_answer(app: App, name: str, rdtype: str) -> bool:
    """Is the answer for (``name``, ``rdtype``) DNSSEC-authenticated? An authenticated
    denial (NXDOMAIN, no data) counts as secure too. Raises DNSTemporary on failures."""
    resolver = smtpdns.resolvers(app).asynchronous
    try:
        answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN as exc:
        return any(bool(r.flags & dns.flags.AD) for r in exc.responses().values())
    except dns.exception.DNSException as exc:
        raise smtpdns.DNSTemporary(f"DNS {rdtype} {name}: {exc}") from exc
    return _secure(answer)


async def tlsa_for(app: App, host: str) -> HostTLSA | None:
    """The secure TLSA records of MX host ``host`` (whose MX answer was secure), or None
    when DANE does not apply to it (section 2.2.2: an insecure address or TLSA answer,
    no TLSA record). Raises DNSTemporary when a lookup fails: the host must not be used."""
    if not await secure_answer(app, host, "A"):
        return None
    resolver = smtpdns.resolvers(app).asynchronous
    name = f"_{PORT}._tcp.{host}"
    try:
        answer = await resolver.resolve(name, "TLSA", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.exception.DNSException as exc:
        raise smtpdns.DNSTemporary(f"DNS TLSA {name}: {exc}") from exc
    if not _secure(answer) or answer.rrset is None or not len(answer.rrset):
        return None
    records = tuple(TLSA(r.usage, r.selector, r.mtype, bytes(r.cert)) for r in answer.rrset)
    return HostTLSA(host, records)


def peer_chain(ssl_object: Any) -> list[bytes]:
    """The certificates the server sent, leaf first, in DER (not verified by OpenSSL:
    DANE is the check). Public from Python 3.13, private before."""
    if sys.version_info >= (3, 13):
        return [bytes(c) for c in ssl_object.get_unverified_chain()]
    return [c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            for c in ssl_object._sslobj.get_unverified_chain()]


def _selected(cert: x509.Certificate, selector: int) -> bytes:
    if selector == 0:
        return cert.public_bytes(serialization.Encoding.DER)
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def matches(record: TLSA, cert: x509.Certificate) -> bool:
    """RFC 6698 section 2.1: the selected part of ``cert``, hashed by the matching type,
    equals the record's data."""
    selected = _selected(cert, record.selector)
    if record.mtype == 1:
        selected = hashlib.sha256(selected).digest()
    elif record.mtype == 2:
        selected = hashlib.sha512(selected).digest()
    return selected == record.data


def _is_ca(_policy: Any, _cert: x509.Certificate, extension: x509.BasicConstraints | None) -> None:
    if extension is None or not extension.ca:
        raise ValueError("issuer is not a CA")


def _verifier(anchor: x509.Certificate, name: str) -> verification.ServerVerifier:
    """A verifier of chains up to ``anchor`` for ``name`` (see the module's text)."""
    ee = ExtensionPolicy.permit_all().require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    ca = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _is_ca)
    return (verification.PolicyBuilder().store(verification.Store([anchor]))
            .extension_policies(ca_policy=ca, ee_policy=ee)
            .build_server_verifier(verification.DNSName(name)))


def verify(chain_der: list[bytes], tlsa: HostTLSA, names: list[str]) -> str | None:
    """Check the server's chain against the usable records: None when one matches, else
    why not (for the log and the queue)."""
    usable = tlsa.usable
    if not usable:
        return None  # section 2.2: encrypted, not authenticated
    if not chain_der:
        return "no certificate"
    try:
        chain = [x509.load_der_x509_certificate(c) for c in chain_der]
    except ValueError as exc:
        return f"unreadable certificate: {exc}"
    leaf = chain[0]
    for record in usable:
        if record.usage == 3 and matches(record, leaf):
            return None  # DANE-EE: the key or certificate itself; no name or date checks
    problems: list[str] = []
    for record in usable:
        if record.usage != 2:
            continue
        for anchor in chain[1:] or chain:
            if not matches(record, anchor):
                continue
            for name in names:
                try:
                    _verifier(anchor, name).verify(leaf, chain[1:])
                    return None
                except (verification.VerificationError, ValueError) as exc:
                    problems.append(f"{name}: {exc}")
    if problems:
        return f"chain to the DANE-TA anchor not valid: {problems[0]}"
    return "no TLSA record matches the server's certificate chain"
