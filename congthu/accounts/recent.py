"""Successful logins recorded lately, so that a door whose clients log in per request
(LDAP binds from Apache ``mod_authnz_ldap`` or a PHP application, one per page) does not
write an audit record and a last-access stamp for each one.

A door opts in by passing ``record_within`` (seconds) to ``authenticate`` or
``authenticate_service`` (LDAP: ``ldap.bind_record_seconds``; IMAP's LOGIN and
AUTHENTICATE PLAIN or LOGIN: ``imap.login_record_seconds``). Then the first success of
an account through that door from one client address is written as every login is (the
audit record ``login.ok`` or ``service.login.ok``, the last access, the guessing counter
cleared), and further successes of the same (account, door, address) within the period
are only counted; the next success after the period is written with ``repeats``: how
many successes stood behind it since the previous record. What the regulation asks is
kept:

- Điều 4.4 (reclaim after six months without access): the last access is stamped at
  least once per period of minutes, far finer than six months;
- Điều 9.9-9.10 (guessing) and 9.12 / 13.4 (inspection): every failure, lock, refusal
  (no TLS, locked, disabled, expired) is written at once, as before; a success from a
  new address, or after a failure of the account in this process, is written at once;
  repeated successes are in the trail as counts, so who used which account from where
  and when stays answerable to the period;
- every check itself is done each time (the password, the locks, the account's state):
  only the writing of a success is spared.

Per process (each worker keeps its own, so a cluster writes at most one record per
worker and period), bounded (``MAX_ENTRIES``, oldest out first). The repeats counted after
a process's last record are not written when it stops: at most one period's count.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["RecentLogins"]

# Accounts remembered at once.
MAX_ENTRIES = 100_000
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class _Written:
    at: datetime  # when the last success was written
    repeats: int = 0  # successes since, counted and not written
    # ``at`` + ``within`` for the ``within`` last asked (``repeat``): worked out once per
    # record, not per login (-1: not yet, or ``at`` moved).
    within: float = -1.0
    until: datetime = _LONG_AGO


_NONE: dict[tuple[str, str], _Written] = {}


class RecentLogins:
    def __init__(self) -> None:
        # account -> (door, client address) -> the last success written
        self._seen: OrderedDict[str, dict[tuple[str, str], _Written]] = OrderedDict()

    def repeat(self, account: str, door: str, client: str, now: datetime, within: float) -> bool:
        """True if a success of ``account`` through ``door`` from ``client`` was written
        less than ``within`` seconds ago: this one is counted and need not be written."""
        if within <= 0:
            return False
        found = self._seen.get(account, _NONE).get((door, client))
        if found is None:
            return False
        if found.within != within:
            found.within, found.until = within, found.at + timedelta(seconds=within)
        if not found.at <= now < found.until:
            return False
        found.repeats += 1
        return True

    def recorded(self, account: str, door: str, client: str, now: datetime) -> int:
        """A success is being written now: returns the successes counted since the
        previous record (its ``repeats``), and starts a new period."""
        places = self._seen.pop(account, {})
        found = places.get((door, client))
        places[(door, client)] = _Written(now)
        self._seen[account] = places
        while len(self._seen) > MAX_ENTRIES:
            self._seen.popitem(last=False)
        return 0 if found is None else found.repeats

    def forget(self, account: str) -> None:
        """A failure of ``account``: its next success is written at once, from anywhere
        (with the successes counted before it)."""
        for written in self._seen.get(account, _NONE).values():
            written.at, written.within = _LONG_AGO, -1.0
