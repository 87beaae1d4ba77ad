"""Issue 5 and Điều 12: an organisation mailbox delegated read-only ("lr", RFC 4314) to
one official. Complements ``test_acl_delegation.py`` ("lrs") with the cases it leaves
out: a READ-ONLY select that sets no \\Seen, every write command refused with its exact
code, CLOSE that expunges nothing, self-granting, the other doors (POP3, SMTP) still
shut, revocation in the middle of a session, the audit trail, and a third official who
sees nothing. The organisation's mailbox is compared before and after (UIDNEXT,
HIGHESTMODSEQ and every flag)."""

from __future__ import annotations

import base64
import poplib
import smtplib
import ssl
from typing import Any

import pytest

from congthu import audit, delegation
from congthu.imap import utf7
from tests.imap.conftest import PASSWORD, User, message

ARCHIVE = utf7.encode("Lưu trữ")


def _state(org: User) -> Any:
    async def read() -> Any:
        store = org.server.app.store
        return [(f.name, f.uidnext, f.highestmodseq, tuple(await store.folder_flags(f.id)))
                for f in await store.list_folders(org.id)]
    return org.server.run(read())


def _cmd(client: Any, name: str, *args: str) -> tuple[str, bytes]:
    import imaplib

    imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))
    client.untagged_responses.clear()  # imaplib raises on a [READ-ONLY] code it kept
    try:
        typ, data = client._simple_command(name, *args)
    except client.error as exc:
        return "BAD", str(exc).encode()
    return typ, data[-1] or b""


def test_read_only_delegate_matrix(new_user) -> None:  # type: ignore[no-untyped-def]
    org, a, c = new_user("vanthu"), new_user("canboa"), new_user("canboc")
    server, app = org.server, org.server.app
    org.deliver(message("Công văn đến số 1"))
    org.deliver(message("Công văn đến số 2"))
    server.run(app.store.create_folder(org.id, "Lưu trữ"))
    org.deliver(message("Công văn lưu"), folder="Lưu trữ")
    assert server.run(delegation.grant(app, org.id, a.id, "lr", granted_by="admin@soctrang.gov.vn")) == "lr"
    granted = server.run(audit.records(app, action="delegation.granted", target=org.address))
    assert [(r.actor, r.details["grantee"], r.details["rights"]) for r in granted] == \
        [("admin@soctrang.gov.vn", a.address, "lr")]
    before = _state(org)
    inbox = f'"Shared/{org.address}/INBOX"'

    ca = a.client()
    typ, data = ca.list('""', '"*"')
    names = [line.split(b') "/" ', 1)[-1] for line in data]
    assert f'"Shared/{org.address}/INBOX"'.encode() in names
    assert f'"Shared/{org.address}/{ARCHIVE}"'.encode() in names
    typ, data = ca.myrights(inbox)
    assert data == [f'{inbox} "lr"'.encode()]
    typ, data = ca.status(inbox, "(MESSAGES UNSEEN)")
    assert typ == "OK" and b"(MESSAGES 2 UNSEEN 2)" in data[0]

    # SELECT without s, w, t or e is READ-ONLY (RFC 4314 section 4).
    with pytest.raises(ca.readonly):  # imaplib's word for "OK [READ-ONLY]" to a SELECT
        ca.select(inbox)
    assert ca.state == "SELECTED" and ca.response("EXISTS")[1] == [b"2"]
    ca.untagged_responses.clear()
    typ, data = ca.fetch("1:2", "(BODY[] FLAGS)")
    bodies = [part[1] for part in data if isinstance(part, tuple)]
    assert typ == "OK" and len(bodies) == 2 and all(b"\r\n\r\n" in body for body in bodies)
    assert _state(org) == before  # BODY[] set no \Seen: the select is read-only
    for command, args, code in [
        ("STORE", ("1", "+FLAGS", "(\\Seen)"), b"[READ-ONLY]"),
        ("STORE", ("1", "+FLAGS", "(\\Deleted)"), b"[READ-ONLY]"),
        ("STORE", ("1:2", "FLAGS", "()"), b"[READ-ONLY]"),
        ("EXPUNGE", (), b"[READ-ONLY]"),
        ("UID", ("EXPUNGE", "1:*"), b"[READ-ONLY]"),
        ("UID", ("MOVE", "1", "INBOX"), b"[READ-ONLY]"),
        ("COPY", ("1", inbox), b"[NOPERM]"),
        ("APPEND", (), b"[NOPERM]"),
        ("CREATE", (f'"Shared/{org.address}/INBOX/Con"',), b"[NOPERM]"),
        ("RENAME", (inbox, f'"Shared/{org.address}/Khac"'), b"[NOPERM]"),
        ("DELETE", (f'"Shared/{org.address}/{ARCHIVE}"',), b"[NOPERM]"),
        ("SETACL", (inbox, f'"{a.address}"', "lrswipkxtea0"), b"[NOPERM]"),
        ("SETACL", (inbox, f'"{a.address}"', "+te"), b"[NOPERM]"),
        ("DELETEACL", (inbox, f'"{a.address}"'), b"[NOPERM]"),
        ("GETACL", (inbox,), b"[NOPERM]"),
        ("LISTRIGHTS", (inbox, f'"{c.address}"'), b"[NOPERM]"),
    ]:
        if command == "APPEND":
            typ, data = ca.append(inbox, "(\\Seen)", None, message("Chèn"))
            text = data[-1]
        else:
            typ, text = _cmd(ca, command, *args)
        assert typ == "NO" and text.startswith(code), (command, args, typ, text)
    # The owner marks a message \Deleted; the delegate's CLOSE must not expunge it.
    oc = org.client()
    oc.select("INBOX")
    oc.store("2", "+FLAGS", "(\\Deleted)")
    oc.logout()
    before = _state(org)
    assert ca.close()[0] == "OK"
    assert _state(org) == before
    # EXAMINE is READ-ONLY too, and the delegate may copy out to its own mailbox.
    typ, data = ca.select(inbox, readonly=True)
    assert (typ, data) == ("OK", [b"2"])
    assert ca.copy("1", "INBOX")[0] == "OK"
    ca.untagged_responses.clear()

    # The other doors stay shut for A: no POP3 or SMTP as the organisation.
    pop = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    try:
        pop.user(org.address)
        try:
            pop.pass_(PASSWORD + "x")
            raise AssertionError("POP3 opened the organisation's maildrop")
        except poplib.error_proto as exc:
            assert exc.args[0].startswith(b"-ERR [AUTH]")
    finally:
        pop.close()
    pop = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    try:
        try:
            pop._shortcmd(  # type: ignore[attr-defined]  # AUTH (RFC 5034): not in poplib
                "AUTH PLAIN " + base64.b64encode(f"{org.address}\0{a.address}\0{PASSWORD}".encode()).decode())
            raise AssertionError("POP3 AUTH PLAIN with authzid=org succeeded")
        except poplib.error_proto as exc:
            assert exc.args[0].startswith(b"-ERR [AUTH]") and b"malformed authentication data" in exc.args[0]
    finally:
        pop.close()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=context)
        smtp.ehlo()
        smtp.login(a.address, PASSWORD)
        refused = smtp.mail(org.address)
        assert refused[0] == 553 and refused[1].startswith(b"5.7.1 ")  # no "0" (send as) right

    # A third official sees nothing and can name nothing.
    cc = c.client()
    for pattern in ('"*"', '"Shared/*"', '"%"', f'"Shared/{org.address}/*"'):
        typ, data = cc.list('""', pattern)
        assert not [line for line in data if line and (b"Shared" in line or org.address.encode() in line)]
    for command, args in [("SELECT", (inbox,)), ("EXAMINE", (inbox,)), ("STATUS", (inbox, "(MESSAGES)")),
                          ("MYRIGHTS", (inbox,)), ("GETACL", (inbox,)), ("GETQUOTAROOT", (inbox,)),
                          ("SETACL", (inbox, f'"{c.address}"', "lr")),
                          ("SELECT", (f'"Shared/{org.address}/{ARCHIVE}"',))]:
        typ, text = _cmd(cc, command, *args)
        assert typ == "NO" and text.startswith(b"[NONEXISTENT]"), (command, text)
    typ, data = cc.append(inbox, None, None, message("Chèn"))
    assert typ == "NO" and data[-1].startswith(b"[TRYCREATE]")
    cc.logout()

    # Revoked in the middle of A's session: the next command is refused at once.
    typ, data = ca.select(inbox, readonly=True)
    assert typ == "OK"
    ca.untagged_responses.clear()
    server.run(delegation.revoke(app, org.id, a.id, revoked_by="admin@soctrang.gov.vn"))
    typ, text = _cmd(ca, "FETCH", "1", "(FLAGS)")
    assert typ == "NO" and text.startswith(b"[NOPERM]"), text
    typ, data = ca.list('""', '"*"')
    assert not [line for line in data if b"Shared" in line]
    typ, text = _cmd(ca, "EXAMINE", inbox)
    assert typ == "NO" and text.startswith(b"[NONEXISTENT]")
    ca.logout()

    assert _state(org) == before
    # The audit trail (Điều 13.3): A's openings of the delegated mailbox, none by C.
    access = server.run(audit.records(app, action="delegation.access", target=org.address))
    assert [(r.actor, r.details["mode"], r.details["folder"]) for r in access] == \
        [(a.address, "examine", "INBOX")] * 3
    assert all(r.details["protocol"] == "imap" and r.client for r in access)
    revoked = server.run(audit.records(app, action="delegation.revoked", target=org.address))
    assert [(r.actor, r.details["grantee"]) for r in revoked] == [("admin@soctrang.gov.vn", a.address)]
