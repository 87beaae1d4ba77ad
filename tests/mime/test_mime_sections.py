"""BODY[section] byte ranges (RFC 9051 section 6.4.5) and body decoding."""

from __future__ import annotations

import pytest

from congthu.mime import body_text, decode_body, parse_structure, section_range
from tests.mime.samples import ALTERNATIVE_IN_MIXED, FORWARDED, RFC_SINGLE, crlf

INNER = crlf(
    "From: Old Sender <old@example.com>\nTo: a@bo.gov.vn\nSubject: hello\nMessage-ID: <old@example.com>\n"
    "Content-Type: multipart/alternative; boundary=b2\n\n"
    "--b2\nContent-Type: text/plain\n\ninner plain\n--b2\nContent-Type: text/html\n\n<p>inner html</p>\n--b2--\n"
)
INNER_HEADER, INNER_TEXT = INNER.split(b"\r\n\r\n", 1)

FORWARDED_SECTIONS: list[tuple[str, bytes | None]] = [
    ("", FORWARDED),
    ("HEADER", FORWARDED.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"),
    ("header.fields (From To)", FORWARDED.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"),
    ("TEXT", FORWARDED.split(b"\r\n\r\n", 1)[1]),
    ("1", b"See below."),
    ("1.MIME", b"Content-Type: text/plain\r\n\r\n"),
    ("2", INNER),
    ("2.MIME", b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"),
    ("2.HEADER", INNER_HEADER + b"\r\n\r\n"),
    ("2.HEADER.FIELDS.NOT (Subject)", INNER_HEADER + b"\r\n\r\n"),
    ("2.TEXT", INNER_TEXT),
    ("2.1", b"inner plain"),
    ("2.1.MIME", b"Content-Type: text/plain\r\n\r\n"),
    ("2.2", b"<p>inner html</p>"),
    ("2.2.MIME", b"Content-Type: text/html\r\n\r\n"),
    ("1.HEADER", None),  # not a message/rfc822 part
    ("2.1.TEXT", None),
    ("MIME", None),  # MIME needs a part number
    ("3", None), ("2.3", None), ("1.1", None), ("0", None), ("1.0", None), ("1.", None),
    ("2.1.1", None), ("BOGUS", None), ("1.BOGUS", None),
]


@pytest.mark.parametrize(("section", "expected"), FORWARDED_SECTIONS)
def test_forwarded_sections(section: str, expected: bytes | None) -> None:
    found = section_range(parse_structure(FORWARDED), section)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert FORWARDED[found[0]:found[1]] == expected


def test_nested_multipart_sections() -> None:
    raw = ALTERNATIVE_IN_MIXED
    structure = parse_structure(raw)

    def cut(section: str) -> bytes:
        found = section_range(structure, section)
        assert found is not None
        return raw[found[0]:found[1]]

    assert cut("1").startswith(b"--inner\r\n") and cut("1").endswith(b"--inner--\r\n")
    assert cut("1.MIME") == b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    assert cut("1.1") == b"K=C3=ADnh g=E1=BB=ADi anh"
    assert cut("1.2").startswith(b"<html>") and cut("1.2").endswith(b"</html>")
    assert cut("2") == b"SGVsbG8sIHdvcmxkIQ=="
    assert section_range(structure, "1.3") is None
    part = structure.part("1.1")
    assert part is not None and body_text(raw, part) == "K\u00ednh g\u1eedi anh"
    attachment = structure.part("2")
    assert attachment is not None and decode_body(raw, attachment) == b"Hello, world!"
    assert attachment.filename == "B\u00e1o c\u00e1o th\u00e1ng 11.pdf"
    assert [number for number, _ in structure.walk()] == ["1", "1.1", "1.2", "2"]


def test_single_part_sections() -> None:
    structure = parse_structure(RFC_SINGLE)
    header, text = RFC_SINGLE.split(b"\r\n\r\n", 1)
    for section, expected in [("1", text), ("TEXT", text), ("1.MIME", header + b"\r\n\r\n"),
                              ("HEADER", header + b"\r\n\r\n")]:
        found = section_range(structure, section)
        assert found is not None and RFC_SINGLE[found[0]:found[1]] == expected
    assert section_range(structure, "2") is None
    assert [number for number, _ in structure.walk()] == ["1"]


def test_message_with_single_part_inside() -> None:
    inner = b"Subject: inner\r\n\r\nhello"
    raw = b"Content-Type: message/rfc822\r\n\r\n" + inner
    structure = parse_structure(raw)
    for section, expected in [("1", inner), ("1.1", b"hello"), ("1.HEADER", b"Subject: inner\r\n\r\n"),
                              ("1.TEXT", b"hello"), ("1.1.MIME", b"Subject: inner\r\n\r\n")]:
        found = section_range(structure, section)
        assert found is not None and raw[found[0]:found[1]] == expected, section
    assert [number for number, _ in structure.walk()] == ["1", "1.1"]


def test_bare_lf_sections() -> None:
    raw = FORWARDED.replace(b"\r\n", b"\n")
    structure = parse_structure(raw)
    found = section_range(structure, "2.2")
    assert found is not None and raw[found[0]:found[1]] == b"<p>inner html</p>"
    found = section_range(structure, "2.MIME")
    assert found is not None and raw[found[0]:found[1]].endswith(b"attachment\n\n")


@pytest.mark.parametrize(("encoding", "body", "decoded"), [
    ("base64", b"SGVs\r\nbG8=\r\n", b"Hello"),
    ("base64", b"SGVsbG8", b"Hello"),  # missing padding
    ("base64", b"SGV*sb!G8=", b"Hello"),  # stray characters
    ("quoted-printable", b"a=3Db=\r\nc", b"a=bc"),
    ("8bit", b"\xc3\xa1", b"\xc3\xa1"),
])
def test_decode_body(encoding: str, body: bytes, decoded: bytes) -> None:
    raw = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: " + encoding.encode() + b"\r\n\r\n" + body
    structure = parse_structure(raw)
    assert decode_body(raw, structure.root) == decoded


def test_field_spans_for_header_fields() -> None:
    from congthu.mime import field_spans

    raw = b"From x Mon\r\nSubject: a\r\n b\r\nTo: c@d\r\nX-Empty:\r\n\r\nbody"
    structure = parse_structure(raw)
    found = section_range(structure, "HEADER.FIELDS (Subject)")
    assert found is not None
    spans = field_spans(raw, *found)
    assert [(name, raw[s:e]) for name, s, e in spans] == [
        ("subject", b"Subject: a\r\n b\r\n"), ("to", b"To: c@d\r\n"), ("x-empty", b"X-Empty:\r\n"),
    ]
    assert field_spans(raw, 0, 0) == []


def test_unknown_encoding_is_refused_when_strict() -> None:
    from congthu.mime import UnknownEncoding

    raw = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n"
    part = parse_structure(raw).root
    assert decode_body(raw, part) == b"begin 644 a\r\n"
    with pytest.raises(UnknownEncoding):
        decode_body(raw, part, strict=True)
