"""Address lists (RFC 5322 section 3.4) for IMAP's ENVELOPE and for display.

IMAP returns each address as (name adl mailbox host) with the raw, still RFC 2047-encoded
display name (RFC 9051 section 7.5.2, ENVELOPE); a group is (NIL NIL "group" NIL) ...
(NIL NIL NIL NIL). A missing domain or local part is returned as "MISSING_DOMAIN" /
"MISSING_MAILBOX" (as Dovecot does), never as NIL, which would read as group syntax.

The parser is lenient: unbalanced quotes, brackets and comments, missing commas (a word
after a whole address and white space starts the next address) and
obsolete routes ("<@a,@b:user@host>") all give a best-effort result, never an error.
When an address has no display name, a comment ("user@host (Full Name)") is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from congthu.mime.words import decode_words

__all__ = ["Address", "parse_addresses", "display_addresses", "address_text"]

Address = tuple[str | None, str | None, str | None, str | None]  # name, adl, mailbox, host

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n]+)
      | (?P<qs>"(?:[^"\\]|\\.)*\\?(?:"|\Z))
      | (?P<lit>\[(?:[^\]\\]|\\.)*\\?(?:\]|\Z))
      | (?P<open>\()
      | (?P<special>[<>@,;:.\\\])])
      | (?P<atom>[^ \t\r\n"()<>@,;:.\[\]\\]+)""",
    re.S | re.X,
)
_COMMENT_PART = re.compile(r"[^()\\]+|\\.?|[()]", re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)

# Hostile headers: addresses beyond this many are left out of the envelope.
MAX_ADDRESSES = 2000


def _tokens(value: str) -> Iterator[tuple[str, str]]:
    """(kind, text) tokens; comments are one token each (nesting allowed, RFC 5322 3.2.2)."""
    pos, end = 0, len(value)
    while pos < end:
        match = _TOKEN.match(value, pos)
        if match is None:  # cannot happen with the patterns above; be safe
            pos += 1
            continue
        kind = match.lastgroup or "atom"
        if kind == "open":
            depth, start = 0, pos
            for part in _COMMENT_PART.finditer(value, pos):
                text = part.group()
                depth += 1 if text == "(" else -1 if text == ")" else 0
                pos = part.end()
                if depth == 0:
                    break
            else:
                pos = end
            yield "comment", value[start + 1:pos].removesuffix(")")
            continue
        yield kind, match.group()
        pos = match.end()


def _phrase(tokens: list[tuple[str, str]]) -> str | None:
    """Display name: quoted strings unquoted, white space collapsed, comments dropped."""
    words: list[str] = []
    space = False
    for kind, text in tokens:
        if kind in ("ws", "comment"):
            space = bool(words)
            continue
        if space:
            words.append(" ")
            space = False
        words.append(_ESCAPE.sub(r"\1", text[1:].removesuffix('"')) if kind == "qs" else text)
    name = "".join(words).strip()
    return name or None


def _addr_spec(tokens: list[tuple[str, str]]) -> tuple[str, str]:
    """(mailbox, host) from local-part "@" domain; white space and comments dropped."""
    clean = [text for kind, text in tokens
             if kind not in ("ws", "comment") and not (kind == "special" and text in "<>")]
    if "@" in clean:
        at = len(clean) - 1 - clean[::-1].index("@")
        local, domain = "".join(clean[:at]), "".join(clean[at + 1:])
    else:
        local, domain = "".join(clean), ""
    return local or "MISSING_MAILBOX", domain or "MISSING_DOMAIN"


def _mailbox(tokens: list[tuple[str, str]]) -> Address | None:
    if all(kind in ("ws", "comment") for kind, _ in tokens):
        return None
    kinds = [kind == "special" and text == "<" for kind, text in tokens]
    if any(kinds):
        lt = kinds.index(True)
        name = _phrase(tokens[:lt])
        inner = tokens[lt + 1:]
        gt = next((i for i, (k, t) in enumerate(inner) if k == "special" and t == ">"), len(inner))
        after = inner[gt + 1:]
        inner = inner[:gt]
        adl = None
        colon = next((i for i, (k, t) in enumerate(inner) if k == "special" and t == ":"), None)
        if colon is not None:
            adl = "".join(t for k, t in inner[:colon] if k not in ("ws", "comment")) or None
            inner = inner[colon + 1:]
        if name is None:
            name = _comment_name(after)
        mailbox, host = _addr_spec(inner)
        return (name, adl, mailbox, host)
    mailbox, host = _addr_spec(tokens)
    return (_comment_name(tokens), None, mailbox, host)


def _comment_name(tokens: list[tuple[str, str]]) -> str | None:
    for kind, text in tokens:
        if kind == "comment" and text.strip():
            return " ".join(text.split())
    return None


def _separated_complete(tokens: list[tuple[str, str]]) -> bool:
    """Do ``tokens`` hold a whole address (an addr-spec with its domain, or an angle
    address) followed by white space or a comment, so that a next word starts another?"""
    if not tokens or tokens[-1][0] not in ("ws", "comment"):
        return False
    significant = [(k, t) for k, t in tokens if k not in ("ws", "comment")]
    texts = [t for k, t in significant if k == "special"]
    if "<" in texts:
        return ">" in texts
    if "@" not in texts:
        return False
    at = max(i for i, (k, t) in enumerate(significant) if k == "special" and t == "@")
    return at + 1 < len(significant) and significant[-1][0] in ("atom", "lit")


# Values up to this long are parsed once and remembered (``_parse_known``): the same
# From and To fields come again and again (a province's mail is between a few thousand
# addresses), and each is parsed for the ENVELOPE and again for the author checks.
_KNOWN_VALUE = 512


def parse_addresses(value: str | None) -> list[Address] | None:
    """Parse an address-list header value into IMAP ENVELOPE address structures.

    Returns None when there is no address at all (IMAP NIL).
    """
    if value is None:
        return None
    if len(value) <= _KNOWN_VALUE:
        known = _parse_known(value)
        return list(known) if known is not None else None
    return _parse(value)


@lru_cache(maxsize=4096)
def _parse_known(value: str) -> tuple[Address, ...] | None:
    found = _parse(value)
    return tuple(found) if found is not None else None


def _parse(value: str) -> list[Address] | None:
    result: list[Address] = []
    current: list[tuple[str, str]] = []
    angle = False
    in_group = False

    def flush() -> None:
        address = _mailbox(current)
        if address is not None and len(result) < MAX_ADDRESSES:
            result.append(address)
        current.clear()

    for kind, text in _tokens(value):
        if len(result) >= MAX_ADDRESSES:
            break
        if kind == "special" and not angle:
            if text == ",":
                flush()
                continue
            if text == ":" and not in_group and not any(t == "@" for _, t in current):
                result.append((None, None, _phrase(current) or "", None))
                current.clear()
                in_group = True
                continue
            if text == ";" and in_group:
                flush()
                result.append((None, None, None, None))
                in_group = False
                continue
        if kind in ("atom", "qs") and not angle and _separated_complete(current):
            flush()  # a missing comma: "a@x b@y" (or a@x folded onto b@y) is two addresses
        if kind == "special" and text in "<>":
            angle = text == "<"
        current.append((kind, text))
    flush()
    if in_group:
        result.append((None, None, None, None))
    return result or None


def address_text(address: Address) -> str:
    """"Tên hiển thị <user@host>" with the name decoded (RFC 2047), or "user@host"."""
    name, _adl, mailbox, host = address
    if mailbox == "MISSING_MAILBOX":
        mailbox = ""
    email = f"{mailbox}@{host}" if mailbox and host not in (None, "MISSING_DOMAIN") else (mailbox or "")
    if name and not email:
        return decode_words(name)
    if name:
        shown = decode_words(name)
        if any(c in shown for c in ',;<>"@'):
            shown = '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{shown} <{email}>"
    return email


def display_addresses(value: str | None) -> str:
    """A decoded, comma-separated display form of an address-list header value."""
    addresses = parse_addresses(value) or []
    return ", ".join(filter(None, (address_text(a) for a in addresses if a[3] is not None)))
