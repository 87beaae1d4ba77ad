"""A long plain text read in part by the analysis gives what reading it whole gives.

``search_text_prefix`` decodes the plain text part read last only as far as the search
index's prefix needs (``charsets.decode_start``: the charset chosen from all of the body,
by the same readings as ``decode_bytes``), and ``body_lines`` takes the content rules'
first lines from that start when it holds them. Over large bodies in the charsets mail
in Vietnam comes in (UTF-8, windows-1258 with its separate tone marks, NFD UTF-8, UTF-8
with one stray byte near the end, TCVN3 declared, base64), long lines and runs without a
space, and several layouts (the text alone, last, first, in an attached message), the
analysis's search prefix, its cut and the first lines are those of the whole text."""

from __future__ import annotations

import base64
import functools
import random
import unicodedata

import pytest

from congthu.mime import analyse
from congthu.mime.charsets import decode_bytes, decode_start
from congthu.mime.imap import parse_structure
from congthu.mime.lines import body_lines
from congthu.mime.search import INDEXED_CHARS, search_text, search_text_prefix

_WORDS = ["kính", "gửi", "các", "đơn", "vị", "báo", "cáo", "tình", "hình", "thực", "hiện", "nhiệm", "vụ",
          "Ủy", "ban", "nhân", "dân", "tỉnh", "Sóc", "Trăng", "quyết", "định", "phê", "duyệt", "kế", "hoạch",
          "chuyển", "đổi", "số", "hướng", "dẫn", "công", "văn"]
_TONES = "\u0300\u0301\u0303\u0309\u0323"


def _text(seed: int, size: int, line_words: tuple[int, int] = (6, 14)) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(*line_words)))
        out.append(line)
        total += len(line) + 2
    return "\r\n".join(out) + "\r\n"


def _cp1258(text: str) -> bytes:
    """windows-1258 as its writers send it: base letters, then the tone mark apart."""
    letters: dict[str, bytes] = {}
    for char in set(text):
        try:
            letters[char] = char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
            letters[char] = (base + "".join(c for c in parts if c in _TONES)).encode("cp1258")
    return b"".join(map(letters.__getitem__, text))


_HEAD = b"From: a@bo.gov.vn\r\nTo: b@so.gov.vn\r\nSubject: =?utf-8?Q?B=C3=A1o_c=C3=A1o?=\r\nMIME-Version: 1.0\r\n"


def _plain(body: bytes, charset: str, encoding: str = "8bit") -> bytes:
    return (f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            .encode() + body)


@functools.cache
def _bodies() -> dict[str, tuple[bytes, str, str]]:
    text = _text(1, 700_000)
    utf8 = text.encode()
    return {
        "utf-8": (utf8, "utf-8", "8bit"),
        "utf-8 mislabelled": (utf8, "iso-8859-1", "8bit"),
        "windows-1258": (_cp1258(text), "windows-1258", "8bit"),
        "windows-1258 undeclared": (_cp1258(text), "us-ascii", "8bit"),
        "utf-8 stray byte at the end": (utf8[:-40] + b"\xe0" + utf8[-40:], "utf-8", "8bit"),
        "NFD utf-8": (unicodedata.normalize("NFD", text).encode(), "utf-8", "8bit"),
        "tcvn3 declared": (_cp1258(text), "tcvn3", "8bit"),
        "base64 utf-8": (base64.encodebytes(utf8).replace(b"\n", b"\r\n"), "utf-8", "base64"),
        "long lines": (_text(2, 700_000, (2000, 4000)).encode(), "utf-8", "8bit"),
        "few lines": (("x " * 150_000 + "\r\n").encode() * 3, "utf-8", "8bit"),
        "no space": (b"y" * 900_000 + b"\r\n" + "Kính gửi".encode() * 1000, "utf-8", "8bit"),
        "ascii": (_text(3, 700_000).encode("ascii", "ignore"), "us-ascii", "8bit"),
        # Longer than the search text (MAX_SEARCH_TEXT): nothing after it counts, not
        # even the header of a part after it.
        "over the bound": ((b"cong van bao cao " * 8 + b"\r\n") * 9000, "utf-8", "8bit"),
    }


def _layouts(part: bytes) -> dict[str, bytes]:
    pdf = b'Content-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n'
    return {
        "alone": _HEAD + part,
        "last": _HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' + pdf + b"--b\r\n" + part
        + b"\r\n--b--\r\n",
        "first": _HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' + part + b"\r\n--b\r\n" + pdf
        + b"--b--\r\n",
        "attached message": _HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: message/rfc822\r\n\r\n" + _HEAD + part + b"\r\n--b--\r\n",
    }


_CASES = [(body, layout) for body in _bodies() for layout in ("alone", "last", "first", "attached message")]


@pytest.mark.parametrize(("body", "layout"), _CASES)
def test_the_analysis_of_a_long_text_is_that_of_the_whole(body: str, layout: str) -> None:
    data, charset, encoding = _bodies()[body]
    raw = _layouts(_plain(data, charset, encoding))[layout]
    root = parse_structure(raw).root
    whole = search_text(raw, root)
    result = analyse(raw)
    assert (result.search_text, result.search_cut) == (whole[:INDEXED_CHARS], len(whole) > INDEXED_CHARS)
    assert result.body_lines == body_lines(raw, parse_structure(raw).root)  # each body read on its own
    # The text read last was read in part, where it is that (not where a header follows
    # it), and where its start folds to enough words (not a run without a space).
    starts: dict[int, str] = {}
    search_text_prefix(raw, parse_structure(raw).root, decoded={}, starts=starts)
    assert bool(starts) == (layout != "first" and body != "no space")


@pytest.mark.parametrize("chars", [0, 1, 100, 5000, 40_000])
def test_a_prefix_of_any_length_is_the_whole_texts(chars: int) -> None:
    for data, charset, encoding in _bodies().values():
        raw = _layouts(_plain(data, charset, encoding))["last"]
        root = parse_structure(raw).root
        whole = search_text(raw, root)
        assert search_text_prefix(raw, root, chars) == (whole[:chars], len(whole) > chars)


@pytest.mark.parametrize("label", [None, "utf-8", "us-ascii", "windows-1258", "iso-8859-1", "viscii", "tcvn3",
                                   "koi8-r", "utf-16", "gbk", "base64", "bogus"])
def test_decode_start_reads_as_decode_bytes(label: str | None) -> None:
    """One chooser: for a long body in any label, the start ``decode_start`` reads is the
    start of what ``decode_bytes`` reads (the same charset, chosen from all of it)."""
    text = _text(5, 120_000)
    for data in (text.encode(), _cp1258(text), text.encode()[:-9] + b"\xff" + text.encode()[-9:],
                 text.encode("utf-16"), text.encode("gb18030"), text.encode("ascii", "ignore")):
        whole = decode_bytes(data, label)
        for chars in (1000, 30_000):
            assert decode_start(data, label, chars) == whole[:chars], (label, chars)
            with memoryview(data) as view:
                assert decode_start(view, label, chars) == whole[:chars], (label, chars)
