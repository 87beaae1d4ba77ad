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


def test_getquotaroot_of_a_delegated_folder_needs_the_administer_right(new_user) -> None:
    """RFC 9208 section 8: another user's usage is confidential; RFC 4314 section 2.1: "a"
    administers the mailbox. A delegate with "lr" gets NO and sees no usage (Dovecot 2.3
    answers "NO Not showing other users' quota"); with "a" the quota root is shown."""
    from congthu import delegation

    org, a = new_user("vanthu"), new_user("canbo")
    org.deliver(message(body="y" * 20000))
    app = org.server.app
    org.server.run(delegation.grant(app, org.id, a.id, "lr", granted_by="admin@soctrang.gov.vn"))
    shared = f'"Shared/{org.address}/INBOX"'
    c = a.client()
    typ, data = c._simple_command("GETQUOTAROOT", shared)
    assert typ == "NO" and b"NOPERM" in data[-1], data
    assert not c.untagged_responses.get("QUOTA") and not c.untagged_responses.get("QUOTAROOT")
    typ, data = c.getquota(f'"Shared/{org.address}"')
    assert typ == "NO" and not c.untagged_responses.get("QUOTA"), data
    assert c.getquotaroot("INBOX")[0] == "OK"  # their own: as before
    org.server.run(delegation.grant(app, org.id, a.id, "lra", granted_by="admin@soctrang.gov.vn"))
    typ, data = c.getquotaroot(f"Shared/{org.address}/INBOX")
    assert typ == "OK" and data[1][0].startswith(f'"Shared/{org.address}" (STORAGE '.encode()), data
