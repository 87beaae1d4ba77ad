"""SMTP MTA Strict Transport Security (MTA-STS, RFC 8461): the policy we publish, and the
policies of the domains we deliver to.

**Ours** (section 3): ``policy_text`` is served at
``https://mta-sts.<domain>/.well-known/mta-sts.txt`` by the web listener (``web.py``;
the HTTPS certificate must name ``mta-sts.<domain>``), ``txt_record`` is the
``_mta-sts.<domain>`` TXT record ``congthu dns`` prints, with an ``id`` that changes
whenever the policy does; ``tlsrpt_record`` is the TLS reporting record (RFC 8460
section 3) naming where senders send their reports.

**Theirs** (section 5): before delivering to a domain, ``policy_for`` looks up its TXT
record; with one (exactly one ``v=STSv1`` record), the policy is fetched over HTTPS with
a verified certificate for ``mta-sts.<domain>``, no redirects (section 3.3), at most
``MAX_POLICY_BYTES``, and kept until its ``max_age`` runs out or the TXT record's ``id``
changes: in the database (``smtp_mta_sts_policies``), so a restart, another worker or
another node keeps honouring it (section 5.1: a policy is cached; an attacker who
blocks the policy host or the TXT record after a restart must not turn "enforce" off),
and in memory per App in front of it. A fetch that fails keeps a policy still cached;
with none, the domain has no policy (section 5.1). Expired rows are removed by
``purge_expired`` (the TLS report job). In "enforce" mode only MX hosts that match the policy's ``mx``
patterns are used, each with STARTTLS and a certificate valid for its name
(``client.py``); when none can be, the message waits in the queue (4.7.5). "testing"
delivers as before, and checks and reports what would have failed: the certificates of
the hosts the policy names, the hosts it does not name (``smtp.mta_sts_failure``, a
failure in the TLS report); "none" is no policy. The certificates are checked against the system's roots, plus
``smtp.ca_file`` when set (a province's own CA on the special-purpose network).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from congthu.log import event
from congthu.smtp import dns as smtpdns
from congthu.smtp.publichosts import checked_addresses
from congthu.smtp.tables import smtp_mta_sts_policies
from congthu.tls import client_context

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["MAX_POLICY_BYTES", "Policy", "parse_policy", "policy_for", "policy_text", "purge_expired",
           "tlsrpt_record", "txt_record", "verifying_context"]

MAX_POLICY_BYTES = 64 * 1024  # section 3.3: "senders SHOULD impose a limit" (64 KiB suggested)
FETCH_SECONDS = 60.0  # section 3.3: a timeout of one minute is suggested
MAX_AGE_LIMIT = 31_557_600  # section 3.2: at most one year
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_PATH = "/.well-known/mta-sts.txt"


@dataclass(frozen=True)
class Policy:
    mode: str  # "enforce", "testing", "none"
    mx: tuple[str, ...]
    max_age: int
    id: str = ""
    fetched_at: float = field(default=0.0, compare=False)

    def matches(self, host: str) -> bool:
        """Section 4.1: an MX host name matches a pattern exactly, or a "*.example.org"
        pattern by its leftmost label only."""
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            if pattern.startswith("*."):
                if "." in host and host.split(".", 1)[1] == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False

    def fresh(self, now: float) -> bool:
        return now < self.fetched_at + self.max_age

    def lines(self) -> list[str]:
        """The policy as the lines of its text (section 3.2; RFC 8460's policy-string)."""
        return ["version: STSv1", f"mode: {self.mode}", *(f"mx: {m}" for m in self.mx),
                f"max_age: {self.max_age}"]


def parse_policy(text: str) -> Policy | None:
    """Section 3.2: "key: value" lines (CRLF or LF); version STSv1, a mode, max_age, and
    an mx for each pattern (at least one unless the mode is "none"). None if invalid."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon:
            return None
        values.setdefault(key.strip().lower(), []).append(value.strip())
    if values.get("version") != ["STSv1"]:
        return None
    mode = (values.get("mode") or [""])[0]
    if mode not in ("enforce", "testing", "none"):
        return None
    try:
        max_age = int((values.get("max_age") or [""])[0])
    except ValueError:
        return None
    if not 0 <= max_age <= MAX_AGE_LIMIT:
        return None
    mx = tuple(m.lower().rstrip(".") for m in values.get("mx", []) if m)
    if not mx and mode != "none":
        return None
    return Policy(mode, mx, max_age)


# -- ours ----------------------------------------------------------------------------------


def policy_text(app: App) -> str:
    """The policy we publish (section 3.2), from ``smtp.mta_sts_*``."""
    settings = app.settings
    mx = settings.smtp.mta_sts_mx or [settings.system.hostname]
    lines = ["version: STSv1", f"mode: {settings.smtp.mta_sts_mode}", *(f"mx: {m}" for m in mx),
             f"max_age: {settings.smtp.mta_sts_max_age}"]
    return "\r\n".join(lines) + "\r\n"


def txt_record(app: App) -> str:
    """``_mta-sts.<domain>`` TXT (section 3.1); the id follows the policy's text."""
    digest = hashlib.sha256(policy_text(app).encode()).hexdigest()[:20]
    return f"v=STSv1; id={digest}"


def tlsrpt_record(app: App) -> str:
    """``_smtp._tls.<domain>`` TXT (RFC 8460 section 3): where TLS reports go."""
    settings = app.settings
    rua = settings.smtp.tlsrpt_rua or f"mailto:postmaster@{settings.system.domain}"
    return f"v=TLSRPTv1; rua={rua}"


# -- theirs --------------------------------------------------------------------------------


def verifying_context(app: App) -> ssl.SSLContext:
    """A context that checks certificates against the system's roots and ``smtp.ca_file``."""
    ca_file = app.settings.smtp.ca_file
    context = client_context(verify=True)
    if ca_file:
        context.load_verify_locations(cafile=str(app.path(ca_file)))
    return context


def _txt_id(records: list[str]) -> str | None:
    """Section 3.1: exactly one record starting "v=STSv1;", with a valid id."""
    found = [r for r in records if r.startswith("v=STSv1;") or r == "v=STSv1"]
    if len(found) != 1:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in found[0].split(";") if part.strip())
    policy_id = fields.get("id", "").strip()
    return policy_id if _ID.match(policy_id) else None


async def _fetch(app: App, domain: str) -> str:
    """GET the policy (section 3.3): HTTPS, a verified certificate for mta-sts.<domain>,
    status 200 only (no redirects), at most MAX_POLICY_BYTES. The recipient's domain
    names the host: only a public address is connected to, the one checked
    (``publichosts``; a refusal is an ``OSError`` like any failed fetch)."""
    host = f"mta-sts.{domain}"
    addresses = await checked_addresses(app, host)
    if not addresses:
        raise OSError(f"{host}: no address")
    port = app.settings.smtp.mta_sts_port
    async with asyncio.timeout(FETCH_SECONDS):
        reader, writer = await asyncio.open_connection(str(addresses[0]), port, ssl=verifying_context(app),
                                                       server_hostname=host)
        try:
            writer.write(f"GET {_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                         f"User-Agent: CongThu\r\n\r\n".encode("ascii"))
            await writer.drain()
            # Up to the end ("Connection: close"), never more than the limit and a header.
            limit = MAX_POLICY_BYTES + 16 * 1024
            response = bytearray()
            while len(response) <= limit:
                data = await reader.read(limit + 1 - len(response))
                if not data:
                    break
                response += data
            if len(response) > limit:
                raise OSError("policy too large")
        finally:
            writer.close()
    head, _sep, body = bytes(response).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise OSError(f"HTTP {status[1].decode('ascii', 'replace') if len(status) > 1 else '?'}")
    if b"chunked" in head.lower():
        body = _unchunk(body)
    if len(body) > MAX_POLICY_BYTES:
        raise OSError("policy too large")
    return body.decode("utf-8", "replace")


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _sep, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return bytes(out)


# -- the cache in the database (section 5.1) ------------------------------------------------


def _read_stored(conn: Connection, domain: str) -> Policy | None:
    row = conn.execute(select(smtp_mta_sts_policies).where(smtp_mta_sts_policies.c.domain == domain)).first()
    if row is None:
        return None
    fetched = row.fetched_at if row.fetched_at.tzinfo else row.fetched_at.replace(tzinfo=UTC)
    return Policy(row.mode, tuple(m for m in row.mx.split("\n") if m), row.max_age, row.policy_id,
                  fetched.timestamp())


def _store(conn: Connection, domain: str, policy: Policy) -> None:
    values = {"policy_id": policy.id, "mode": policy.mode, "mx": "\n".join(policy.mx), "max_age": policy.max_age,
              "fetched_at": datetime.fromtimestamp(policy.fetched_at, UTC)}
    table = smtp_mta_sts_policies
    if not conn.execute(update(table).where(table.c.domain == domain).values(**values)).rowcount:
        conn.execute(insert(table).values(domain=domain, **values))


def _purge(conn: Connection, now: datetime) -> int:
    table = smtp_mta_sts_policies
    rows = conn.execute(select(table.c.domain, table.c.fetched_at, table.c.max_age)).all()
    gone = [r.domain for r in rows
            if (r.fetched_at if r.fetched_at.tzinfo else r.fetched_at.replace(tzinfo=UTC)).timestamp() + r.max_age
            <= now.timestamp()]
    if gone:
        conn.execute(delete(table).where(table.c.domain.in_(gone)))
    return len(gone)


async def purge_expired(app: App) -> int:
    """Remove the stored policies whose max_age ran out; how many."""
    return int(await app.db.run_write(_purge, datetime.now(UTC)))


async def _cached(app: App, domain: str) -> Policy | None:
    """The policy kept for ``domain`` in memory, else in the database (read once per App
    and domain: afterwards memory follows every fetch of this App)."""
    cache = app.smtp.mta_sts
    if domain in cache:
        return cache[domain]
    if domain in app.smtp.mta_sts_loaded:
        return None
    stored = await app.db.run_small_read(_read_stored, domain)
    app.smtp.mta_sts_loaded.add(domain)
    if stored is not None:
        cache[domain] = stored
    return stored


async def policy_for(app: App, domain: str) -> Policy | None:
    """The MTA-STS policy of ``domain`` in force, or None (see the module's text)."""
    cache = app.smtp.mta_sts
    now = time.time()
    cached = await _cached(app, domain)
    try:
        policy_id = _txt_id(await smtpdns.txt(app, f"_mta-sts.{domain}"))
    except smtpdns.DNSTemporary:
        policy_id = cached.id if cached else None  # section 5.1: keep using a cached policy
    if policy_id is None:
        app.smtp.mta_sts_failures.pop(domain, None)
        return cached if cached is not None and cached.fresh(now) else None
    if cached is not None and cached.id == policy_id and cached.fresh(now):
        return cached
    try:
        fetched = parse_policy(await _fetch(app, domain))
        if fetched is None:
            raise ValueError("invalid policy")
    except (OSError, ssl.SSLError, TimeoutError, ValueError, UnicodeError) as exc:
        event("smtp.mta_sts_fetch_failed", domain=domain, error=str(exc)[:300] or type(exc).__name__)
        app.smtp.mta_sts_failures[domain] = ("sts-webpki-invalid" if isinstance(exc, ssl.SSLError)
                                             else "sts-policy-invalid" if isinstance(exc, ValueError)
                                             else "sts-policy-fetch-error")
        return cached if cached is not None and cached.fresh(now) else None
    app.smtp.mta_sts_failures.pop(domain, None)
    policy = Policy(fetched.mode, fetched.mx, fetched.max_age, policy_id, now)
    cache[domain] = policy
    await app.db.run_write(_store, domain, policy)
    event("smtp.mta_sts_policy", domain=domain, mode=policy.mode, mx=list(policy.mx), max_age=policy.max_age)
    return policy
