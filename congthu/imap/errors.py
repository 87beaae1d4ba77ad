"""The IMAP package's errors and the replies they become, in one place.

- ``ImapError`` (made by ``no`` and ``bad``): a handler's tagged NO or BAD with its
  response code (RFC 9051 section 7.1, RFC 5530 codes);
- ``Answered``: the handler has sent its tagged reply itself (STARTTLS);
- ``ParseError``, ``UnknownCommand``, ``BadCharset``: the grammar refused the command
  (tagged BAD; ``NO [BADCHARSET]`` for SEARCH charsets, RFC 9051 section 6.4.4);
- ``LineTooLong`` and ``Rejected``: the wire refused a line or a literal while reading;
- ``store_reply``: the tagged reply for an error of the store or the database.
"""

from __future__ import annotations

from congthu.db import DatabaseUnavailable
from congthu.store import AlreadyExists, NotFound, QuotaExceeded, StorageUnavailable, StoreError

__all__ = [
    "Answered", "BadCharset", "ImapError", "LineTooLong", "ParseError", "Rejected", "UnknownCommand",
    "bad", "no", "store_reply",
]


class ImapError(Exception):
    """A tagged NO or BAD: ``status``, ``text`` and the response ``code`` (or None)."""

    def __init__(self, status: str, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.status, self.text, self.code = status, text, code


def no(text: str, code: str | None = None) -> ImapError:
    return ImapError("NO", text, code)


def bad(text: str, code: str | None = None) -> ImapError:
    return ImapError("BAD", text, code)


class Answered(Exception):
    """The handler has sent its tagged response itself (STARTTLS, before the handshake)."""


class ParseError(Exception):
    """The command does not follow the grammar: tagged BAD with this text. ``tag`` is the
    command's tag once it was read."""

    tag: str | None = None


class UnknownCommand(ParseError):
    """A command name we do not know (BAD without the "syntax error" prefix)."""


class BadCharset(Exception):
    """SEARCH with a charset we do not support: NO [BADCHARSET] (RFC 9051 6.4.4)."""

    tag: str | None = None


class LineTooLong(Exception):
    """A command line longer than ``imap.max_line_length`` (read past, answered BAD)."""


class Rejected(Exception):
    """A command refused while it was being read; its reply has been sent already.
    ``close``: the refused literal was too large to read past (RFC 7888 section 4), so
    the connection ends."""

    def __init__(self, close: bool = False) -> None:
        super().__init__()
        self.close = close


def store_reply(exc: Exception) -> tuple[str, str, str] | None:
    """(status, code, text) of the tagged reply for an error of the store or the
    database, or None if ``exc`` is neither."""
    if isinstance(exc, QuotaExceeded):
        return "NO", "OVERQUOTA", str(exc)  # RFC 9208 section 4.3
    if isinstance(exc, NotFound):
        return "NO", "NONEXISTENT", str(exc)
    if isinstance(exc, AlreadyExists):
        return "NO", "ALREADYEXISTS", str(exc)
    if isinstance(exc, StoreError):
        return "NO", "CANNOT", str(exc)
    if isinstance(exc, DatabaseUnavailable | StorageUnavailable):  # RFC 5530 section 3
        return "NO", "UNAVAILABLE", "Tạm thời không phục vụ được, thử lại sau / try again later"
    return None
