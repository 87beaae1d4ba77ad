"""DKIM signing of outgoing mail (RFC 6376, relaxed/relaxed, rsa-sha256) with the key
``congthu init`` writes at ``smtp.dkim_key``, and the DNS record that publishes it
(``<selector>._domainkey.<domain> TXT "v=DKIM1; k=rsa; p=..."``)."""

from __future__ import annotations

import asyncio
import base64
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import dkim
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from congthu.app import App


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> tuple[bytes, str]:
    """(PKCS#1 PEM for dkimpy, base64 SubjectPublicKeyInfo for DNS)."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    pkcs1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return pkcs1, base64.b64encode(public).decode("ascii")


def _key(app: App) -> tuple[bytes, str] | None:
    path = app.path(app.settings.smtp.dkim_key)
    try:
        return _load(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return None


def dns_record(app: App) -> str | None:
    """The TXT record value publishing the public key, or None without a key."""
    key = _key(app)
    if key is None:
        return None
    return f"v=DKIM1; k=rsa; p={key[1]}"


def _sign(raw: bytes, selector: str, domain: str, private: bytes) -> bytes:
    return bytes(dkim.sign(raw, selector.encode(), domain.encode(), private,
                           canonicalize=(b"relaxed", b"relaxed")))


async def sign(app: App, raw: bytes, domain: str | None = None) -> bytes:
    """``raw`` with a DKIM-Signature for ``domain`` (default: system.domain) prepended;
    ``raw`` unchanged if there is no key or signing fails (the mail still goes out,
    unsigned, rather than not at all)."""
    key = _key(app)
    if key is None:
        return raw
    try:
        header = await asyncio.to_thread(_sign, raw, app.settings.smtp.dkim_selector,
                                         domain or app.settings.system.domain, key[0])
    except Exception:
        return raw
    if not header.endswith(b"\r\n"):
        header = header.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return header + raw
