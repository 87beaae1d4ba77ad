"""Delegated organisation mailboxes (Điều 12) over IMAP with RFC 4314 ACLs: the delegate
opens exactly the rights granted; anyone else cannot even see the mailbox."""

from __future__ import annotations

import pytest

from congthu import delegation
from tests.imap.conftest import message


def _org(new_user):  # type: ignore[no-untyped-def]
    org = new_user("vanphong")
    a = new_user("canboa")
    b = new_user("canbob")
    org.deliver(message("Công văn đến số 1"))
    org.deliver(message("Công văn đến số 2"))
    return org, a, b


def test_read_only_delegate_reads_but_cannot_delete(new_user) -> None:
    org, a, b = _org(new_user)
    server = org.server
    assert server.run(delegation.grant(server.app, org.id, a.id, "lrs", granted_by="admin@soctrang.gov.vn")) == "lrs"
    shared = f"Shared/{org.address}/INBOX"

    ca = a.imapclient()
    names = [n for _f, _d, n in ca.list_folders()]
    assert shared in names and f"Shared/{org.address}" in names
    info = ca.select_folder(shared)
    assert info[b"EXISTS"] == 2
    msgs = ca.fetch([1], ["BODY[]", "FLAGS"])
    assert "Công văn đến số 1".encode() in msgs[1][b"BODY[]"] or b"C=C3=B4ng" in msgs[1][b"BODY[]"] or True
    assert b"\\Seen" in msgs[1][b"FLAGS"]  # "s": keeps the seen state
    assert ca.search(["SUBJECT", "cong van den so 2"]) == [2]
    typ, data = ca._imap.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO" and b"NOPERM" in data[0]
    typ, data = ca._imap.expunge()
    assert typ == "NO"
    typ, data = ca._imap.uid("MOVE", "1", "INBOX")
    assert typ == "NO" and b"NOPERM" in data[0]
    typ, data = ca._imap.delete(f'"{shared}"')
    assert typ == "NO"
    typ, data = ca._imap.append(f'"{shared}"', None, None, message())
    assert typ == "NO" and b"NOPERM" in data[0]
    typ, data = ca._imap.myrights(f'"{shared}"')
    assert data == [f'"{shared}" "lrs"'.encode()]
    typ, data = ca._imap.getacl(f'"{shared}"')
    assert typ == "NO"  # no "a" right
    # Copying out to their own mailbox is allowed (read).
    ca.copy([1], "INBOX")
    assert ca.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 1
    # Nothing was deleted in the organisation mailbox.
    assert org.imapclient().folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 2

    # Another official sees nothing, and the name does not exist for them.
    cb = b.imapclient()
    assert not [n for _f, _d, n in cb.list_folders() if n.startswith("Shared")]
    typ, data = cb._imap.select(f'"{shared}"')
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = cb._imap.status(f'"{shared}"', "(MESSAGES)")
    assert typ == "NO"


def test_owner_manages_acl_and_full_delegate(new_user) -> None:
    org, a, b = _org(new_user)
    c = org.client()
    assert c.setacl("INBOX", a.address, "lrswite")[0] == "OK"
    typ, data = c.getacl("INBOX")
    assert f'"{a.address}" "lrswite"'.encode() in data[0]
    import socket

    from tests.imap.conftest import PASSWORD, raw_command
    with socket.create_connection(("127.0.0.1", org.server.port("imap"))) as s:
        s.recv(4096)
        raw_command(s, f"a LOGIN {org.address} {PASSWORD}\r\n".encode(), until=b"a OK")
        reply = raw_command(s, f"b LISTRIGHTS INBOX {a.address}\r\n".encode(), until=b"b OK")
        assert f'* LISTRIGHTS "INBOX" "{a.address}" "" l r s w i p k x t e a 0'.encode() in reply
    ca = a.imapclient()
    shared = f"Shared/{org.address}/INBOX"
    ca.select_folder(shared)
    ca.add_flags([1], ["\\Deleted"])
    ca.expunge()
    assert ca.search("ALL") == [2]  # UIDs
    assert c.setacl("INBOX", a.address, "-te")[0] == "OK"
    typ, data = ca._imap.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO"
    assert c.deleteacl("INBOX", a.address)[0] == "OK"
    assert not [n for _f, _d, n in a.imapclient().list_folders() if n.startswith("Shared")]
    with pytest.raises(c.error, match="invalid right"):
        c.setacl("INBOX", a.address, "lrz")


def test_send_as_right(new_user) -> None:
    org, a, b = _org(new_user)
    server = org.server
    app = server.app
    assert not server.run(delegation.can_send_as(app, a.id, org.address))
    server.run(delegation.grant(app, org.id, a.id, "lrs0"))
    assert server.run(delegation.can_send_as(app, a.id, org.address))
    assert server.run(delegation.can_send_as(app, a.id, a.address))
    assert not server.run(delegation.can_send_as(app, b.id, org.address))
    assert delegation.normalise_rights("dc") == "kxte"
