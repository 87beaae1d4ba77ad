"""DNS for mail: MX resolution (RFC 5321 section 5.1, RFC 7505 null MX), TXT records for
SPF, DKIM and DMARC, all through dnspython resolvers built from ``smtp.dns_servers``
(empty: /etc/resolv.conf), so tests and air-gapped networks can point them anywhere.

With ``smtp.dane`` on, every query asks for the AD bit (RFC 6840 section 5.7), so a
validating resolver says which answers DNSSEC authenticated (``mx_hosts``' second value,
``dane.py``); both resolvers ask alike, since they share one cache.

pyspf and dkimpy make their lookups synchronously from a worker thread: ``sync_txt`` and
``spf_lookup`` serve them with the same configured servers. An SPF check whose every
lookup is answered from the cache (a sender domain seen lately) runs on the event loop
instead (``from_cache``): a lookup that is not there stops it, and it runs again in a
thread, so the loop never waits for the network. Its result is kept with the answers it
read (``from_cache_seen``), and the next check of the same client, sender and HELO takes
it while the cache still holds those very answers (``unchanged``, ``authres.check_spf``).

Answers are cached (one thread-safe cache per App, on ``app.smtp``, shared by both
resolvers) for their
TTL (RFC 1035 section 7.4; negative answers for the SOA minimum, RFC 2308 section 5, or
5 minutes, dnspython's choice, when a server sends no SOA): a busy MX sees the same
sender domains again and again, and asking the network again for each message's SPF
record, DKIM key and DMARC record cost more than the rest of the checks.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import spf

if TYPE_CHECKING:
    from congthu.app import App
    from congthu.config import Settings


T = TypeVar("T")


class DNSTemporary(Exception):
    """A lookup that may work later (timeout, SERVFAIL)."""


class DNSPermanent(Exception):
    """A lookup that will not work later (no such domain, null MX)."""


@dataclass
class Resolvers:
    asynchronous: dns.asyncresolver.Resolver
    synchronous: dns.resolver.Resolver


def _nameservers(servers: list[str]) -> list[dns.nameserver.Nameserver]:
    result: list[dns.nameserver.Nameserver] = []
    for spec in servers:
        host, port = spec, 53
        if spec.startswith("["):  # [ipv6]:port
            host, _, rest = spec[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif spec.count(":") == 1:
            host, _, p = spec.partition(":")
            port = int(p)
        result.append(dns.nameserver.Do53Nameserver(host, port))
    return result


CACHE_ENTRIES = 10_000


class CountedCache(dns.resolver.LRUCache):  # type: ignore[misc]
    """dnspython's LRU cache (it honours TTLs and has its own lock) that counts what is
    put in or flushed from it (``generation``): while the count stands, no look-up can
    find an answer other than the one it found before, but for one whose TTL ran out
    (``Reading``). The count goes up, under the lock, before the change is made, so a
    reader that saw the old count saw the cache as it was."""

    def __init__(self, max_size: int) -> None:
        super().__init__(max_size)
        self.generation = 0

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.generation += 1
        super().put(key, value)

    def flush(self, key: Any = None) -> None:
        with self.lock:
            self.generation += 1
        super().flush(key)


def make_resolvers(settings: Settings, timeout: float = 10.0) -> Resolvers:
    servers = settings.smtp.dns_servers
    pair = Resolvers(dns.asyncresolver.Resolver(configure=not servers),
                     dns.resolver.Resolver(configure=not servers))
    cache = CountedCache(CACHE_ENTRIES)
    for r in (pair.asynchronous, pair.synchronous):
        r.cache = cache
        if servers:
            r.nameservers = _nameservers(servers)
        r.lifetime = timeout
        r.timeout = min(timeout, 3.0)
        if settings.smtp.dane:
            r.flags = dns.flags.RD | dns.flags.AD
    return pair


def resolvers(app: App) -> Resolvers:
    """The app's resolvers (built once per App, kept on its ``SMTPRuntime``)."""
    runtime = app.smtp
    if runtime.resolvers is None:
        runtime.resolvers = make_resolvers(app.settings)
    return runtime.resolvers


async def txt(app: App, name: str, seen: list[Seen] | None = None) -> list[str]:
    """TXT records of ``name`` (each the concatenation of its strings); [] if none.
    Raises DNSTemporary on timeouts and server failures. ``seen``: what was read in the
    cache is added to it (``unchanged``), and an answer from the network as never the
    cache's (a result made from it is not kept: the cache may not hold that answer)."""
    resolver = resolvers(app).asynchronous
    # An answer in the cache (DMARC's record of a sender domain seen lately) is read
    # from it here: the resolver's own way there costs twice as much.
    kept = cached_records(resolver, name, "TXT", seen)
    if kept is not None:
        return [b"".join(r.strings).decode("utf-8", "replace") for r in kept]
    if seen is not None:
        seen.append(((dns.name.root, dns.rdatatype.TXT, dns.rdataclass.IN), _FROM_NETWORK))
    try:
        answer = await resolver.resolve(name, "TXT", raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
        raise DNSTemporary(str(exc)) from exc
    except dns.exception.DNSException:  # not a valid name (an IDN that IDNA refuses): no record
        return []
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


async def mx_hosts(app: App, domain: str) -> tuple[list[str], bool]:
    """Host names to try for ``domain``, best first (RFC 5321 section 5.1): its MX
    records by preference, else the domain itself (implicit MX); and whether the answer
    was DNSSEC-authenticated (the AD bit, believed only with ``smtp.dane``). A null MX
    (RFC 7505) or a domain that does not exist is DNSPermanent."""
    resolver = resolvers(app).asynchronous
    try:
        answer = await resolver.resolve(domain, "MX", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN as exc:
        raise DNSPermanent(f"tên miền không tồn tại / domain {domain} does not exist") from exc
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
        raise DNSTemporary(f"DNS MX {domain}: {exc}") from exc
    secure = app.settings.smtp.dane and bool(answer.response.flags & dns.flags.AD)
    if answer.rrset is None:
        return [domain], secure
    records = sorted(answer, key=lambda r: r.preference)
    hosts = [r.exchange.to_text(omit_final_dot=True) for r in records]
    if len(hosts) == 1 and hosts[0] in ("", "."):
        raise DNSPermanent(f"tên miền không nhận thư / domain {domain} accepts no mail (null MX, RFC 7505)")
    return [h for h in hosts if h not in ("", ".")], secure


async def host_addresses(app: App, host: str) -> list[str]:
    """IPv4 then IPv6 addresses of ``host`` ([] if none)."""
    resolver = resolvers(app).asynchronous
    found: list[str] = []
    failures = 0
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, rdtype)
            found.extend(r.address for r in answer)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            pass
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout):
            failures += 1
    if not found and failures:
        raise DNSTemporary(f"DNS A/AAAA {host}: no answer")
    return found


# -- synchronous lookups for pyspf and dkimpy (called in worker threads) -------------------

_current: contextvars.ContextVar[dns.resolver.Resolver | None] = contextvars.ContextVar(
    "congthu_smtp_resolver", default=None
)


def use_sync_resolver(app: App) -> None:
    """Make lookups in this context (and threads started from it with asyncio.to_thread,
    which copies the context) use the app's configured servers."""
    _current.set(resolvers(app).synchronous)


def sync_txt(name: str | bytes, timeout: float = 5) -> bytes | None:
    """dkimpy's ``dnsfunc``: the first TXT record of ``name``, or None."""
    resolver = _current.get() or dns.resolver.get_default_resolver()
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    try:
        answer = resolver.resolve(name, "TXT", lifetime=timeout)
    except dns.exception.DNSException:
        return None
    for record in answer:
        return b"".join(record.strings)
    return None


_FROM_NETWORK = object()  # in ``seen``: an answer not read in the cache (never "unchanged")


class NotCached(Exception):
    """A lookup made under ``from_cache`` whose answer is not in the cache."""


# What one look-up in the cache found: its cache key and the cache's answer (None: none).
Seen = tuple[tuple[dns.name.Name, dns.rdatatype.RdataType, dns.rdataclass.RdataClass], Any]


class _CacheOnly:
    missed = False  # a lookup was not in the cache (even if the caller swallowed NotCached)

    def __init__(self) -> None:
        self.seen: list[Seen] = []  # every look-up in the cache, in order (``unchanged``)


_cache_only: contextvars.ContextVar[_CacheOnly | None] = contextvars.ContextVar(
    "congthu_smtp_cache_only", default=None
)


def cached_records(resolver: dns.resolver.BaseResolver, name: str, qtype: str,
                   seen: list[Seen] | None = None) -> list[Any] | None:
    """The records ``resolver.resolve`` would take from its cache for ``name`` ``qtype``
    ([] for no data or a name that does not exist), or None when the cache does not
    know (dnspython's own look-up order: ``_Resolution.next_request``). ``seen``: each
    look-up made in the cache is added to it (``unchanged``)."""
    cache = resolver.cache
    if cache is None:
        return None
    try:
        qname = dns.name.from_text(name)
        rdtype = dns.rdatatype.from_text(qtype)
    except dns.exception.DNSException:
        return None
    key = (qname, rdtype, dns.rdataclass.IN)
    answer = cache.get(key)
    if seen is not None:
        seen.append((key, answer))
    if answer is not None:
        return list(answer) if answer.rrset is not None else []
    key = (qname, dns.rdatatype.ANY, dns.rdataclass.IN)
    missing = cache.get(key)
    if seen is not None:
        seen.append((key, missing))
    if missing is not None and missing.response.rcode() == dns.rcode.NXDOMAIN:
        return []
    return None


class Reading:
    """What a check read in the DNS cache (``seen``), for ``unchanged``, with the cache's
    count of changes when it was last found unchanged (``generation``, -1: never) and
    when the first of its answers expires then (``expires``, ``time.time()``'s clock)."""

    __slots__ = ("expires", "generation", "seen")

    def __init__(self, seen: list[Seen]) -> None:
        self.seen = seen
        self.generation = -1
        self.expires = 0.0


def unchanged(resolver: dns.resolver.BaseResolver, reading: Reading) -> bool:
    """Whether the cache would give every look-up of ``reading`` the very answer it gave
    then (none expired, none replaced, none that was missing come since): a check that
    read only those answers (pyspf's is a function of its DNS answers) would find the
    same.

    Asked for each message of a sender: when nothing was put in or flushed from the cache
    since the last "yes" (its ``generation``) and none of the answers has expired, the
    answer is "yes" again without a look-up (each hashes and compares a DNS name in
    Python, under the cache's lock)."""
    cache = resolver.cache
    if cache is None:
        return False
    generation = getattr(cache, "generation", None)
    if generation is not None and generation == reading.generation and time.time() < reading.expires:
        return True
    if not all(cache.get(key) is answer for key, answer in reading.seen):
        return False
    if generation is not None:  # read before the look-ups: a change during them counts
        reading.generation = generation
        reading.expires = min((a.expiration for _key, a in reading.seen if a is not None), default=math.inf)
    return True


def from_cache(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T | None:
    """``fn(*args, **kwargs)`` here and now, its ``spf_lookup`` lookups answered from the
    cache only; None if one was not there (then run it where it may wait for DNS)."""
    return from_cache_seen(fn, *args, **kwargs)[0]


def from_cache_seen(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> tuple[T | None, list[Seen]]:
    """``from_cache``, and the look-ups it made in the cache (for ``unchanged``)."""
    guard = _CacheOnly()
    token = _cache_only.set(guard)
    try:
        value = fn(*args, **kwargs)
    except NotCached:
        return None, guard.seen
    except Exception:
        if guard.missed:  # pyspf turned our NotCached into one of its own errors
            return None, guard.seen
        raise
    finally:
        _cache_only.reset(token)
    return (None if guard.missed else value), guard.seen


def spf_lookup(name: str, qtype: str, strict: Any = True, timeout: float = 20) -> list[Any]:
    """pyspf's ``DNSLookup`` with the configured servers (same results as pyspf's own
    dnspython driver); under ``from_cache``, from the cache or ``NotCached``."""
    resolver = _current.get() or dns.resolver.get_default_resolver()
    result: list[Any] = []
    answer: Any
    guard = _cache_only.get()
    if guard is not None:
        answer = cached_records(resolver, name, qtype, guard.seen)
        if answer is None:
            guard.missed = True
            raise NotCached(name)
    else:
        try:
            answer = resolver.resolve(name, qtype, lifetime=timeout)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            return result
        except dns.exception.DNSException as exc:
            raise spf.TempError(f"DNS {exc}") from exc
    for rdata in answer:
        if qtype in ("A", "AAAA"):
            result.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            result.append(((name, qtype), (rdata.preference, rdata.exchange)))
        elif qtype == "PTR":
            result.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            result.append(((name, qtype), rdata.strings))
        elif qtype == "CNAME":
            result.append(((name, qtype), rdata.target.to_text(True)))
    return result


def install_spf_lookup() -> None:
    """Route pyspf's lookups through ``spf_lookup`` (once per process; it reads the
    resolver of the calling context, so every App keeps its own)."""
    if spf.DNSLookup is not spf_lookup:
        spf.DNSLookup = spf_lookup


__all__ = [
    "CountedCache", "DNSPermanent", "DNSTemporary", "NotCached", "Reading", "Seen", "cached_records", "from_cache", "from_cache_seen",
    "host_addresses", "install_spf_lookup", "make_resolvers", "mx_hosts", "resolvers", "spf_lookup",
    "sync_txt", "txt", "unchanged", "use_sync_resolver",
]

# dnspython knows SPF (type 99) already; pyspf may ask for it.
_ = dns.rdatatype.SPF
