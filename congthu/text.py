"""Vietnamese text: NFC normalisation (Điều 5.2, TCVN 6909:2001) and accent folding.

``fold()`` is the one function every search in the system uses (directory, IMAP SEARCH,
webmail), so that "nguyen thanh binh", "Nguyễn Thanh Bình" and "NGUYỄN THANH BÌNH" are the
same key everywhere.
"""

from __future__ import annotations

import unicodedata

# Đ/đ is a letter of its own, not D with a combining mark: NFD leaves it alone.
_SPECIAL = str.maketrans({"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"})


def nfc(text: str) -> str:
    """Return text in Unicode NFC (precomposed), as TCVN 6909:2001 asks."""
    return unicodedata.normalize("NFC", text)


def unaccent(text: str) -> str:
    """Strip Vietnamese tone and vowel marks and turn Đ/đ into D/d; keeps case."""
    decomposed = unicodedata.normalize("NFD", text.translate(_SPECIAL))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped)


def fold(text: str) -> str:
    """Search key: accents removed, case folded, white space collapsed."""
    return " ".join(unaccent(text).casefold().split())
