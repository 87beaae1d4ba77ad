"""Text for search (``congthu.text.fold``), bounded in size: what IMAP SEARCH TEXT and BODY
(RFC 9051 section 6.4.4) and the webmail's search look in.

The folded text has two sections, joined by ``BODY_MARK``:

* the header section (SEARCH TEXT only): the header of the message and of every part and
  attached message, RFC 2047 words decoded and folded lines joined; then the decoded
  subject and the From/To/Cc texts of ``address_key`` (the folded fields SEARCH SUBJECT,
  FROM, TO and CC match are each a substring of the text, which lets the store's trigram
  index narrow those searches too);
* the body section (SEARCH BODY and TEXT): every text/* part, attachments and attached
  messages' parts included, with its transfer encoding (quoted-printable, base64) and
  charset undone; HTML both as its source (what an exact substring search of the
  decoded body finds, as Dovecot does; without scripts, styles and comments, which no
  reader sees) and as its visible text (entities decoded, tags gone). Other media
  types (PDF, images) are not text, as for Dovecot.

Text stored before the mark existed has no mark: all of it counts as body then.
At most ``MAX_SEARCH_TEXT`` characters are kept, and no more than that is decoded.

The store keeps only the first ``INDEXED_CHARS`` characters of the text (what its trigram
index holds) and makes the whole text again with ``search_text`` when a search needs it
(``congthu.store.search``): delivery's analysis asks ``search_text_prefix`` for that
prefix, which folds only as much of the body as it needs (folding was most of the
analysis of a large message: ~20 ms per MB of Vietnamese text), and decodes the long
plain text part read last only as far as that can need (putting windows-1258 text in NFC
cost ~60 ms per MB), and is exactly the prefix of ``search_text``'s text
(tests/store/test_search_text_prefix.py, tests/mime/test_mime_partial_reading.py).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from congthu.mime.addresses import Address, address_text
from congthu.mime.body import body_limit, body_start_text, body_text
from congthu.mime.part import Part
from congthu.mime.words import clean, decode_words
from congthu.text import fold

__all__ = ["search_text", "search_text_prefix", "folded_clean", "html_to_text", "addresses_text", "address_key",
           "address_texts", "EnvelopeTexts",
           "BODY_MARK", "INDEXED_CHARS", "MAX_SEARCH_TEXT"]

MAX_SEARCH_TEXT = 1_000_000
# What the store keeps of a text: its first characters, as many as its trigram index
# holds (congthu.store.search; migrations store_0011 and store_0012 write the number).
INDEXED_CHARS = 65536
# Between the header and body sections: DEL, which ``clean`` turns into a space in the
# text on both sides, so it occurs once; not white space (``fold`` keeps it) and valid
# in SQLite and PostgreSQL text.
BODY_MARK = "\x7f"

# Each pattern ends at the first closing mark or at the end of the text, so an unclosed
# "<script" costs one pass, never a quadratic search.
_INVISIBLE = re.compile(r"<(script|style|head)\b.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)", re.S | re.I)
_TAG = re.compile(r"<[a-zA-Z/!?][^>]*(?:>|\Z)")
_FOLDED_LINE = re.compile(r"\r?\n(?=[ \t])")


def html_to_text(source: str) -> str:
    """Visible text of an HTML body, roughly: no scripts, styles, comments or tags."""
    return html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", source)))


def addresses_text(addresses: list[Address] | None) -> str:
    """Decoded display form of an ENVELOPE address list (groups left out)."""
    return ", ".join(filter(None, (clean(address_text(a)) for a in addresses or [] if a[3] is not None)))


def address_key(addresses: list[Address] | None) -> str:
    """What SEARCH FROM/TO/CC match (before folding): each address's display form, and the
    display name of each group (RFC 5322 section 3.4 group syntax: in the ENVELOPE a
    group starts with an address whose host is NIL and whose mailbox is the group's
    name, RFC 9051 section 7.5.2), so ``TO "Group Name"`` finds ``To: Group Name: a@b;``."""
    out = []
    for a in addresses or []:
        if a[3] is not None:
            out.append(clean(address_text(a)))
        elif a[2]:
            out.append(clean(decode_words(a[2])))
    return ", ".join(filter(None, out))


def address_texts(addresses: list[Address] | None) -> tuple[str, str]:
    """``(addresses_text(addresses), address_key(addresses))``, each address's text made
    once (decoding its name is most of the work)."""
    shown: list[str] = []
    key: list[str] = []
    for a in addresses or []:
        if a[3] is not None:
            text = clean(address_text(a))
            shown.append(text)
            key.append(text)
        elif a[2]:
            key.append(clean(decode_words(a[2])))
    return ", ".join(filter(None, shown)), ", ".join(filter(None, key))


# The texts of a message's envelope in the header section: its decoded subject and the
# From, To and Cc texts of ``address_key``.
EnvelopeTexts = tuple[str, str, str, str]


def _header_text(raw: bytes, part: Part) -> str:
    block = raw[part.header_start:part.body_start].decode("utf-8", "surrogateescape")
    return clean(decode_words(_FOLDED_LINE.sub("", block)))


def _last(part: Part) -> Part:
    """The part ``_collect`` reads last: after its body, no header is read."""
    while True:
        if part.children:
            part = part.children[-1]
        elif part.message is not None:
            part = part.message
        else:
            return part


@dataclass
class _Start:
    """The part ``_collect`` reads last (``_last``): its body, if plain text and long, is
    read only for its first ``chars`` characters (as far as ``decode_start`` needs), and
    ``text`` is then that start, the end of the body section (``search_text_prefix``
    needs no more of it at first)."""

    part: Part
    chars: int
    text: str | None = None


def _collect(raw: bytes, part: Part, headers: list[str], bodies: list[str], budget: list[int],
             decoded: dict[int, str] | None = None, texts: EnvelopeTexts | None = None,
             start: _Start | None = None) -> None:
    """``texts``: the envelope's texts of ``part`` when the caller has them already;
    ``start``: the part to read only in part, if long (``_Start``)."""
    if budget[0] <= 0:
        return
    if part.body_start > part.header_start:
        text = _header_text(raw, part)[:budget[0]]
        headers.append(text)
        budget[0] -= len(text) + 1
    if part.envelope is not None:
        env = part.envelope
        for text in texts or (clean(decode_words(env.subject or "")), address_key(env.from_),
                              address_key(env.to), address_key(env.cc)):
            headers.append(text)
            budget[0] -= len(text) + 1
    if part.children:
        for child in part.children:
            _collect(raw, child, headers, bodies, budget, decoded, start=start)
    elif part.message is not None:
        _collect(raw, part.message, headers, bodies, budget, decoded, start=start)
    elif part.type == "text":
        limit = max(budget[0], 0)
        size = part.body_end - part.body_start
        # Read in part only a body ``body_text`` would read whole (with the charset
        # chosen from all of it: a longer one it reads only in part, and chooses from that).
        if (start is not None and part is start.part and part.subtype != "html"
                and 2 * start.chars < size <= body_limit(limit)):
            text = body_start_text(raw, part, start.chars)
            if len(text) >= start.chars:  # else it is all of the body's text
                start.text = text
                bodies.append(text[:limit])
                budget[0] -= len(text) + 1  # at most: no header and no body comes after it
                return
            whole = text
        else:
            whole = body_text(raw, part, limit=limit)
        if decoded is not None and part.body_end <= part.body_start + body_limit(limit):
            decoded[part.body_start] = whole  # all of the body: the analysis reads it again
        text = whole[:limit]
        if part.subtype == "html":
            source = _INVISIBLE.sub(" ", text)
            text = source + " " + html.unescape(_TAG.sub(" ", source))
            text = text[:max(budget[0], 0)]
        bodies.append(text)
        budget[0] -= len(text) + 1


# Control characters ``str.split()`` does not take for white space (every other one, CR,
# LF, TAB, VT, FF and U+001C-U+001F, is), as UTF-8 bytes.
_NOT_SPACE_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F])


def folded_clean(text: str) -> str:
    """``fold(clean(text))``, without ``clean``'s pass when it would change nothing that
    ``fold`` keeps: for text whose only control characters are white space (CR LF line
    ends: a body, almost always), ``fold`` collapses them as ``clean`` would. A regular
    expression pass over a body cost 18 ms per MB, most of the analysis of a large text."""
    try:
        data = text.encode("utf-8")  # stray surrogates (undecodable bytes) fail: clean them
    except UnicodeEncodeError:
        return fold(clean(text))
    if len(data.translate(None, _NOT_SPACE_CONTROLS)) != len(data):
        return fold(clean(text))
    return fold(text)


def _sections(raw: bytes, root: Part, limit: int, decoded: dict[int, str] | None = None,
              texts: EnvelopeTexts | None = None,
              start_chars: int | None = None) -> tuple[str, str, tuple[int, str] | None]:
    """The header and body sections, not folded yet, and (``body_start``, start) of the
    part read last when only a start of it was read; ``decoded`` gets the text of each
    text part decoded whole, by its ``body_start``; ``texts``: the root envelope's.
    ``start_chars`` given: the part read last, if long plain text, is read only for its
    first ``start_chars`` characters (``_Start``): then the body section returned is only
    a start of the whole one (an exact one)."""
    headers: list[str] = []
    bodies: list[str] = []
    start = None if start_chars is None else _Start(_last(root), start_chars)
    _collect(raw, root, headers, bodies, [limit], decoded, texts, start)
    read_in_part = None if start is None or start.text is None else (start.part.body_start, start.text)
    return " ".join(headers), " ".join(bodies), read_in_part


def search_text(raw: bytes, root: Part, limit: int = MAX_SEARCH_TEXT) -> str:
    """Folded search text of a message (``congthu.text.fold``), at most ``limit``
    characters: the header section, ``BODY_MARK``, the body section."""
    header, body, _ = _sections(raw, root, limit)
    return (folded_clean(header) + " " + BODY_MARK + " " + folded_clean(body))[:limit]


def search_text_prefix(raw: bytes, root: Part, chars: int = INDEXED_CHARS, decoded: dict[int, str] | None = None,
                       texts: EnvelopeTexts | None = None,
                       starts: dict[int, str] | None = None) -> tuple[str, bool]:
    """``(text[:chars], len(text) > chars)`` for ``text = search_text(raw, root)``,
    folding the body only as far as that needs (``chars`` below ``MAX_SEARCH_TEXT``).
    ``decoded``: given, it gets the text of each text part decoded whole, by the part's
    ``body_start`` (for ``congthu.mime.lines``, so that no body is decoded twice);
    ``starts`` the start of a long plain text read only in part (below), by its
    ``body_start`` too. ``texts``: the root envelope's decoded subject and
    ``address_key`` texts, when the caller has made them (``analyse`` does, for its
    fields).

    Why a prefix of the body is enough: ``fold`` is defined word by word (and ``clean``
    character by character), so folding the first characters of the body gives the
    same words as folding all of it, up to its last word, which the cut may have split.
    When the text folded from the prefix has a word boundary (a space) at or beyond
    the characters needed, everything before it is exactly the whole text's; otherwise
    (a body of long runs that fold to little) the whole body is folded. Nor is all of
    the body read for that: the plain text part read last (after which no header comes)
    is decoded only for the body section's first characters that the prefix can need
    (``charsets.decode_start``: the charset still chosen from all of it), and whole only
    when those did not do."""
    # Of the text read last, if long, only as many characters are decoded at first as
    # the first span below can need (``need`` is at most ``chars``).
    header, body, start = _sections(raw, root, MAX_SEARCH_TEXT, decoded, texts, chars + chars // 8 + 1024)
    head = folded_clean(header) + " " + BODY_MARK + " "
    need = max(chars - len(head), 0)  # characters of the folded body in the prefix
    # A start a little longer than the folded characters needed is enough for text
    # that folds to about as many characters (words and single spaces); else a start
    # twice as long, and then all of it (the body section is never longer).
    for span in (need + need // 8 + 1024, 2 * need + 4096, MAX_SEARCH_TEXT):
        if start is not None and len(body) <= span:  # more than the start read: read all of it
            _, body, start = _sections(raw, root, MAX_SEARCH_TEXT, decoded, texts)
        if len(body) <= span:
            break
        part = folded_clean(body[:span])  # exact: ``body`` is the whole or an exact start
        if part.rfind(" ") >= need:  # then the whole body has more than ``need`` characters
            if start is not None and starts is not None:
                starts.update([start])
            return (head + part)[:chars], True
    text = (head + folded_clean(body))[:MAX_SEARCH_TEXT]
    return text[:chars], len(text) > chars
