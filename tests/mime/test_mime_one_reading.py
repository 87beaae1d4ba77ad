"""The analysis reads each part once: the address lists' two texts made from one decoding
of each address (``search.address_texts``), and the body's first lines
(``Analysis.body_lines``) from the text the search text decoded."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congthu.mime import analyse, body_text, parse_structure
from congthu.mime.lines import HEAD_LINES, MAX_CHARS, body_lines, first_lines
from congthu.mime.search import address_key, address_texts, addresses_text, search_text, search_text_prefix
from congthu.text import nfc

GROUPS = (b"From: =?utf-8?B?Tmd1eeG7hW4gVsSDbiBB?= <a@soctrang.gov.vn>\r\n"
          b"To: =?utf-8?Q?L=C3=A3nh_=C4=91=E1=BA=A1o?=: b@soctrang.gov.vn, \"C, D\" <c@x.vn>;, e@x.vn\r\n"
          b"Cc: undisclosed-recipients:;\r\nSubject: =?utf-8?Q?B=C3=A1o_c=C3=A1o?=\r\n\r\nMAT\r\n")


@pytest.mark.parametrize("raw", [
    GROUPS,
    b"From: a@x.vn\r\nTo: b@x.vn\r\n\r\nx\r\n",
    b"Subject: no addresses\r\n\r\n",
    b"To: =?bogus?Q?x?= <@>, <>, Group:;\r\n\r\n",
])
def test_address_texts_are_the_two_texts(raw: bytes) -> None:
    envelope = parse_structure(raw).envelope
    for addresses in (envelope.from_, envelope.to, envelope.cc):
        assert address_texts(addresses) == (addresses_text(addresses), address_key(addresses))
    analysis = analyse(raw)
    assert analysis.to_addr == addresses_text(envelope.to)
    root = parse_structure(raw).root
    assert (analysis.search_text, analysis.search_cut) == search_text_prefix(raw, root)


def test_group_name_in_key_not_in_text() -> None:
    analysis = analyse(GROUPS)
    assert "Lãnh đạo" not in analysis.to_addr and "lanh dao" in analysis.to_key
    assert "undisclosed-recipients" in analysis.cc_key and analysis.cc_addr == ""
    assert "lanh dao" in search_text(GROUPS, parse_structure(GROUPS).root)
    assert "lanh dao" in analysis.search_text


def test_body_lines_from_the_search_decoding() -> None:
    # windows-1258 writes "ố" and "Ậ" as a letter and a combining mark: NFC joins them.
    plain = "S\u00f4\u0301: 15/BC-UBND\r\n\r\n  M\u00c2\u0323T  \r\n".encode("cp1258")
    html = base64.encodebytes("<p>TỐI MẬT</p><div>Báo cáo</div>".encode()).replace(b"\n", b"\r\n")
    raw = (b"Subject: s\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain; charset=windows-1258\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + plain +
           b"\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + html + b"--b--\r\n")
    analysis = analyse(raw)
    assert list(analysis.body_lines.values()) == [["Số: 15/BC-UBND", "MẬT"], ["TỐI MẬT", "Báo cáo"]]
    assert analysis.body_lines == body_lines(raw, parse_structure(raw).root)


@pytest.mark.parametrize("shift", [0, 1, 2])
@pytest.mark.parametrize("cte", ["8bit", "base64"])
def test_a_long_body_cut_in_a_letter_still_reads_as_utf8(shift: int, cte: str) -> None:
    """A body longer than the search decodes (MAX_SEARCH_TEXT): the bytes cut may end in
    the middle of a UTF-8 letter; its start is still read as UTF-8, not windows-1258."""
    line = "Kính gửi các đơn vị: báo cáo tình hình thực hiện nhiệm vụ tháng 11.\r\n".encode()
    body = b"x" * shift + line * (3 * 1024 * 1024 // len(line))
    if cte == "base64":
        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    raw = (b"Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + cte.encode()
           + b"\r\n\r\n" + body)
    root = parse_structure(raw).root
    for limit in range(999_000, 999_003):
        assert body_text(raw, root, limit=limit).lstrip("x").startswith("Kính gửi các đơn vị")
    analysis = analyse(raw)
    assert analysis.search_text.split("\x7f")[1].lstrip(" x").startswith("kinh gui cac don vi")
    assert analysis.search_cut


def _first_lines_whole(text: str) -> list[str]:
    """``first_lines`` as it was defined: every line of the first characters."""
    out: list[str] = []
    for line in nfc(text[:MAX_CHARS]).splitlines():
        if line.strip():
            out.append(line.strip())
            if len(out) >= HEAD_LINES:
                break
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["", " ", "MẬT", "Ma\u0302\u0323t", "\u0323", "x" * 3000, "dòng", "\r", "\n",
                                 "\r\n", "\u2028", "\x0c", "\x85", "a" * 8191, "b" * 8192]), max_size=120))
def test_first_lines_read_from_a_start_are_the_text_s(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert first_lines(text) == _first_lines_whole(text)
    # The 60th line, or a letter and its mark, across a start's end (8192, 32768...).
    for size in (8190, 8191, 8192, 8193, 32768, 200_001):
        for before in (30, HEAD_LINES - 1):
            longer = "a\n" * before + "y" * (size - 2 * before - 1) + "\u0323" + "b" * 9000 + "\nz" * 40
            assert first_lines(longer) == _first_lines_whole(longer)
