"""RFC 2047 encoded words ("=?utf-8?B?...?=") in header fields, decoded for display.

Lenient on purpose, since mailers get this wrong in every way:

* white space between two adjacent encoded words is dropped (RFC 2047 section 6.2);
* adjacent encoded words in the same charset are joined as bytes before decoding, so a
  UTF-8 character split across two words (a common bug) still decodes;
* encoded words inside quoted strings, with missing base64 padding, with literal spaces
  or 8-bit bytes in Q text are decoded anyway;
* raw 8-bit bytes outside encoded words (RFC 6532 UTF-8 headers, or legacy charsets) are
  decoded by ``charsets.decode_bytes``.

Header values are ``str`` decoded from bytes with ``surrogateescape`` (see ``headers``), so
raw 8-bit bytes are recovered exactly here.
"""

from __future__ import annotations

import binascii
import re
from functools import lru_cache

from congthu.mime.charsets import decode_bytes
from congthu.text import nfc

__all__ = ["decode_words", "from_raw", "b64decode_lenient", "clean"]

_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]+")
_WS = re.compile(r"[ \t\r\n]*")
_NOT_B64 = bytes(c for c in range(256) if not (chr(c).isascii() and (chr(c).isalnum() or chr(c) in "+/")))


# A body longer than _B64_AT_ONCE is decoded _B64_PIECE at a time: no cleaned copy of
# all of it (below, one pass over all of it costs less CPU).
_B64_AT_ONCE = 4 << 20
_B64_PIECE = 1 << 20


def b64decode_lenient(data: bytes | memoryview) -> bytes:
    """Base64 without complaints: foreign bytes ignored, padding repaired (RFC 2045 6.8).
    ``data`` may be a view of a larger message (a large body is read in place)."""
    if len(data) > _B64_AT_ONCE:
        return _b64decode_pieces(data)
    clean = bytes(data).translate(None, _NOT_B64)
    extra = len(clean) % 4
    if extra == 1:
        clean = clean[:-1]
    elif extra:
        clean += b"=" * (4 - extra)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return b""


def _b64decode_pieces(data: bytes | memoryview) -> bytes:
    """``b64decode_lenient`` of a large body, a piece at a time (a 15 MB attachment cost
    two 15 MB copies before its decoding): each piece cleaned, its whole groups of four
    characters decoded (base64 decodes group by group, RFC 4648 section 4), what is
    left carried to the next piece; the end as ``b64decode_lenient`` ends."""
    pieces: list[bytes] = []
    carry = b""
    with memoryview(data) as view:
        for pos in range(0, len(view), _B64_PIECE):
            clean = bytes(view[pos:pos + _B64_PIECE]).translate(None, _NOT_B64)
            if carry:
                clean = carry + clean
            whole = len(clean) - len(clean) % 4
            carry = clean[whole:]
            try:
                with memoryview(clean) as groups:
                    pieces.append(binascii.a2b_base64(groups[:whole]))
            except binascii.Error:
                return b""
    if carry:
        pieces.append(b64decode_lenient(carry))
    return b"".join(pieces)


def from_raw(text: str, charset: str | None = None) -> str:
    """A header string (surrogate-escaped 8-bit) as text, without RFC 2047 decoding."""
    if text.isascii():
        return text
    return decode_bytes(text.encode("utf-8", "surrogateescape"), charset)


def _word_bytes(encoding: str, text: str) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    if encoding in "bB":
        return b64decode_lenient(data)
    return binascii.a2b_qp(data, header=True)


# Values up to this long are decoded once and remembered (``_decode_known``): the same
# subjects and display names come again and again, in the ENVELOPE, the search text and
# the author checks of each message, and in the next messages of a conversation.
_KNOWN_VALUE = 512


def decode_words(value: str) -> str:
    """Decode the encoded words of an unstructured header value; returns NFC text."""
    if "=?" not in value:
        return nfc(from_raw(value))
    if len(value) <= _KNOWN_VALUE:
        return _decode_known(value)
    return _decode(value)


@lru_cache(maxsize=4096)
def _decode_known(value: str) -> str:
    return _decode(value)


def _decode(value: str) -> str:
    out: list[str] = []
    pos = 0
    pending: bytearray | None = None
    pending_charset = ""
    for match in _WORD.finditer(value):
        gap = value[pos:match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        if pending is not None and _WS.fullmatch(gap):
            if charset == pending_charset:
                pending += _word_bytes(match.group(2), match.group(3))
                pos = match.end()
                continue
            out.append(decode_bytes(bytes(pending), pending_charset))
        else:
            if pending is not None:
                out.append(decode_bytes(bytes(pending), pending_charset))
            out.append(from_raw(gap))
        pending = bytearray(_word_bytes(match.group(2), match.group(3)))
        pending_charset = charset
        pos = match.end()
    if pending is not None:
        out.append(decode_bytes(bytes(pending), pending_charset))
    out.append(from_raw(value[pos:]))
    return nfc("".join(out))


def clean(text: str) -> str:
    """One-line display text: control characters and stray surrogates become one space."""
    return _CONTROL.sub(" ", text).strip()
