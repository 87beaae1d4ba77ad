"""Vietnamese text: NFC normalisation (Điều 5.2, TCVN 6909:2001) and accent folding.

``fold()`` is the one function every search in the system uses (directory, IMAP SEARCH,
webmail), so that "nguyen thanh binh", "Nguyễn Thanh Bình" and "NGUYỄN THANH BÌNH" are the
same key everywhere.
"""

from __future__ import annotations

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


# Folded forms of the words seen so far: Vietnamese text is made of a few thousand
# syllables, so looking a word up is cheaper than folding it again (search text of every
# delivered message goes through fold()).
_FOLDED_WORDS: dict[str, str] = {}
_FOLDED_WORDS_MAX = 200_000


def fold(text: str) -> str:
    """Search key: accents removed, case folded, white space collapsed."""
    if text.isascii():
        # Nothing to strip, and ASCII's case folding is lower(): done in C, without the
        # word loop (most header sections, and the plain English or unaccented parts).
        return " ".join(text.lower().split())
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
