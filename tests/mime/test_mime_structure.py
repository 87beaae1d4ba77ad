"""BODY / BODYSTRUCTURE and ENVELOPE from the byte-exact parser (RFC 9051 section 7.5.2)."""

from __future__ import annotations

import pytest

from congthu.mime import load_structure, parse_structure
from congthu.mime.structure import MAX_DEPTH
from tests.mime.samples import (
    ALTERNATIVE_IN_MIXED,
    FORWARDED,
    RFC_MIXED,
    RFC_MIXED_BODY,
    RFC_SINGLE,
    RFC_SINGLE_BODY,
    RFC_SINGLE_ENVELOPE,
    crlf,
    imap,
    imap_body,
)


def test_rfc_single_part_example() -> None:
    structure = parse_structure(RFC_SINGLE)
    assert imap_body(structure.bodystructure(extended=False)) == RFC_SINGLE_BODY
    assert imap(structure.envelope.imap()) == RFC_SINGLE_ENVELOPE


def test_rfc_multipart_example() -> None:
    structure = parse_structure(RFC_MIXED)
    assert imap_body(structure.bodystructure(extended=False)) == RFC_MIXED_BODY
    assert imap_body(structure.bodystructure(extended=True)) == (
        '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23 NIL NIL NIL NIL)'
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" '
        '"Compiled diff" "BASE64" 4554 73 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "xyz") NIL NIL NIL)'
    )


CASES: list[tuple[str, bytes, str]] = [
    (
        "no content-type: text/plain us-ascii (RFC 2045 5.2)",
        crlf("Subject: x\n\nhello\nworld\n"),
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 14 2)',
    ),
    (
        "explicit type without parameters",
        crlf("Content-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n<p>x</p>"),
        '("TEXT" "HTML" NIL NIL NIL "8BIT" 8 1)',
    ),
    (
        "invalid content-type falls back to the default",
        crlf("Content-Type: garbage\n\nabc\n"),
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 5 1)',
    ),
    (
        "non-text leaf has no line count",
        crlf("Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0K\n"),
        '("IMAGE" "PNG" NIL NIL NIL "BASE64" 10)',
    ),
    (
        "alternative nested in mixed, with an RFC 2231 file name",
        ALTERNATIVE_IN_MIXED,
        '((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 25 1)'
        '("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 109 1) "ALTERNATIVE")'
        '("APPLICATION" "PDF" ("NAME" "=?utf-8?B?QsOhbyBjw6FvLnBkZg==?=") NIL NIL "BASE64" 20) "MIXED")',
    ),
    (
        "message/rfc822 attached: envelope and the inner structure",
        FORWARDED,
        '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 259 '
        '(NIL "hello" (("Old Sender" NIL "old" "example.com")) (("Old Sender" NIL "old" "example.com")) '
        '(("Old Sender" NIL "old" "example.com")) ((NIL NIL "a" "bo.gov.vn")) NIL NIL NIL "<old@example.com>") '
        '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 11 1)("TEXT" "HTML" NIL NIL NIL "7BIT" 17 1) "ALTERNATIVE") 15) "MIXED")',
    ),
    (
        "bare LF line ends",
        FORWARDED.replace(b"\r\n", b"\n"),
        '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 244 '
        '(NIL "hello" (("Old Sender" NIL "old" "example.com")) (("Old Sender" NIL "old" "example.com")) '
        '(("Old Sender" NIL "old" "example.com")) ((NIL NIL "a" "bo.gov.vn")) NIL NIL NIL "<old@example.com>") '
        '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 11 1)("TEXT" "HTML" NIL NIL NIL "7BIT" 17 1) "ALTERNATIVE") 15) "MIXED")',
    ),
    (
        "missing close delimiter: the last part runs to the end",
        crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: text/html\n\ntwo\n"),
        '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3 1)("TEXT" "HTML" NIL NIL NIL "7BIT" 5 1) "MIXED")',
    ),
    (
        "a part without header, transport padding after the delimiter, a look-alike boundary",
        crlf("Content-Type: multipart/mixed; boundary=\"b\"\n\n--b  \n\n--bogus\n--b--\n"),
        '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 7 1) "MIXED")',
    ),
    (
        "multipart without boundary parameter is text",
        crlf("Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n"),
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 17 4)',
    ),
    (
        "multipart whose boundary never occurs is text",
        crlf("Content-Type: multipart/mixed; boundary=zz\n\nplain text\n"),
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 12 1)',
    ),
    (
        "multipart/digest parts default to message/rfc822 (RFC 2046 5.1.5)",
        crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nbody\n--d--\n"),
        '(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 18 (NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL) '
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 4 1) 3) "DIGEST")',
    ),
    (
        "header only, no body",
        b"Subject: only a header\r\n",
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)',
    ),
    (
        "garbage: not a header at all",
        b"\x00\xff\xfe garbage\r\nmore: garbage\r\n",
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 28 2)',
    ),
    ("empty message", b"", '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)'),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_body_structure(raw: bytes, expected: str) -> None:
    structure = parse_structure(raw)
    assert imap_body(structure.bodystructure(extended=False)) == expected
    again = load_structure(structure.to_json())
    assert again.bodystructure(True) == structure.bodystructure(True)
    assert again.envelope.imap() == structure.envelope.imap()


def test_extension_fields() -> None:
    raw = crlf(
        "Content-Type: text/plain; charset=utf-8; format=flowed\n"
        "Content-ID: <c1@x>\nContent-Description: =?utf-8?Q?M=C3=B4_t=E1=BA=A3?=\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\nContent-Disposition: inline; filename=a.txt\n"
        "Content-Language: vi, en\nContent-Location: http://example.com/a.txt\n\nabc"
    )
    assert parse_structure(raw).bodystructure(extended=True) == [
        "TEXT", "PLAIN", ["CHARSET", "utf-8", "FORMAT", "flowed"], "<c1@x>",
        "=?utf-8?Q?M=C3=B4_t=E1=BA=A3?=", "7BIT", 3, 1, "Q2hlY2sgSW50ZWdyaXR5IQ==",
        ["INLINE", ["FILENAME", "a.txt"]], ["vi", "en"], "http://example.com/a.txt",
    ]


def test_rfc2231_continuations_in_bodystructure() -> None:
    # RFC 9051 7.5.2: continuations joined; charset-tagged values converted to UTF-8 as "name*".
    raw = crlf(
        "Content-Type: application/octet-stream;\n name*0=\"very long \"; name*1=\"name.bin\"\n"
        "Content-Disposition: attachment; filename*0*=windows-1258''B%E1o%20c%E1o; filename*1=.doc\n\nx"
    )
    body = parse_structure(raw).bodystructure(extended=True)
    assert body[2] == ["NAME", "very long name.bin"]
    assert body[8] == ["ATTACHMENT", ["FILENAME*", "utf-8''B%C3%A1o%20c%C3%A1o.doc"]]


def test_nesting_is_limited() -> None:
    depth = MAX_DEPTH + 20
    raw = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    raw += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    structure = parse_structure(raw)
    levels, body = 0, structure.bodystructure(False)
    while isinstance(body[0], list):
        levels += 1
        body = body[0]
    assert levels == MAX_DEPTH
    assert body[:2] == ["TEXT", "PLAIN"]


def test_part_count_is_limited() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 10000 + b"--b--\r\n"
    structure = parse_structure(raw)
    count = sum(1 for _ in structure.walk())
    assert 100 < count <= 2000


def test_envelope_addresses() -> None:
    raw = crlf(
        "From: \"Nguy\u1ec5n, V\u0103n A\" <nva@bo.gov.vn>\n"
        "Sender: <sender@bo.gov.vn>\n"
        "Reply-To:\n"
        "To: Undisclosed recipients:;, x@y.vn (Ông X), <@relay.vn,@r2.vn:route@host.vn>\n"
        "Cc: =?utf-8?B?VHLhuqduIFRo4buLIEI=?= <ttb@so.gov.vn>, local-only\n"
        "Bcc: bad <<>>\n"
        "In-Reply-To: <a@b>\nMessage-ID:  <id@bo.gov.vn> \n"
        "\n"
    )
    env = parse_structure(raw).envelope.imap()
    assert env[0] is None and env[1] is None
    assert env[2] == [["Nguy\u1ec5n, V\u0103n A", None, "nva", "bo.gov.vn"]]
    assert env[3] == [[None, None, "sender", "bo.gov.vn"]]
    assert env[4] == env[2]  # empty Reply-To: From (RFC 9051 7.5.2)
    assert env[5] == [
        [None, None, "Undisclosed recipients", None], [None, None, None, None],
        ["\u00d4ng X", None, "x", "y.vn"], [None, "@relay.vn,@r2.vn", "route", "host.vn"],
    ]
    assert env[6] == [["=?utf-8?B?VHLhuqduIFRo4buLIEI=?=", None, "ttb", "so.gov.vn"],
                      [None, None, "local-only", "MISSING_DOMAIN"]]
    assert env[7] is not None and env[7][0][0] == "bad"
    assert env[8:] == ["<a@b>", "<id@bo.gov.vn>"]


def test_eight_bit_header_survives_exactly() -> None:
    from congthu.mime import wire

    raw = b"Subject: B\xe1o c\xe1o \xc3\xa1\r\n\r\nx"
    subject = load_structure(parse_structure(raw).to_json()).envelope.subject
    assert subject is not None and wire(subject) == b"B\xe1o c\xe1o \xc3\xa1"


def test_load_structure_refuses_old_data() -> None:
    with pytest.raises(ValueError):
        load_structure("{}")
    assert load_structure({"v": 1, "size": 0, "root": {"o": [0, 0, 0], "t": "text/plain"}}).size == 0
