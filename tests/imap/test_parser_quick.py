"""The parser's quick steps give the full grammar's answer (``congthu.imap.parser``).

A sequence set of the usual shape is split out of one regex match
(``Parser.sequence_set``); any other is read step by step (``_sequence_set_stepwise``):
both must agree on every input, in the set made, the bytes consumed and the error. The
token scans (``_chars``), ``take`` and ``quoted`` use the regex engine or ``startswith``
instead of a loop over bytes: they are checked against the RFC 9051 section 9 rules
written out here byte by byte."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from congthu.imap import parser as imap_parser
from congthu.imap.parser import ParseError, Parser
from congthu.imap.sequence import SeqSet


def _outcome(call: Callable[[], Any], p: Parser) -> tuple[Any, ...]:
    try:
        return ("ok", call(), p.pos)
    except ParseError as exc:
        return ("error", str(exc))


_numbers = st.one_of(st.integers(0, 12), st.integers(0, 2**34), st.just(4294967295), st.just(4294967296))
_number_text = st.one_of(_numbers.map(lambda n: b"%d" % n), st.just(b"*"),
                         _numbers.map(lambda n: b"0%d" % n), st.just(b""))
_item = st.tuples(_number_text, st.sampled_from([b"", b":", b"::"]), _number_text).map(lambda t: b"".join(t))
_sets = st.lists(_item, min_size=1, max_size=6).map(lambda xs: b",".join(xs))
_after = st.sampled_from([b"", b" (UID)", b")", b",", b":", b"5", b"*", b"x", b" ", b",1"])


@settings(max_examples=3000, deadline=None)
@given(_sets, _after)
@example(b"1:5,7,9,11:13,20", b" (UID)")
@example(b"12345678901", b"")
@example(b"4294967296", b"")
@example(b"1:2:3", b"")
@example(b"1,", b" x")
def test_sequence_set_quick_agrees_with_stepwise(text: bytes, after: bytes) -> None:
    line = text + after
    quick, stepwise = Parser([line]), Parser([line])
    assert _outcome(quick.sequence_set, quick) == _outcome(stepwise._sequence_set_stepwise, stepwise)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=30))
def test_sequence_set_quick_agrees_on_any_bytes(line: bytes) -> None:
    if line.startswith(b"$"):
        line = line[1:]
    quick, stepwise = Parser([line or b" "]), Parser([line or b" "])
    assert _outcome(quick.sequence_set, quick) == _outcome(stepwise._sequence_set_stepwise, stepwise)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 999_999_999), st.one_of(st.none(), st.integers(1, 999_999_999))),
                min_size=1, max_size=8))
def test_usual_sets_take_the_quick_step(ranges: list[tuple[int, int | None]]) -> None:
    """Well-formed sets never reach the stepwise reading (else the quick step is dead code)."""
    line = b",".join(b"%d" % a if b is None else b"%d:%d" % (a, b) for a, b in ranges) + b" (FLAGS)"
    p = Parser([line])

    def stepwise() -> SeqSet:
        raise AssertionError("read step by step")

    p._sequence_set_stepwise = stepwise  # type: ignore[method-assign]
    assert p.sequence_set() == SeqSet(tuple((a, a if b is None else b) for a, b in ranges))
    assert line[p.pos:] == b" (FLAGS)"


# RFC 9051 section 9, as the grammar writes it: atom-specials = "(" / ")" / "{" / SP /
# CTL / list-wildcards / quoted-specials / resp-specials.
_RFC_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0x20)) | {0x7F}
_SETS = {
    "atom": _RFC_ATOM_SPECIALS,
    "astring": _RFC_ATOM_SPECIALS - {ord("]")},
    "tag": (_RFC_ATOM_SPECIALS - {ord("]")}) | {ord("+")},
    "list": _RFC_ATOM_SPECIALS - frozenset(b"%*]"),
    "fetch item": _RFC_ATOM_SPECIALS | {ord("[")},
}


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(_SETS)), st.binary(max_size=12), st.booleans(), st.integers(0, 3))
def test_token_scan_follows_the_grammar(which: str, data: bytes, utf8: bool, start: int) -> None:
    """``_chars``: the longest run of bytes outside the set (UTF-8 bytes only after
    ENABLE UTF8=ACCEPT), at least one; the same bytes as a scan byte by byte."""
    specials = _SETS[which]
    start = min(start, len(data))
    end = start
    while end < len(data) and data[end] not in specials and (utf8 or data[end] < 0x80):
        end += 1
    p = Parser([data or b" "], utf8=utf8)
    p.pos = start
    if end == start:
        with pytest.raises(ParseError):
            p._chars(specials, which)
        assert p.pos == start
    else:
        assert p._chars(specials, which) == data[start:end]
        assert p.pos == end


def test_the_parsers_sets_are_the_rfcs() -> None:
    assert _SETS["atom"] == imap_parser._ATOM_SPECIALS
    assert _SETS["astring"] == imap_parser._ASTRING_SPECIALS
    assert _SETS["tag"] == imap_parser._TAG_SPECIALS
    assert _SETS["list"] == imap_parser._LIST_SPECIALS
    assert _SETS["fetch item"] == imap_parser._ITEM_SPECIALS


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from([b" ", b"(", b")", b"NIL", b"nil", b"Nil", b"CATENATE ", b"$", b"+", b"\\", b"a1"]),
       st.binary(max_size=6).map(lambda b: b.replace(b"\x00", b"")), st.sampled_from([b"", b"NiL", b" ", b"Catenate "]))
def test_take_is_caseless_for_letters_only(literal: bytes, junk: bytes, head: bytes) -> None:
    data = head + junk
    p = Parser([data or b"-"])
    expected = data[:len(literal)].upper() == literal.upper() and len(data) >= len(literal)
    assert p.take(literal) is expected
    assert p.pos == (len(literal) if expected else 0)


def _rfc_quoted(data: bytes) -> tuple[Any, ...]:
    """quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR = any TEXT-CHAR except
    quoted-specials, or "\\" quoted-specials (RFC 9051 section 9, UTF-8 aside)."""
    if not data.startswith(b'"'):
        return ("error",)
    out, i = bytearray(), 1
    while i < len(data):
        c = data[i]
        if c == 0x22:
            return ("ok", bytes(out), i + 1)
        if c == 0x5C:
            if i + 1 >= len(data) or data[i + 1] not in b'"\\':
                return ("error",)
            out.append(data[i + 1])
            i += 2
            continue
        if c in (0x0D, 0x0A, 0x00):
            return ("error",)
        out.append(c)
        i += 1
    return ("error",)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from([b'"', b"\\", b"a", b"\r", b"\n", b"\x00", b" ", b"\xc3\xa1", b")"]), max_size=10))
def test_quoted_follows_the_grammar(pieces: list[bytes]) -> None:
    data = b'"' + b"".join(pieces)
    p = Parser([data])
    try:
        got: tuple[Any, ...] = ("ok", p.quoted(), p.pos)
    except ParseError:
        got = ("error",)
    assert got == _rfc_quoted(data)
