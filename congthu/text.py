"""Vietnamese text: NFC normalisation (Điều 5.2, TCVN 6909:2001) and accent folding.

``fold()`` is the one function every search in the system uses (directory, IMAP SEARCH,
webmail), so that "nguyen thanh binh", "Nguyễn Thanh Bình" and "NGUYỄN THANH BÌNH" are the
same key everywhere.

What ``fold`` gives is defined word by word: ``" ".join(unaccent(w).casefold() for w in
text.split())``. It folds the search text of every delivered message (a megabyte for a
large one), so it gets there in passes that run in C, by one of three roads, each giving
exactly that (tests/core/test_text.py compares them with the word-by-word definition):

* ASCII text (from 512 characters on): the bytes, white space made spaces and letters
  lower case by one ``bytes.translate``, runs of spaces collapsed by one regular
  expression;
* text made only of ASCII and the 128 other characters of ``_CODEC_CHARS`` once lower
  cased (Vietnamese letters, đ, white space, common punctuation), put in NFC only if it
  is not so made as it comes (decomposed text): those
  characters encoded to one byte each by a charmap codec (``codecs.charmap_encode``),
  the Vietnamese letters turned into their base letters by the same ``bytes.translate``;
  12-17 ms per MB where the word-by-word loop took 30-40 (130 for words not seen yet);
* anything else (Greek, CJK, emoji, combining marks left over...): word by word, each
  word's folded form kept for the next time.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

# Đ/đ is a letter of its own, not D with a combining mark: NFD leaves it alone.
_SPECIAL = {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"}


def _build_unaccent_table() -> dict[int, str]:
    # One translate() table for every precomposed Latin letter with marks (Latin-1,
    # Latin Extended A/B and the Vietnamese block U+1EA0-U+1EF9): str.translate runs in
    # C, where stripping marks character by character in Python was the cost of search.
    table: dict[int, str] = {}
    for code in list(range(0x00C0, 0x0250)) + list(range(0x1E00, 0x1F00)):
        char = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn")
        if base != char and base:
            table[code] = base
    for char, base in _SPECIAL.items():
        table[ord(char)] = base
    return table


_UNACCENT = _build_unaccent_table()
_COMBINING = re.compile(r"[\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def nfc(text: str) -> str:
    """Return text in Unicode NFC (precomposed), as TCVN 6909:2001 asks."""
    return unicodedata.normalize("NFC", text)


def unaccent(text: str) -> str:
    """Strip Vietnamese tone and vowel marks and turn Đ/đ into D/d; keeps case."""
    stripped = unicodedata.normalize("NFC", text).translate(_UNACCENT)
    # Marks that compose with nothing (decomposed input on other letters) go too.
    return _COMBINING.sub("", stripped)


def _fold_char(char: str) -> str:
    """What ``fold`` makes of one character inside a word."""
    return unaccent(char).casefold()


# -- white space and line ends, on bytes -------------------------------------------------

# What ``str.split()`` takes for white space beyond ASCII (the test checks it against
# every code point).
_WIDE_SPACES = ("\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
                "\u2028\u2029\u202f\u205f\u3000")
_ASCII_SPACES = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
_SPACE_RUN = re.compile(b"  +")


def _spaced(data: bytes, table: bytes) -> bytes:
    """``data.translate(table)`` (which makes white space spaces), then runs of spaces one
    space and none at either end: the words of ``split()`` joined by spaces."""
    if b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"):
        # Every CR starts a CR LF: the LF alone splits the words there, which leaves a
        # text of lines no double spaces to collapse. (Text with bare LFs, such as many
        # a base64 body, has no CR: one search, not the slower count of CR LF pairs.)
        data = data.translate(table, b"\r")
    else:
        data = data.replace(b"\r\n", b"\n").translate(table)
    if b"  " in data:
        data = _SPACE_RUN.sub(b" ", data)
    return data.strip(b" ")


# Below this length ASCII text is folded as ``str``: the bytes' seven passes cost more
# than ``lower().split()`` on a subject or an address (0.7 against 0.3 µs).
_LONG_ASCII = 512
_ASCII_FOLD = bytes.maketrans(
    _ASCII_SPACES + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b" " * len(_ASCII_SPACES) + b"abcdefghijklmnopqrstuvwxyz")

# -- the charmap codec of Vietnamese text --------------------------------------------------

# The 128 characters besides ASCII that a lower-cased Vietnamese text is made of (each
# folds to one character): the Vietnamese letters, white space, punctuation, a few
# Latin-1 letters of foreign names. A text with any other character goes word by word.
_CODEC_CHARS = (
    "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    + _WIDE_SPACES
    + "“”‘’–—…•°«»©®×÷€₫§¶·±²³½¼¾\u200b\xad\ufeff→≤≥£µ"
    + "çñöüäëïø"
)
_CODEC_DECODING = "".join(map(chr, range(128))) + _CODEC_CHARS
_CODEC = codecs.charmap_build(_CODEC_DECODING)
# Byte of the codec -> folded byte: white space a space, a Vietnamese letter its base.
_CODEC_FOLD = bytes(
    32 if byte in _ASCII_SPACES or char.isspace()
    else ord(_fold_char(char)) if _fold_char(char).isascii() else byte
    for byte, char in enumerate(_CODEC_DECODING)
)
# Byte left after that -> folded character (µ -> μ; punctuation as it is).
_CODEC_OUT = "".join(char if byte < 128 else " " if char.isspace() else _fold_char(char)
                     for byte, char in enumerate(_CODEC_DECODING))

# -- word by word ----------------------------------------------------------------------------

# Folded forms of the words seen so far: text is made of a few thousand words, so
# looking a word up is cheaper than folding it again.
_FOLDED_WORDS: dict[str, str] = {}
_FOLDED_WORDS_MAX = 200_000


def _fold_words(text: str) -> str:
    cache = _FOLDED_WORDS
    out = []
    for word in text.split():
        folded = cache.get(word)
        if folded is None:
            folded = unaccent(word).casefold()
            if len(cache) < _FOLDED_WORDS_MAX:
                cache[word] = folded
        out.append(folded)
    return " ".join(out)


def fold(text: str) -> str:
    """Search key: accents removed, case folded, white space collapsed; the same as
    ``" ".join(unaccent(word).casefold() for word in text.split())``."""
    if text.isascii():
        if len(text) < _LONG_ASCII:
            return " ".join(text.lower().split())
        return _spaced(text.encode("ascii"), _ASCII_FOLD).decode("ascii")
    try:
        # Not put in NFC first: a text the codec covers once lower-cased has no combining
        # mark, and each of its characters NFC would change (U+2000, U+2001, the Kelvin
        # sign) folds to what NFC makes of it (tests/core/test_text.py checks every code
        # point and pair); NFC of text already in NFC (decoded bodies are) cost as much as
        # the encoding.
        data = codecs.charmap_encode(text.lower(), "strict", _CODEC)[0]
    except UnicodeEncodeError:
        text = unicodedata.normalize("NFC", text)
        try:
            data = codecs.charmap_encode(text.lower(), "strict", _CODEC)[0]
        except UnicodeEncodeError:
            return _fold_words(text)
    data = _spaced(data, _CODEC_FOLD)
    return data.decode("ascii") if data.isascii() else codecs.charmap_decode(data, "strict", _CODEC_OUT)[0]
