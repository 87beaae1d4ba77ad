"""The one reader of author fields: From, Sender, Resent-From, Resent-Sender (RFC 5322
sections 3.6.2 and 3.6.6).

Every path that decides something from who wrote a message reads it here: the MX's
refusal of mail from outside that claims our own domain, DMARC's author domain (RFC 7489
section 3.1), submission's send-as check, bounces, delivery, and IMAP's ENVELOPE (which
parses author fields with ``parse_author_field``, the same address parser). A sender
check that reads a field more strictly than the mail client that later shows it can be
walked around ("Composition Kills", USENIX Security 2020): here the fields are read as
leniently as the most lenient mainstream reader, and what counts for a check is
everything a client could show as the sender.

Reading the header (``read_authors``, through ``mime.headers.lenient_fields``):

* the header is every line up to the first empty line; a line that is neither a field
  nor a continuation is skipped, not taken as the end of the header (so no field can
  hide behind a broken line; IMAP's ``mime.headers.scan_header`` stops there, so this
  reader sees a superset of what ENVELOPE shows);
* a field name may be followed by white space before the colon (RFC 5322 section 4.5,
  obsolete syntax: ``From : x``), names are matched in any case;
* folding may be anywhere (RFC 5322 section 2.2.3 unfolding removes the CRLF only; white
  space inside an address is then dropped by the address parser);
* CRLF or bare LF line ends; 8-bit bytes are UTF-8 (RFC 6532, SMTPUTF8 mail) or kept
  surrogate-escaped.

Reading a field value: ``mime.addresses.parse_addresses`` (comments, groups, quoted local
parts, obsolete routes, missing commas, never an error). Beside the parsed addresses,
every address-shaped string in the value, before and after decoding its RFC 2047 encoded
words, is a *claim*: a display name ``"ntbinh@soctrang.gov.vn" <x@evil>``, a comment,
an encoded word holding an address (``=?utf-8?q?ntbinh=40soctrang.gov.vn?=``) or a quoted
local part holding ``@`` all show an address to the reader, so the checks look at them.

Domains are compared in one normal form (``normal_domain``): lower case, NFC, without
the trailing root dot, IDNA A-labels (``xn--``) decoded to U-labels, the ideographic full
stops of UTS 46 read as dots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from congthu.mime.addresses import Address, address_text, parse_addresses
from congthu.mime.headers import lenient_fields
from congthu.mime.words import decode_words
from congthu.text import nfc

__all__ = [
    "AUTHOR_FIELDS", "Author", "Authors", "normal_domain", "parse_author_field", "read_authors",
]

AUTHOR_FIELDS = ("from", "sender", "resent-from", "resent-sender")

# Anything shaped like an address (local part and domain of characters that can appear
# in a shown address); a second net under the parser for the checks.
_ADDRESS_LIKE = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"'@=?]+")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_DOMAIN_END = re.compile(r"[^\w.\-\u00a0-\U0010ffff]")

# Hostile messages: at most this many author fields are looked at; a message beyond
# them (or beyond ``headers.MAX_LENIENT_HEADER``) is unreadable (``Authors.overflow``).
MAX_FIELDS = 200
MAX_VALUE = 256 * 1024


def _u_label(label: str) -> str:
    """The U-label of an A-label (RFC 5890 section 2.3.2.1), or the label as written if it
    is not a valid one (it must decode to non-ASCII and encode back to itself)."""
    encoded = label[4:].lower()
    try:
        decoded = encoded.encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label
    if decoded.isascii() or decoded.encode("punycode") != encoded.encode("ascii"):
        return label
    return decoded


# Remembered: an MX compares the same few domains (ours, the senders') several times
# for every message, and the form depends on the text alone.
@lru_cache(maxsize=4096)
def normal_domain(domain: str) -> str:
    """The one form in which domains are compared: lower case, NFC, no trailing dot,
    A-labels decoded to U-labels (RFC 5890), ideographic dots read as dots (UTS 46)."""
    domain = nfc(domain.strip().translate(_DOTS)).rstrip(".")
    labels = []
    for label in domain.split("."):
        if label[:4].lower() == "xn--" and label.isascii():
            label = _u_label(label)
        labels.append(nfc(label).lower())
    return ".".join(labels)


def _address_domain(domain: str) -> str:
    """The normal form of a parsed domain, cut where a broken field glued more to it
    ("x@y.vn:;" is y.vn)."""
    return normal_domain(_DOMAIN_END.split(domain, maxsplit=1)[0]) if domain else ""


@dataclass(frozen=True)
class Author:
    """One address of an author field as a client shows it."""

    field: str  # "from", "sender", "resent-from", "resent-sender"
    name: str  # display name, decoded (RFC 2047); "" if none
    local: str  # local part as written ("MISSING_MAILBOX" if none)
    domain: str  # domain as written ("" if none)

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}" if self.domain else self.local

    @property
    def normal_domain(self) -> str:
        return _address_domain(self.domain)

    @property
    def shown(self) -> str:
        """What a mail client shows: "Name <local@domain>" or "local@domain"."""
        return address_text((self.name or None, None, self.local, self.domain or "MISSING_DOMAIN"))


@dataclass
class Authors:
    """The author fields of one message header."""

    # (field name, addresses) per author field, in header order.
    fields: list[tuple[str, list[Author]]] = field(default_factory=list)
    # (field name, address) of every address a client could show, see the module text.
    claims: list[tuple[str, str]] = field(default_factory=list)
    overflow: bool = False  # too large or too many fields to read in full

    def count(self, name: str) -> int:
        """How many fields of that name (RFC 5322 section 3.6: one From, one Sender)."""
        return sum(1 for found, _addresses in self.fields if found == name)

    def addresses(self, *names: str) -> list[Author]:
        """The parsed addresses of the named fields (all author fields if none named)."""
        wanted = names or AUTHOR_FIELDS
        return [a for found, addresses in self.fields if found in wanted for a in addresses]

    @property
    def from_(self) -> list[Author]:
        return self.addresses("from")

    def from_domains(self) -> list[str]:
        """The author domains (RFC 7489 section 3.1), in normal form, in order."""
        return [a.normal_domain for a in self.from_ if a.domain]

    def claimed_domains(self, *names: str) -> list[str]:
        """Domains (normal form) of every address shown by the named fields (all if none)."""
        wanted = names or AUTHOR_FIELDS
        return [address.rpartition("@")[2] for found, address in self.claims if found in wanted]

    def claimed(self, *names: str) -> list[str]:
        """Every address shown by the named fields (domain in normal form), once each."""
        wanted = names or AUTHOR_FIELDS
        return list(dict.fromkeys(address for found, address in self.claims if found in wanted))

    def shown_sender(self) -> str:
        """The sender a mail client shows: the From addresses, comma-separated."""
        return ", ".join(a.shown for a in self.from_)


def parse_author_field(value: str | None) -> list[Address] | None:
    """An author field's value as IMAP ENVELOPE address structures (RFC 9051 section
    7.5.2); the parser every reader of author fields uses."""
    return parse_addresses(value[:MAX_VALUE] if value is not None else None)


def _claims(value: str, parsed: list[Address]) -> list[str]:
    found: list[str] = []
    for _name, _adl, mailbox, host in parsed:
        if mailbox is not None and host not in (None, "MISSING_DOMAIN"):
            found.append(f"{mailbox}@{host}")
    found += _ADDRESS_LIKE.findall(value)
    if "=?" in value:
        found += _ADDRESS_LIKE.findall(decode_words(value))
    claims: list[str] = []
    for address in found:
        local, _, domain = address.rpartition("@")
        domain = _address_domain(domain)
        if domain:
            claims.append(f"{nfc(local)}@{domain}")
    return claims


def read_authors(raw: bytes) -> Authors:
    """The author fields of the message ``raw`` (its header is enough)."""
    fields, overflow = lenient_fields(raw)
    authors = Authors(overflow=overflow)
    for name, value in fields:
        if name not in AUTHOR_FIELDS:
            continue
        if len(authors.fields) >= MAX_FIELDS or len(value) > MAX_VALUE:
            authors.overflow = True
            break
        parsed = parse_author_field(value) or []
        addresses = [
            Author(name, decode_words(display) if display else "", mailbox, host if host != "MISSING_DOMAIN" else "")
            for display, _adl, mailbox, host in parsed
            if mailbox is not None and host is not None  # group markers
        ]
        authors.fields.append((name, addresses))
        authors.claims.extend((name, claim) for claim in _claims(value, parsed))
    return authors
