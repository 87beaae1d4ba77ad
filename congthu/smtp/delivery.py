"""Local delivery: the trace fields added on the way in, the store, quota warnings.

* Return-Path (RFC 5321 section 4.4): the envelope sender, added at final delivery.
* Received (RFC 5321 section 4.4, with-protocol values of RFC 3848 and RFC 6531).
* Authentication-Results (RFC 8601) for mail from outside; fields claiming our own
  authserv-id that arrive with the message are removed first (section 5), so nobody can
  forge our verdict.
* ``app.store.deliver`` returns when the message is durable; only then is 250 sent.
* Điều 8.1: a mail to the owner when usage crosses ``limits.quota_warning_percent``,
  once per crossing (``store.set_quota_warned``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures.process
import email.utils
import functools
import re
import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import TYPE_CHECKING

from congthu import metrics, mime
from congthu.log import event
from congthu.store import DeliveryResult

if TYPE_CHECKING:
    from congthu.app import App

_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_:\[\]]")


def new_id() -> str:
    return secrets.token_hex(8).upper()


def _safe(value: str, limit: int = 120) -> str:
    return _UNSAFE.sub("?", value)[:limit] or "unknown"


def received(app: App, *, helo: str, ip: str, protocol: str, tls: str = "", for_addr: str = "",
             queue_id: str = "", when: datetime | None = None) -> bytes:
    """A Received field (RFC 5321 section 4.4) ending in CRLF."""
    ip_literal = f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
    parts = [f"Received: from {_safe(helo)} ({ip_literal})",
             f"\tby {_safe(app.settings.system.hostname)} (Cong Thu) with {protocol}"]
    if tls:
        parts[-1] += f" {tls}"
    parts[-1] += f" id {queue_id or new_id()}"
    if for_addr and for_addr.isascii() and "\r" not in for_addr and "\n" not in for_addr:
        parts.append(f"\tfor <{for_addr}>")
    stamp = email.utils.format_datetime(when) if when is not None else _stamp_now()
    parts[-1] += f"; {stamp}"
    return ("\r\n".join(parts) + "\r\n").encode("ascii", "replace")


def _stamp_now() -> str:
    """Now as RFC 5322 date-time in local time, made once per second of the clock: a
    busy MX stamps many messages a second, and ``astimezone`` and the formatting cost
    more than the rest of the field."""
    return _stamp_at(int(time.time()))


@functools.lru_cache(maxsize=1)  # the second last asked for
def _stamp_at(second: int) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(second).astimezone())


def with_protocol(*, esmtp: bool, secure: bool, authenticated: bool, utf8: bool) -> str:
    """RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 (UTF8SMTP...)."""
    if not esmtp:
        return "SMTP"
    base = "UTF8SMTP" if utf8 else "ESMTP"
    return base + ("S" if secure else "") + ("A" if authenticated else "")


def return_path(sender: str) -> bytes:
    return b"Return-Path: <" + sender.encode("utf-8") + b">\r\n"


_AR = re.compile(rb"^Authentication-Results:[ \t]*([^;\r\n]*)", re.IGNORECASE)


def strip_authres(raw: bytes, authserv_id: str) -> bytes:
    """Remove Authentication-Results fields with our authserv-id from the header."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = len(raw)
    head = raw[:end + 2]
    if b"uthentication-" not in head and b"UTHENTICATION-" not in head:
        return raw
    ours = authserv_id.lower().encode()
    lines = head.split(b"\r\n")
    kept: list[bytes] = []
    skipping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        match = _AR.match(line)
        skipping = bool(match and match.group(1).strip().lower() == ours)
        if not skipping:
            kept.append(line)
    return b"\r\n".join(kept) + raw[end + 2:]


# Below this size a message is parsed on the event loop: that takes about 1 ms per
# 10 KB, less than a hop to a worker thread and back (which also waits for the GIL).
INLINE_ANALYSIS = 32 * 1024
# From this size on a message with 8-bit bytes is parsed in a separate process: checking
# and decoding its charsets is most of the analysis (5-7 ms of CPU per MB of Vietnamese
# UTF-8), which would hold the interpreter lock the sessions and the store need. An
# all-ASCII message is parsed in a worker thread: mostly attachments in base64 or 7-bit
# text, whose analysis (1.2-1.7 ms a MB) costs less than the hop to the process and back
# (the message pickled and piped there, ~2 ms of CPU a MB on the two sides); a large
# text part in base64 or quoted-printable is decoded and checked as 8-bit text would be,
# on the lock (docs/benchmarks.md, issue 13).
PROCESS_ANALYSIS = 256 * 1024


async def analyse(app: App, raw: bytes, processes: int = 1) -> mime.Analysis:
    """``mime.analyse`` (it parses the whole message): inline for a small message, in a
    worker process of the App's pool (``app.smtp``) for a large one with 8-bit bytes
    (``processes`` of them, 0: none), in a worker thread otherwise."""
    if len(raw) <= INLINE_ANALYSIS:
        return mime.analyse(raw)
    if len(raw) >= PROCESS_ANALYSIS and processes > 0 and not raw.isascii():
        try:
            pool = app.smtp.analysis_pool(processes)
            return await asyncio.get_running_loop().run_in_executor(pool, mime.analyse, raw)
        except concurrent.futures.process.BrokenProcessPool:
            app.smtp.drop_analysis_pool()
    return await asyncio.to_thread(mime.analyse, raw)


async def deliver(app: App, raw: bytes, mailbox_ids: Sequence[int], *, analysis: mime.Analysis | None = None,
                  folder: str = "INBOX", path: str = "smtp",
                  usage: dict[int, tuple[int, int]] | None = None) -> list[DeliveryResult]:
    """Store ``raw`` (trace fields already added) in each mailbox's ``folder``; durable
    when this returns. Warns owners whose mailbox crossed the warning level.

    ``usage``: (used bytes after this delivery, quota) per mailbox as far as the caller
    knows; mailboxes clearly below the warning level are then not looked up again."""
    results = await app.store.deliver(raw, list(mailbox_ids), folder=folder, analysis=analysis)
    delivered = [r.mailbox_id for r in results if r.ok]
    if delivered:
        metrics.deliveries.labels(path).inc(len(delivered))
        await check_quota_warnings(app, delivered, usage)
    return results


# -- Điều 8.1 quota warnings ---------------------------------------------------------------

async def check_quota_warnings(app: App, mailbox_ids: Sequence[int],
                               usage: dict[int, tuple[int, int]] | None = None) -> None:
    """Warn each owner whose usage is at or above the warning level, once per crossing;
    re-arm the warning when usage is below it again."""
    percent = app.settings.limits.quota_warning_percent
    if not percent:
        return
    known = app.smtp.quota_warned
    for mailbox_id in mailbox_ids:
        hint = (usage or {}).get(mailbox_id)
        if hint is not None and known.get(mailbox_id) is False and hint[0] * 100 < hint[1] * (percent - 5):
            continue  # well below the level and already re-armed: nothing to do
        mailbox = await app.store.get_mailbox_by_id(mailbox_id)
        if mailbox is None or mailbox.quota_bytes <= 0:
            continue
        above = mailbox.used_bytes * 100 >= mailbox.quota_bytes * percent
        if above:
            if known.get(mailbox_id) is True:
                continue
            changed = await app.store.set_quota_warned(mailbox_id, True)
            known[mailbox_id] = True
            if changed:
                await _send_warning(app, mailbox.address, mailbox_id, mailbox.used_bytes, mailbox.quota_bytes)
        elif known.get(mailbox_id) is not False:
            # The row read just now says whether there is a mark to clear: the first
            # delivery to each mailbox in a process writes only when it was warned.
            if mailbox.quota_warned:
                await app.store.set_quota_warned(mailbox_id, False)
            known[mailbox_id] = False


async def _send_warning(app: App, address: str, mailbox_id: int, used: int, quota: int) -> None:
    domain = app.settings.system.domain
    pct = used * 100 // quota
    used_mb, quota_mb = used / 1048576, quota / 1048576
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = email.utils.formataddr(("Hệ thống thư điện tử / Mail system", f"postmaster@{domain}"))
    msg["To"] = address
    msg["Subject"] = f"Hộp thư sắp đầy ({pct}%) / Mailbox almost full ({pct}%)"
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        f"Hộp thư {address} đã dùng {pct}% dung lượng ({used_mb:.1f} MB / {quota_mb:.0f} MB, "
        "Điều 8.1 Quy chế).\n"
        "Khi hộp thư đầy, thư gửi đến sẽ bị từ chối. Hãy xóa bớt thư cũ hoặc lưu về máy.\n\n"
        f"Your mailbox {address} is {pct}% full ({used_mb:.1f} MB of {quota_mb:.0f} MB).\n"
        "When it is full, incoming mail is refused. Please delete or archive old mail.\n",
        charset="utf-8", cte="base64",
    )
    raw = msg.as_bytes()
    try:
        await app.store.deliver(raw, [mailbox_id])
        event("smtp.quota_warning", mailbox=address, percent=pct)
    except Exception as exc:  # the warning must never fail the delivery that caused it
        event("smtp.quota_warning_failed", mailbox=address, error=str(exc))
