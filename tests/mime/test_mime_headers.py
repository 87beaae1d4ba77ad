"""Decoding header fields for display: RFC 2047, RFC 2231, charsets, addresses."""

from __future__ import annotations

import unicodedata

import pytest

from congthu.mime.addresses import display_addresses, parse_addresses
from congthu.mime.charsets import decode_bytes
from congthu.mime.params import display_params, join_params, parse_value
from congthu.mime.words import decode_words

VIET = "Báo cáo tháng 11 của Sở Nội vụ"


@pytest.mark.parametrize(("raw", "expected"), [
    ("plain subject", "plain subject"),
    ("=?utf-8?B?QsOhbyBjw6FvIHRow6FuZyAxMSBj4bunYSBT4bufIE7hu5lpIHbhu6U=?=", VIET),
    ("=?UTF-8?Q?B=C3=A1o_c=C3=A1o?= =?UTF-8?Q?_th=C3=A1ng_11?=", "Báo cáo tháng 11"),
    # white space between encoded words goes, around them stays (RFC 2047 6.2)
    ("Re: =?utf-8?q?B=C3=A1o?=  =?utf-8?q?_c=C3=A1o?= (2)", "Re: Báo cáo (2)"),
    # a UTF-8 character split across two words
    ("=?utf-8?B?QsOh?= =?utf-8?B?byBj?= =?utf-8?B?w6Fv?=", "Báo cáo"),
    ("=?utf-8?Q?=E1=BB?= =?utf-8?Q?=9F?=", "ở"),
    # missing base64 padding, lower-case encoding letter, language tag (RFC 2231 5)
    ("=?utf-8?b?QsOhbw?=", "Báo"),
    ("=?utf-8*vi?Q?B=C3=A1o?=", "Báo"),
    # mixed charsets, windows-1258 with combining tone marks, VISCII, TCVN3
    ("=?iso-8859-1?Q?caf=E9?= =?utf-8?Q?_v=C3=A0?=", "café và"),
    ("=?windows-1258?Q?B=E1o_c=E1o_th=E1ng_11?=", "Báo cáo tháng 11"),
    ("=?windows-1258?Q?Vi=EAt_Nam_ti=EA=ECng?=", "Viêt Nam tiếng"),
    ("=?viscii?Q?Ti=AAng_Vi=AEt?=", "Tiếng Việt"),
    ("=?tcvn?Q?Ti=D5ng_Vi=D6t?=", "Tiếng Việt"),
    # broken words stay as they are
    ("=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
    ("=?x-unknown?Q?B=C3=A1o?=", "Báo"),
    ("=?utf-8?Z?abc?=", "=?utf-8?Z?abc?="),
    # raw 8-bit: UTF-8 (RFC 6532), else windows-1258
    ("B\udcc3\udca1o c\udcc3\udca1o", "Báo cáo"),
    ("B\udce1o c\udce1o", "Báo cáo"),
])
def test_decode_words(raw: str, expected: str) -> None:
    decoded = decode_words(raw)
    assert decoded == expected
    assert unicodedata.is_normalized("NFC", decoded)


def test_decoded_text_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", VIET).encode()
    assert decode_bytes(decomposed, "utf-8") == VIET
    assert decode_bytes(VIET.encode(), "us-ascii") == VIET  # mislabelled UTF-8
    assert decode_bytes(VIET.encode(), "iso-8859-1") == VIET
    assert decode_bytes(b"caf\xe9", "iso-8859-1") == "café"
    assert decode_bytes(b"\x81\x8d\x8f", None)  # not UTF-8 nor windows-1258: VISCII, no error
    assert decode_bytes(b"abc", "no-such-charset") == "abc"
    assert decode_bytes(b"\xff\xfe", "base64") == "ÿ₫"  # not a text encoding: windows-1258


@pytest.mark.parametrize(("value", "expected"), [
    ('attachment; filename="report.pdf"', {"filename": "report.pdf"}),
    ("attachment; filename*=utf-8''B%C3%A1o%20c%C3%A1o%20th%C3%A1ng%2011.pdf", {"filename": "Báo cáo tháng 11.pdf"}),
    ("attachment; filename*=UTF-8'vi'B%C3%A1o.pdf; filename=\"Bao.pdf\"", {"filename": "Báo.pdf"}),
    ("attachment; filename*0*=utf-8''B%C3%A1o%20c%C3; filename*1*=%A1o; filename*2=\" th\\\"x\\\".pdf\"",
     {"filename": 'Báo cáo th"x".pdf'}),
    ('attachment; filename*1="b.pdf"; filename*0="a"', {"filename": "ab.pdf"}),
    ('attachment; filename="=?utf-8?B?QsOhbyBjw6FvLnBkZg==?="', {"filename": "Báo cáo.pdf"}),
    ('attachment; filename="B\udcc3\udca1o.pdf"', {"filename": "Báo.pdf"}),
    ("attachment; filename=a;b=\"semi;colon\"; c=unquoted value ", {"filename": "a", "b": "semi;colon", "c": "unquoted value"}),
    ('attachment; filename="unterminated', {"filename": "unterminated"}),
    ("attachment; ;; =x; novalue", {}),
])
def test_disposition_params(value: str, expected: dict[str, str]) -> None:
    main, params = parse_value(value)
    assert main == "attachment"
    assert display_params(join_params(params)) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("a@b.vn", "a@b.vn"),
    ("=?utf-8?B?Tmd1eeG7hW4gVsSDbiBB?= <nva@bo.gov.vn>", "Nguyễn Văn A <nva@bo.gov.vn>"),
    ('"Trần, Thị B" <ttb@so.gov.vn>, c@d.vn', '"Trần, Thị B" <ttb@so.gov.vn>, c@d.vn'),
    ("Nhóm: x@y.vn, z@y.vn;", "x@y.vn, z@y.vn"),
    ("a@b.vn (Nguyễn A)", "Nguyễn A <a@b.vn>"),
    ("John Q. Public <jqp@example.com>", "John Q. Public <jqp@example.com>"),
    ('"unterminated <x@y.vn>', '"unterminated <x@y.vn>'),  # best effort: a quoted local part
    ("<<<>>>,,,", ""),
    ("Name Only <>", "Name Only"),
    ("", ""),
])
def test_display_addresses(value: str, expected: str) -> None:
    assert display_addresses(value) == expected


def test_comments_nest_and_quotes_escape() -> None:
    assert parse_addresses('"a \\"q\\" b" (c (nested) ) <x@y.vn>') == [('a "q" b', None, "x", "y.vn")]
    assert parse_addresses("x@y.vn (unclosed (comment") == [("unclosed (comment", None, "x", "y.vn")]
    assert parse_addresses(None) is None
    assert parse_addresses("   ") is None
