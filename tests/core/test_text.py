"""``congthu.text.fold``, the search key of every search (IMAP SEARCH, the webmail, the
directory): each of its roads (ASCII bytes, the Vietnamese charmap codec, word by word)
gives exactly what the word-by-word definition gives, and what ``fold`` gave before the
roads existed (``_reference_fold`` below, kept as it was: the plain code to compare
with)."""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from congthu import text as text_module
from congthu.text import fold, unaccent

# -- the reference: fold as it was, NFD-built table, one word at a time -------------------

_REF_SPECIAL = {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"}
_REF_TABLE: dict[int, str] = {}
for _code in list(range(0x00C0, 0x0250)) + list(range(0x1E00, 0x1F00)):
    _base = "".join(c for c in unicodedata.normalize("NFD", chr(_code)) if unicodedata.category(c) != "Mn")
    if _base != chr(_code) and _base:
        _REF_TABLE[_code] = _base
for _char, _base in _REF_SPECIAL.items():
    _REF_TABLE[ord(_char)] = _base
_REF_COMBINING = re.compile(r"[\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _reference_fold(text: str) -> str:
    words = (_REF_COMBINING.sub("", unicodedata.normalize("NFC", w).translate(_REF_TABLE)) for w in text.split())
    return " ".join(w.casefold() for w in words)


def _word_by_word(text: str) -> str:
    return " ".join(unaccent(word).casefold() for word in text.split())


VIETNAMESE = "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
SPACES = " \t\r\n\x0b\x0c\x1c\x1f\x85\xa0\u2009\u3000\u200b"
# Characters that take the word-by-word road, or that lower() and casefold() treat apart.
ODD = "İıßẞΣσςΐﬁµÅ\u212a\u0301\u0323\u0302\u20d0\ufe20ǅǰΩй😀中\udcff\uffffÐð²€“"


def test_fold_strips_accents_case_and_spaces() -> None:
    assert fold("  Đề ÁN\tchuyển  ĐỔI số ") == "de an chuyen doi so"
    assert fold("Kế hoạch\r\nCẢI CÁCH") == "ke hoach cai cach"
    assert fold("Subject: Bao CAO  Thang\r\n") == "subject: bao cao thang"
    assert fold("“Mật” – số 12/QĐ‑UBND\u00a0ngày") == "“mat” – so 12/qd‑ubnd ngay"
    assert fold("") == ""


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_road_is_the_reference(text: str) -> None:
    assert fold(text) == _reference_fold(text) == _word_by_word(text)


@given(st.text(alphabet="aAzZ09.,:-\r\n\t \x0b\x0c\x1c\x1f\x00\x7f"),
       st.text(alphabet="aAzZ09.,:-\r\n\t \x0b\x0c\x1c\x1f\x00\x7f", min_size=text_module._LONG_ASCII,
               max_size=2 * text_module._LONG_ASCII))
def test_ascii_white_space_and_lone_crs(short: str, long: str) -> None:
    assert fold(short) == _reference_fold(short)
    assert fold(long) == _reference_fold(long)


@given(st.text(alphabet=st.characters(max_codepoint=127), min_size=1).map(
    lambda text: text * (text_module._LONG_ASCII // len(text) + 1)))
def test_long_ascii_road_is_the_reference(text: str) -> None:
    assert fold(text) == _reference_fold(text)


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + "aAdDeEoO " + SPACES + text_module._CODEC_CHARS))
def test_vietnamese_road_is_the_reference(text: str) -> None:
    assert fold(text) == _reference_fold(text)


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + SPACES + ODD + "ab"))
@settings(max_examples=300)
def test_mixed_text_is_the_reference(text: str) -> None:
    assert fold(text) == _reference_fold(text)


@given(st.text())
def test_any_text_is_the_reference(text: str) -> None:
    assert fold(text) == _reference_fold(text)


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + " \r\n"))
def test_decomposed_vietnamese_is_the_reference(text: str) -> None:
    decomposed = unicodedata.normalize("NFD", text)
    assert fold(decomposed) == _reference_fold(decomposed) == fold(text)


def _real_texts() -> list[str]:
    root = Path(__file__).resolve().parents[2]
    files = sorted(root.glob("docs/*.md")) + sorted(root.glob("congthu/*/templates/*.html"))[:20]
    files.append(root / "congthu" / "webmail" / "i18n.py")
    return [f.read_text(encoding="utf-8") for f in files]


def test_real_texts_are_the_reference() -> None:
    for text in _real_texts():
        lines = text.replace("\n", "\r\n")
        for variant in (text, lines, lines + "\r", text.replace("\n", "\r"), text.upper(), unicodedata.normalize("NFD", text),
                        text.replace(" ", "\u00a0  ")):
            assert fold(variant) == _reference_fold(variant)


def test_every_code_point_on_the_codec_road() -> None:
    """Every character whose NFC lower-case form the codec covers folds as the
    reference folds it, alone and between words."""
    allowed = set(map(chr, range(128))) | set(text_module._CODEC_CHARS)
    checked = 0
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if all(c in allowed for c in unicodedata.normalize("NFC", char).lower()):
            for text in (char, f"Nguyễn{char}Bình ", f"a {char} Đ\r\n"):
                assert fold(text) == _reference_fold(text), hex(code)
            checked += 1
    assert checked > 256


def test_codec_road_without_nfc() -> None:
    """``fold`` puts a text in NFC only when its lower-case form is not all characters of
    the codec: every character whose lower-case form is (the set ``covered``) is no
    combining mark and folds, alone, as its NFC form folds; no two of them compose or
    reorder under NFC (a text of such characters is put in NFC character by character);
    so skipping NFC there changes no answer."""
    allowed = set(map(chr, range(128))) | set(text_module._CODEC_CHARS)
    covered = [chr(code) for code in range(sys.maxunicode + 1)
               if all(c in allowed for c in chr(code).lower())]
    assert len(covered) > 256
    normalised = {char: unicodedata.normalize("NFC", char) for char in covered}
    for char in covered:
        assert unicodedata.combining(char) == 0, hex(ord(char))
        assert fold(f"a{char}b") == _reference_fold(f"a{char}b") == fold(f"a{normalised[char]}b"), hex(ord(char))
    for first in covered:
        for second in covered:
            pair = first + second
            assert unicodedata.normalize("NFC", pair) == normalised[first] + normalised[second], pair


def test_the_codec_tables() -> None:
    chars = text_module._CODEC_CHARS
    assert len(chars) == len(set(chars)) == 128
    for char in chars:
        assert char == char.lower()
        assert char == unicodedata.normalize("NFC", char) or char in "\u2000\u2001"  # never after NFC
        assert char.isspace() or len(_reference_fold("a" + char)) == 2
    wide = {chr(c) for c in range(128, sys.maxunicode + 1) if chr(c).isspace()}
    assert wide == set(text_module._WIDE_SPACES)
    assert {chr(c) for c in range(128) if chr(c).isspace()} == {chr(b) for b in text_module._ASCII_SPACES}
