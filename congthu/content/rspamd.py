"""A client of rspamd (Điều 9.9: anti-spam), over rspamd's HTTP protocol.

* ``check``: ``POST /checkv2`` on the normal worker with the message as body and what
  the MTA knows as request headers (rspamd's protocol, "Rspamd protocol" in its
  documentation): ``IP``, ``Helo``, ``From`` (envelope sender), one ``Rcpt`` per
  recipient, ``User`` (the authenticated user: rspamd then treats the mail as outbound),
  ``Queue-Id``, ``Hostname``. Our own SPF, DKIM and DMARC results (RFC 7208, 6376, 7489)
  go in ``X-CongThu-SPF``, ``X-CongThu-DKIM``, ``X-CongThu-DMARC``, which the rule
  ``congthu/content/data/rspamd.local.lua`` turns into symbols, so rspamd need not
  repeat those DNS lookups. The answer is JSON: the action (``no action``, ``greylist``,
  ``add header``, ``rewrite subject``, ``soft reject``, ``reject``), the score, the
  symbols.
* ``learn``: ``POST /learnspam`` or ``/learnham`` on the controller (rspamd's Bayes),
  with ``Deliver-To`` the user whose mailbox taught it (per-user statistics).

One request per connection (``Connection: close``); bounded answers; every call has a
deadline and raises ``ScannerUnavailable`` rather than hang.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from congthu.content.errors import ScannerUnavailable

__all__ = ["SpamCheck", "check", "learn"]

# Bytes of an answer read at most (symbols and their options).
_MAX_ANSWER = 4 * 1024 * 1024


@dataclass(frozen=True)
class SpamCheck:
    """rspamd's verdict on one message."""

    action: str
    score: float
    required_score: float
    symbols: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def header(self) -> bytes:
        """X-Spam-Score and X-Spam-Symbols fields for the delivered copy (ASCII)."""
        names = ",".join(sorted(self.symbols))[:900]
        return (f"X-Spam-Score: {self.score:.2f} / {self.required_score:.2f}\r\n"
                f"X-Spam-Action: {self.action}\r\n"
                f"X-Spam-Symbols: {names}\r\n").encode("ascii", "replace")


def _clean(value: str) -> str:
    """Header values without CR/LF, in ASCII where rspamd expects it."""
    return value.replace("\r", " ").replace("\n", " ")[:1000]


async def _post(url: str, path: str, body: bytes, headers: list[tuple[str, str]], seconds: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ScannerUnavailable(f"invalid rspamd URL {url!r} (http://host:port)")
    host, port = parts.hostname, parts.port or 80

    async def run() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                     f"Content-Length: {len(body)}", *(f"{k}: {_clean(v)}" for k, v in headers)]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, _, rest = head.decode("latin-1").partition("\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in
                      (line.partition(":") for line in rest.split("\r\n") if line)}
            status = int(status_line.split()[1])
            if "content-length" in fields:
                length = int(fields["content-length"])
                if length > _MAX_ANSWER:
                    raise ScannerUnavailable("rspamd answer too large")
                answer = await reader.readexactly(length)
            else:
                answer = await reader.read(_MAX_ANSWER)
            return status, answer
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    try:
        return await asyncio.wait_for(run(), seconds)
    except TimeoutError as exc:
        raise ScannerUnavailable(f"rspamd did not answer in {seconds:g} s") from exc
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise ScannerUnavailable(f"rspamd unreachable at {url}: {exc}") from exc


async def check(url: str, raw: bytes, *, seconds: float, ip: str = "", helo: str = "", mail_from: str = "",
                recipients: Iterable[str] = (), user: str = "", queue_id: str = "", hostname: str = "",
                auth: dict[str, str] | None = None) -> SpamCheck:
    """rspamd's verdict on ``raw``; ``auth`` maps "spf", "dkim", "dmarc" to our results."""
    headers: list[tuple[str, str]] = []
    for name, value in (("IP", ip), ("Helo", helo), ("From", mail_from), ("User", user),
                        ("Queue-Id", queue_id), ("MTA-Name", hostname)):
        if value:
            headers.append((name, value))
    headers += [("Rcpt", r) for r in recipients]
    for method, result in (auth or {}).items():
        headers.append((f"X-CongThu-{method.upper()}", result))
    status, answer = await _post(url, "/checkv2", raw, headers, seconds)
    if status != 200:
        raise ScannerUnavailable(f"rspamd answered HTTP {status}: {answer[:200]!r}")
    try:
        data: dict[str, Any] = json.loads(answer)
        symbols = {str(k): float(v.get("score", 0.0)) for k, v in (data.get("symbols") or {}).items()}
        messages = data.get("messages") or {}
        return SpamCheck(str(data["action"]), float(data.get("score", 0.0)),
                         float(data.get("required_score", 0.0)), symbols,
                         str(messages.get("smtp_message", "")) if isinstance(messages, dict) else "")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScannerUnavailable(f"rspamd answer not understood: {exc}") from exc


async def learn(controller: str, raw: bytes, spam: bool, *, user: str = "", password: str = "",
                seconds: float = 30.0) -> bool:
    """Teach rspamd's Bayes that ``raw`` is spam (or ham); True when it learnt it (an
    already-learnt message answers 208 or an error, which is not a failure of ours)."""
    headers: list[tuple[str, str]] = []
    if user:
        headers.append(("Deliver-To", user))
    if password:
        headers.append(("Password", password))
    status, _answer = await _post(controller, "/learnspam" if spam else "/learnham", raw, headers, seconds)
    return status == 200
