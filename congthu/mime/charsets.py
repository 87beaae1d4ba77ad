"""Turning bytes in a declared (or undeclared, or wrongly declared) charset into text.

Mail in Vietnam arrives in UTF-8 mostly, but older systems still send windows-1258,
VISCII (RFC 1456) or TCVN 5712:1993 ("TCVN3", "ABC"), often undeclared or declared as
us-ascii / iso-8859-1. ``decode_bytes`` never raises: bytes that are valid UTF-8 are read as UTF-8 whatever the
label says (the most common lie); otherwise the declared charset is used, and without one
windows-1258, then VISCII. It returns NFC text (TCVN 6909:2001).

Python has no VISCII or TCVN3 codec; their tables below were generated from glibc iconv.
"""

from __future__ import annotations

import codecs
import functools
import sys
from collections.abc import Callable
from typing import NamedTuple

from congthu.text import nfc

__all__ = ["decode_bytes", "decode_start", "codec_name"]

# fmt: off
# Bytes 0x80-0xFF of VISCII 1.1 (RFC 1456), and the C0 positions it reuses for capitals.
_VISCII_LOW = {0x02: "\u1eb2", 0x05: "\u1eb4", 0x06: "\u1eaa", 0x14: "\u1ef6", 0x19: "\u1ef8", 0x1E: "\u1ef4"}
_VISCII_HIGH = (
    "\u1ea0\u1eae\u1eb0\u1eb6\u1ea4\u1ea6\u1ea8\u1eac\u1ebc\u1eb8\u1ebe\u1ec0\u1ec2\u1ec4\u1ec6\u1ed0"
    "\u1ed2\u1ed4\u1ed6\u1ed8\u1ee2\u1eda\u1edc\u1ede\u1eca\u1ece\u1ecc\u1ec8\u1ee6\u0168\u1ee4\u1ef2"
    "\u00d5\u1eaf\u1eb1\u1eb7\u1ea5\u1ea7\u1ea9\u1ead\u1ebd\u1eb9\u1ebf\u1ec1\u1ec3\u1ec5\u1ec7\u1ed1"
    "\u1ed3\u1ed5\u1ed7\u1ee0\u01a0\u1ed9\u1edd\u1edf\u1ecb\u1ef0\u1ee8\u1eea\u1eec\u01a1\u1edb\u01af"
    "\u00c0\u00c1\u00c2\u00c3\u1ea2\u0102\u1eb3\u1eb5\u00c8\u00c9\u00ca\u1eba\u00cc\u00cd\u0128\u1ef3"
    "\u0110\u1ee9\u00d2\u00d3\u00d4\u1ea1\u1ef7\u1eeb\u1eed\u00d9\u00da\u1ef9\u1ef5\u00dd\u1ee1\u01b0"
    "\u00e0\u00e1\u00e2\u00e3\u1ea3\u0103\u1eef\u1eab\u00e8\u00e9\u00ea\u1ebb\u00ec\u00ed\u0129\u1ec9"
    "\u0111\u1ef1\u00f2\u00f3\u00f4\u00f5\u1ecf\u1ecd\u1ee5\u00f9\u00fa\u0169\u1ee7\u00fd\u1ee3\u1eee"
)
# TCVN 5712:1993 (VN3), as glibc's TCVN5712-1 decodes single bytes.
_TCVN3_LOW = {
    0x01: "\u00da", 0x02: "\u1ee4", 0x04: "\u1eea", 0x05: "\u1eec", 0x06: "\u1eee", 0x11: "\u1ee8",
    0x12: "\u1ef0", 0x13: "\u1ef2", 0x14: "\u1ef6", 0x15: "\u1ef8", 0x16: "\u00dd", 0x17: "\u1ef4",
}
_TCVN3_HIGH = (
    "\u00c0\u1ea2\u00c3\u00c1\u1ea0\u1eb6\u1eac\u00c8\u1eba\u1ebc\u00c9\u1eb8\u1ec6\u00cc\u1ec8\u0128"
    "\u00cd\u1eca\u00d2\u1ece\u00d5\u00d3\u1ecc\u1ed8\u1edc\u1ede\u1ee0\u1eda\u1ee2\u00d9\u1ee6\u0168"
    "\u00a0\u0102\u00c2\u00ca\u00d4\u01a0\u01af\u0110\u0103\u00e2\u00ea\u00f4\u01a1\u01b0\u0111\u1eb0"
    "\u0300\u0309\u0303\u0301\u0323\u00e0\u1ea3\u00e3\u00e1\u1ea1\u1eb2\u1eb1\u1eb3\u1eb5\u1eaf\u1eb4"
    "\u1eae\u1ea6\u1ea8\u1eaa\u1ea4\u1ec0\u1eb7\u1ea7\u1ea9\u1eab\u1ea5\u1ead\u00e8\u1ec2\u1ebb\u1ebd"
    "\u00e9\u1eb9\u1ec1\u1ec3\u1ec5\u1ebf\u1ec7\u00ec\u1ec9\u1ec4\u1ebe\u1ed2\u0129\u00ed\u1ecb\u00f2"
    "\u1ed4\u1ecf\u00f5\u00f3\u1ecd\u1ed3\u1ed5\u1ed7\u1ed1\u1ed9\u1edd\u1edf\u1ee1\u1edb\u1ee3\u00f9"
    "\u1ed6\u1ee7\u0169\u00fa\u1ee5\u1eeb\u1eed\u1eef\u1ee9\u1ef1\u1ef3\u1ef7\u1ef9\u00fd\u1ef5\u1ed0"
)
# fmt: on


def _table(low: dict[int, str], high: str) -> str:
    return "".join(low.get(i, chr(i)) for i in range(128)) + high


_TABLES = {"viscii": _table(_VISCII_LOW, _VISCII_HIGH), "tcvn3": _table(_TCVN3_LOW, _TCVN3_HIGH)}

_ALIASES = {
    "utf8": "utf-8", "utf-8": "utf-8", "x-utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
    # Undeclared 8-bit: handled as "unknown" (UTF-8, then the Vietnamese fallbacks).
    "us-ascii": None, "ascii": None, "ansi_x3.4-1968": None, "unknown-8bit": None,
    "x-unknown": None, "unknown": None, "default": None, "": None,
    # WHATWG: iso-8859-1 labels mean windows-1252 in practice.
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "windows-1258": "cp1258", "cp1258": "cp1258", "x-cp1258": "cp1258",
    "viscii": "viscii", "x-viscii": "viscii", "viscii1.1-1": "viscii", "csviscii": "viscii",
    "tcvn": "tcvn3", "tcvn3": "tcvn3", "tcvn-5712": "tcvn3", "tcvn5712-1": "tcvn3",
    "tcvn5712-1:1993": "tcvn3", "x-viet-tcvn": "tcvn3", "x-viet-tcvn5712": "tcvn3", "vn3": "tcvn3",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949", "tis-620": "cp874",
}


def codec_name(charset: str | None) -> str | None:
    """Python codec (or a table name above) for a MIME charset label; None if unknown."""
    if charset is None:
        return None
    label = charset.strip().strip('"').strip().lower()
    if "*" in label:  # RFC 2231 section 5: charset*language in encoded words
        label = label.split("*", 1)[0]
    if label in _ALIASES:
        return _ALIASES[label]
    try:
        b"".decode(label)
    except (LookupError, ValueError):  # unknown, or not a text encoding ("base64")
        return None
    return label


# The one choice of how bytes declared as a charset are read: the readings below, tried in
# order, the first that reads all of the bytes without error being the text's (a
# "strict" reading may fail; a last one never does). ``decode_bytes`` tries each on all of
# the bytes; ``decode_start`` checks each over all of them without keeping the text, and
# reads only the start with the one that holds (ASCII bytes, which every reading reads
# alike, are told apart first). A reading is a codec of Python's, a table of ours
# (``_TABLES``) or, with ``strict`` false, a codec read with replacement.
class _Reading(NamedTuple):
    codec: str
    strict: bool


_UTF8 = _Reading("utf-8", True)
# Undeclared 8-bit text: UTF-8, else windows-1258, else VISCII (which maps every byte).
_UNDECLARED = (_UTF8, _Reading("cp1258", True), _Reading("viscii", False))


def _readings(charset: str | None) -> tuple[_Reading, ...]:
    """The readings of 8-bit bytes declared as ``charset`` (None: undeclared), in order."""
    codec = codec_name(charset)
    if codec is None or codec == "utf-8":
        return _UNDECLARED
    # Mislabelled UTF-8 is by far the most common lie, and valid UTF-8 is rarely anything
    # else by chance; not so for the wide and 7-bit Unicode forms.
    first = () if codec.startswith(("utf-16", "utf-32", "utf-7")) else (_UTF8,)
    return (*first, _Reading(codec, False))


def _utf8(data: bytes | memoryview, final: bool) -> str:
    """UTF-8; not ``final`` (the start of a longer text), a sequence the cut left
    incomplete at the end is left out rather than failing the whole text."""
    return str(data, "utf-8") if final else codecs.utf_8_decode(data, "strict", False)[0]


def _read(data: bytes | memoryview, *, reading: _Reading, final: bool = True) -> str:
    """``data`` read by ``reading`` (not in NFC yet); a strict one raises
    UnicodeDecodeError when ``data`` is not in its codec, another may raise anything."""
    if reading.codec == "utf-8":
        return _utf8(data, final)
    if reading.codec in _TABLES:  # every byte has its letter
        return codecs.charmap_decode(data, "strict", _TABLES[reading.codec])[0]
    return str(data, reading.codec, errors="strict" if reading.strict else "replace")


def _is_ascii(data: bytes | memoryview) -> bool:
    if isinstance(data, bytes):
        return data.isascii()
    # A view has no isascii(): its pieces are copied, one at a time (the ASCII decoder's
    # error would carry a copy of all of it, 12 MB for a 12 MB body).
    return all(bytes(data[pos:pos + _PIECE]).isascii() for pos in range(0, len(data), _PIECE))


def _decode(data: bytes | memoryview, readings: tuple[_Reading, ...], final: bool) -> str:
    """``data`` read by the first of ``readings`` that reads it (not in NFC yet)."""
    for reading in readings:
        try:
            return _read(data, reading=reading, final=final)
        except Exception as exc:
            if reading.strict and isinstance(exc, UnicodeDecodeError):
                continue  # not in this charset: the next reading
            if reading.strict or reading.codec in _TABLES:
                raise  # not a charset's error (a table maps every byte)
            # A codec read with replacement that fails in another way: read as undeclared.
            return _decode(data, _UNDECLARED, True)
    raise AssertionError("the last reading of each list never fails")


def decode_bytes(data: bytes | memoryview, charset: str | None = None, final: bool = True) -> str:
    """Decode ``data`` declared as ``charset`` (None: undeclared) into NFC text; never
    raises. ``data`` may be a view of a larger message (read in place, not copied).
    Not ``final``: ``data`` is the start of a longer body, cut anywhere (a UTF-8 letter
    cut in two must not make the whole start read as windows-1258)."""
    if _is_ascii(data):  # every reading gives this, and it is NFC
        return str(data, "ascii")
    return nfc(_decode(data, _readings(charset), final))


# ``decode_start`` checks a large body's bytes in pieces of this size (no decoded copy of
# the whole body is kept). It reads first a start of the bytes that holds the characters
# wanted in every single-byte charset and in Vietnamese UTF-8 (1-3 bytes a letter, ~1.3 on
# average), then, if that was too short, one that holds them in any charset.
_PIECE = 1 << 18
_MARGIN = 4096


def _head_sizes(chars: int) -> tuple[int, int]:
    return chars + chars // 2 + _MARGIN, 4 * chars + _MARGIN


def _valid(data: bytes | memoryview, codec: str) -> bool:
    """Does all of ``data`` decode in ``codec`` without error? In pieces, nothing kept
    (checking costs what decoding does, ~2.9 ms per MB of Vietnamese UTF-8, but no
    copy of the text is made, nor put in NFC)."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        for pos in range(0, len(data), _PIECE):
            decoder.decode(data[pos:pos + _PIECE], False)
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


def _single_byte_table(codec: str) -> str | None:
    """The decoding table of a single-byte codec of Python's (cp1258, iso8859-x...), or None.

    Such a codec's module (``encodings.cp1258``) holds its table, and its ``decode`` is
    defined there; the ``decode`` of a codec written in C may have no module (None:
    the multi-byte ones) or one without a table (``_codecs``)."""
    try:
        name = getattr(codecs.lookup(codec).decode, "__module__", None)
    except LookupError:
        return None
    module = sys.modules.get(name) if isinstance(name, str) else None
    table = getattr(module, "decoding_table", None)
    return table if isinstance(table, str) and len(table) == 256 else None


def _start_reader(data: bytes | memoryview, charset: str | None) -> Callable[[bytes | memoryview], str] | None:
    """How ``decode_bytes`` would read all of ``data``, as a reader of a start of it (the
    same characters up to the start's end, an incomplete letter at its end left out), or
    None where that cannot be done exactly (multi-byte legacy codecs, UTF-16...)."""
    if _is_ascii(data):
        return lambda head: str(head, "ascii")
    for reading in _readings(charset):
        if reading.strict and not _valid(data, reading.codec):
            continue
        if reading.codec == "utf-8":
            return lambda head: _utf8(head, False)
        if reading.strict or reading.codec in _TABLES:  # single-byte: every start reads as it is
            return functools.partial(_read, reading=reading)
        table = _single_byte_table(reading.codec)
        if table is None:
            return None
        # What str(data, codec, errors="replace") gives, byte by byte.
        return lambda head: codecs.charmap_decode(head, "replace", table)[0]
    return None


def decode_start(data: bytes | memoryview, charset: str | None, chars: int) -> str:
    """``decode_bytes(data, charset)[:chars]``, for a body much longer than that, without
    decoding and normalising all of it: the charset is chosen as ``decode_bytes`` chooses
    it (the same readings, ``_readings``), from all of ``data`` (a body whose first
    megabyte is UTF-8 and whose end is not is not UTF-8), but that check keeps no decoded
    copy, and only a start is decoded and put in NFC (for decomposed text, such as
    windows-1258's, NFC is most of the cost: ~60 ms per MB). The start is cut at its last
    space or line break, where NFC joins nothing across (both are stable code points,
    UAX #15 section 9), so its NFC is the start of the whole text's. Whatever this cannot
    do exactly (UTF-16, multi-byte legacy codecs, a start without a space) is done by
    ``decode_bytes`` on all of it."""
    sizes = _head_sizes(chars)
    if len(data) <= sizes[0]:
        return decode_bytes(data, charset)[:chars]
    reader = _start_reader(data, charset)
    if reader is not None:
        for size in sizes:
            if size >= len(data):
                break
            text = reader(data[:size])
            cut = max(text.rfind("\n"), text.rfind(" "))
            if cut <= 0:
                continue
            start = nfc(text[:cut])
            if len(start) >= chars:
                return start[:chars]
    return decode_bytes(data, charset)[:chars]
