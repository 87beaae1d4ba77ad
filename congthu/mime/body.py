"""Part bodies: Content-Transfer-Encoding (RFC 2045 section 6) and charset decoding.

For the webmail (show a text part, download an attachment), IMAP BINARY (RFC 3516) and
the SMTP server's per-attachment size rule (Điều 8.1), which needs the decoded size
without decoding: ``decoded_size`` counts base64 characters instead (exact for well-formed
base64, RFC 2045 section 6.8), in chunks so a 25 MB body costs no 25 MB copies.
"""

from __future__ import annotations

import binascii

from congthu.mime.charsets import decode_bytes, decode_start
from congthu.mime.part import Part
from congthu.mime.words import b64decode_lenient

__all__ = ["decode_body", "decoded_size", "body_limit", "body_start_text", "body_text", "UnknownEncoding", "IDENTITY_ENCODINGS"]

IDENTITY_ENCODINGS = (None, "7bit", "8bit", "binary")


class UnknownEncoding(ValueError):
    """A transfer encoding this package cannot undo (IMAP BINARY answers [UNKNOWN-CTE])."""

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_CHUNK = 1 << 20


def _transfer_decode(data: bytes, encoding: str | None) -> bytes:
    if encoding == "base64":
        return b64decode_lenient(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data  # 7bit, 8bit, binary, and unknown encodings (shown as they are)


def decode_body(raw: bytes, part: Part, strict: bool = False) -> bytes:
    """The part's body with its transfer encoding undone (base64, quoted-printable).

    An unknown encoding (x-uuencode, ...) gives the body as it is, or with ``strict``
    raises ``UnknownEncoding`` (for IMAP BINARY, RFC 3516 section 4.3).
    """
    if strict and part.encoding not in IDENTITY_ENCODINGS + ("base64", "quoted-printable"):
        raise UnknownEncoding(part.encoding or "")
    if part.encoding == "base64":  # read in place: a 15 MB attachment is not copied first
        with memoryview(raw) as view:
            return b64decode_lenient(view[part.body_start:part.body_end])
    return _transfer_decode(raw[part.body_start:part.body_end], part.encoding)


def decoded_size(raw: bytes, part: Part) -> int:
    """Size of the decoded body in octets, without decoding base64 into memory."""
    if part.encoding == "base64":
        chars = 0
        for pos in range(part.body_start, part.body_end, _CHUNK):
            chunk = raw[pos:min(pos + _CHUNK, part.body_end)]
            chars += len(chunk) - len(chunk.translate(None, _B64_ALPHABET))
        if chars % 4 == 1:  # a lone trailing character carries no whole octet
            chars -= 1
        return chars * 6 // 8
    if part.encoding == "quoted-printable":
        return len(decode_body(raw, part))
    return part.size


def body_limit(chars: int) -> int:
    """The bytes of a body that ``body_text`` decodes for about ``chars`` characters:
    twice as many, and a margin."""
    return 2 * chars + 1024


def body_text(raw: bytes, part: Part, limit: int | None = None) -> str:
    """The body as NFC text in its declared charset (with fallbacks, see ``charsets``).

    ``limit``: decode only about that many characters from the start (for search).
    """
    end = part.body_end
    if limit is not None:
        end = min(end, part.body_start + body_limit(limit))
    final = end == part.body_end  # else the decoded bytes may end in the middle of a letter
    if part.encoding in IDENTITY_ENCODINGS:
        # Read in place: a 15 MB body is not copied before it is decoded.
        with memoryview(raw) as view:
            return decode_bytes(view[part.body_start:end], part.charset, final)
    return decode_bytes(_transfer_decode(raw[part.body_start:end], part.encoding), part.charset, final)


def body_start_text(raw: bytes, part: Part, chars: int) -> str:
    """``body_text(raw, part)[:chars]``, exactly, for a reader of the start of a body (the
    content rules' first lines): the charset is chosen from all of the body, as
    ``body_text`` does, but only the start is decoded and normalised
    (``charsets.decode_start``): a 15 MB text body costs no 15 MB of decoded copies."""
    if part.encoding in IDENTITY_ENCODINGS:
        with memoryview(raw) as view:
            return decode_start(view[part.body_start:part.body_end], part.charset, chars)
    return decode_start(_transfer_decode(raw[part.body_start:part.body_end], part.encoding), part.charset, chars)
