"""The readers of the start of a text give what reading all of it gives: the start of a
body (``charsets.decode_start``, ``body.body_start_text``: the charset chosen from all
of the body, only the start decoded), the preview's first words, the search text's
prefix folded from a start of the body."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from congthu.mime.body import body_start_text, body_text
from congthu.mime.charsets import decode_bytes, decode_start
from congthu.mime.preview import MAX_PREVIEW, _first_words
from congthu.mime.search import search_text, search_text_prefix
from congthu.mime.structure import parse

_PIECES = ["Kính gửi", " các đơn vị", "\n", " ", "MẬT", "Độ mật: Tối mật", "x", "\r\n", "\t", "\x01", "\u00a0",
           unicodedata.normalize("NFD", "Tiếng Việt "), "\u0301", "\u0323", "ＡＢ", "日本語", "é", "  "]
texts = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)
_CODECS = ["utf-8", "cp1258", "cp1252", "koi8-r", "utf-16", "gb18030"]
_LABELS = [None, "utf-8", "us-ascii", "windows-1258", "iso-8859-1", "viscii", "tcvn3", "koi8-r", "utf-16", "gbk",
           "bogus"]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Text in some codec, with now and then a stray byte in it (which makes a UTF-8 body
    not UTF-8 any more, wherever it is)."""
    data = draw(texts).encode(draw(st.sampled_from(_CODECS)), "replace")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\x81", b"\xc3", b"\xe1\xba"])) + data[at:]
    return data


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), st.sampled_from(_LABELS), st.integers(1, 40))
def test_decode_start_is_the_start_of_the_whole(data: bytes, label: str | None, chars: int) -> None:
    whole = decode_bytes(data, label)[:chars]
    assert decode_start(data, label, chars) == whole
    with memoryview(data) as view:
        assert decode_start(view, label, chars) == whole


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies(), st.sampled_from(_LABELS), st.sampled_from([None, "base64", "quoted-printable", "8bit"]),
       st.integers(1, 40))
def test_body_start_text_is_the_start_of_body_text(data: bytes, label: str | None, encoding: str | None,
                                                   chars: int) -> None:
    import base64
    import binascii
    body = {"base64": base64.encodebytes, "quoted-printable": binascii.b2a_qp}.get(encoding or "", bytes)(data)
    raw = (f"Content-Type: text/plain; charset={label or 'x-unknown'}\r\n"
           f"Content-Transfer-Encoding: {encoding or '8bit'}\r\n\r\n").encode() + body
    part = parse(raw)
    assert body_start_text(raw, part, chars) == body_text(raw, part)[:chars]


def test_decode_start_chooses_the_charset_from_all_of_the_body() -> None:
    """A body that is UTF-8 for its first megabyte and has one windows-1258 byte at its
    end is windows-1258 all through, as ``decode_bytes`` reads it."""
    data = "Kính gửi các đơn vị\n".encode() * 60_000 + b"\xe0 h\xeat\n"
    assert decode_start(data, "utf-8", 100) == decode_bytes(data, "utf-8")[:100]
    assert decode_start(data, "utf-8", 100).startswith("KĂ")
    assert decode_start(data[:-6], "utf-8", 100).startswith("Kính gửi")


@settings(max_examples=1000, deadline=None)
@given(texts)
def test_first_words_are_those_of_the_whole(text: str) -> None:
    import re
    control = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
    text = text * 20
    assert _first_words(text)[:MAX_PREVIEW] == " ".join(control.sub("", text).split())[:MAX_PREVIEW]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.integers(50, 400), st.integers(1, 3000))
def test_search_prefix_is_the_start_of_the_search_text(text: str, repeat: int, chars: int) -> None:
    raw = b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + (text * repeat).encode()
    root = parse(raw)
    whole = search_text(raw, root)
    assert search_text_prefix(raw, root, chars) == (whole[:chars], len(whole) > chars)


@pytest.mark.parametrize("text", [" " * 700 + "từ " * 100, "\x01" * 900 + "a b " * 100, "x" * 5000 + " y" * 300,
                                  ("a" + " " * 30) * 100, "\n> trích\n" * 50 + "chữ " * 100])
def test_first_words_of_sparse_text(text: str) -> None:
    """Texts whose start folds to few words: the preview reads further."""
    import re
    control = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
    assert _first_words(text)[:MAX_PREVIEW] == " ".join(control.sub("", text).split())[:MAX_PREVIEW]


@pytest.mark.parametrize("body", [("a" + " " * 40) * 4000, ("chữ" + "\r\n" * 8) * 20000, "x" * 200_000 + " y",
                                  ("ab " + "\t" * 3) * 30000, ("Đ" + " " * 3) * 50000])
@pytest.mark.parametrize("chars", [100, 4096, 65536])
def test_search_prefix_of_sparse_text(body: str, chars: int) -> None:
    """Bodies whose start folds to fewer characters than it has: the prefix reads further."""
    raw = b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body.encode()
    root = parse(raw)
    whole = search_text(raw, root)
    assert search_text_prefix(raw, root, chars) == (whole[:chars], len(whole) > chars)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80), st.lists(st.tuples(st.integers(0, 200), st.sampled_from(list(b"=!\n\x00 -_*A"))),
                                        max_size=5), st.sampled_from([5, 8, 13]))
def test_base64_by_pieces_is_base64_at_once(data: bytes, noise: list[tuple[int, int]], piece: int) -> None:
    """A large base64 body decoded a piece at a time gives the bytes of decoding it at once
    (foreign bytes, padding anywhere, a cut group at the end); pieces made tiny here."""
    import base64

    from congthu.mime import words
    encoded = bytearray(base64.encodebytes(data))
    for at, byte in noise:
        encoded.insert(min(at, len(encoded)), byte)
    at_once = words.b64decode_lenient(bytes(encoded))
    saved = words._B64_AT_ONCE, words._B64_PIECE
    words._B64_AT_ONCE, words._B64_PIECE = piece, piece
    try:
        assert words.b64decode_lenient(bytes(encoded)) == at_once
        assert words.b64decode_lenient(memoryview(bytes(encoded))) == at_once
    finally:
        words._B64_AT_ONCE, words._B64_PIECE = saved
