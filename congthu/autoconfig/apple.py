"""Apple's configuration profile for Mail on iPhone, iPad and Mac (a ``.mobileconfig``:
a property list with one ``com.apple.mail.managed`` payload, Apple's "Configuration
Profile Reference"), signed with the server's TLS certificate so the device shows it as
verified.

The profile carries no password: the device asks for it when the profile is installed.
Its identifiers are derived from the address, so downloading it again replaces the
installed profile instead of adding a second account. The signature is a CMS
SignedData (PKCS #7, RFC 5652) over the property list, with the certificate chain of
``tls.cert`` and the key of ``tls.key``.
"""

from __future__ import annotations

import plistlib
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from congthu.autoconfig.servers import ClientServers
from congthu.config.settings import Settings

_NAMESPACE = uuid.UUID("8c0c9f0e-4a7e-4d35-9d0c-636f6e677468")  # fixed: stable profile UUIDs


def profile(settings: Settings, servers: ClientServers, address: str) -> bytes:
    """The unsigned property list (XML) for ``address`` (already checked)."""
    imap, smtp = servers.of("imap"), servers.of("smtp")
    if not imap or not smtp:
        raise ValueError("no IMAP or no submission port offered in [clients]")
    domain = address.rsplit("@", 1)[1]
    reverse = ".".join(reversed(servers.host.split(".")))
    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.congthu.mail.{address}",
        "PayloadUUID": str(uuid.uuid5(_NAMESPACE, "mail:" + address)).upper(),
        "PayloadDisplayName": address,
        "EmailAccountDescription": address,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerHostName": servers.host,
        "IncomingMailServerPortNumber": imap[0].port,
        "IncomingMailServerUseSSL": imap[0].implicit_tls,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": servers.host,
        "OutgoingMailServerPortNumber": smtp[0].port,
        "OutgoingMailServerUseSSL": smtp[0].implicit_tls,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    document = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.congthu.{address}",
        "PayloadUUID": str(uuid.uuid5(_NAMESPACE, "profile:" + address)).upper(),
        "PayloadDisplayName": f"Thư công vụ {domain} / official mail",
        "PayloadDescription": f"Tài khoản thư {address} / mail account {address}",
        "PayloadOrganization": settings.system.operator,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [account],
    }
    return plistlib.dumps(document, fmt=plistlib.FMT_XML)


def sign(data: bytes, cert_path: Path, key_path: Path) -> bytes:
    """``data`` wrapped in a DER CMS SignedData by the server's certificate (and the
    chain after it in the PEM file, so the device can build the path)."""
    chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("tls.key must be an RSA or EC key to sign profiles")
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(chain[0], key, hashes.SHA256())
    for extra in chain[1:]:
        builder = builder.add_certificate(extra)
    return builder.sign(serialization.Encoding.DER, [])
