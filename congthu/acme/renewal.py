"""When the certificate is due, and getting a new one.

A certificate is due when there is none, when it does not cover every name asked for
(``tls.acme_names`` changed, or it is still the self-signed one ``congthu init``
wrote), or when two thirds of its lifetime have passed (Let's Encrypt's advice: a
90-day certificate is renewed 30 days before it expires, leaving time to retry).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509

from congthu.acme import client
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

RENEW_AT = 2 / 3  # of the lifetime


def current(app: App) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(app.path(app.settings.tls.cert).read_bytes())
    except (OSError, ValueError):
        return None


def _names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {n.lower() for n in san.get_values_for_type(x509.DNSName)}


def renew_after(cert: x509.Certificate) -> datetime:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * RENEW_AT


def due(app: App, now: datetime | None = None) -> str:
    """Why a certificate must be obtained now, or "" if the one on disk will do."""
    cert = current(app)
    if cert is None:
        return "no certificate"
    if cert.issuer == cert.subject:
        return "self-signed certificate"
    missing = set(client.names(app)) - _names(cert)
    if missing:
        return "names missing: " + ", ".join(sorted(missing))
    if (now or datetime.now(UTC)) >= renew_after(cert):
        return f"two thirds of its lifetime passed ({renew_after(cert):%Y-%m-%d %H:%M} UTC)"
    return ""


async def renew_if_due(app: App, *, now: datetime | None = None, force: bool = False) -> bool:
    """Obtain, install and load a certificate when due (or ``force``): True if it did.
    Raises ``client.ACMEError`` when the CA refuses."""
    if not app.settings.tls.acme_directory:
        return False
    reason = "forced" if force else due(app, now)
    if not reason:
        return False
    event("acme.order", names=",".join(client.names(app)), reason=reason)
    issued = await asyncio.to_thread(client.obtain, app)
    await asyncio.to_thread(client.install, app, issued)
    app.tls.reload()
    cert = current(app)
    event("acme.installed", serial=f"{cert.serial_number:x}" if cert else "",
          not_after=cert.not_valid_after_utc.isoformat() if cert else "")
    return True
