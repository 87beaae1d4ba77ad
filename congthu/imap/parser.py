"""The IMAP command parser (RFC 9051 section 9, RFC 3501 section 9 and the extensions).

The reader (``wire.py``) hands over a command as *parts*: the lines of the command
(without CRLF) alternating with the data of the literals that ended them, so that
``A1 LOGIN {5}`` + ``alice`` + `` secret`` is ``[b"A1 LOGIN {5}", b"alice", b" secret"]``.
Parsing is then synchronous, works on bytes already in memory, and never reads more:
that keeps it simple to reason about and to fuzz. Every grammar error is a ``ParseError``
whose text goes back to the client in a tagged BAD.

``parse_command`` returns a ``Command`` whose ``args`` are built by the grammar function
of the command (``GRAMMAR``), one per command, named after the RFC production.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, NamedTuple

from congthu.imap.errors import BadCharset, ParseError, UnknownCommand
from congthu.imap.sequence import SeqSet

__all__ = [
    "BadCharset", "Command", "FetchAtt", "ParseError", "Parser", "Section", "UnknownCommand",
    "append_mailbox", "parse_command", "peek_command",
]

# RFC 9051 section 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
# quoted-specials / resp-specials.
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0, 0x20)) | {0x7F}
_LIST_SPECIALS = _ATOM_SPECIALS - frozenset(b"%*]")
_ASTRING_SPECIALS = _ATOM_SPECIALS - {ord("]")}
# Tags may not contain "+" either (RFC 9051: tag = 1*<any ASTRING-CHAR except "+">).
_TAG_SPECIALS = _ASTRING_SPECIALS | {ord("+")}
# A FETCH item's name or a section's text stops at "[" too.
_ITEM_SPECIALS = _ATOM_SPECIALS | {ord("[")}
_DIGITS = re.compile(rb"[0-9]*")
# A sequence set of the usual shape (``Parser.sequence_set``): numbers of at most 9
# digits (below 2**32 whatever they are) without a leading zero, or "*".
_SEQ_NUMBER = rb"(?:[1-9][0-9]{0,8}|\*)"
_SEQ_SET = re.compile(rb"%s(?::%s)?(?:,%s(?::%s)?)*" % ((_SEQ_NUMBER,) * 4))
# Bytes after such a match that the full grammar would go on with (a longer number, a
# range or list left unfinished): those sets are read step by step.
_SEQ_GOES_ON = frozenset(b"0123456789:,")
# What a quoted string's bytes are read one by one for (an escape, or an error to report).
_QUOTED_SPECIAL = re.compile(rb'[\\\r\n\x00]')
_LITERAL_RE = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}$")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_MONTH = {m.upper(): i + 1 for i, m in enumerate(MONTHS)}


@dataclass
class Command:
    tag: str
    name: str  # upper case: "FETCH"
    uid: bool = False
    args: dict[str, Any] = field(default_factory=dict)


class Section(NamedTuple):
    """A body section (RFC 9051 section 6.4.5): part path and text specifier. A named
    tuple, as ``FetchAtt``: hashed and compared in C."""

    part: tuple[int, ...] = ()
    # "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or "MIME".
    text: str = ""
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        """The section as echoed in the response: "1.2.HEADER.FIELDS (SUBJECT)"."""
        parts = [".".join(str(p) for p in self.part)] if self.part else []
        if self.text:
            text = self.text
            if self.fields:
                text += " (" + " ".join(self.fields) + ")"
            parts.append(text)
        return ".".join(parts)


class FetchAtt(NamedTuple):
    """A FETCH item. A named tuple, not a dataclass: FETCH looks up the items kept for a
    message by (item, UTF-8) for each message it answers (``cmd_fetch._Known.items``),
    and a dataclass's hash and equality are Python calls (a tuple's are C: about 3 times
    less per look-up, and made in half the time)."""

    # "FLAGS", "UID", "BODY", "BINARY", "BINARY.SIZE", "RFC822.HEADER", ...
    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False


@functools.cache
def _runs(specials: frozenset[int]) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """Patterns matching a run of bytes outside ``specials``: without the bytes above
    0x7F, and with them (a UTF-8 session, RFC 9051 section 9's utf8-char). The regex
    engine scans a token in one call where a loop in Python took a step per byte (the
    parser was 7.7 % of the server's time under imaptest)."""
    allowed = [c for c in range(256) if c not in specials]

    def run(chars: list[int]) -> re.Pattern[bytes]:
        return re.compile(b"[" + b"".join(b"\\x%02x" % c for c in chars) + b"]*")

    return run([c for c in allowed if c < 0x80]), run(allowed)


class Parser:
    """A cursor over a command's parts (see the module docstring)."""

    def __init__(self, parts: list[bytes], *, utf8: bool = False) -> None:
        if not parts:
            raise ParseError("empty command")
        self.parts = parts
        self.index = 0
        self.buf = parts[0]
        self.pos = 0
        self.utf8 = utf8

    # -- positions ----------------------------------------------------------------------

    def peek(self) -> int:
        """The next byte, or -1 at the end of the current line."""
        return self.buf[self.pos] if self.pos < len(self.buf) else -1

    def at_end(self) -> bool:
        return self.pos >= len(self.buf) and self.index + 1 >= len(self.parts)

    def end(self) -> None:
        if not self.at_end():
            rest = self.buf[self.pos:self.pos + 20].decode("ascii", "replace")
            raise ParseError(f"thừa dữ liệu / unexpected data at end of command: {rest!r}")

    def take(self, literal: bytes) -> bool:
        """Consume ``literal`` (case-insensitive) if it is next."""
        if self.buf.startswith(literal, self.pos):
            # As written (the usual case); a literal without letters can match no other way.
            self.pos += len(literal)
            return True
        if literal.upper() == literal.lower():
            return False
        end = self.pos + len(literal)
        if self.buf[self.pos:end].upper() == literal.upper():
            self.pos = end
            return True
        return False

    def expect(self, literal: bytes) -> None:
        if not self.take(literal):
            got = self.buf[self.pos:self.pos + 10].decode("ascii", "replace")
            raise ParseError(f"expected {literal.decode()!r} at {got!r}")

    def sp(self) -> None:
        if self.buf.startswith(b" ", self.pos):  # ``expect`` without its two calls
            self.pos += 1
        else:
            self.expect(b" ")

    def take_sp(self) -> bool:
        return self.take(b" ")

    # -- tokens -------------------------------------------------------------------------

    def _chars(self, specials: frozenset[int], what: str) -> bytes:
        """The longest run of bytes here outside ``specials`` (and below 0x80 unless
        UTF-8 was enabled), at least one."""
        start = self.pos
        m = _runs(specials)[self.utf8].match(self.buf, start)
        assert m is not None  # a run may be empty: "*" always matches
        end = self.pos = m.end()
        if end == start:
            raise ParseError(f"expected {what}")
        return self.buf[start:end]

    def atom(self) -> str:
        return self._chars(_ATOM_SPECIALS, "atom").decode("utf-8", "surrogateescape")

    def tag(self) -> str:
        return self._chars(_TAG_SPECIALS, "tag").decode("ascii")

    def keyword(self) -> str:
        """An atom in upper case (command names, fetch items, search keys)."""
        return self.atom().upper()

    def number(self) -> int:
        start = self.pos
        m = _DIGITS.match(self.buf, start)
        assert m is not None
        self.pos = m.end()
        if self.pos == start:
            raise ParseError("expected number")
        if self.pos - start > 20:
            raise ParseError("number too large")
        return int(self.buf[start:self.pos])

    def number32(self) -> int:
        n = self.number()
        if n > 0xFFFFFFFF:
            raise ParseError("number out of range")
        return n

    def nz_number(self) -> int:
        n = self.number32()
        if n == 0:
            raise ParseError("number must not be zero")
        return n

    def number64(self) -> int:
        n = self.number()
        if n > 0x7FFFFFFFFFFFFFFF:
            raise ParseError("mod-sequence out of range")
        return n

    def at_literal(self) -> bool:
        """A literal starts here: "{", or "~{" (literal8, RFC 3516 section 4.3). A "~"
        not followed by "{" is an ATOM-CHAR (RFC 9051 section 9)."""
        c = self.peek()
        if c == 0x7B:
            return True
        return c == 0x7E and self.buf[self.pos + 1:self.pos + 2] == b"{"

    def _literal(self) -> bytes | None:
        """A literal here: its data (from the next part), else None."""
        if not self.at_literal():
            return None
        m = _LITERAL_RE.match(self.buf, self.pos)
        if m is None or m.end() != len(self.buf):
            raise ParseError("literal must end the line: {n} CRLF")
        if self.index + 1 >= len(self.parts):
            raise ParseError("literal data missing")
        data = self.parts[self.index + 1]
        if len(data) != int(m.group(2)):
            raise ParseError("literal length mismatch")
        if m.group(1) == b"" and not self.utf8 and b"\x00" in data:
            raise ParseError("NUL in literal (use literal8)")
        self.index += 2
        self.buf = self.parts[self.index] if self.index < len(self.parts) else b""
        self.pos = 0
        return data

    def quoted(self) -> bytes:
        self.expect(b'"')
        buf = self.buf
        end = buf.find(b'"', self.pos)
        if end >= 0 and _QUOTED_SPECIAL.search(buf, self.pos, end) is None:
            # No escape nor forbidden byte before the closing quote: the bytes as they are.
            data = buf[self.pos:end]
            self.pos = end + 1
            return data
        out = bytearray()
        while True:
            if self.pos >= len(buf):
                raise ParseError("unterminated quoted string")
            c = buf[self.pos]
            self.pos += 1
            if c == 0x22:
                return bytes(out)
            if c == 0x5C:
                if self.pos >= len(buf) or buf[self.pos] not in (0x22, 0x5C):
                    raise ParseError("bad escape in quoted string")
                c = buf[self.pos]
                self.pos += 1
            elif c in (0x0D, 0x0A, 0x00):
                raise ParseError("CR, LF or NUL in quoted string")
            out.append(c)

    def string_bytes(self) -> bytes:
        if self.peek() == 0x22:
            return self.quoted()
        data = self._literal()
        if data is None:
            raise ParseError("expected string")
        return data

    def astring_bytes(self) -> bytes:
        if self.peek() == 0x22 or self.at_literal():
            return self.string_bytes()
        return self._chars(_ASTRING_SPECIALS, "astring")

    def astring(self) -> str:
        return self.astring_bytes().decode("utf-8", "surrogateescape")

    def string(self) -> str:
        return self.string_bytes().decode("utf-8", "surrogateescape")

    def nstring(self) -> str | None:
        if self.take(b"NIL"):
            return None
        return self.string()

    def list_mailbox(self) -> str:
        """list-mailbox: 1*list-char / string (wildcards % and * allowed)."""
        c = self.peek()
        if c == 0x22 or c == ord("{"):
            return self.string()
        return self._chars(_LIST_SPECIALS, "mailbox pattern").decode("utf-8", "surrogateescape")

    def mailbox(self) -> str:
        """A mailbox name as sent (modified UTF-7 or UTF-8: decoded by the session)."""
        return self.astring()

    def flag(self) -> str:
        if self.take(b"\\"):
            if self.take(b"*"):
                return "\\*"
            return "\\" + self.atom()
        return self.atom()

    def flag_list(self) -> list[str]:
        self.expect(b"(")
        flags: list[str] = []
        if self.take(b")"):
            return flags
        while True:
            flags.append(self.flag())
            if self.take(b")"):
                return flags
            self.sp()

    def paren_list(self, item: Callable[[], Any]) -> list[Any]:
        """"(" item *(SP item) ")", possibly empty."""
        self.expect(b"(")
        out: list[Any] = []
        if self.take(b")"):
            return out
        while True:
            out.append(item())
            if self.take(b")"):
                return out
            self.sp()

    def seq_number(self) -> int | None:
        if self.take(b"*"):
            return None
        return self.nz_number()

    def sequence_set(self) -> SeqSet:
        """sequence-set (RFC 9051 section 9) or "$" (RFC 5182). A set whose every number
        is short and well formed is split out of one regex match; any other is read by
        ``_sequence_set_stepwise``, which gives the same answer for these
        (tests/imap/test_parser_quick.py) and the errors for the others."""
        if self.take(b"$"):
            return SeqSet(saved=True)
        buf = self.buf
        m = _SEQ_SET.match(buf, self.pos)
        if m is not None:
            end = m.end()
            text = m.group()
            if (end == len(buf) or buf[end] not in _SEQ_GOES_ON) and text.count(b",") < 100_000:
                self.pos = end
                ranges: list[tuple[int | None, int | None]] = []
                for item in text.split(b","):
                    first, _, last = item.partition(b":")
                    a = None if first == b"*" else int(first)
                    ranges.append((a, (None if last == b"*" else int(last)) if last else a))
                return SeqSet(tuple(ranges))
        return self._sequence_set_stepwise()

    def _sequence_set_stepwise(self) -> SeqSet:
        ranges: list[tuple[int | None, int | None]] = []
        while True:
            a = self.seq_number()
            b = self.seq_number() if self.take(b":") else a
            ranges.append((a, b))
            if len(ranges) > 100_000:
                raise ParseError("sequence set too long")
            if not self.take(b","):
                return SeqSet(tuple(ranges))

    def date(self) -> date:
        """date = date-text / DQUOTE date-text DQUOTE; date-text = dd-Mon-yyyy."""
        quoted = self.take(b'"')
        text = self._chars(_ATOM_SPECIALS, "date").decode("ascii", "replace")
        if quoted:
            self.expect(b'"')
        m = re.fullmatch(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})", text)
        if not m or m.group(2).upper() not in _MONTH:
            raise ParseError(f"bad date {text!r} (expected e.g. 1-Feb-2026)")
        try:
            return date(int(m.group(3)), _MONTH[m.group(2).upper()], int(m.group(1)))
        except ValueError:
            raise ParseError(f"bad date {text!r}") from None

    def date_time(self) -> datetime:
        """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE."""
        raw = self.quoted().decode("ascii", "replace")
        m = re.fullmatch(r" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", raw)
        if not m or m.group(2).upper() not in _MONTH:
            raise ParseError(f"bad date-time {raw!r}")
        sign = 1 if m.group(7) == "+" else -1
        offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9))) * sign
        try:
            return datetime(int(m.group(3)), _MONTH[m.group(2).upper()], int(m.group(1)),
                            int(m.group(4)), int(m.group(5)), int(m.group(6)),
                            tzinfo=timezone(offset)).astimezone(UTC)
        except ValueError:
            raise ParseError(f"bad date-time {raw!r}") from None

    # -- FETCH items (RFC 9051 section 6.4.5) -------------------------------------------

    def section(self) -> Section:
        self.expect(b"[")
        if self.take(b"]"):
            return Section()
        part: list[int] = []
        text = ""
        fields: tuple[str, ...] = ()
        while 0x30 <= self.peek() <= 0x39:
            part.append(self.nz_number())
            if len(part) > 50:
                raise ParseError("section part too deep")
            if not self.take(b"."):
                break
        if self.peek() != ord("]"):
            word = self._chars(_ITEM_SPECIALS, "section text").decode("ascii", "replace").upper()
            if word in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
                self.sp()
                fields = tuple(f.upper() for f in self.paren_list(self.astring))
                if not fields:
                    raise ParseError("empty header list")
            elif word not in ("HEADER", "TEXT", "MIME"):
                raise ParseError(f"unknown section {word!r}")
            if word == "MIME" and not part:
                raise ParseError("MIME needs a part number")
            text = word
        self.expect(b"]")
        return Section(tuple(part), text, fields)

    def partial(self) -> tuple[int, int] | None:
        if not self.take(b"<"):
            return None
        offset = self.number32()
        self.expect(b".")
        length = self.nz_number()
        self.expect(b">")
        return offset, length

    def fetch_att(self) -> list[FetchAtt]:
        word = self._chars(_ITEM_SPECIALS, "fetch item").decode("ascii", "replace").upper()
        if word in FETCH_MACROS:
            return [FetchAtt(n) for n in FETCH_MACROS[word]]
        if word in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"):
            if self.peek() != ord("["):
                if word == "BODY":
                    return [FetchAtt("BODY")]  # the non-extensible BODYSTRUCTURE
                raise ParseError(f"{word} needs a section")
            section = self.section()
            if word.startswith("BINARY") and (section.text or any(p == 0 for p in section.part)):
                raise ParseError("BINARY takes only a part number (RFC 3516)")
            partial = self.partial() if word != "BINARY.SIZE" else None
            name = word.replace(".PEEK", "")
            return [FetchAtt(name + ("[]" if name in ("BODY", "BINARY") else ""), section, partial,
                             peek=word.endswith(".PEEK"))]
        if word == "PREVIEW":
            # RFC 8970 section 4: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"],
            # preview-mod = "LAZY"; we always make the preview, so LAZY changes nothing.
            if self.buf[self.pos:self.pos + 6].upper() == b" (LAZY":
                self.sp()
                for mod in self.paren_list(self.keyword):
                    if mod != "LAZY":
                        raise ParseError(f"unknown PREVIEW modifier {mod[:30]!r}")
            return [FetchAtt("PREVIEW")]
        if word in SIMPLE_FETCH:
            return [FetchAtt(word)]
        raise ParseError(f"unknown FETCH item {word!r}")


FETCH_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
SIMPLE_FETCH = {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE",
                "RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ", "SAVEDATE", "EMAILID", "THREADID"}


# -- the grammar of each command ----------------------------------------------------------

Grammar = Callable[[Parser, bool], dict[str, Any]]


def _none(p: Parser, uid: bool) -> dict[str, Any]:
    return {}


def _login(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    user = p.astring()
    p.sp()
    return {"user": user, "password": p.astring()}


def _authenticate(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    mech = p.keyword()
    initial = None
    if p.take_sp():  # RFC 4959 SASL-IR: base64 or "=" for empty
        initial = p._chars(_ATOM_SPECIALS, "initial response").decode("ascii", "replace")
    return {"mechanism": mech, "initial": initial}


def _mailbox_only(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    return {"mailbox": p.mailbox()}


def _select(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    args: dict[str, Any] = {"mailbox": p.mailbox(), "condstore": False, "qresync": None}
    if p.take_sp():
        def param() -> None:
            word = p.keyword()
            if word == "CONDSTORE":
                args["condstore"] = True
            elif word == "QRESYNC":
                # RFC 7162 3.2.5: (uidvalidity mod-sequence [known-uids [seq-match-data]])
                p.sp()
                p.expect(b"(")
                q: dict[str, Any] = {"uidvalidity": p.nz_number()}
                p.sp()
                q["modseq"] = p.number64()
                q["known_uids"] = None
                q["seq_match"] = None
                if p.take_sp():
                    if p.peek() != ord("("):
                        q["known_uids"] = p.sequence_set()
                        p.take_sp()
                    if p.take(b"("):
                        seqs = p.sequence_set()
                        p.sp()
                        uids = p.sequence_set()
                        p.expect(b")")
                        q["seq_match"] = (seqs, uids)
                p.expect(b")")
                args["qresync"] = q
            else:
                raise ParseError(f"unknown SELECT parameter {word!r}")
        p.paren_list(param)
    return args


def _create(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    args: dict[str, Any] = {"mailbox": p.mailbox(), "use": []}
    if p.take_sp():
        # RFC 6154 section 3: CREATE name (USE (\Drafts))
        def param() -> None:
            if p.keyword() != "USE":
                raise ParseError("unknown CREATE parameter")
            p.sp()
            args["use"] = p.flag_list()
        p.paren_list(param)
    return args


def _rename(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    old = p.mailbox()
    p.sp()
    return {"old": old, "new": p.mailbox()}


def _list(p: Parser, uid: bool) -> dict[str, Any]:
    """RFC 5258 list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]."""
    p.sp()
    select: list[str] = []
    if p.peek() == ord("("):
        select = [w.upper() for w in p.paren_list(p.atom)]
        p.sp()
    reference = p.mailbox()
    p.sp()
    patterns = p.paren_list(p.list_mailbox) if p.peek() == ord("(") else [p.list_mailbox()]
    returns: list[str] = []
    status: list[str] = []
    if p.take_sp():
        p.expect(b"RETURN")
        p.sp()

        def ret() -> None:
            word = p.keyword()
            returns.append(word)
            if word == "STATUS":  # RFC 5819
                p.sp()
                status.extend(x.upper() for x in p.paren_list(p.atom))
        p.paren_list(ret)
    return {"select": select, "reference": reference, "patterns": patterns,
            "returns": returns, "status": status}


def _lsub(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    reference = p.mailbox()
    p.sp()
    return {"select": ["SUBSCRIBED"], "reference": reference, "patterns": [p.list_mailbox()],
            "returns": [], "status": [], "lsub": True}


def _status(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    mailbox = p.mailbox()
    p.sp()
    items = [w.upper() for w in p.paren_list(p.atom)]
    if not items:
        raise ParseError("STATUS needs at least one item")
    return {"mailbox": mailbox, "items": items}


def _append(p: Parser, uid: bool) -> dict[str, Any]:
    """append = "APPEND" SP mailbox 1*append-message (RFC 3502 MULTIAPPEND; RFC 9051
    6.3.12 has one), append-message = [SP flag-list] [SP date-time] SP literal.
    ``messages``: each message's {"flags", "date", "message", "binary"}; the first one's
    are also the command's own arguments."""
    p.sp()
    mailbox = p.mailbox()
    messages: list[dict[str, Any]] = []
    p.sp()
    while True:
        one: dict[str, Any] = {"flags": [], "date": None}
        if p.peek() == ord("("):
            one["flags"] = p.flag_list()
            p.sp()
        if p.peek() == 0x22:
            one["date"] = p.date_time()
            p.sp()
        if p.take(b"CATENATE "):
            one["parts"] = _cat_parts(p)
            one["message"] = None
            one["binary"] = False
            messages.append(one)
            if not p.take_sp():
                return {"mailbox": mailbox, **messages[0], "messages": messages}
            continue
        binary = p.at_literal() and p.peek() == ord("~")
        data = p._literal()
        if data is None:
            raise ParseError("APPEND needs the message as a literal")
        one["message"] = data
        one["binary"] = binary
        messages.append(one)
        if not p.take_sp():
            return {"mailbox": mailbox, **messages[0], "messages": messages}


# At most this many parts in one CATENATE (each is a literal or a URL to read).
CATENATE_MAX_PARTS = 1000


def _cat_parts(p: Parser) -> list[tuple[str, Any]]:
    """RFC 4469 section 5: catenate = "CATENATE" SP "(" cat-part *(SP cat-part) ")",
    cat-part = text-literal / url, text-literal = "TEXT" SP literal, url = "URL" SP
    astring. ("TEXT", bytes) and ("URL", str) in order; literal8 is taken in TEXT too
    (RFC 4469 section 3 with BINARY: the server stores the bytes as they are)."""
    def cat_part() -> tuple[str, Any]:
        word = p.keyword()
        p.sp()
        if word == "TEXT":
            data = p._literal()
            if data is None:
                raise ParseError("CATENATE TEXT needs a literal")
            return ("TEXT", data)
        if word == "URL":
            return ("URL", p.astring())
        raise ParseError(f"unknown CATENATE part {word[:20]!r}")
    parts = p.paren_list(cat_part)
    if not parts:
        raise ParseError("empty CATENATE list")
    if len(parts) > CATENATE_MAX_PARTS:
        raise ParseError(f"too many CATENATE parts (max {CATENATE_MAX_PARTS})")
    return parts


def _compress(p: Parser, uid: bool) -> dict[str, Any]:
    """RFC 4978 section 4: command-auth =/ compress; compress = "COMPRESS" SP algorithm."""
    p.sp()
    return {"mechanism": p.keyword()}


def _enable(p: Parser, uid: bool) -> dict[str, Any]:
    caps = []
    while p.take_sp():
        caps.append(p.keyword())
    if not caps:
        raise ParseError("ENABLE needs a capability")
    return {"capabilities": caps}


def _id(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    if p.take(b"NIL"):
        return {"params": None}
    items = p.paren_list(p.nstring)
    return {"params": dict(zip(items[::2], items[1::2], strict=False))}


def _fetch(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    seqset = p.sequence_set()
    p.sp()
    atts: list[FetchAtt] = []
    if p.peek() == ord("("):
        for group in p.paren_list(p.fetch_att):
            atts.extend(group)
    else:
        atts = p.fetch_att()
    if not atts:
        raise ParseError("FETCH needs at least one item")
    changedsince = None
    vanished = False
    if p.take_sp():
        # RFC 7162 3.1.4.1 / 3.2.6: (CHANGEDSINCE n [VANISHED])
        def modifier() -> None:
            nonlocal changedsince, vanished
            word = p.keyword()
            if word == "CHANGEDSINCE":
                p.sp()
                changedsince = p.number64()
            elif word == "VANISHED":
                vanished = True
            else:
                raise ParseError(f"unknown FETCH modifier {word!r}")
        p.paren_list(modifier)
        if vanished and (not uid or changedsince is None):
            raise ParseError("VANISHED needs UID FETCH with CHANGEDSINCE")
    return {"set": seqset, "atts": atts, "changedsince": changedsince, "vanished": vanished}


def _store(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    seqset = p.sequence_set()
    p.sp()
    unchanged = None
    if p.peek() == ord("("):
        def modifier() -> None:
            nonlocal unchanged
            if p.keyword() != "UNCHANGEDSINCE":
                raise ParseError("unknown STORE modifier")
            p.sp()
            unchanged = p.number64()
        p.paren_list(modifier)
        p.sp()
    mode = "set"
    if p.take(b"+"):
        mode = "add"
    elif p.take(b"-"):
        mode = "remove"
    word = p.keyword()
    if word not in ("FLAGS", "FLAGS.SILENT"):
        raise ParseError(f"unknown STORE item {word!r}")
    p.sp()
    if p.peek() == ord("("):
        flags = p.flag_list()
    else:
        flags = [p.flag()]
        while p.take_sp():
            flags.append(p.flag())
    return {"set": seqset, "mode": mode, "silent": word.endswith(".SILENT"),
            "flags": flags, "unchangedsince": unchanged}


def _copy(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    seqset = p.sequence_set()
    p.sp()
    return {"set": seqset, "mailbox": p.mailbox()}


def _uid_expunge(p: Parser, uid: bool) -> dict[str, Any]:
    if not uid:
        return {"set": None}
    p.sp()
    return {"set": p.sequence_set()}


def _charset_decoder(charset: str) -> Callable[[bytes], str]:
    name = charset.upper()
    if name in ("UTF-8", "UTF8", "US-ASCII", "ASCII"):
        return lambda b: b.decode("utf-8", "replace")
    raise BadCharset(charset)


def _return_opts(p: Parser) -> tuple[list[str] | None, tuple[int, int] | None]:
    """search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP
    search-return-opt)] ")" (RFC 4731 ESEARCH, RFC 5182 SAVE, RFC 5267 section 4.4:
    "PARTIAL" SP partial-range, partial-range = nz-number ":" nz-number, given in
    either order as Dovecot takes it). The option names, and PARTIAL's range."""
    if not p.take(b"RETURN "):
        return None, None
    partial: tuple[int, int] | None = None

    def option() -> str:
        nonlocal partial
        word = p.keyword()
        if word == "PARTIAL":
            p.sp()
            low = p.nz_number()
            p.expect(b":")
            high = p.nz_number()
            partial = (min(low, high), max(low, high))
        return word
    returns = p.paren_list(option)
    p.sp()
    return returns, partial


def _search(p: Parser, uid: bool) -> dict[str, Any]:
    """search = "SEARCH" [search-return-opts] [SP "CHARSET" SP charset] 1*(SP search-key)."""
    p.sp()
    returns, partial = _return_opts(p)
    decoder = _charset_decoder("UTF-8")
    if p.take(b"CHARSET "):
        decoder = _charset_decoder(p.astring())
        p.sp()
    keys = _search_keys(p, decoder)
    return {"returns": returns, "partial": partial, "key": keys}


def _search_keys(p: Parser, decoder: Callable[[bytes], str]) -> tuple[Any, ...]:
    keys = [search_key(p, decoder, 0)]
    while p.take_sp():
        keys.append(search_key(p, decoder, 0))
    return keys[0] if len(keys) == 1 else ("AND", tuple(keys))


_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "DELETED": ("\\Deleted", True), "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True), "SEEN": ("\\Seen", True),
    "UNANSWERED": ("\\Answered", False), "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False), "UNFLAGGED": ("\\Flagged", False), "UNSEEN": ("\\Seen", False),
}
_STRING_KEYS = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"}
_DATE_KEYS = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"}
# RFC 8474 section 6: objectid = 1*255(ALPHA / DIGIT / "_" / "-").
_OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}")


def search_key(p: Parser, decoder: Callable[[bytes], str], depth: int) -> tuple[Any, ...]:
    """One search-key (RFC 9051 section 6.4.4) as a tuple: ("FLAG", name, present),
    ("TEXT", s), ("NOT", key), ("OR", a, b), ("AND", keys), ..."""
    if depth > 50:
        raise ParseError("search key nested too deep")
    c = p.peek()
    if c == ord("("):
        p.take(b"(")
        keys = [search_key(p, decoder, depth + 1)]
        while p.take_sp():
            keys.append(search_key(p, decoder, depth + 1))
        p.expect(b")")
        return ("AND", tuple(keys))
    if c == ord("*") or c == ord("$") or 0x30 <= c <= 0x39:
        return ("SEQ", p.sequence_set())
    word = p.keyword()
    if word in ("ALL", "NEW", "OLD", "RECENT", "SAVEDATESUPPORTED"):  # RFC 8514 section 4
        return (word,)
    if word in ("EMAILID", "THREADID"):  # RFC 8474 section 6
        p.sp()
        objectid = p.atom()
        if not _OBJECTID.fullmatch(objectid):
            raise ParseError(f"bad {word} {objectid[:30]!r}")
        return (word, objectid)
    if word in _FLAG_KEYS:
        name, present = _FLAG_KEYS[word]
        return ("FLAG", name, present)
    if word in ("KEYWORD", "UNKEYWORD"):
        p.sp()
        return ("FLAG", p.atom(), word == "KEYWORD")
    if word in _STRING_KEYS:
        p.sp()
        return (word, decoder(p.astring_bytes()))
    if word == "HEADER":
        p.sp()
        name = p.astring()
        p.sp()
        return ("HEADER", name, decoder(p.astring_bytes()))
    if word in _DATE_KEYS:
        p.sp()
        return (word, p.date())
    if word in ("LARGER", "SMALLER"):
        p.sp()
        return (word, p.number())
    if word in ("OLDER", "YOUNGER"):  # RFC 5032 WITHIN
        p.sp()
        return (word, p.nz_number())
    if word == "UID":
        p.sp()
        return ("UID", p.sequence_set())
    if word == "NOT":
        p.sp()
        return ("NOT", search_key(p, decoder, depth + 1))
    if word == "OR":
        p.sp()
        a = search_key(p, decoder, depth + 1)
        p.sp()
        return ("OR", a, search_key(p, decoder, depth + 1))
    if word == "MODSEQ":  # RFC 7162 3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence
        p.sp()
        if p.peek() == 0x22:
            p.quoted()
            p.sp()
            p.atom()
            p.sp()
        return ("MODSEQ", p.number64())
    raise ParseError(f"unknown search key {word!r}")


def _sort(p: Parser, uid: bool) -> dict[str, Any]:
    """RFC 5256: SORT [RETURN (...)] (criteria) charset keys."""
    p.sp()
    returns, partial = _return_opts(p)  # RFC 5267 ESORT
    criteria = [w.upper() for w in p.paren_list(p.atom)]
    if not criteria:
        raise ParseError("empty sort criteria")
    p.sp()
    decoder = _charset_decoder(p.astring())
    p.sp()
    return {"criteria": criteria, "returns": returns, "partial": partial, "key": _search_keys(p, decoder)}


def _cancelupdate(p: Parser, uid: bool) -> dict[str, Any]:
    """RFC 5267 section 4.3: "CANCELUPDATE" 1*(SP quoted), the tags of the searches."""
    tags = []
    while p.take_sp():
        tags.append(p.quoted().decode("utf-8", "replace"))
    if not tags:
        raise ParseError("CANCELUPDATE needs the tag of a search")
    return {"tags": tags}


# RFC 5465 section 8: the event names, as the RFC spells them (case-insensitive).
NOTIFY_EVENTS = {e.upper(): e for e in (
    "MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName", "SubscriptionChange",
    "MailboxMetadataChange", "ServerMetadataChange")}
_NOTIFY_FILTERS = {"SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE", "MAILBOXES"}


def _event_group(p: Parser) -> dict[str, Any]:
    """event-group = "(" filter-mailboxes SP events ")"; events = ("(" event *(SP
    event) ")") / "NONE"; event = "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]
    / ... / event-ext (an atom: kept, for a BADEVENT answer)."""
    p.expect(b"(")
    kind = p.keyword()
    if kind not in _NOTIFY_FILTERS:
        raise ParseError(f"unknown NOTIFY mailbox filter {kind[:20]!r}")
    mailboxes: list[str] = []
    if kind in ("SUBTREE", "MAILBOXES"):
        p.sp()
        mailboxes = p.paren_list(p.mailbox) if p.peek() == ord("(") else [p.mailbox()]
        if not mailboxes:
            raise ParseError(f"{kind} needs a mailbox")
    p.sp()
    events: list[str] = []
    fetch: list[FetchAtt] = []
    if not p.take(b"NONE"):
        def event() -> None:
            word = p.keyword()
            name = NOTIFY_EVENTS.get(word, word)
            events.append(name)
            if name == "MessageNew" and p.buf[p.pos:p.pos + 2] == b" (":
                p.sp()
                for group in p.paren_list(p.fetch_att):
                    fetch.extend(group)
        p.paren_list(event)
        if not events:
            raise ParseError("empty NOTIFY event list")
    p.expect(b")")
    return {"filter": kind, "mailboxes": mailboxes, "events": events, "fetch": fetch}


def _notify(p: Parser, uid: bool) -> dict[str, Any]:
    """RFC 5465 section 8: notify = "NOTIFY" SP (notify-set / notify-none); notify-set =
    "SET" [SP "STATUS"] SP event-groups; event-groups = event-group *(SP event-group)."""
    p.sp()
    if p.take(b"NONE"):
        return {"groups": None, "status": False}
    p.expect(b"SET ")
    status = p.take(b"STATUS ")
    groups = [_event_group(p)]
    while p.take_sp():
        groups.append(_event_group(p))
    return {"groups": groups, "status": status}


def _thread(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    algorithm = p.keyword()
    p.sp()
    decoder = _charset_decoder(p.astring())
    p.sp()
    return {"algorithm": algorithm, "key": _search_keys(p, decoder)}


def _quota_root(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    return {"root": p.astring()}


def _setquota(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    root = p.astring()
    p.sp()
    items: list[Any] = []

    def item() -> None:
        items.append(p.atom().upper())
        p.sp()
        items.append(p.number64())
    p.paren_list(item)
    return {"root": root, "limits": dict(zip(items[::2], items[1::2], strict=True))}


def _acl_ident(p: Parser, uid: bool) -> dict[str, Any]:
    p.sp()
    mailbox = p.mailbox()
    p.sp()
    return {"mailbox": mailbox, "identifier": p.astring()}


def _setacl(p: Parser, uid: bool) -> dict[str, Any]:
    args = _acl_ident(p, uid)
    p.sp()
    args["rights"] = p.astring()
    return args


def _getmetadata(p: Parser, uid: bool) -> dict[str, Any]:
    """RFC 5464 section 5: getmetadata = "GETMETADATA" [SP getmetadata-options] SP
    mailbox SP entries; getmetadata-option = "MAXSIZE" SP number / "DEPTH" SP ("0" /
    "1" / "infinity"); entries = entry / "(" entry *(SP entry) ")". ``depth`` is 0, 1 or
    None (infinity); an empty entry list is taken (as Dovecot does)."""
    p.sp()
    args: dict[str, Any] = {"maxsize": None, "depth": 0}
    if p.peek() == ord("("):
        def option() -> None:
            word = p.keyword()
            p.sp()
            if word == "MAXSIZE":
                args["maxsize"] = p.number32()
            elif word == "DEPTH":
                value = p.atom().lower()
                if value not in ("0", "1", "infinity"):
                    raise ParseError("Invalid value for DEPTH option")
                args["depth"] = None if value == "infinity" else int(value)
            else:
                raise ParseError(f"unknown GETMETADATA option {word[:20]!r}")
        p.paren_list(option)
        p.sp()
    args["mailbox"] = p.mailbox()
    p.sp()
    args["entries"] = p.paren_list(p.astring) if p.peek() == ord("(") else [p.astring()]
    return args


def _setmetadata(p: Parser, uid: bool) -> dict[str, Any]:
    """RFC 5464 section 5: setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value
    *(SP entry-value) ")"; entry-value = entry SP value; value = nstring / literal8."""
    p.sp()
    mailbox = p.mailbox()
    p.sp()
    values: list[tuple[str, bytes | None]] = []

    def entry_value() -> None:
        entry = p.astring()
        if not p.take_sp():
            raise ParseError("Entry value missing")
        value = None if p.take(b"NIL") else p.string_bytes()
        values.append((entry, value))
    p.paren_list(entry_value)
    if not values:
        raise ParseError("SETMETADATA needs at least one entry")
    return {"mailbox": mailbox, "values": values}


GRAMMAR: dict[str, Grammar] = {
    "CAPABILITY": _none, "NOOP": _none, "LOGOUT": _none, "STARTTLS": _none,
    "LOGIN": _login, "AUTHENTICATE": _authenticate, "ENABLE": _enable, "ID": _id,
    "SELECT": _select, "EXAMINE": _select, "CREATE": _create, "DELETE": _mailbox_only,
    "RENAME": _rename, "SUBSCRIBE": _mailbox_only, "UNSUBSCRIBE": _mailbox_only,
    "LIST": _list, "LSUB": _lsub, "NAMESPACE": _none, "STATUS": _status, "APPEND": _append,
    "IDLE": _none, "CHECK": _none, "CLOSE": _none, "UNSELECT": _none, "EXPUNGE": _uid_expunge,
    "SEARCH": _search, "FETCH": _fetch, "STORE": _store, "COPY": _copy, "MOVE": _copy,
    "SORT": _sort, "THREAD": _thread,
    "GETQUOTA": _quota_root, "GETQUOTAROOT": _mailbox_only, "SETQUOTA": _setquota,
    "GETACL": _mailbox_only, "MYRIGHTS": _mailbox_only, "LISTRIGHTS": _acl_ident,
    "SETACL": _setacl, "DELETEACL": _acl_ident, "COMPRESS": _compress,
    "GETMETADATA": _getmetadata, "SETMETADATA": _setmetadata, "CANCELUPDATE": _cancelupdate,
    "NOTIFY": _notify,
}
UID_COMMANDS = {"FETCH", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE", "SORT", "THREAD"}


def peek_command(line: bytes) -> tuple[str | None, str]:
    """Tag and command name (upper case, "UID FETCH" as "FETCH") from the first line,
    best effort, for the reader's decisions about literals before the rest arrives."""
    words = line.split(b" ", 3)
    tag = words[0].decode("ascii", "replace") if words and words[0] else None
    name = words[1].upper().decode("ascii", "replace") if len(words) > 1 else ""
    if name == "UID" and len(words) > 2:
        name = words[2].upper().decode("ascii", "replace")
    return tag, name


def parse_command(parts: list[bytes], *, utf8: bool = False) -> Command:
    """Parse a whole command. ParseError (tag known: ``error.tag``) on any error."""
    p = Parser(parts, utf8=utf8)
    try:
        tag = p.tag()
    except ParseError:
        raise ParseError("thiếu nhãn lệnh / missing command tag") from None
    try:
        p.sp()
        name = p.keyword()
        uid = False
        if name == "UID":
            p.sp()
            name = p.keyword()
            if name not in UID_COMMANDS:
                raise ParseError(f"UID {name} is not a command")
            uid = True
        grammar = GRAMMAR.get(name)
        if grammar is None:
            raise UnknownCommand(f"lệnh không hỗ trợ / unknown command {name[:30]!r}")
        args = grammar(p, uid)
        p.end()
    except (ParseError, BadCharset) as exc:
        exc.tag = tag
        raise
    return Command(tag, name, uid, args)


def append_mailbox(parts: list[bytes], *, utf8: bool) -> str | None:
    """The mailbox of an APPEND whose message literal is announced at the end of the
    last part (for the reader's gate, before the literal is read); None if that literal
    is the mailbox name itself or the grammar is off."""
    p = Parser(parts, utf8=utf8)
    try:
        p.tag()
        p.sp()
        p.keyword()
        p.sp()
        if p.index == len(parts) - 1 and p.at_literal():
            return None  # this literal is the mailbox name
        mailbox = p.mailbox()
        while True:  # each append-message (RFC 3502 MULTIAPPEND: one or more)
            p.sp()
            if p.peek() == ord("("):
                p.flag_list()
                p.sp()
            if p.peek() == 0x22:
                p.date_time()
                p.sp()
            if p.take(b"CATENATE "):
                # RFC 4469: each TEXT literal is part of the message (gated as one);
                # a literal after URL is a URL, not message data.
                p.expect(b"(")
                while True:
                    word = p.keyword()
                    p.sp()
                    if word == "TEXT" and p.index == len(parts) - 1 and p.at_literal():
                        return mailbox
                    if word == "TEXT":
                        if p._literal() is None:
                            return None
                    elif word == "URL":
                        if p.index == len(parts) - 1 and p.at_literal():
                            return None
                        p.astring()
                    else:
                        return None
                    if p.take(b")"):
                        break
                    p.sp()
                if p.at_end() or p.peek() == -1:
                    return None
                continue
            if p.index == len(parts) - 1 and p.at_literal():
                return mailbox
            if p._literal() is None:
                return None
    except ParseError:
        return None
