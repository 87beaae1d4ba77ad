"""The preview (RFC 8970) is the start of the text the rest of the analysis reads: the
charset chosen from all of the part's body, as the search text, the content rules' first
lines and the webmail read it, and taken at delivery from the text the search decoded
(whole, or the start of a long plain text) rather than decoded again."""

from __future__ import annotations

import unicodedata

import pytest

from congthu.mime import analyse, body_text, parse_structure
from congthu.mime.preview import MAX_PREVIEW, preview

_LINE = "Kính gửi các đơn vị: báo cáo tình hình thực hiện nhiệm vụ tháng 11 năm 2024.\r\n"
_HEAD = b"From: a@bo.gov.vn\r\nTo: b@so.gov.vn\r\nSubject: =?utf-8?Q?B=C3=A1o_c=C3=A1o?=\r\nMIME-Version: 1.0\r\n"


def _plain(body: bytes, charset: str = "utf-8") -> bytes:
    return _HEAD + f"Content-Type: text/plain; charset={charset}\r\n\r\n".encode() + body


_TONES = "\u0300\u0301\u0303\u0309\u0323"


def _cp1258(text: str) -> bytes:
    """windows-1258 as its writers send it: a letter without its tone mark, then the mark."""
    out = []
    for char in text:
        try:
            out.append(char.encode("cp1258"))
        except UnicodeEncodeError:
            base, *marks = unicodedata.normalize("NFD", char)
            letter = unicodedata.normalize("NFC", base + "".join(m for m in marks if m not in _TONES))
            out.append(letter.encode("cp1258") + "".join(m for m in marks if m in _TONES).encode("cp1258"))
    return b"".join(out)


def _shown(text: str) -> str:
    """The preview of a text without quoted lines or control characters."""
    return " ".join(text.split())[:MAX_PREVIEW].rstrip()


@pytest.mark.parametrize("size", [400, 12_000, 300_000])
def test_a_late_stray_byte_reads_the_preview_as_the_rest(size: int) -> None:
    # Valid UTF-8 but for one byte near the end: all of the body is read as
    # windows-1258 (charsets.decode_bytes), its first kilobytes too.
    text = (_LINE * (size // len(_LINE) + 1)).encode()
    raw = _plain(text[:-30] + b"\xe0" + text[-30:])
    root = parse_structure(raw).root
    whole = body_text(raw, root)
    assert "Kính" not in whole  # the test's premise: not read as UTF-8
    analysis = analyse(raw)
    assert analysis.preview == _shown(whole)
    assert preview(raw, root) == analysis.preview  # from the bytes (messages stored before)
    assert analysis.body_lines[root.body_start][0] == whole.split("\r\n")[0].strip()


@pytest.mark.parametrize("size", [400, 12_000, 300_000, 2_000_000])
def test_the_preview_is_the_start_of_the_whole_text(size: int) -> None:
    for body, charset in [((_LINE * (size // len(_LINE) + 1)).encode(), "utf-8"),
                          (_cp1258(_LINE) * (size // len(_LINE) + 1), "windows-1258")]:
        raw = _plain(body, charset)
        root = parse_structure(raw).root
        analysis = analyse(raw)
        assert analysis.preview == _shown(body_text(raw, root)) == preview(raw, root)
        assert analysis.preview.startswith("Kính gửi các đơn vị")


def test_quoted_lines_are_left_out() -> None:
    raw = _plain("Đồng ý.\r\n> Kính gửi anh\r\n  >> trích dẫn\r\nTrân trọng, a > b\r\n".encode())
    assert analyse(raw).preview == "Đồng ý. Trân trọng, a > b" == preview(raw, parse_structure(raw).root)
