"""What clients are told: the public host and ports of each door (``[clients]``), and
the one check of an e-mail address a client sends us.

The ``[listen]`` ports are those the process binds (in development high ports on
loopback); clients are told the ``[clients]`` ports, the standard ones by default
(RFC 8314 section 3: implicit TLS first, STARTTLS after), on ``clients.host`` or else
``system.hostname``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from congthu.config.settings import Settings

# An address clients may ask about: a dot-atom local part (RFC 5322 section 3.4.1)
# restricted to what the naming rules (Điều 3) make, and one of our domains. Anything
# else (quotes, "<", "&", spaces, control characters) is refused before it reaches XML.
_LOCAL_PART = re.compile(r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*")
MAX_ADDRESS = 254  # RFC 5321 section 4.5.3.1.3 (path of 256 octets with the brackets)


class BadAddress(ValueError):
    """An address that is not well formed, or not in one of our domains."""


@dataclass(frozen=True)
class Door:
    """One way in, as a client must be told: protocol, port and TLS kind."""

    protocol: str  # "imap", "pop3", "smtp"
    port: int
    implicit_tls: bool  # True: TLS from the first byte (RFC 8314); False: STARTTLS/STLS


@dataclass(frozen=True)
class ClientServers:
    host: str
    doors: tuple[Door, ...]

    def of(self, protocol: str) -> list[Door]:
        """The doors of one protocol, implicit TLS first (RFC 8314 section 3)."""
        return sorted((d for d in self.doors if d.protocol == protocol), key=lambda d: not d.implicit_tls)


def client_servers(settings: Settings) -> ClientServers:
    c = settings.clients
    host = (c.host or settings.system.hostname).rstrip(".").lower()
    doors = [
        Door("imap", c.imaps, True), Door("imap", c.imap, False),
        Door("pop3", c.pop3s, True), Door("pop3", c.pop3, False),
        Door("smtp", c.submissions, True), Door("smtp", c.submission, False),
    ]
    return ClientServers(host, tuple(d for d in doors if d.port))


def check_address(settings: Settings, address: str) -> str:
    """The address in lower case if it is well formed and in one of our domains, else
    ``BadAddress`` (with a Vietnamese and English text)."""
    address = address.strip()
    if not address or len(address) > MAX_ADDRESS or address.count("@") != 1:
        raise BadAddress("Địa chỉ thư không hợp lệ / invalid e-mail address")
    local, domain = address.rsplit("@", 1)
    if not _LOCAL_PART.fullmatch(local) or len(local) > 64:
        raise BadAddress("Địa chỉ thư không hợp lệ / invalid e-mail address")
    if domain.lower() not in settings.local_domains:
        raise BadAddress("Tên miền không thuộc hệ thống này / not a domain of this system")
    return address.lower()
