"""EHLO and HELO (RFC 5321 section 4.1.1.1): the greeting and the extensions offered.

EHLO lists SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), STARTTLS (RFC
3207) from aiosmtpd, then DSN (RFC 3461, on every door: ``dsn.py``), PIPELINING (RFC
2920), ENHANCEDSTATUSCODES (RFC 2034) and CHUNKING (RFC 3030); AUTH (RFC 4954) only on the submission doors, with PLAIN and LOGIN
only over TLS (or development loopback), and nothing before STARTTLS on 587 (RFC 3207:
AUTH is refused until then). The MX offers no AUTH.
"""

from __future__ import annotations

from aiosmtpd.smtp import SMTP, syntax

from congthu.accounts import sasl
from congthu.smtp.session import CTEnvelope, CTSession, SMTPSession

__all__ = ["handle_EHLO", "smtp_EHLO", "smtp_HELO"]


@syntax("EHLO hostname")
async def smtp_EHLO(self: SMTPSession, hostname: str) -> None:
    self.in_ehlo = True  # the extension lines are sent as aiosmtpd builds them
    try:
        await SMTP.smtp_EHLO(self, hostname)
    finally:
        self.in_ehlo = False


smtp_HELO = SMTP.smtp_HELO


async def handle_EHLO(server: SMTPSession, session: CTSession, envelope: CTEnvelope,
                      hostname: str, responses: list[str]) -> list[str]:
    """aiosmtpd's EHLO hook: the extension lines of this door."""
    session.host_name = hostname
    lines = [r for r in responses if r != "250 HELP" and not r.startswith("250-AUTH")]
    accounts = server.app.accounts
    if (server.door == "submission" and not session.authenticated
            and (session.secure or accounts.plaintext_allowed(False, session.peer_ip))):
        secure = accounts.plaintext_allowed(session.secure, session.peer_ip)
        lines.append("250-AUTH " + " ".join(sasl.mechanisms(secure=secure)))
    lines += ["250-DSN", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 CHUNKING"]
    return lines
