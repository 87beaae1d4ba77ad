"""The errors of the POP3 package and the -ERR replies they become, in one place.

RFC 1939 section 3: every answer is ``+OK`` or ``-ERR``; RFC 2449 section 8 adds the
bracketed response codes, RFC 3206 ``[SYS/TEMP]``, ``[SYS/PERM]`` and ``[AUTH]``, and
section 8.1.1 of RFC 2449 ``[IN-USE]``. Replies are Vietnamese, then English.
"""

from __future__ import annotations


class CommandError(Exception):
    """A command line that cannot be understood; the text is the -ERR answer."""


class SessionClosed(Exception):
    """End the session (after its last answer is written)."""


class LineTooLong(Exception):
    """A line longer than the limit in force; it was read to its end and dropped."""


def too_long(max_line: int) -> str:
    """The -ERR text for a command line over the limit."""
    return f"Dòng lệnh quá dài / command line too long (max {max_line} octets)"


# (text, response code) of the -ERR answers given in more than one place.
TEMPORARILY_UNAVAILABLE = ("Hệ thống tạm thời không sẵn sàng, hãy thử lại sau / "
                           "temporarily unavailable, try again later", "SYS/TEMP")
TOO_MANY_CONNECTIONS = ("Quá nhiều kết nối, hãy thử lại sau / too many connections, "
                        "try again later", "SYS/TEMP")
SHUTTING_DOWN = ("Máy chủ đang dừng / server shutting down", "SYS/TEMP")
LOGIN_TIMEOUT = ("Hết thời gian chờ đăng nhập / no login in time, closing", "")
TOO_MANY_ERRORS = ("Quá nhiều lỗi / too many errors, closing", "")
LINE_FAR_TOO_LONG = ("Dòng quá dài / line far too long", "")
STLS_FIRST = ("Hãy dùng STLS trước khi đăng nhập / use STLS before logging in", "AUTH")
LOCK_LOST = ("Mất khóa hộp thư, hãy kết nối lại / maildrop lock lost, reconnect", "IN-USE")
IN_USE = ("Hộp thư đang được một phiên POP3 khác dùng / maildrop already locked", "IN-USE")
UNKNOWN_COMMAND = ("Lệnh không rõ / unknown command", "")
