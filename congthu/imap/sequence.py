"""Sequence sets (RFC 9051 section 9, ``sequence-set``) and their resolution.

A set is a list of ranges; ``*`` (``None`` here) is the largest number in use (the last
message's sequence number or UID). A range ``a:b`` is the same as ``b:a``, and a UID
range ``559:*`` always includes the last message even when 559 is above every UID
(RFC 9051 section 6.4.8). ``$`` (RFC 5182 SEARCHRES, part of IMAP4rev2) stands for the
result of the last SEARCH ... RETURN (SAVE).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["SeqSet", "format_set", "compress"]


@dataclass(frozen=True)
class SeqSet:
    ranges: tuple[tuple[int | None, int | None], ...] = ()
    # "$": the saved search result (RFC 5182).
    saved: bool = False

    def bounds(self, largest: int) -> list[tuple[int, int]]:
        """The ranges with ``*`` replaced by ``largest``, each as (low, high)."""
        out = []
        for a, b in self.ranges:
            lo = largest if a is None else a
            hi = largest if b is None else b
            if lo > hi:
                lo, hi = hi, lo
            out.append((lo, hi))
        return out

    def indexes(self, values: Sequence[int]) -> list[int]:
        """Indexes (0-based, ascending, unique) into the sorted ``values`` (UIDs) that the
        set selects. For message sequence numbers pass ``range(1, count + 1)``."""
        if not values:
            return []
        largest = values[-1]
        spans = sorted((bisect_left(values, lo), bisect_right(values, hi)) for lo, hi in self.bounds(largest))
        picked: list[int] = []
        done = 0  # every index below is picked or passed
        for start, end in spans:
            start = max(start, done)
            if start < end:
                picked.extend(range(start, end))
                done = end
        return picked

    def contains(self, value: int, largest: int) -> bool:
        return any(lo <= value <= hi for lo, hi in self.bounds(largest))

    def max_number(self) -> int:
        """The largest explicit number (for checking sequence numbers against EXISTS)."""
        return max((n for r in self.ranges for n in r if n is not None), default=0)

    @classmethod
    def of(cls, numbers: Iterable[int]) -> SeqSet:
        return cls(tuple((a, b) for a, b in _runs(sorted(set(numbers)))))


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def compress(values: Iterable[int]) -> list[tuple[int, int]]:
    return _runs(sorted(set(values)))


def format_set(values: Iterable[int]) -> str:
    """"1:3,7,9:10" for [1, 2, 3, 7, 9, 10] (sorted, duplicates dropped)."""
    return ",".join(f"{a}" if a == b else f"{a}:{b}" for a, b in compress(values))
