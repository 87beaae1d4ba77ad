"""``congthu.text.fold``, the search key of every search (IMAP SEARCH, the webmail, the
directory): its ASCII shortcut gives exactly what the word-by-word path gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from congthu.text import fold, unaccent


def _word_by_word(text: str) -> str:
    return " ".join(unaccent(word).casefold() for word in text.split())


def test_fold_strips_accents_case_and_spaces() -> None:
    assert fold("  Đề ÁN\tchuyển  ĐỔI số ") == "de an chuyen doi so"
    assert fold("Kế hoạch\r\nCẢI CÁCH") == "ke hoach cai cach"
    assert fold("Subject: Bao CAO  Thang\r\n") == "subject: bao cao thang"
    assert fold("") == ""


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_shortcut_is_the_word_by_word_fold(text: str) -> None:
    assert fold(text) == _word_by_word(text)


@given(st.text(alphabet="aAđĐếẾồỒ ǅß\tx1 \u00a0"))
def test_vietnamese_text_is_folded_word_by_word(text: str) -> None:
    assert fold(text) == _word_by_word(text)
