"""IMAP ENVELOPE (RFC 9051 section 7.5.2; RFC 3501 section 7.4.2).

The envelope keeps the raw header values (unfolded, still RFC 2047-encoded, 8-bit bytes
surrogate-escaped: use ``headers.wire`` to get the bytes back), as ENVELOPE must return
them, and the address lists parsed into (name adl mailbox host) structures. From and
Sender are parsed by ``mime.authors.parse_author_field``, the parser of every check of
authors (the MX's anti-spoofing, DMARC, submission's send-as), so IMAP shows the sender
those checks saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from congthu.mime.addresses import Address, parse_addresses
from congthu.mime.authors import parse_author_field
from congthu.mime.headers import Header

__all__ = ["Envelope", "ADDRESS_FIELDS", "cap_string"]

ADDRESS_FIELDS = ("from", "sender", "reply_to", "to", "cc", "bcc")

# Hostile headers: a string field is cut at MAX_STRING characters, and an address field is
# parsed from its first MAX_ADDRESS_FIELD characters (with at most addresses.MAX_ADDRESSES
# addresses), so the stored structure stays small. Real mail never comes near either.
MAX_STRING = 64 * 1024
MAX_ADDRESS_FIELD = 256 * 1024


def cap_string(value: str | None) -> str | None:
    return value[:MAX_STRING] if value is not None else None


def _addresses(value: str | None) -> list[Address] | None:
    return parse_addresses(value[:MAX_ADDRESS_FIELD] if value is not None else None)


@dataclass
class Envelope:
    date: str | None = None
    subject: str | None = None
    from_: list[Address] | None = None
    sender: list[Address] | None = None
    reply_to: list[Address] | None = None
    to: list[Address] | None = None
    cc: list[Address] | None = None
    bcc: list[Address] | None = None
    in_reply_to: str | None = None
    message_id: str | None = None

    @classmethod
    def from_header(cls, header: Header) -> Envelope:
        return cls(
            date=cap_string(header.get("date")),
            subject=cap_string(header.get("subject")),
            from_=parse_author_field(header.get("from")),
            sender=parse_author_field(header.get("sender")),
            reply_to=_addresses(header.get("reply-to")),
            to=_addresses(header.get("to")),
            cc=_addresses(header.get("cc")),
            bcc=_addresses(header.get("bcc")),
            in_reply_to=cap_string(header.get("in-reply-to")),
            message_id=cap_string(header.get("message-id")),
        )

    def imap(self) -> list[Any]:
        """The ENVELOPE as a nested list, in RFC 9051 order, NIL as None.

        Sender and Reply-To default to From when absent or empty (RFC 9051 section 7.5.2:
        "the server sets the corresponding member of the envelope to be the same value as
        the from member").
        """

        def addresses(value: list[Address] | None) -> list[list[str | None]] | None:
            return [list(a) for a in value] if value else None

        return [
            self.date, self.subject, addresses(self.from_),
            addresses(self.sender or self.from_), addresses(self.reply_to or self.from_),
            addresses(self.to), addresses(self.cc), addresses(self.bcc),
            self.in_reply_to, self.message_id,
        ]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("date", "subject", "in_reply_to", "message_id"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ADDRESS_FIELDS:
            value = getattr(self, "from_" if key == "from" else key)
            if value is not None:
                out[key] = [list(a) for a in value]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Envelope:
        def addresses(key: str) -> list[Address] | None:
            value = data.get(key)
            return [(a[0], a[1], a[2], a[3]) for a in value] if value is not None else None

        return cls(
            date=data.get("date"), subject=data.get("subject"),
            from_=addresses("from"), sender=addresses("sender"), reply_to=addresses("reply_to"),
            to=addresses("to"), cc=addresses("cc"), bcc=addresses("bcc"),
            in_reply_to=data.get("in_reply_to"), message_id=data.get("message_id"),
        )
