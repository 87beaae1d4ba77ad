"""The first lines of the body (``Analysis.body_lines``, what the "Mật" rule reads) are in
NFC whatever the body's text was: decomposed UTF-8, windows-1258's separate tone marks and
HTML whose entities make a decomposed letter. Decoded text comes in NFC from
``body_text`` and is not put in NFC again; the text of an HTML body is."""

from __future__ import annotations

import unicodedata

from congthu.mime import analyse

LINES = ["TỐI MẬT", "Kính gửi: Sở Nội vụ tỉnh Sóc Trăng", "Về việc chuyển đổi số năm 2024"]


def _message(parts: list[tuple[str, str, bytes]]) -> bytes:
    out = [b"From: a@bo.gov.vn\r\nTo: b@so.gov.vn\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n']
    for subtype, charset, body in parts:
        out.append(f"--b\r\nContent-Type: text/{subtype}; charset={charset}\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n\r\n".encode("ascii") + body + b"\r\n")
    out.append(b"--b--\r\n")
    return b"".join(out)


def _html_entities(text: str) -> str:
    """The text as HTML, each combining mark of its NFD form written as an entity."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(f"&#{ord(c)};" if unicodedata.combining(c) else c for c in decomposed)


_TONES = "\u0300\u0301\u0303\u0309\u0323"


def _cp1258(text: str) -> bytes:
    """The text in windows-1258 as Vietnamese writers of it do: letters with their vowel
    marks, tone marks apart."""
    out = b""
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
            out += (base + "".join(c for c in decomposed if c in _TONES)).encode("cp1258")
    return out


def test_first_lines_are_in_nfc_whatever_the_text() -> None:
    text = "\r\n".join(LINES) + "\r\n"
    nfd = unicodedata.normalize("NFD", text)
    html = "".join(f"<p>{_html_entities(line)}</p>" for line in LINES)
    raw = _message([
        ("plain", "utf-8", nfd.encode("utf-8")),
        ("plain", "windows-1258", _cp1258(text)),
        ("html", "utf-8", f"<html><body>{html}</body></html>".encode()),
    ])
    found = analyse(raw).body_lines
    assert len(found) == 3
    for lines in found.values():
        assert lines == LINES
