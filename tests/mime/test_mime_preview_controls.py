"""The preview (RFC 8970 section 3) leaves control characters out, wherever they stand in
its start (a printable text, most of them, is taken as it is), and keeps the words around
them: tabs and other white space are one space."""

from __future__ import annotations

import pytest

from congthu.mime import analyse


def _message(body: str) -> bytes:
    return (b"From: a@bo.gov.vn\r\nTo: b@so.gov.vn\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + body.encode("utf-8"))


LONG = " ".join(["Kính gửi các đơn vị báo cáo tình hình thực hiện nhiệm vụ"] * 30)


@pytest.mark.parametrize(("body", "shown"), [
    ("Kính\x00 gửi\x1b[0m Sở\x7f Nội\x9b vụ\r\n", "Kính gửi[0m Sở Nội vụ"),
    ("Kính\tgửi\u00a0Sở  Nội vụ\r\n", "Kính gửi Sở Nội vụ"),
    ("Kính gửi\r\n" + LONG + "\r\n", ("Kính gửi " + LONG)[:200].rsplit(" ", 1)[0]),
    ("Kí\x01nh gửi\r\n" + LONG + "\r\n", ("Kính gửi " + LONG)[:200].rsplit(" ", 1)[0]),
])
def test_preview_without_controls(body: str, shown: str) -> None:
    preview = analyse(_message(body)).preview
    assert preview == shown
