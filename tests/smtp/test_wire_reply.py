"""The replies as the session sends them (``errors.wire_reply``, remembered between
sessions): byte for byte what translating, adding the enhanced code, stripping the
accents without SMTPUTF8 and encoding give each time, whatever was asked before; and over
a real connection, a client without SMTPUTF8 gets ASCII replies."""

from __future__ import annotations

import itertools
import smtplib

from congthu.smtp import errors

REPLIES = [
    "250 OK", "221 Bye", '500 Error: command "XYZ" not recognized', "503 Error: send HELO first",
    "501 Syntax: MAIL FROM: <address>", "354 End data with <CR><LF>.<CR><LF>",
    "250 2.0.0 Đã nhận thư / message accepted, id 0123ABCD", "250-8BITMIME", "250 HELP",
    "421 4.7.0 Quá nhiều lệnh không hợp lệ, đóng kết nối / too many unrecognized commands, closing",
    errors.TEMPORARY, errors.DATA_TIMEOUT, "550 no such user", "451 try later", "252 Cannot VRFY",
]


def old_way(text: str, ours: bool, utf8: bool, smtputf8: bool) -> tuple[bytes, bool]:
    """The session's code before the replies were remembered."""
    closing = False
    if ours:
        text = errors.with_enhanced(errors.translate(text))
        closing = errors.closes(text)
    if not text.isascii() and not utf8:
        text = errors.ascii_text(text)
    return text.encode("utf-8" if smtputf8 else "ascii"), closing


def test_remembered_replies_are_the_replies() -> None:
    errors.wire_reply.cache_clear()
    # Every reply in every mode, twice, in two orders: nothing asked before changes an answer.
    modes = [(ours, utf8) for ours, utf8 in itertools.product((True, False), repeat=2)]
    for _round in range(2):
        for text in REPLIES:
            for ours, utf8 in modes:
                assert errors.wire_reply(text, ours, utf8, True) == old_way(text, ours, utf8, True)
        for text in reversed(REPLIES):
            for ours in (False, True):
                assert errors.wire_reply(text, ours, False, False) == old_way(text, ours, False, False)
    assert errors.wire_reply.cache_info().hits > 0
    assert errors.wire_reply("221 Bye", True, False, True) == (b"221 2.0.0 Tam biet / bye", False)
    assert errors.wire_reply("221 Bye", True, True, True) == ("221 2.0.0 Tạm biệt / bye".encode(), False)


def test_a_client_without_smtputf8_gets_ascii(mx) -> None:
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
            code, text = client.ehlo("mail.cantho.gov.vn")
            assert code == 250
            assert client.docmd("NOOP") == (250, b"2.0.0 OK")
            code, text = client.docmd("VRFY", "ai@soctrang.gov.vn")
            assert text.isascii()
