"""What the SMTP package keeps while an App runs: one ``SMTPRuntime`` per App
(``app.smtp``), never module globals, since tests run several Apps in one process.

* ``resolvers``: the DNS resolvers built from ``smtp.dns_servers``, with their answer
  cache (``dns.py``);
* ``recipients``: recipients looked up in the last few seconds (``addresses.lookup``);
* ``quota_warned``: whether each mailbox's owner was warned of its usage (Điều 8.1,
  ``delivery.check_quota_warnings``);
* ``runner``: the outbound queue's runner while it runs (``queue.wake``);
* ``mta_sts``: the MTA-STS policies of the domains we deliver to, by domain, in front
  of their table (``mtasts.policy_for``); ``mta_sts_loaded``: the domains already read
  from it; ``mta_sts_failures``: the RFC 8460 result-type of a domain's last failed
  policy fetch, for its TLS report;
* ``analysis_pool``: the worker processes that analyse large messages
  (``delivery.analyse``), started at first use and shut down with the runtime;
* ``in_dns_thread``: the threads of the blocking lookups of SPF and DKIM verification
  (pyspf and dkimpy resolve synchronously), apart from asyncio's default executor;
* ``no_rules``: the mailboxes known to have no mail rule on (``mailrules/kept.py``),
  made at the first delivery (``mailrules.delivered.no_rules``);
* ``spf_results``: the last SPF results checked from the DNS cache, by (client IP,
  sender, HELO), with the cache's answers they read (``authres.check_spf``);
  ``dmarc_records``: the DMARC records read, by author domain, likewise
  (``authres.dmarc_record``).

The objects are built lazily, so an App that never handles mail (a CLI command) pays
for none of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import multiprocessing
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from congthu.config import Settings
    from congthu.mailrules.kept import NoRules
    from congthu.smtp.dns import Reading, Resolvers
    from congthu.smtp.mtasts import Policy
    from congthu.smtp.queue import Runner

__all__ = ["SMTPRuntime"]

T = TypeVar("T")
# Threads for blocking DNS work: each waits on the network, not the CPU, for up to its
# lookups' timeouts when a DNS server does not answer (pyspf's querytime is 15 s).
DNS_THREADS = 32
SPF_KEPT = 10_000  # SPF results and DMARC records kept, each (the oldest go first)


class SMTPRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.resolvers: Resolvers | None = None
        # address -> (expires at, mailbox id, used bytes, quota bytes)
        self.recipients: dict[str, tuple[float, int, int, int]] = {}
        self.quota_warned: dict[int, bool] = {}
        self.runner: Runner | None = None
        self.mta_sts: dict[str, Policy] = {}
        self.mta_sts_loaded: set[str] = set()
        self.mta_sts_failures: dict[str, str] = {}
        self.no_rules: NoRules | None = None
        self.spf_results: dict[tuple[str, str, str], tuple[str, Reading]] = {}
        self.dmarc_records: dict[str, tuple[tuple[dict[str, str] | None, bool], Reading]] = {}
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._dns_threads: concurrent.futures.ThreadPoolExecutor | None = None

    def keep_spf(self, key: tuple[str, str, str], result: str, reading: Reading) -> None:
        """Keep an SPF result checked from the DNS cache, with the answers it read."""
        _keep(self.spf_results, key, (result, reading))

    def keep_dmarc(self, domain: str, found: tuple[dict[str, str] | None, bool], reading: Reading) -> None:
        """Keep a domain's DMARC record (tags, at the organisational domain), with the
        answers it was read from."""
        _keep(self.dmarc_records, domain, (found, reading))

    async def in_dns_thread(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the runtime's DNS threads, in the caller's context
        (the resolver ``dns.use_sync_resolver`` chose). A DNS server that does not
        answer holds these threads for the lookups' timeouts, not asyncio's default
        executor, on which deliveries, IMAP FETCH and the database's shutdown wait (six
        threads on two cores: six MAIL commands from a domain whose DNS is silent stopped
        them for 15 s each); and closing the App does not wait for lookups that nobody
        needs any more."""
        if self._dns_threads is None:
            self._dns_threads = concurrent.futures.ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="congthu-dns")
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._dns_threads, call)

    def analysis_pool(self, workers: int) -> concurrent.futures.ProcessPoolExecutor:
        """The worker processes (started at first use)."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            # The processes end with the runtime (the App), even if nobody calls close.
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def drop_analysis_pool(self) -> None:
        """A worker died (killed, out of memory): a new pool next time."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.drop_analysis_pool()
        threads, self._dns_threads = self._dns_threads, None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)


def _keep(kept: dict[Any, Any], key: Any, value: Any) -> None:
    """Put ``value`` last in ``kept``, the oldest entry dropped past ``SPF_KEPT``."""
    kept.pop(key, None)
    if len(kept) >= SPF_KEPT:
        del kept[next(iter(kept))]
    kept[key] = value
