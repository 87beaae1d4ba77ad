"""The old server, read with the standard library's ``imaplib`` (blocking: the copier
runs each call in a thread). Only reading commands are sent (LIST, SELECT read-only
through EXAMINE, UID SEARCH, UID FETCH with BODY.PEEK), so the old mailbox is left
exactly as it was, \\Seen flags included.

``imaps://host[:port]`` is TLS from the first byte (RFC 8314), the certificate checked
unless ``verify`` is off (old servers often have self-signed ones); ``imap://`` upgrades
with STARTTLS (RFC 9051 section 6.2.1) and goes on in clear only when allowed (a
loopback test server, a trusted LAN). Folder names are modified UTF-7 (RFC 3501 section
5.1.3) on the wire and Unicode here.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from congthu.imap import utf7

TIMEOUT = 120.0


class SourceError(Exception):
    """The old server refused or could not be reached; the text says which and why."""


@dataclass(frozen=True)
class SourceURL:
    scheme: str  # "imaps" or "imap"
    host: str
    port: int

    @property
    def text(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_url(text: str) -> SourceURL:
    parts = urlsplit(text)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"không phải imaps://máy[:cổng] / not imaps://host[:port]: {text!r}")
    try:
        port = parts.port or (993 if parts.scheme == "imaps" else 143)
    except ValueError:
        raise ValueError(f"cổng không hợp lệ / invalid port: {text!r}") from None
    return SourceURL(parts.scheme, parts.hostname, port)


@dataclass(frozen=True)
class OldFolder:
    name: str  # Unicode, the old server's delimiter
    delimiter: str | None
    attributes: frozenset[str]  # lower case: "\\sent", "\\noselect"...


@dataclass(frozen=True)
class OldMessage:
    uid: int
    flags: tuple[str, ...]
    internal_date: datetime | None
    size: int
    message_id: str


_LIST = re.compile(rb'^\((?P<attrs>[^)]*)\) (?P<delim>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$', re.I | re.S)
_UID = re.compile(rb"\bUID (\d+)", re.I)
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.I)
_DATE = re.compile(rb'\bINTERNALDATE "([^"]+)"', re.I)
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)", re.I)
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(.*?)\s*$", re.I | re.M | re.S)


def _unquote(value: bytes) -> bytes:
    if value.startswith(b'"') and value.endswith(b'"') and len(value) >= 2:
        return re.sub(rb"\\(.)", rb"\1", value[1:-1])
    return value


def _quote(name: str) -> str:
    wire = utf7.encode(name)
    return '"' + wire.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _internal_date(value: bytes) -> datetime | None:
    try:
        # In UTC, as the store keeps it (IMAP APPEND's parser does the same).
        return datetime.strptime(value.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    except ValueError:
        return None


def normal_message_id(value: str) -> str:
    """A Message-ID as compared for fingerprints: unfolded, without brackets."""
    return "".join(value.split()).strip("<>")


class OldServer:
    """One logged-in connection to the old server."""

    def __init__(self, url: SourceURL, login: str, password: str, *, verify: bool = True,
                 allow_plaintext: bool = False) -> None:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            if url.scheme == "imaps":
                self.conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(url.host, url.port, ssl_context=context,
                                                             timeout=TIMEOUT)
            else:
                self.conn = imaplib.IMAP4(url.host, url.port, timeout=TIMEOUT)
                if "STARTTLS" in self.conn.capabilities:
                    self.conn.starttls(context)
                elif not allow_plaintext:
                    self.conn.shutdown()
                    raise SourceError(f"{url.text}: no STARTTLS; the password would go in clear "
                                      "(use imaps:// or --allow-plaintext)")
            self.conn.login(login, password)
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise SourceError(f"{url.text} ({login}): {exc}") from None
        self.login = login

    def close(self) -> None:
        try:
            self.conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    def _ok(self, what: str, result: tuple[str, Any]) -> list[Any]:
        status, data = result
        if status != "OK":
            raise SourceError(f"{what}: {status} {data!r}")
        return data

    def folders(self) -> list[OldFolder]:
        out = []
        for item in self._ok("LIST", self.conn.list('""', "*")):
            if item is None:
                continue
            if isinstance(item, tuple):  # the name came as a literal
                head, name_bytes = item[0], item[1]
                m = _LIST.match(head.rstrip() + b" x")
            else:
                assert isinstance(item, bytes)
                m = _LIST.match(item)
                name_bytes = _unquote(m.group("name")) if m else b""
            if not m:
                raise SourceError(f"LIST: unreadable line {item!r}")
            delim = m.group("delim")
            delimiter = None if delim.upper() == b"NIL" else _unquote(delim).decode("ascii", "replace")
            try:
                name = utf7.decode(name_bytes.decode("ascii"))
            except (UnicodeDecodeError, utf7.UTF7Error):
                name = name_bytes.decode("utf-8", "replace")  # RFC 6855 servers send UTF-8
            attrs = frozenset(a.decode("ascii", "replace").lower() for a in m.group("attrs").split())
            out.append(OldFolder(name, delimiter, attrs))
        return out

    def examine(self, name: str) -> int:
        """Open a folder read-only; its UIDVALIDITY."""
        self._ok(f"EXAMINE {name}", self.conn.select(_quote(name), readonly=True))
        _code, data = self.conn.response("UIDVALIDITY")  # imaplib echoes the code, not OK
        if not data or data[0] is None:
            raise SourceError(f"{name}: no UIDVALIDITY")
        return int(data[0])

    def messages_after(self, last_uid: int) -> list[OldMessage]:
        """Flags, internal date, size and Message-ID of every message above ``last_uid``."""
        data = self._ok("UID SEARCH", self.conn.uid("SEARCH", f"UID {last_uid + 1}:*"))
        uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last_uid)
        out: list[OldMessage] = []
        for start in range(0, len(uids), 500):
            chunk = ",".join(map(str, uids[start:start + 500]))
            items = self._ok("UID FETCH", self.conn.uid(
                "FETCH", chunk, "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
            out.extend(_metadata(items))
        return sorted(out, key=lambda m: m.uid)

    def bodies(self, uids: list[int]) -> dict[int, bytes]:
        items = self._ok("UID FETCH", self.conn.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])"))
        out = {}
        for item in items:
            if isinstance(item, tuple):
                m = _UID.search(item[0])
                if m:
                    out[int(m.group(1))] = item[1]
        return out


def _metadata(items: list[object]) -> list[OldMessage]:
    """The messages of one FETCH answer: imaplib gives (head, literal) tuples and the
    bytes after each literal as separate items; the fields may be in either."""
    out = []
    head, literal = b"", b""

    def finish() -> None:
        uid = _UID.search(head)
        if uid is None:
            return
        flags = _FLAGS.search(head)
        date = _DATE.search(head)
        size = _SIZE.search(head)
        mid = _MESSAGE_ID.search(literal.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" "))
        out.append(OldMessage(
            uid=int(uid.group(1)),
            flags=tuple(f.decode("utf-8", "replace") for f in flags.group(1).split()) if flags else (),
            internal_date=_internal_date(date.group(1)) if date else None,
            size=int(size.group(1)) if size else 0,
            message_id=normal_message_id(mid.group(1).decode("utf-8", "replace")) if mid else ""))

    for item in items:
        if isinstance(item, tuple):
            if re.match(rb"^\d+ \(", item[0]):
                finish()
                head, literal = item[0], b""
            else:
                head += item[0]
            literal += item[1]
        elif isinstance(item, bytes):
            if re.match(rb"^\d+ \(", item):
                finish()
                head, literal = item, b""
            else:
                head += b" " + item
    finish()
    return out
