"""Client certificates of applications, for SASL EXTERNAL (RFC 4422 appendix A; RFC 4513
section 5.2.3): which service account a verified certificate binds as.

    [ldap]
    client_ca = "tls/apps-ca.pem"
    certificate_map = [
      "cong-thong-tin subject=CN=cong-thong-tin,OU=Ung dung,O=So TTTT Soc Trang",
      "qlvb-stc san=dns:qlvb.stc.soctrang.gov.vn",
    ]

With ``client_ca`` set, the LDAPS listener and StartTLS ask for a client certificate
(optional: people bind with passwords and send none) and verify one that is sent against
those CAs; one that does not verify fails the TLS handshake, as slapd's
``TLSVerifyClient try`` does. A verified certificate is mapped by the first line whose
``subject=`` DN equals its subject (distinguishedNameMatch, ``dn.key``) or whose
``san=`` names one of its subjectAltNames (dns, email, uri; case-insensitive). A
certificate that maps to nothing binds as nobody: the bind is refused.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509

from congthu.ldap import dn

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["CertificateMapError", "ClientCertificates", "Mapping", "parse"]

_SAN_KINDS: dict[str, type[x509.DNSName] | type[x509.RFC822Name] | type[x509.UniformResourceIdentifier]] = {
    "dns": x509.DNSName, "email": x509.RFC822Name, "uri": x509.UniformResourceIdentifier}


class CertificateMapError(ValueError):
    """A malformed ``ldap.certificate_map`` line, or a ``client_ca`` that cannot be read."""


@dataclass(frozen=True)
class Mapping:
    service: str
    # ("subject", normalised DN key as text) or ("dns"/"email"/"uri", lower-cased name).
    kind: str
    value: str


def parse(lines: list[str]) -> list[Mapping]:
    """The mappings of ``ldap.certificate_map``; CertificateMapError for a bad line."""
    found: list[Mapping] = []
    for line in lines:
        name, _space, rest = line.strip().partition(" ")
        rest = rest.strip()
        what, sep, value = rest.partition("=")
        if not name or "=" in name or not sep or not value.strip():
            raise CertificateMapError(f"ldap.certificate_map: {line!r} không hợp lệ / is not "
                                      f"'NAME subject=DN' or 'NAME san=dns:HOST'")
        value = value.strip()
        if what == "subject":
            try:
                found.append(Mapping(name.lower(), "subject", repr(dn.key(value))))
            except dn.InvalidDN:
                raise CertificateMapError(f"ldap.certificate_map: DN không hợp lệ / invalid DN in {line!r}") from None
        elif what == "san":
            kind, colon, san = value.partition(":")
            if not colon or kind.lower() not in _SAN_KINDS or not san:
                raise CertificateMapError(f"ldap.certificate_map: {value!r} không hợp lệ / is not dns:HOST, "
                                          f"email:ADDRESS or uri:URI in {line!r}")
            found.append(Mapping(name.lower(), kind.lower(), san.lower()))
        else:
            raise CertificateMapError(f"ldap.certificate_map: {what!r} không hợp lệ / is not subject= or san= "
                                      f"in {line!r}")
    return found


@dataclass(frozen=True)
class Presented:
    """A verified client certificate: its subject (RFC 4514) and what maps it."""

    subject: str
    service: str | None


class ClientCertificates:
    """The LDAP listeners' TLS context (asking for client certificates when
    ``ldap.client_ca`` is set) and the mapping of a verified certificate to a service
    account, for one App."""

    def __init__(self, app: App) -> None:
        settings = app.settings.ldap
        self.mappings = parse(settings.certificate_map)
        self.asking = bool(settings.client_ca)
        self.context: ssl.SSLContext = app.tls.server
        if self.asking:
            try:
                self.context = app.tls.client_verifying(app.path(settings.client_ca))
            except (OSError, ssl.SSLError) as exc:
                raise CertificateMapError(f"ldap.client_ca: không đọc được / cannot be read: {exc}") from None

    def presented(self, ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> Presented | None:
        """The verified client certificate of a TLS connection, if it sent one."""
        if not self.asking or ssl_object is None:
            return None
        der = ssl_object.getpeercert(binary_form=True)
        if not der:
            return None
        certificate = x509.load_der_x509_certificate(der)
        return Presented(certificate.subject.rfc4514_string(), self.service_of(certificate))

    def service_of(self, certificate: x509.Certificate) -> str | None:
        """The service account the certificate maps to (the first line that matches)."""
        subject = certificate.subject.rfc4514_string()
        try:
            subject_key = repr(dn.key(subject))
        except dn.InvalidDN:
            subject_key = ""
        try:
            alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            alternative = None
        for mapping in self.mappings:
            if mapping.kind == "subject":
                if subject_key and mapping.value == subject_key:
                    return mapping.service
            elif alternative is not None:
                names = alternative.get_values_for_type(_SAN_KINDS[mapping.kind])
                if any(str(n).lower() == mapping.value for n in names):
                    return mapping.service
        return None

