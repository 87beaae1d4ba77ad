"""Errors of the content pipeline, and its SMTP replies in one place (Vietnamese and
English, as every reply of the SMTP package)."""

from __future__ import annotations

from congthu.text import unaccent

__all__ = ["ScannerUnavailable", "classified_reply", "spam_reply", "spam_soft_reply", "unavailable_reply",
           "virus_reply"]


class ScannerUnavailable(Exception):
    """A scanner (clamd, rspamd) could not be asked or did not answer in time."""


def virus_reply(name: str) -> str:
    """Điều 9.9: a message carrying a virus, refused in the transaction (RFC 3463 5.7.1)."""
    return (f"554 5.7.1 Thư chứa virus ({name}), không được nhận (Điều 9.9 Quy chế) / "
            f"message contains a virus ({name}) and was refused")


def spam_reply() -> str:
    """Điều 9.9: spam, refused in the transaction."""
    return "554 5.7.1 Thư bị xác định là thư rác (Điều 9.9 Quy chế) / message refused as spam"


def spam_soft_reply() -> str:
    """rspamd's "soft reject": the sender is asked to try again later (RFC 5321 4.2.5)."""
    return "451 4.7.1 Thư bị tạm hoãn, xin gửi lại sau / message deferred, try again later"


def unavailable_reply(scanner: str) -> str:
    """A configured scanner is down or slow: the sender keeps the message and retries
    (RFC 5321 section 4.2.5); nothing is lost."""
    what = {"clamd": ("quét virus", "virus scanner"), "rspamd": ("lọc thư rác", "spam filter")}[scanner]
    return (f"451 4.3.0 Hệ thống {what[0]} tạm thời không hoạt động, xin gửi lại sau / "
            f"{what[1]} temporarily unavailable, try again later")


def classified_reply(marking: str, where: str, where_en: str) -> str:
    """Điều 7.8, 13.3: the classified stamp found in the message's content."""
    return (f"550 5.7.1 Thư mang dấu độ mật \"{marking}\" ({where}): hệ thống thư điện tử công vụ "
            f"không được dùng cho tài liệu mật (Điều 7.8, 13.3 Quy chế) / message carries the classified "
            f"stamp \"{unaccent(marking)}\" ({unaccent(where_en)}): classified documents must not be sent by e-mail")
