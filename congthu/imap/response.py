"""Serialising IMAP data (RFC 9051 section 4 and 9): atoms, quoted strings, literals,
NIL, parenthesised lists, date-times, flag lists.

``encode(value)`` turns nested Python values into wire bytes: ``None`` is NIL, ``int`` a
number, ``str`` a quoted string (or a literal when it cannot be quoted), ``bytes`` a
literal (or a quoted string when short and safe), ``Atom`` goes out as is, lists and
tuples are parenthesised. ENVELOPE and BODYSTRUCTURE are built as such nested values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from congthu.imap.parser import MONTHS

__all__ = ["Atom", "NIL", "astring", "encode", "date_time", "flag_list", "literal", "quoted", "string"]


class Atom(str):
    """Text sent verbatim (an atom, a flag, an already-encoded item)."""


NIL = Atom("NIL")
_QUOTED_MAX = 1000


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def quoted(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _quotable(data: bytes, utf8: bool) -> bool:
    if len(data) > _QUOTED_MAX or b"\r" in data or b"\n" in data or b"\x00" in data:
        return False
    return utf8 or data.isascii()


def string(value: str | bytes, *, utf8: bool = False) -> bytes:
    """A string as a quoted string if possible, else a literal (RFC 9051 section 4.3)."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return quoted(data) if _quotable(data, utf8) else literal(data)


# RFC 9051 section 9: ASTRING-CHAR = ATOM-CHAR / resp-specials.
_ASTRING_SPECIALS = frozenset(b'(){ %*"\\') | frozenset(range(0, 0x21)) | {0x7F}


def astring(value: str, *, utf8: bool = False) -> bytes:
    """An astring as an atom when it can be one (as Dovecot sends mailbox names and
    METADATA entries), else a quoted string or a literal."""
    data = value.encode("utf-8", "surrogateescape")
    if data and data.upper() != b"NIL" and data.isascii() and not any(b in _ASTRING_SPECIALS for b in data):
        return data
    return string(data, utf8=utf8)


def nstring(value: str | bytes | None, *, utf8: bool = False) -> bytes:
    return b"NIL" if value is None else string(value, utf8=utf8)


def encode(value: Any, *, utf8: bool = False) -> bytes:
    # Strings, NIL and lists first: an ENVELOPE is some thirty of them (an Atom is a str
    # subclass, so the exact class is tested, the general cases follow).
    cls = value.__class__
    if cls is str:
        return string(value, utf8=utf8)
    if value is None:
        return b"NIL"
    if cls is list or cls is tuple:
        return b"(" + b" ".join([encode(v, utf8=utf8) for v in value]) + b")"
    if isinstance(value, Atom):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bool):
        raise TypeError("bool is not IMAP data")
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, str | bytes):
        return string(value, utf8=utf8)
    if isinstance(value, list | tuple):
        return b"(" + b" ".join(encode(v, utf8=utf8) for v in value) + b")"
    raise TypeError(f"cannot encode {type(value).__name__}")


def date_time(value: datetime) -> bytes:
    """date-time: "17-Jul-1996 02:44:25 -0700" (RFC 9051 section 9). Those in UTC (every
    stored date) are made once per value lately seen (FETCH INTERNALDATE of the same
    messages again and again); not the others, which equal a UTC one of another text."""
    if value.tzinfo is UTC:
        return _utc_date_time(value)
    return _date_time(value)


@lru_cache(maxsize=4096)
def _utc_date_time(value: datetime) -> bytes:
    return _date_time(value)


def _date_time(value: datetime) -> bytes:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    text = (f'"{value.day:02d}-{MONTHS[value.month - 1]}-{value.year:04d} '
            f'{value.hour:02d}:{value.minute:02d}:{value.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"')
    return text.encode("ascii")


def flag_list(names: Iterable[str]) -> bytes:
    return ("(" + " ".join(names) + ")").encode("utf-8", "surrogateescape")
