"""RFC 4314 ACLs per folder on delegated organisation mailboxes (Điều 12): a grant may
name one folder or the whole mailbox; a folder's own grant replaces the mailbox-wide one
there; a folder without "l" does not exist for the delegate. Over a real server with
imaplib / imapclient, and store-level on SQLite and PostgreSQL."""

from __future__ import annotations

import imaplib
from typing import Any

import pytest

from congthu import audit, delegation
from congthu.app import App
from congthu.imap import utf7
from tests.imap.conftest import User, message

INCOMING = "Công văn đến"
ARCHIVE = "Lưu trữ"
SECRET = "Mật"


def q(name: str) -> str:
    """A mailbox name on the wire: modified UTF-7, quoted."""
    return '"' + utf7.encode(name) + '"'


def _cmd(client: imaplib.IMAP4, name: str, *args: str) -> tuple[str, bytes]:
    """Any command through imaplib; the tagged status and the last line's text."""
    imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))
    client.untagged_responses.clear()  # imaplib raises on a [READ-ONLY] code it kept
    try:
        typ, data = client._simple_command(name, *args)  # type: ignore[attr-defined]
    except client.error as exc:
        return "BAD", str(exc).encode()
    last = data[-1] if data else b""
    return typ, last if isinstance(last, bytes) else b""


def _select(client: imaplib.IMAP4, name: str) -> bytes:
    """SELECT through imaplib without its exception on [READ-ONLY]; the tagged text."""
    typ, text = _cmd(client, "SELECT", q(name))
    assert typ == "OK", text
    client.state = "SELECTED"
    client.is_readonly = text.startswith(b"[READ-ONLY]")
    return text


def _untagged(client: imaplib.IMAP4, name: str) -> list[bytes]:
    return [d for d in client.untagged_responses.get(name, []) if isinstance(d, bytes)]


def _shared_names(client: Any, org: User) -> list[str]:
    """The names under Shared/<org>/ that an imapclient LIST "" "*" shows."""
    prefix = f"Shared/{org.address}/"
    return sorted(n[len(prefix):] for _f, _d, n in client.list_folders() if n.startswith(prefix))


def _org(new_user: Any) -> tuple[User, User, User]:
    org, a, b = new_user("vanphong"), new_user("canboa"), new_user("canbob")
    server = org.server
    for name in (INCOMING, ARCHIVE, SECRET):
        server.run(server.app.store.create_folder(org.id, name))
    org.deliver(message("Thư INBOX"))
    org.deliver(message("Công văn đến số 1"), folder=INCOMING)
    org.deliver(message("Công văn đến số 2"), folder=INCOMING)
    org.deliver(message("Hồ sơ lưu"), folder=ARCHIVE)
    org.deliver(message("Tài liệu mật"), folder=SECRET)
    return org, a, b


def _folder_id(org: User, name: str) -> int:
    folder = org.server.run(org.server.app.store.get_folder(org.id, name))
    assert folder is not None
    return folder.id


def _grant(org: User, who: User, rights: str, folder: str | None = None) -> str:
    app = org.server.app
    folder_id = _folder_id(org, folder) if folder else None
    return org.server.run(delegation.grant(app, org.id, who.id, rights, folder_id=folder_id,
                                           granted_by="admin@soctrang.gov.vn"))


def test_folder_only_read_grant(new_user: Any) -> None:
    org, a, b = _org(new_user)
    assert _grant(org, a, "rl", INCOMING) == "lr"
    shared = f"Shared/{org.address}"

    ca = a.imapclient()
    listed = {n: flags for flags, _d, n in ca.list_folders() if n.startswith("Shared")}
    # Only the one folder, under its \Noselect parents (RFC 4314 section 4: LIST needs "l").
    assert sorted(listed) == ["Shared", shared, f"{shared}/{INCOMING}"]
    assert b"\\Noselect" in listed[shared]
    assert _shared_names(ca, org) == [INCOMING]
    assert [n for _f, _d, n in ca.list_folders(f"{shared}/", "%")] == [f"{shared}/{INCOMING}"]

    # SELECT works, READ-ONLY: no s, w, t, e or i (RFC 4314 section 5.2).
    assert _select(ca._imap, f"{shared}/{INCOMING}").startswith(b"[READ-ONLY]")
    assert _untagged(ca._imap, "EXISTS") == [b"2"]
    bodies = ca.fetch([1, 2], ["BODY[]"])
    assert all(b"\r\n\r\n" in v[b"BODY[]"] for v in bodies.values())
    c = ca._imap
    for command, args, code in [
        ("STORE", ("1", "+FLAGS", "(\\Seen)"), b"[READ-ONLY]"),
        ("STORE", ("1", "+FLAGS", "(\\Deleted)"), b"[READ-ONLY]"),
        ("EXPUNGE", (), b"[READ-ONLY]"),
        ("UID", ("MOVE", "1", "INBOX"), b"[READ-ONLY]"),
        ("GETACL", (q(f"{shared}/{INCOMING}"),), b"[NOPERM]"),
        ("SETACL", (q(f"{shared}/{INCOMING}"), f'"{a.address}"', "lrswi"), b"[NOPERM]"),
        ("CREATE", (q(f"{shared}/{INCOMING}/Con"),), b"[NOPERM]"),
        ("CREATE", (q(f"{shared}/Mới"),), b"[NOPERM]"),
        ("DELETE", (q(f"{shared}/{INCOMING}"),), b"[NOPERM]"),
    ]:
        typ, text = _cmd(c, command, *args)
        assert typ == "NO" and text.startswith(code), (command, args, typ, text)
    typ, data = c.append(q(f"{shared}/{INCOMING}"), None, None, message("Chèn"))
    assert typ == "NO" and data[-1].startswith(b"[NOPERM]")
    typ, text = _cmd(c, "MYRIGHTS", q(f"{shared}/{INCOMING}"))
    assert typ == "OK" and _untagged(c, "MYRIGHTS") == [f'{q(f"{shared}/{INCOMING}")} "lr"'.encode()]

    # Every other folder of the organisation does not exist for A (RFC 4314 section 6).
    for name in ("INBOX", ARCHIVE, SECRET, "Sent", "Không có"):
        for command, args in [("SELECT", (q(f"{shared}/{name}"),)), ("EXAMINE", (q(f"{shared}/{name}"),)),
                              ("STATUS", (q(f"{shared}/{name}"), "(MESSAGES)")),
                              ("MYRIGHTS", (q(f"{shared}/{name}"),)), ("GETACL", (q(f"{shared}/{name}"),)),
                              ("DELETE", (q(f"{shared}/{name}"),)),
                              ("RENAME", (q(f"{shared}/{name}"), q(f"{shared}/Khác"))),
                              ("SUBSCRIBE", (q(f"{shared}/{name}"),))]:
            typ, text = _cmd(c, command, *args)
            assert typ == "NO" and text.startswith(b"[NONEXISTENT]"), (name, command, text)
    # Nothing changed in the organisation's mailbox.
    oc = org.imapclient()
    assert oc.folder_status(INCOMING, ["MESSAGES", "UNSEEN"]) == {b"MESSAGES": 2, b"UNSEEN": 2}
    assert oc.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 1
    # "l" without "r" (RFC 4314 section 4): listed, but SELECT and STATUS are refused.
    _grant(org, a, "l", ARCHIVE)
    assert _shared_names(ca, org) == sorted([INCOMING, ARCHIVE])
    for command, args in [("EXAMINE", (q(f"{shared}/{ARCHIVE}"),)),
                          ("STATUS", (q(f"{shared}/{ARCHIVE}"), "(MESSAGES)"))]:
        typ, text = _cmd(c, command, *args)
        assert typ == "NO" and text.startswith(b"[NOPERM]"), (command, text)
    ca.logout()

    # B, with no grant, still sees nothing of the organisation.
    cb = b.imapclient()
    assert not [n for _f, _d, n in cb.list_folders() if n.startswith("Shared")]
    typ, text = _cmd(cb._imap, "EXAMINE", q(f"{shared}/{INCOMING}"))
    assert typ == "NO" and text.startswith(b"[NONEXISTENT]")
    cb.logout()


def test_mailbox_wide_grant_with_folder_overrides(new_user: Any) -> None:
    org, a, _b = _org(new_user)
    _grant(org, a, "lrs")
    _grant(org, a, "lr", INCOMING)  # read-only there, without even \Seen
    _grant(org, a, "", SECRET)  # hidden
    shared = f"Shared/{org.address}"
    ca = a.imapclient()
    assert _shared_names(ca, org) == sorted(["INBOX", INCOMING, ARCHIVE, "Archive", "Drafts", "Junk", "Sent",
                                             "Trash"])
    c = ca._imap
    expected = {"INBOX": "lrs", ARCHIVE: "lrs", INCOMING: "lr"}
    for name, rights in expected.items():
        typ, _text = _cmd(c, "MYRIGHTS", q(f"{shared}/{name}"))
        assert typ == "OK" and _untagged(c, "MYRIGHTS") == [f'{q(f"{shared}/{name}")} "{rights}"'.encode()]
    typ, text = _cmd(c, "EXAMINE", q(f"{shared}/{SECRET}"))
    assert typ == "NO" and text.startswith(b"[NONEXISTENT]")

    # INBOX: "s" makes the select READ-WRITE and reading marks \Seen.
    info = ca.select_folder(f"{shared}/INBOX")
    assert b"READ-WRITE" in info and info[b"PERMANENTFLAGS"] == (b"\\Seen",)
    ca.fetch([1], ["BODY[]"])
    assert b"\\Seen" in ca.get_flags([1])[1]
    typ, text = _cmd(c, "STORE", "1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO" and text.startswith(b"[NOPERM]")
    # The override: READ-ONLY, and reading sets no \Seen.
    assert _select(c, f"{shared}/{INCOMING}").startswith(b"[READ-ONLY]")
    ca.fetch([1], ["BODY[]"])
    oc = org.imapclient()
    assert oc.folder_status(INCOMING, ["UNSEEN"])[b"UNSEEN"] == 2
    assert oc.folder_status("INBOX", ["UNSEEN"])[b"UNSEEN"] == 0
    # Send-as stays with the mailbox-wide grant: none here, and a folder grant never has it.
    app = org.server.app
    assert not org.server.run(delegation.can_send_as(app, a.id, org.address))
    with pytest.raises(delegation.InvalidRights, match="mailbox-wide"):
        _grant(org, a, "lr0", INCOMING)
    _grant(org, a, "lrs0")
    assert org.server.run(delegation.can_send_as(app, a.id, org.address))
    _grant(org, a, "lrs")
    assert not org.server.run(delegation.can_send_as(app, a.id, org.address))
    ca.logout()


def test_owner_sets_folder_acls(new_user: Any) -> None:
    org, a, b = _org(new_user)
    oc = org.client()
    folder = q(INCOMING)
    assert _cmd(oc, "SETACL", folder, f'"{a.address}"', "lrw0")[0] == "OK"  # "0" is not granted on a folder
    typ, _text = _cmd(oc, "GETACL", folder)
    assert typ == "OK" and _untagged(oc, "ACL") == \
        [f'{folder} "{org.address}" "lrswipkxtea" "{a.address}" "lrw"'.encode()]
    typ, _text = _cmd(oc, "GETACL", "INBOX")  # A has nothing mailbox-wide
    assert typ == "OK" and _untagged(oc, "ACL") == [f'"INBOX" "{org.address}" "lrswipkxtea0"'.encode()]
    typ, _text = _cmd(oc, "LISTRIGHTS", folder, f'"{a.address}"')
    assert _untagged(oc, "LISTRIGHTS") == [f'{folder} "{a.address}" "" l r s w i p k x t e a c d'.encode()]
    typ, _text = _cmd(oc, "LISTRIGHTS", "INBOX", f'"{a.address}"')
    assert _untagged(oc, "LISTRIGHTS") == [f'"INBOX" "{a.address}" "" l r s w i p k x t e a 0 c d'.encode()]
    typ, _text = _cmd(oc, "LISTRIGHTS", folder, f'"{org.address}"')
    assert _untagged(oc, "LISTRIGHTS") == [f'{folder} "{org.address}" "lrswipkxtea"'.encode()]
    typ, _text = _cmd(oc, "LISTRIGHTS", folder, "anyone")
    assert _untagged(oc, "LISTRIGHTS") == [f'{folder} "anyone" ""'.encode()]
    assert _cmd(oc, "SETACL", folder, f'"{a.address}"', "+sd")[0] == "OK"
    assert _cmd(oc, "SETACL", folder, f'"{a.address}"', "-wx")[0] == "OK"
    assert org.server.run(delegation.rights_of(org.server.app, org.id, a.id, _folder_id(org, INCOMING))) == "lrste"
    # Nobody but named officials: "anyone", "authenticated" and negative rights are refused.
    for identifier in ("anyone", "authenticated", "Anyone"):
        typ, text = _cmd(oc, "SETACL", folder, identifier, "lr")
        assert typ == "NO" and text.startswith(b"[CANNOT]") and b"never opened to everyone" in text, text
    typ, text = _cmd(oc, "SETACL", folder, f'"-{a.address}"', "w")
    assert typ == "NO" and text.startswith(b"[CANNOT]") and b"negative rights" in text
    typ, text = _cmd(oc, "DELETEACL", folder, "anyone")
    assert typ == "NO" and text.startswith(b"[CANNOT]")
    typ, text = _cmd(oc, "SETACL", folder, '""', "lr")
    assert typ == "BAD"
    typ, text = _cmd(oc, "SETACL", folder, f'"{a.address}"', "lrQ")
    assert typ == "BAD"  # RFC 4314 section 3.1: an unknown right is BAD
    typ, text = _cmd(oc, "SETACL", folder, f'"{org.address}"', "lr")
    assert typ == "NO" and text.startswith(b"[CANNOT]")

    # The delegate sees the rights the owner set; with "a" there, it may pass them on.
    ca = a.client()
    shared = q(f"Shared/{org.address}/{INCOMING}")
    typ, _text = _cmd(ca, "MYRIGHTS", shared)
    assert _untagged(ca, "MYRIGHTS") == [f'{shared} "lrsted"'.encode()]  # RFC 4314 2.1.1: "c" no, "d" yes
    typ, text = _cmd(ca, "SETACL", shared, f'"{b.address}"', "lr")
    assert typ == "NO" and text.startswith(b"[NOPERM]")
    assert _cmd(oc, "SETACL", folder, f'"{a.address}"', "+a")[0] == "OK"
    assert _cmd(ca, "SETACL", shared, f'"{b.address}"', "lr")[0] == "OK"
    typ, _text = _cmd(ca, "GETACL", shared)
    assert _untagged(ca, "ACL") == [f'{shared} "{org.address}" "lrswipkxtea" "{a.address}" "lrstea" '
                                    f'"{b.address}" "lr"'.encode()]
    # ... but not on INBOX, which A cannot see.
    typ, text = _cmd(ca, "SETACL", q(f"Shared/{org.address}/INBOX"), f'"{b.address}"', "lr")
    assert typ == "NO" and text.startswith(b"[NONEXISTENT]")
    assert _shared_names(b.imapclient(), org) == [INCOMING]
    granted = org.server.run(audit.records(org.server.app, action="delegation.granted", target=org.address))
    assert (a.address, b.address, "lr", INCOMING) in \
        [(r.actor, r.details["grantee"], r.details["rights"], r.details.get("folder")) for r in granted]

    # The whole mailbox over IMAP: the ACL of INBOX. It reaches every folder without its own grant.
    assert _cmd(oc, "SETACL", "INBOX", f'"{b.address}"', "lrs")[0] == "OK"
    typ, _text = _cmd(oc, "GETACL", q(ARCHIVE))
    assert _untagged(oc, "ACL") == [f'{q(ARCHIVE)} "{org.address}" "lrswipkxtea" "{b.address}" "lrs"'.encode()]
    typ, _text = _cmd(oc, "GETACL", folder)  # B's own grant there wins
    assert f'"{b.address}" "lr"'.encode() in _untagged(oc, "ACL")[0]
    # DELETEACL on a folder takes the identifier out of that folder's ACL, even though
    # the mailbox-wide grant would reach it (RFC 4314 section 3.2).
    assert _cmd(oc, "DELETEACL", q(ARCHIVE), f'"{b.address}"')[0] == "OK"
    typ, _text = _cmd(oc, "GETACL", q(ARCHIVE))
    assert _untagged(oc, "ACL") == [f'{q(ARCHIVE)} "{org.address}" "lrswipkxtea"'.encode()]
    names = _shared_names(b.imapclient(), org)
    assert ARCHIVE not in names and "INBOX" in names and INCOMING in names
    # DELETEACL on INBOX removes the mailbox-wide grant; the folder grants stay.
    assert _cmd(oc, "DELETEACL", "INBOX", f'"{b.address}"')[0] == "OK"
    assert _shared_names(b.imapclient(), org) == [INCOMING]
    oc.logout()
    ca.logout()


def test_rename_keeps_and_delete_removes_the_folder_grant(new_user: Any) -> None:
    org, a, _b = _org(new_user)
    _grant(org, a, "lrk", INCOMING)
    shared = f"Shared/{org.address}"
    oc = org.imapclient()
    oc.rename_folder(INCOMING, f"{INCOMING} 2026")
    ca = a.imapclient()
    assert _shared_names(ca, org) == [f"{INCOMING} 2026"]
    assert ca.select_folder(f"{shared}/{INCOMING} 2026", readonly=True)[b"EXISTS"] == 2
    typ, text = _cmd(ca._imap, "EXAMINE", q(f"{shared}/{INCOMING}"))
    assert typ == "NO" and text.startswith(b"[NONEXISTENT]")
    # New folders under it inherit its ACL (RFC 4314 section 4, CREATE), whoever creates them.
    oc.create_folder(f"{INCOMING} 2026/Tháng 3")
    ca.create_folder(f"{shared}/{INCOMING} 2026/Tháng 4")  # A has "k" there
    assert _shared_names(ca, org) == [f"{INCOMING} 2026", f"{INCOMING} 2026/Tháng 3", f"{INCOMING} 2026/Tháng 4"]
    typ, _text = _cmd(ca._imap, "MYRIGHTS", q(f"{shared}/{INCOMING} 2026/Tháng 4"))
    assert _untagged(ca._imap, "MYRIGHTS")[0].endswith(b'"lrkc"')
    # The organisation's own top-level folders are not A's to create in.
    typ, text = _cmd(ca._imap, "CREATE", q(f"{shared}/Khác"))
    assert typ == "NO" and text.startswith(b"[NOPERM]")

    # DELETE takes the folder's ACL with it (RFC 4314 section 4): a new folder of the same
    # name is not A's.
    oc.delete_folder(f"{INCOMING} 2026/Tháng 3")
    oc.delete_folder(f"{INCOMING} 2026/Tháng 4")
    oc.delete_folder(f"{INCOMING} 2026")
    grants = org.server.run(delegation.grants_of(org.server.app, org.id))
    assert grants == []
    oc.create_folder(f"{INCOMING} 2026")
    assert _shared_names(ca, org) == []
    typ, text = _cmd(ca._imap, "EXAMINE", q(f"{shared}/{INCOMING} 2026"))
    assert typ == "NO" and text.startswith(b"[NONEXISTENT]")
    ca.logout()
    oc.logout()


def test_rights_change_and_revocation_mid_session(new_user: Any) -> None:
    org, a, _b = _org(new_user)
    app = org.server.app
    _grant(org, a, "lrst", INCOMING)
    shared = q(f"Shared/{org.address}/{INCOMING}")
    ca = a.client()
    typ, _data = ca.select(shared)
    assert typ == "OK" and ca.untagged_responses.get("PERMANENTFLAGS") == [b"(\\Deleted \\Seen)"]
    # Narrowed while selected: the next command already works with the new rights, and
    # the client hears the new PERMANENTFLAGS (RFC 4314 section 5.1.1).
    oc = org.client()
    assert _cmd(oc, "SETACL", q(INCOMING), f'"{a.address}"', "lrs")[0] == "OK"
    typ, text = _cmd(ca, "NOOP")
    assert typ == "OK" and _untagged(ca, "PERMANENTFLAGS") == [b"(\\Seen)"]
    typ, text = _cmd(ca, "STORE", "1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO" and text.startswith(b"[NOPERM]")
    assert _cmd(ca, "STORE", "1", "+FLAGS", "(\\Seen)")[0] == "OK"

    # The folder grant removed while there is a mailbox-wide one: the folder follows it.
    _grant(org, a, "lr")
    org.server.run(delegation.revoke(app, org.id, a.id, folder_id=_folder_id(org, INCOMING)))
    typ, text = _cmd(ca, "STORE", "1", "-FLAGS", "(\\Seen)")
    assert typ == "NO" and text.startswith(b"[NOPERM]")
    typ, _text = _cmd(ca, "MYRIGHTS", shared)
    assert _untagged(ca, "MYRIGHTS") == [f'{shared} "lr"'.encode()]

    # Hidden while selected ("" on the folder): refused at once, and gone from LIST.
    _grant(org, a, "", INCOMING)
    typ, text = _cmd(ca, "FETCH", "1", "(FLAGS)")
    assert typ == "NO" and text.startswith(b"[NOPERM]"), text
    typ, data = ca.list('""', '"*"')
    assert not [line for line in data if isinstance(line, bytes) and utf7.encode(INCOMING).encode() in line]
    assert b"INBOX" in b"".join(d for d in data if isinstance(d, bytes))

    # Everything revoked: nothing of the organisation is left.
    _grant(org, a, "lr", INCOMING)
    assert ca.select(shared, readonly=True)[0] == "OK"
    org.server.run(delegation.revoke(app, org.id, a.id, revoked_by="admin@soctrang.gov.vn"))
    typ, text = _cmd(ca, "FETCH", "1", "(FLAGS)")
    assert typ == "NO" and text.startswith(b"[NOPERM]")
    typ, data = ca.list('""', '"*"')
    assert not [line for line in data if isinstance(line, bytes) and b"Shared" in line]
    revoked = org.server.run(audit.records(app, action="delegation.revoked", target=org.address))
    assert sorted((r.details["grantee"], r.details.get("folder", "")) for r in revoked
                  if r.actor == "admin@soctrang.gov.vn") == [(a.address, ""), (a.address, INCOMING)]
    ca.logout()
    oc.logout()


# -- store level, on both engines ---------------------------------------------------------

async def test_folder_grants_in_the_store(any_app: App) -> None:
    store = any_app.store
    org = await store.create_mailbox("vanphong@soctrang.gov.vn")
    a = await store.create_mailbox("canboa@soctrang.gov.vn")
    b = await store.create_mailbox("canbob@soctrang.gov.vn")
    incoming = await store.create_folder(org.id, INCOMING)
    archive = await store.create_folder(org.id, ARCHIVE)
    inbox = await store.get_folder(org.id, "INBOX")
    assert inbox is not None

    assert await delegation.grant(any_app, org.id, a.id, "rl", folder_id=incoming.id) == "lr"
    assert await delegation.rights_of(any_app, org.id, a.id) == ""
    assert await delegation.rights_of(any_app, org.id, a.id, incoming.id) == "lr"
    assert await delegation.rights_of(any_app, org.id, a.id, archive.id) == ""
    access = await delegation.access_of(any_app, org.id, a.id)
    assert (access.owner_address, access.mailbox, dict(access.folders), access.any_lookup) == \
        (org.address, "", {incoming.id: "lr"}, True)
    await delegation.grant(any_app, org.id, a.id, "lrswi0")
    await delegation.grant(any_app, org.id, a.id, "", folder_id=archive.id)
    assert await delegation.rights_of(any_app, org.id, a.id, archive.id) == ""
    assert await delegation.rights_of(any_app, org.id, a.id, inbox.id) == "lrswi0"
    assert await delegation.can_send_as(any_app, a.id, org.address)
    assert await delegation.acl_of(any_app, org.id, incoming.id) == [(a.id, a.address, "lr")]
    assert await delegation.acl_of(any_app, org.id, archive.id) == []
    assert await delegation.acl_of(any_app, org.id, None) == [(a.id, a.address, "lrswi0")]
    for folder_id, rights in ((inbox.id, "lr"), (incoming.id, "lr0")):
        with pytest.raises(delegation.InvalidRights):
            await delegation.grant(any_app, org.id, a.id, rights, folder_id=folder_id)
    other = await store.get_folder(b.id, "INBOX")
    assert other is not None
    with pytest.raises(LookupError):
        await delegation.grant(any_app, org.id, a.id, "lr", folder_id=other.id)
    assert [(g.grantee_address, g.folder, g.rights) for g in await delegation.grants_of(any_app, org.id)] == \
        [(a.address, None, "lrswi0"), (a.address, INCOMING, "lr"), (a.address, ARCHIVE, "")]
    assert [(g.owner_address, g.folder) for g in await delegation.delegated_to(any_app, a.id)] == \
        [(org.address, None), (org.address, INCOMING), (org.address, ARCHIVE)]
    assert await delegation.accesses_of(any_app, b.id) == []

    # Rename: the grant follows the folder (and its children); delete: it goes with it.
    await store.rename_folder(org.id, INCOMING, "Đến/2026")
    moved = await store.get_folder(org.id, "Đến/2026")
    assert moved is not None and moved.id == incoming.id
    assert await delegation.rights_of(any_app, org.id, a.id, moved.id) == "lr"
    # CREATE inherits the parent's own grants (RFC 4314 section 4).
    child = await delegation.create_folder(any_app, org.id, "Đến/2026/Tháng 3/Tuần 1", created_by=org.address)
    middle = await store.get_folder(org.id, "Đến/2026/Tháng 3")
    assert middle is not None
    for folder_id in (child.id, middle.id):
        assert await delegation.rights_of(any_app, org.id, a.id, folder_id) == "lr"
    top = await delegation.create_folder(any_app, org.id, "Khác")
    assert await delegation.rights_of(any_app, org.id, a.id, top.id) == "lrswi0"  # the mailbox-wide grant
    assert [g.folder for g in await delegation.grants_of(any_app, org.id) if g.folder_id is not None] == \
        [ARCHIVE, "Đến/2026", "Đến/2026/Tháng 3", "Đến/2026/Tháng 3/Tuần 1"]
    await store.delete_folder(org.id, "Đến/2026/Tháng 3/Tuần 1")
    await store.delete_folder(org.id, ARCHIVE)
    assert [g.folder for g in await delegation.grants_of(any_app, org.id) if g.folder_id is not None] == \
        ["Đến/2026", "Đến/2026/Tháng 3"]

    # Revoking one folder: it follows the mailbox-wide grant; revoking all: nothing left.
    assert await delegation.revoke(any_app, org.id, a.id, folder_id=moved.id)
    assert not await delegation.revoke(any_app, org.id, a.id, folder_id=moved.id)
    assert await delegation.rights_of(any_app, org.id, a.id, moved.id) == "lrswi0"
    await delegation.grant(any_app, org.id, a.id, "")  # the mailbox-wide grant only
    assert [g.folder for g in await delegation.grants_of(any_app, org.id)] == ["Đến/2026/Tháng 3"]
    assert not await delegation.can_send_as(any_app, a.id, org.address)
    await delegation.grant(any_app, org.id, b.id, "lr", folder_id=moved.id)
    assert await delegation.revoke(any_app, org.id, a.id)
    assert [(g.grantee_address, g.folder) for g in await delegation.grants_of(any_app, org.id)] == \
        [(b.address, "Đến/2026")]
    assert [a.owner_address for a in await delegation.accesses_of(any_app, b.id)] == [org.address]
