"""QUOTA (RFC 9208): the mailbox's 500 MB in KiB, usage growing with APPEND."""

from __future__ import annotations

from tests.imap.conftest import message


def test_getquotaroot_and_getquota(user) -> None:
    c = user.client()
    typ, data = c.getquotaroot("INBOX")
    assert data == [[b'"INBOX" ""'], [b'"" (STORAGE 0 512000)']]
    c.append("INBOX", None, None, message(body="x" * 5000))
    typ, data = c.getquota('""')
    used = int(data[0].split()[2])
    assert used >= 5 and data[0].endswith(b" 512000)")
    typ, data = c.setquota('""', "(STORAGE 1)")
    assert typ == "NO"
    typ, data = c.getquota('"nope"')
    assert typ == "NO"
