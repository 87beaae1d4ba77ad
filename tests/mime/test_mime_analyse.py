"""``analyse()``: display fields, attachments (Điều 8.1 sizes), split ranges, search text."""

from __future__ import annotations

import base64
import os
import random
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from congthu.mime import SPLIT_THRESHOLD, analyse, load_structure
from congthu.mime.imap import parse_structure
from congthu.mime.search import folded_clean, html_to_text, search_text
from congthu.mime.words import clean
from congthu.store import split_at_bodies
from congthu.text import fold
from tests.mime.samples import ALTERNATIVE_IN_MIXED, FORWARDED, crlf


def with_attachment(data: bytes, text: str = "Xin gửi báo cáo.", encoding: str = "base64",
                    boundary: str = "=_b", name: str = "bao-cao.pdf") -> bytes:
    body = base64.encodebytes(data).replace(b"\n", b"\r\n") if encoding == "base64" else data
    return (
        crlf(f"From: a@bo.gov.vn\nTo: b@so.gov.vn\nSubject: s\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\n\n"
             f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
             f"--{boundary}\nContent-Type: application/pdf\nContent-Transfer-Encoding: {encoding}\n"
             f"Content-Disposition: attachment; filename=\"{name}\"\n\n")
        + body + crlf(f"\n--{boundary}--\n")
    )


def test_display_fields() -> None:
    result = analyse(ALTERNATIVE_IN_MIXED)
    assert result.subject == "Báo cáo"
    assert result.from_addr == "Nguyễn Văn A <nva@bo.gov.vn>"
    assert result.to_addr == "ttb@so.gov.vn"
    assert result.cc_addr == ""
    assert result.attachments == [("Báo cáo tháng 11.pdf", 13)]
    assert load_structure(result.structure_json).part("2") is not None


def test_search_text_covers_headers_and_text_bodies() -> None:
    text = analyse(ALTERNATIVE_IN_MIXED).search_text
    assert "bao cao" in text and "nguyen van a" in text
    assert "kinh gui anh & chi" in text  # the HTML part, entities decoded, tags gone
    assert "color: red" not in text
    assert "sgvsbg8" not in text  # attachments are not searched
    forwarded = analyse(FORWARDED).search_text
    assert "inner plain" in forwarded and "old sender" in forwarded  # the attached message too


def test_html_to_text_is_linear_on_hostile_input() -> None:
    assert html_to_text("<p>a<br>b</p><script>x</script>c") .split() == ["a", "b", "c"]
    hostile = "<script" * 50000 + "<!--" * 50000 + "<a" * 50000
    started = time.perf_counter()
    html_to_text(hostile)
    assert time.perf_counter() - started < 1


def test_search_text_is_bounded_and_clean() -> None:
    body = ("Nguyễn Thanh Bình \x00 báo cáo " * 200_000).encode()
    raw = b"Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    result = analyse(raw)
    text = search_text(raw, parse_structure(raw).root)  # the whole text; the analysis keeps its prefix
    assert 900_000 < len(text) <= 1_000_000 and result.search_text == text[:65536] and result.search_cut
    assert "\x00" not in text
    text.encode("utf-8")  # no lone surrogates


def test_search_text_folds_as_clean_then_fold() -> None:
    """``folded_clean`` skips ``clean`` when it would change nothing ``fold`` keeps: the
    same key for every mix of controls (white space or not), surrogates, Vietnamese."""
    alphabet = [*map(chr, range(0x21)), "\x7f", "\x85", "\xa0", "\u2028", "\u3000", " ", "a", "B", "Đ", "ế",
                "\u0301", "\ud800", "\udcff"]
    rng = random.Random(5)
    texts = ["", "Kính gửi\r\n\tanh chị\r\n", "a\x1c\x1fb", "a\x00b", "x\x7fy", "bad \udcc3 byte",
             "line\x0bfeed\x0c", *("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
                                   for _ in range(20_000))]
    for text in texts:
        assert folded_clean(text) == fold(clean(text)), repr(text)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 57, 1000, SPLIT_THRESHOLD + 5, 300_001])
def test_attachment_decoded_size_is_exact(size: int) -> None:
    assert analyse(with_attachment(os.urandom(size))).attachments == [("bao-cao.pdf", size)]


def test_attachment_sizes_other_encodings() -> None:
    raw = with_attachment(b"a=3Db=\r\nc=\r\n", encoding="quoted-printable")
    assert analyse(raw).attachments == [("bao-cao.pdf", 4)]  # "a=bc"
    raw = with_attachment(b"\x00\x01binary", encoding="binary")
    assert analyse(raw).attachments == [("bao-cao.pdf", 8)]
    raw = with_attachment(b"SGVs\r\nbG8", encoding="8bit").replace(b"8bit", b"base64")  # unpadded
    assert analyse(raw).attachments == [("bao-cao.pdf", 5)]


def test_attached_message_counts_as_one_attachment() -> None:
    assert analyse(FORWARDED).attachments == [("hello.eml", 259)]


def test_split_ranges_are_exact_attachment_bodies() -> None:
    data = os.urandom(200_000)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")  # its last CRLF is the body's
    first = with_attachment(data, text="Thư thứ nhất", boundary="one")
    second = with_attachment(data, text="Thư thứ hai, dài hơn một chút", boundary="two", name="khac.pdf")
    cuts = []
    for raw in (first, second):
        ranges = analyse(raw).split_ranges
        assert len(ranges) == 1
        start, end = ranges[0]
        assert raw[start:end] == encoded  # exactly the body: no header, no CRLF before the boundary
        assert b"".join(split_at_bodies(raw, ranges)) == raw
        cuts.append(raw[start:end])
    assert cuts[0] == cuts[1]  # so the store keeps one blob for both messages


def test_small_message_is_not_split() -> None:
    assert analyse(ALTERNATIVE_IN_MIXED).split_ranges == []


def test_large_single_part_body_is_split() -> None:
    raw = b"Subject: x\r\n\r\n" + b"y" * SPLIT_THRESHOLD
    assert analyse(raw).split_ranges == [(14, 14 + SPLIT_THRESHOLD)]


@pytest.mark.parametrize(("value", "expected"), [
    ("Mon, 13 Nov 2023 09:00:00 +0700", datetime(2023, 11, 13, 9, tzinfo=timezone(timedelta(hours=7)))),
    ("13 Nov 2023 09:00:00 -0000", datetime(2023, 11, 13, 9, tzinfo=UTC)),
    ("not a date", None),
    ("Mon, 99 Foo 2023 99:99:99 +9999", None),
])
def test_sent_date(value: str, expected: datetime | None) -> None:
    assert analyse(f"Date: {value}\r\n\r\nx".encode()).sent_date == expected


def test_message_id_and_garbage_headers() -> None:
    result = analyse(b"Message-ID: <x@y>\r\nSubject: a\x00b\r\n\tc\r\n\r\n")
    assert result.message_id == "<x@y>"
    assert result.subject == "a b\tc".replace("\t", " ")


def test_large_messages_are_fast() -> None:
    raw = with_attachment(os.urandom(18 * 1024 * 1024))  # about 25 MB on the wire
    started = time.perf_counter()
    result = analyse(raw)
    assert time.perf_counter() - started < 2
    assert result.attachments == [("bao-cao.pdf", 18 * 1024 * 1024)]
