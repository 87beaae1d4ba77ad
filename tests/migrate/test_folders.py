"""Where old folders go: RFC 6154 attributes first, then the names other servers and
Vietnamese-language clients use, sub-folders kept under the mapped parent."""

from __future__ import annotations

import pytest

from congthu.migrate.folders import destination
from congthu.migrate.source import OldFolder, parse_url


@pytest.mark.parametrize(("name", "delimiter", "attributes", "ours"), [
    ("INBOX", "/", (), "INBOX"),
    ("inbox", ".", (), "INBOX"),
    ("Gửi đi", "/", ("\\Sent",), "Sent"),  # the attribute wins over the name
    ("Sent Items", "/", (), "Sent"),
    ("Sent Items/2019", "/", (), "Sent/2019"),
    ("INBOX.Sent", ".", (), "Sent"),  # Courier-style
    ("INBOX.Công việc", ".", (), "INBOX/Công việc"),
    ("[Gmail]/Sent Mail", "/", (), "Sent"),
    ("Deleted Items", "/", (), "Trash"),
    ("Thùng rác", "/", (), "Trash"),
    ("THƯ RÁC", "/", (), "Junk"),
    ("Junk E-mail", "/", (), "Junk"),
    ("Thư nháp", "/", (), "Drafts"),
    ("Lưu trữ", "/", (), "Archive"),
    ("Tài liệu/Sent", "/", (), "Tài liệu/Sent"),  # only at the top
    ("Hồ sơ.2024/05", ".", (), "Hồ sơ/2024-05"),  # "/" inside a level of a "." server
    ("Công văn đến", None, (), "Công văn đến"),
])
def test_destination(name: str, delimiter: str | None, attributes: tuple[str, ...], ours: str) -> None:
    folder = OldFolder(name, delimiter, frozenset(a.lower() for a in attributes))
    assert destination(folder) == ours


@pytest.mark.parametrize(("text", "expected"), [
    ("imaps://old.soctrang.gov.vn", "imaps://old.soctrang.gov.vn:993"),
    ("imap://10.0.0.5", "imap://10.0.0.5:143"),
    ("imaps://old:10993/", "imaps://old:10993"),
])
def test_source_url(text: str, expected: str) -> None:
    assert parse_url(text).text == expected


@pytest.mark.parametrize("text", ["http://old", "imaps://", "imaps://old:99999", "imaps://old/INBOX", "old:993"])
def test_source_url_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_url(text)
