"""Which mailboxes have no mail rule switched on, kept between deliveries, so that a
delivery to such a mailbox (nearly every one) reads nothing for ``after_delivery``.

Only that answer is kept ("no vacation reply, no forwarding on"): a mailbox with a rule
on is read at every delivery as before, since the rule itself is needed then. It is kept
as the login states are (``accounts/states.py``), and for the same reasons it is never
stale on purpose:

- every save of a rule announces it on the change feed in its transaction
  (``vacation.save_vacation``, ``forwarding.save_forwarding``: ``rules_key``, through
  ``store/changes.account_changed``), heard by this process once the transaction has
  committed and before the writer goes on, by the other processes of the data directory
  at the same moment (SQLite: datagrams) and by the other nodes with the commit
  (PostgreSQL: NOTIFY), and the mailbox is dropped (``forget``); a read that was under
  way when a change was heard is not kept (``epoch``);
- it is kept only in a process that hears the feed (``congthu serve``; not a command
  run beside it, nor a test server that does not listen);
- an answer ends after ``KEEP_SECONDS`` anyway (the safety net: a datagram lost to a
  crash, a NOTIFY to a dropped connection; a lost PostgreSQL listener drops everything);
- bounded (``MAX_ENTRIES`` mailboxes, oldest out first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from congthu.store.changes import ALL_ACCOUNTS

__all__ = ["KEEP_SECONDS", "NoRules", "rules_key"]

KEEP_SECONDS = 300.0
MAX_ENTRIES = 100_000
_PREFIX = "r"


def rules_key(mailbox_id: int) -> str:
    """The change-feed key of a mailbox's rules (``store/changes.account_changed``)."""
    return f"{_PREFIX}{int(mailbox_id)}"


class NoRules:
    def __init__(self, active: Callable[[], bool], seconds: float = KEEP_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.active = active  # does this process hear the change feed?
        self.seconds = seconds
        self.clock = clock
        # Bumped by every change heard: a read begun before it is not kept.
        self.epoch = 0
        self._until: OrderedDict[int, float] = OrderedDict()  # mailbox id -> kept until

    def unknown(self, mailbox_ids: Iterable[int]) -> list[int]:
        """Those of ``mailbox_ids`` not known (now) to have no rule switched on."""
        if not self._until or not self.active():
            return list(mailbox_ids)
        now = self.clock()
        until = self._until
        return [m for m in mailbox_ids if until.get(m, 0.0) < now]

    def keep(self, mailbox_ids: Iterable[int], epoch: int) -> None:
        """Keep that these mailboxes have no rule on, as read by a read begun at ``epoch``
        (``self.epoch`` before it)."""
        if self.seconds <= 0 or epoch != self.epoch or not self.active():
            return
        until = self.clock() + self.seconds
        for mailbox_id in mailbox_ids:
            self._until[mailbox_id] = until
            self._until.move_to_end(mailbox_id)
        while len(self._until) > MAX_ENTRIES:
            self._until.popitem(last=False)

    def forget(self, keys: Iterable[str]) -> None:
        """The change feed: drop the mailboxes whose rules changed (``rules_key``);
        ``ALL_ACCOUNTS`` (a lost feed) drops everything; other keys are not ours."""
        self.epoch += 1
        for key in keys:
            if key == ALL_ACCOUNTS:
                self._until.clear()
            elif key.startswith(_PREFIX) and key[1:].isascii() and key[1:].isdigit():
                self._until.pop(int(key[1:]), None)
