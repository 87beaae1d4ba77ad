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
  (``delivery.analyse``), started at first use and shut down with the runtime.

The objects are built lazily, so an App that never handles mail (a CLI command) pays
for none of them.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from congthu.config import Settings
    from congthu.smtp.dns import Resolvers
    from congthu.smtp.mtasts import Policy
    from congthu.smtp.queue import Runner

__all__ = ["SMTPRuntime"]


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
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

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
