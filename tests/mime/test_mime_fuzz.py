"""Property tests: ``analyse()`` never raises and every offset stays within the message."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from congthu.mime import analyse, load_structure, parse_structure, section_range
from congthu.mime.part import Part

PIECES = [
    b"\r\n", b"\n", b"\r", b" ", b"\t", b"\x00", b"\xff", b"\xc3\xa1", b"text ",
    b"--b\r\n", b"--b--\r\n", b"--b", b"--c\n", b"--c--\n", b"--bb\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: multipart/alternative; boundary=\"c\"\n",
    b"Content-Type: multipart/digest; boundary=b\r\n", b"Content-Type: message/rfc822\r\n",
    b"Content-Type: text/html; charset=windows-1258\r\n", b"Content-Type: multipart/mixed\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1*=%A1\r\n",
    b"Subject: =?utf-8?B?QsOh?= =?utf-8?Q?=C3?=\r\n", b"From: \"a (b\" <x@y>, ((c)\r\n",
    b"To: g: a@b, <@r:c@d>;\r\n", b" folded\r\n", b"X: =?", b"?=", b"<script", b"<p>",
    b"SGVsbG8=", b"=3D", b"=\r\n", b":", b"Date: 1 Jan 2024 00:00 +0700\r\n",
]

HEADERS = [p for p in PIECES if p.endswith(b"\n") and b":" in p and not p.startswith(b"Content-Type")]
leaf = st.builds(
    lambda header, body: header + b"\r\n" + body,
    st.lists(st.sampled_from(HEADERS), max_size=3).map(b"".join),
    st.lists(st.sampled_from(PIECES), max_size=6).map(b"".join),
)


def multipart(boundary: bytes, parts: list[bytes], close: bool) -> bytes:
    out = b"Content-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\npreamble\r\n"
    out += b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return out + (b"--" + boundary + b"--\r\nepilogue\r\n" if close else b"")


trees = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(multipart, st.sampled_from([b"b", b"c", b"bb", b"=_x"]), st.lists(inner, min_size=1, max_size=4), st.booleans()),
        inner.map(lambda m: b"Content-Type: message/rfc822\r\n\r\n" + m),
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A well-formed tree, then cut short, re-line-ended and/or with junk spliced in."""
    raw = draw(trees)
    if draw(st.booleans()):
        raw = raw.replace(b"\r\n", b"\n")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.one_of(st.sampled_from(PIECES), st.binary(max_size=8))) + raw[at:]
    if draw(st.booleans()):
        raw = raw[:draw(st.integers(0, len(raw)))]
    return raw


messages = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=20)), max_size=60).map(b"".join),
    trees,
    mutated(),
)


def check_part(part: Part, low: int, high: int) -> None:
    assert low <= part.header_start <= part.body_start <= part.body_end <= high
    previous = part.body_start
    for child in part.children:
        assert previous <= child.header_start
        check_part(child, part.body_start, part.body_end)
        previous = child.body_end
    if part.message is not None:
        assert (part.message.header_start, part.message.body_end) == (part.body_start, part.body_end)
        check_part(part.message, part.body_start, part.body_end)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_analyse_never_raises_and_stays_in_bounds(raw: bytes) -> None:
    result = analyse(raw)
    size = len(raw)
    previous = 0
    for start, end in result.split_ranges:
        assert previous <= start < end <= size
        previous = end
    for text in (result.subject, result.from_addr, result.to_addr, result.cc_addr, result.search_text):
        text.encode("utf-8")  # storable: no lone surrogates
        assert "\x00" not in text
    for _name, decoded in result.attachments:
        assert decoded >= 0

    structure = load_structure(result.structure_json)
    check_part(structure.root, 0, size)
    fresh = parse_structure(raw)
    assert structure.bodystructure(True) == fresh.bodystructure(True)
    json.dumps(structure.bodystructure(True))
    json.dumps(structure.bodystructure(False))
    json.dumps(structure.envelope.imap())
    for number, part in structure.walk():
        for suffix in ("", ".MIME", ".HEADER", ".TEXT"):
            found = section_range(structure, number + suffix)
            if suffix in ("", ".MIME"):
                assert found is not None
            if found is not None:
                assert 0 <= found[0] <= found[1] <= size
        assert structure.part(number) is part
    for section in ("", "HEADER", "TEXT", "1"):
        found = section_range(structure, section)
        assert found is not None and 0 <= found[0] <= found[1] <= size
