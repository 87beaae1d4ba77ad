"""TLS for every protocol: a self-signed certificate written by ``congthu init`` (with
``cryptography``), replaced by a configured certificate, reloaded on SIGHUP.

One ``TLSContexts`` object is shared by all listeners; ``reload()`` loads the files into
the same ``ssl.SSLContext`` objects, so new connections use the new certificate while
open ones go on. ``reload_if_changed()`` is called by every worker process every minute
(``congthu/acme/jobs.py``), so a certificate replaced on disk (renewed by ACME in one
process, or copied in by the operator) is served by every protocol of every worker
without a restart or a signal.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path


def write_self_signed(cert_path: Path, key_path: Path, host_names: list[str], days: int = 825) -> None:
    """Write a self-signed ECDSA P-256 certificate for the host names (and loopback)."""
    # cryptography is imported here, for start-up time: only `congthu init` writes a
    # certificate, and every other process (each `congthu` command) would pay its import.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, host_names[0]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Công Thư"),
    ])
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in host_names]
    sans += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class TLSContexts:
    def __init__(self, cert_path: Path, key_path: Path) -> None:
        self.cert_path, self.key_path = cert_path, key_path
        self.server = _server_context()
        # Server contexts that also ask for a client certificate, by CA file (LDAP's SASL
        # EXTERNAL): the same certificate, reloaded with the others.
        self.verifying: dict[Path, ssl.SSLContext] = {}
        self.available = False
        self.loaded: tuple[tuple[int, int, int], ...] = ()
        self.reload()

    def reload(self) -> None:
        """Load the certificate and key again (SIGHUP). Keeps the old pair on error."""
        if not (self.cert_path.exists() and self.key_path.exists()):
            return
        stamp = self._stamp()
        for context in (self.server, *self.verifying.values()):
            context.load_cert_chain(self.cert_path, self.key_path)
        self.loaded = stamp
        self.available = True

    def client_verifying(self, ca_file: Path) -> ssl.SSLContext:
        """A server context that asks for a client certificate and, when one is sent,
        verifies it against the CAs of ``ca_file`` (a client without one goes on; one
        that does not verify fails the handshake). OSError or ssl.SSLError if the CA file
        cannot be read."""
        context = self.verifying.get(ca_file)
        if context is None:
            context = _server_context()
            context.load_verify_locations(cafile=str(ca_file))
            context.verify_mode = ssl.CERT_OPTIONAL
            if self.available:
                context.load_cert_chain(self.cert_path, self.key_path)
            self.verifying[ca_file] = context
        return context

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        """What identifies the files' contents: inode, size, modification time."""
        out = []
        for path in (self.cert_path, self.key_path):
            try:
                info = path.stat()
            except FileNotFoundError:
                return ()
            out.append((info.st_ino, info.st_size, info.st_mtime_ns))
        return tuple(out)

    def reload_if_changed(self) -> bool:
        """Reload when the files were replaced since the last load (a renewed ACME
        certificate, written by another process): True if it did. A pair that does not
        load (half written, key and certificate not matching) keeps the old one and is
        tried again next time."""
        stamp = self._stamp()
        if not stamp or stamp == self.loaded:
            return False
        self.reload()
        return True


def _server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def client_context(verify: bool = True, cafile: Path | None = None) -> ssl.SSLContext:
    """A client context for outbound SMTP and tests (verify=False for opportunistic TLS)."""
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
