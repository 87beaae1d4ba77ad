"""A TLS report POSTed to an ``https:`` URI (RFC 8460 section 5.4), with guards against
server-side request forgery: the URI comes from another domain's DNS (its
``_smtp._tls`` record), so whoever runs that zone chooses where our server connects.

The guards, in order (``post``):

* **https only**, with a host name or address, no user information, no fragment;
* **the address is checked, then pinned** (``publichosts.py``): the host name is
  resolved once and refused when any of its addresses is not a public unicast address
  or is in ``smtp.https_deny``; the connection is made to a checked address, never to
  the name again;
* **the certificate** is verified against the host name (system roots and
  ``smtp.ca_file``, as for MTA-STS);
* **no redirects**: a 3xx answer is a failure, its Location is not followed;
* **bounded**: ``CONNECT_SECONDS`` for the connection and TLS, ``smtp.tlsrpt_https_timeout``
  for everything, at most ``MAX_RESPONSE_HEAD`` bytes of the answer read (its status
  line and fields; the body is not read).

A "successful" (2xx) answer is a delivered report (section 5.4). Reports are optional
(section 5.5): each report is posted once, and the outcome logged and audited by the
caller (``tlsreports.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import dns.exception

from congthu.smtp import dns as smtpdns
from congthu.smtp import mtasts
from congthu.smtp.publichosts import IPAddress, Refused, checked_addresses

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["CONNECT_SECONDS", "MAX_RESPONSE_HEAD", "PostResult", "post"]

CONNECT_SECONDS = 10.0
MAX_RESPONSE_HEAD = 16 * 1024

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}$")  # host names (RFC 1123 section 2.1), after IDNA
_URI_SAFE = "/%:@!$&'()*+,;=-._~?"  # RFC 3986 reserved and unreserved characters, and "%"


@dataclass(frozen=True)
class PostResult:
    """What became of one POST: ``outcome`` "posted" (2xx), "refused" (a guard: no
    connection was made) or "failed" (connection, TLS, timeout, a non-2xx answer);
    ``detail`` says why, or the HTTP status of a posted report."""

    uri: str
    outcome: str
    detail: str
    address: str = ""


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _exchange(app: App, address: str, port: int, host: str, request: bytes) -> bytes:
    """Connect to the pinned ``address`` (TLS verified for ``host``), send ``request``,
    read the answer's head (bounded)."""
    context = mtasts.verifying_context(app)
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            reader, writer = await asyncio.open_connection(address, port, ssl=context, server_hostname=host)
    except TimeoutError:
        raise OSError(f"no connection within {CONNECT_SECONDS:g} s") from None
    try:
        writer.write(request)
        await writer.drain()
        head = bytearray()
        while b"\r\n\r\n" not in head:
            if len(head) >= MAX_RESPONSE_HEAD:
                raise OSError(f"response head larger than {MAX_RESPONSE_HEAD} bytes")
            data = await reader.read(MAX_RESPONSE_HEAD - len(head))
            if not data:
                break
            head += data
        return bytes(head)
    finally:
        writer.close()


async def post(app: App, uri: str, body: bytes, content_type: str = "application/tlsrpt+gzip") -> PostResult:
    """POST ``body`` to ``uri`` behind the guards of the module's text. Never raises."""
    settings = app.settings.smtp
    try:
        parts = urlsplit(uri)
        port = parts.port or 443
    except ValueError as exc:
        return PostResult(uri, "refused", f"invalid URI: {exc}")
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme.lower() != "https":
        return PostResult(uri, "refused", "not an https URI")
    if not host or parts.username is not None or parts.password is not None:
        return PostResult(uri, "refused", "no host, or user information in the URI")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        host = ""
    if _literal(host) is None and not _HOST.match(host):
        return PostResult(uri, "refused", "invalid host name")
    try:
        found = await checked_addresses(app, host)
    except Refused as exc:
        return PostResult(uri, "refused", str(exc))
    except (smtpdns.DNSTemporary, dns.exception.DNSException, ValueError) as exc:
        return PostResult(uri, "failed", f"DNS: {exc}")
    if not found:
        return PostResult(uri, "failed", f"{host}: no address")
    target = str(found[0])
    # Only the characters of RFC 3986 section 2 go on the request line: no space, no CR LF.
    path = quote(parts.path or "/", safe=_URI_SAFE) + (f"?{quote(parts.query, safe=_URI_SAFE)}" if parts.query else "")
    named = f"[{host}]" if ":" in host else host  # an IPv6 literal in brackets (RFC 3986)
    host_field = named if port == 443 else f"{named}:{port}"
    request = (f"POST {path} HTTP/1.1\r\nHost: {host_field}\r\nContent-Type: {content_type}\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\nUser-Agent: CongThu\r\n\r\n"
               ).encode("ascii") + body
    try:
        async with asyncio.timeout(settings.tlsrpt_https_timeout):
            head = await _exchange(app, target, port, host, request)
    except TimeoutError:
        return PostResult(uri, "failed", f"no answer within {settings.tlsrpt_https_timeout:g} s", target)
    except (OSError, ssl.SSLError, UnicodeError) as exc:
        return PostResult(uri, "failed", str(exc)[:300] or type(exc).__name__, target)
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = status_line.split()
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        return PostResult(uri, "failed", f"not an HTTP answer: {status_line[:100]!r}", target)
    status = int(fields[1])
    if 200 <= status < 300:
        return PostResult(uri, "posted", f"HTTP {status}", target)
    if 300 <= status < 400:
        return PostResult(uri, "failed", f"HTTP {status}: redirect not followed", target)
    return PostResult(uri, "failed", f"HTTP {status}", target)
