"""The authorisation matrix (issue 6, Điều 12, 13.3): official A tries every path to
official B's mailbox and gets nothing, while each path works for B itself.

Paths, each with real clients over real sockets:

- IMAP (imaplib, over plaintext loopback as the development setting allows): LOGIN as B
  with A's password and in the "master user" forms; AUTHENTICATE PLAIN and SCRAM-SHA-256
  with authorisation identity B (RFC 4616 section 2, RFC 5802 section 5.1); then, logged
  in as A, SELECT/EXAMINE/STATUS/APPEND/CREATE/DELETE/RENAME/SUBSCRIBE/GETACL/MYRIGHTS/
  LISTRIGHTS/SETACL/DELETEACL/GETQUOTAROOT on B's folders under every name form
  (the shared namespace ``Shared/<address>/...`` of ``congthu.imap.namespace``, case
  and slash variants, modified UTF-7, "~b", "../b", "#user/b", "Other Users/b"...),
  LIST/LSUB/NAMESPACE/LIST-STATUS, UID FETCH/STORE/EXPUNGE of B's UIDs in A's own folder,
  COPY/MOVE into B's folders, and granting oneself rights with SETACL;
- POP3 (poplib): USER B / PASS A's password, AUTH PLAIN with authzid B;
- SMTP submission (smtplib, STARTTLS): MAIL FROM B, From: B, Sender: B, a second author,
  AUTH PLAIN with authzid B;
- the change-password page ``/doi-mat-khau`` for B with A's password.

Every refusal is asserted to the response code, and B's mailbox is compared before and
after: each folder's UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and every message's flags, and
the quota used, so a changed flag or a new message shows. A secret phrase in B's mail and
B's folder name must never appear in anything the server sent to A.

There is no LDAP server in the tree yet (``congthu/ldap`` is empty): no LDAP path.

One server for the module. Its login throttling is raised: this file makes dozens of
deliberate failures from 127.0.0.1, which would otherwise (correctly) lock the address
for the positive controls; throttling has its own tests (``test_lockout.py``).
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import itertools
import poplib
import re
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from congthu import delegation
from congthu.imap import utf7
from tests.conftest import ServerThread, serving
from tests.folders import folder_named

DOMAIN = "soctrang.gov.vn"
SECRET = "BIMAT-cua-B-7731"
B_FOLDER = "Hồ sơ mật B"  # a folder name that exists only in B's mailbox
_counter = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    login = {"address_delay_after": 100_000, "address_lock_after": 100_000, "account_lock_after": 100_000,
             "address_all_accounts_delay_after": 100_000, "address_all_accounts_lock_after": 100_000}
    with serving(tmp_path_factory.mktemp("authz") / "data", login=login) as running:
        yield running


@dataclass
class Official:
    address: str
    password: str
    id: int


@dataclass
class Trio:
    server: ServerThread
    a: Official  # the one trying
    b: Official  # the victim
    c: Official  # a third official (recipient of mail sent "as B")


def _message(subject: str, sender: str, to: str, body: str) -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{next(_counter)}@test.{DOMAIN}>\r\nDate: Mon, 2 Mar 2026 08:30:00 +0700\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


@pytest.fixture
def trio(server: ServerThread) -> Trio:
    n = next(_counter)
    people = []
    for who, password in (("canboa", "Mk@A-12345678"), ("canbob", "Mk@B-87654321"), ("canboc", "Mk@C-11223344")):
        address = f"{who}{n}@{DOMAIN}"
        people.append(Official(address, password, server.add_user(address, password)))
    a, b, c = people

    async def fill() -> None:
        store = server.app.store
        await store.create_folder(b.id, B_FOLDER)
        for i in range(3):
            results = await store.deliver(_message(f"Công văn mật {i}", "giamdoc@soctrang.gov.vn", b.address,
                                                   f"Nội dung {SECRET} số {i}"), [b.id])
            assert results[0].ok
        await store.deliver(_message("Hồ sơ", b.address, b.address, SECRET), [b.id], folder=B_FOLDER)
        inbox = await store.get_folder(b.id, "INBOX")
        assert inbox is not None
        await store.store_flags(inbox.id, [1], "add", 1)  # \Seen on the first one
        results = await store.deliver(_message("Thư của A", "giamdoc@soctrang.gov.vn", a.address,
                                               "Nội dung của A"), [a.id])
        assert results[0].ok
    server.run(fill())
    return Trio(server, a, b, c)


def mailbox_state(server: ServerThread, mailbox_id: int) -> Any:
    """Everything that would change if a message came, went or changed flags."""
    async def read() -> Any:
        store = server.app.store
        folders = []
        for f in await store.list_folders(mailbox_id):
            folders.append((f.name, f.uidvalidity, f.uidnext, f.highestmodseq, f.subscribed,
                            tuple(await store.folder_flags(f.id))))
        return folders, await store.quota(mailbox_id)
    return server.run(read())


# -- clients ------------------------------------------------------------------------------

class IMAP(imaplib.IMAP4):
    """imaplib that keeps everything the server sent, to search it for B's data."""

    def __init__(self, server: ServerThread) -> None:
        self.transcript = bytearray()
        super().__init__("127.0.0.1", server.port("imap"), timeout=30)

    def readline(self) -> bytes:
        line = super().readline()
        self.transcript += line
        return line

    def read(self, size: int) -> bytes:
        data = super().read(size)
        self.transcript += data
        return data

    def cmd(self, name: str, *args: str) -> tuple[str, bytes]:
        """Send any command; (status, text of the tagged response). BAD raises in imaplib."""
        imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))
        self.untagged_responses.pop("READ-ONLY", None)  # imaplib would raise on a kept code
        typ, data = self._simple_command(name, *args)
        return typ, data[-1] or b""

    def untagged(self, name: str) -> list[bytes]:
        return [d for d in self.untagged_responses.pop(name, []) if isinstance(d, bytes) and d]


def q(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_login(server: ServerThread, user: str, password: str) -> tuple[str, str]:
    c = IMAP(server)
    try:
        typ, data = c.login(q(user), password)
        return typ, data[0].decode()
    except imaplib.IMAP4.error as exc:
        return "NO", str(exc)
    finally:
        try:
            c.logout()
        except Exception:
            pass


def imap_sasl(server: ServerThread, mechanism: str, first: bytes) -> tuple[str, str]:
    c = IMAP(server)
    try:
        result: Any = c.authenticate(mechanism, lambda _challenge: first)
        return result[0], result[1][0].decode()
    except imaplib.IMAP4.error as exc:
        return "NO", str(exc)
    finally:
        try:
            c.logout()
        except Exception:
            pass


def logged_in(server: ServerThread, who: Official) -> IMAP:
    c = IMAP(server)
    c.login(who.address, who.password)
    return c


def tls_client() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def plain(authzid: str, authcid: str, password: str) -> bytes:
    return f"{authzid}\0{authcid}\0{password}".encode()


def inbox_count(server: ServerThread, mailbox_id: int) -> int:
    async def count() -> int:
        return (await server.app.store.folder_status((await folder_named(server.app.store, mailbox_id)).id)).messages
    return server.run(count())


FAILED = "[AUTHENTICATIONFAILED]"
WRONG = "invalid address or password"
MALFORMED = "malformed authentication data"


# -- IMAP: logging in as B ----------------------------------------------------------------

def test_imap_login_as_b_with_a_credentials(trio: Trio) -> None:
    s, a, b = trio.server, trio.a, trio.b
    local_b = b.address.split("@")[0]
    attempts = [
        (b.address, a.password),
        (b.address.upper(), a.password),
        (f" {b.address} ", a.password),
        (local_b, a.password),
        (f"{a.address}*{b.address}", a.password),  # Dovecot's master-user form
        (f"{b.address}*{a.address}", a.password),
        (f"{a.address}%{b.address}", a.password),
        (f"{b.address}+{a.address}", a.password),
        (b.address, ""),
    ]
    for user, password in attempts:
        typ, text = imap_login(s, user, password)
        assert typ == "NO" and FAILED in text and WRONG in text, (user, text)

    # RFC 4616 section 2: an authorisation identity other than the login is refused
    # (acting as another user is delegation's business, not SASL's).
    for first in (plain(b.address, a.address, a.password), plain(b.address.upper(), a.address, a.password),
                  plain(b.address, b.address, a.password)):
        typ, text = imap_sasl(s, "PLAIN", first)
        assert typ == "NO" and FAILED in text, (first, text)
        assert (MALFORMED if first.split(b"\0")[0] != first.split(b"\0")[1] else WRONG) in text
    # RFC 5802 section 5.1: the same for SCRAM's "a=" (refused before any proof).
    scram_first = f"n,a={b.address},n={a.address},r=fyko+d2lbbFgONRv9qkxdawL".encode()
    typ, text = imap_sasl(s, "SCRAM-SHA-256", scram_first)
    assert typ == "NO" and FAILED in text and MALFORMED in text, text

    # Positive controls: the same doors open for B, and for A with authzid = A.
    assert imap_login(s, b.address, b.password)[0] == "OK"
    assert imap_login(s, b.address.upper(), b.password)[0] == "OK"
    assert imap_sasl(s, "PLAIN", plain("", b.address, b.password))[0] == "OK"
    assert imap_sasl(s, "PLAIN", plain(b.address, b.address, b.password))[0] == "OK"
    assert imap_sasl(s, "PLAIN", plain(a.address, a.address, a.password))[0] == "OK"


# -- IMAP: A logged in, reaching for B's folders ----------------------------------------

def _b_names(b: Official) -> tuple[list[str], list[str]]:
    """Wire names (modified UTF-7) that could mean B's folders: shared-namespace forms B
    itself can use, and forms of other servers' conventions (which mean nothing here)."""
    folder = utf7.encode(B_FOLDER)
    local = b.address.split("@")[0]
    shared = [
        f"Shared/{b.address}/INBOX",
        f"Shared/{b.address}/{folder}",
        f"shared/{b.address.upper()}/inbox",
        f"/Shared/{b.address}/INBOX",
        f"Shared/{b.address}/INBOX/",
    ]
    other = [
        f"Shared/{b.address}",
        f"Shared/{b.address}/",
        f"Shared/ {b.address} /INBOX",
        f"Shared//{b.address}//INBOX",
        f"Shared/{local}/INBOX",
        f"Shared/{b.address}/INBOX/../../x",
        f"../{b.address}/INBOX",
        f"../{local}/INBOX",
        f"~{local}/INBOX",
        f"~{b.address}/INBOX",
        f"{b.address}/INBOX",
        f"#shared/{b.address}/INBOX",
        f"#user/{local}/INBOX",
        f"user/{local}/INBOX",
        f"user.{local}.INBOX",
        f"Other Users/{local}/INBOX",
        f"INBOX/../{b.address}/INBOX",
        folder,  # B's folder name in A's namespace: A has none
        BAD_UTF7(b),
    ]
    return shared, other


NONEXISTENT = b"[NONEXISTENT]"


def BAD_UTF7(b: Official) -> str:  # noqa: N802
    """ "Shared" with its "S" needlessly encoded in modified UTF-7."""
    return f"&AFM-hared/{b.address}/INBOX"


def test_imap_a_cannot_open_b_folders_by_any_name(trio: Trio) -> None:
    s, a, b = trio.server, trio.a, trio.b
    before = mailbox_state(s, b.id)
    shared, other = _b_names(b)
    c = logged_in(s, a)
    message = _message("Chèn vào hộp thư B", a.address, b.address, "x")
    data: Any
    refusals: list[tuple[str, str, str, bytes]] = []

    def expect(name: str, command: str, code: bytes, *args: str) -> None:
        try:
            typ, text = c.cmd(command, *args)
        except imaplib.IMAP4.error as exc:  # BAD
            typ, text = "BAD", str(exc).encode()
        if name == BAD_UTF7(b):
            # RFC 3501 section 5.1.3: printable ASCII must not be encoded; refused as BAD.
            ok = typ == "BAD" and b"invalid modified UTF-7" in text
        else:
            ok = typ == "NO" and text.startswith(code)
        if not ok:
            refusals.append((name, command, typ, text))

    for name in shared + other:
        w = q(name)
        expect(name, "SELECT", NONEXISTENT, w)
        expect(name, "EXAMINE", NONEXISTENT, w)
        expect(name, "STATUS", NONEXISTENT, w, "(MESSAGES UIDNEXT UNSEEN SIZE)")
        expect(name, "GETACL", NONEXISTENT, w)
        expect(name, "MYRIGHTS", NONEXISTENT, w)
        expect(name, "LISTRIGHTS", NONEXISTENT, w, q(a.address))
        expect(name, "SETACL", NONEXISTENT, w, q(a.address), "lrswipkxtea0")
        expect(name, "DELETEACL", NONEXISTENT, w, q(b.address))
        expect(name, "SUBSCRIBE", NONEXISTENT, w)
        if name == BAD_UTF7(b):
            expect(name, "UNSUBSCRIBE", NONEXISTENT, w)
        else:
            # Subscriptions are names in A's own list (RFC 9051 section 6.3.10): removing a
            # personal name is OK whether or not a folder has it, as in Dovecot; a name in
            # the shared namespace A cannot see is as absent as any other.
            typ, text = c.cmd("UNSUBSCRIBE", w)
            if not (typ == "OK" or (typ == "NO" and text.startswith(NONEXISTENT))):
                refusals.append((name, "UNSUBSCRIBE", typ, text))
        expect(name, "DELETE", NONEXISTENT, w)
        expect(name, "RENAME", NONEXISTENT, w, q(utf7.encode("Lấy được")))
        expect(name, "GETQUOTAROOT", NONEXISTENT, w)
        typ, data = c.append(w, "(\\Seen)", None, message)
        if not (typ == "NO" and data[-1].startswith(b"[TRYCREATE]")):
            refusals.append((name, "APPEND", typ, data[-1]))
    for name in shared:
        expect(name, "CREATE", NONEXISTENT, q(name.rstrip("/") + "/" + utf7.encode("Lấy được")))
    expect("Shared/B", "CREATE", NONEXISTENT, q(f"Shared/{b.address}"))
    expect("Shared/B/INBOX", "CREATE", NONEXISTENT, q(f"Shared/{b.address}/INBOX"))
    expect("rename into B", "RENAME", NONEXISTENT, "INBOX", q(f"Shared/{b.address}/" + utf7.encode("Từ A")))
    expect("quota of B", "GETQUOTA", NONEXISTENT, q(f"Shared/{b.address}"))
    # A cannot make a personal folder that looks like the shared namespace.
    typ, text = c.cmd("CREATE", q("Shared"))
    assert (typ, text[:8]) == ("NO", b"[CANNOT]"), text
    typ, text = c.cmd("CREATE", q(f"Shared/{a.address}/Shared/{b.address}/INBOX"))
    assert (typ, text[:8]) == ("NO", b"[CANNOT]"), text
    assert refusals == []

    # Listing: nothing of B in any LIST form, LSUB, NAMESPACE or LIST-STATUS.
    listings: list[bytes] = []
    for args in (('""', '"*"'), ('""', '"%"'), ('""', '"Shared/*"'), ('"Shared/"', '"*"'),
                 ('""', q(f"Shared/{b.address}/*")), ('""', q(f"Shared/{b.address}")), ('""', '"~*"'),
                 ('(SUBSCRIBED RECURSIVEMATCH)', '""', '"*"'), ('""', '"*"', "RETURN (STATUS (MESSAGES) CHILDREN)")):
        typ, _text = c.cmd("LIST", *args)
        assert typ == "OK", args
        listings += c.untagged("LIST")
    typ, _text = c.cmd("LSUB", '""', '"*"')
    assert typ == "OK"
    listings += c.untagged("LSUB")
    names = [line for line in listings if b.address.encode() in line.lower() or b"shared/" in line.lower()]
    assert names == []
    own = {q(utf7.encode(f.name)).encode() for f in s.run(s.app.store.list_folders(a.id))}
    assert {line.split(b') "/" ', 1)[-1] for line in listings} <= own, listings
    assert all(line.split(b" (", 1)[0] in own for line in c.untagged("STATUS"))
    typ, _text = c.cmd("NAMESPACE")
    assert typ == "OK"
    assert c.untagged("NAMESPACE") == [b'(("" "/")) NIL (("Shared/" "/"))']

    # In A's own INBOX: B's UIDs (1..3) are not reachable, only A's one message.
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    fetched: Any
    typ, fetched = c.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    assert typ == "OK" and len([d for d in fetched if isinstance(d, tuple)]) == 1
    assert "Nội dung của A".encode() in fetched[0][1]
    typ, data = c.uid("FETCH", "2:3", "(BODY.PEEK[] FLAGS)")
    assert (typ, data) == ("OK", [None])
    typ, data = c.uid("STORE", "1:3", "+FLAGS", "(\\Deleted)")
    assert typ == "OK"
    typ, data = c.uid("STORE", "1", "-FLAGS", "(\\Deleted)")
    assert typ == "OK"
    typ, data = c.uid("EXPUNGE", "2:3")
    assert typ == "OK"
    for command in ("COPY", "MOVE"):
        for target in (f"Shared/{b.address}/INBOX", f"Shared/{b.address}/{utf7.encode(B_FOLDER)}",
                       f"shared/{b.address.upper()}/INBOX"):
            typ, text = c.cmd("UID", command, "1", q(target))
            assert typ == "NO" and text.startswith(b"[TRYCREATE]"), (command, target, text)
            typ, text = c.cmd(command, "1", q(target))
            assert typ == "NO" and text.startswith(b"[TRYCREATE]"), (command, target, text)
    # Granting oneself rights on one's own mailbox is refused, and nothing was granted on B.
    typ, text = c.cmd("SETACL", "INBOX", q(a.address), "lrswipkxtea0")
    assert typ == "NO" and text.startswith(b"[CANNOT]"), text
    assert s.run(delegation.rights_of(s.app, b.id, a.id)) == ""
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK" and len(data) == 1  # A's own message survived A's games
    c.logout()

    assert SECRET.encode() not in c.transcript
    assert utf7.encode(B_FOLDER).encode() not in c.transcript and B_FOLDER.encode() not in c.transcript
    assert mailbox_state(s, b.id) == before

    # Positive control: the same names and commands work for B.
    cb = logged_in(s, b)
    for name in shared:
        w = q(name)
        typ, text = cb.cmd("EXAMINE", w)
        assert typ == "OK", (name, text)
        cb.untagged_responses.clear()  # imaplib would take the READ-ONLY code as an error
        typ, text = cb.cmd("STATUS", w, "(MESSAGES)")
        assert typ == "OK", (name, text)
        assert cb.cmd("MYRIGHTS", w)[0] == "OK"
        assert cb.cmd("GETACL", w)[0] == "OK"
        assert cb.cmd("GETQUOTAROOT", w)[0] == "OK"
    typ, data = cb.select(q(f"Shared/{b.address}/INBOX"))
    assert (typ, data) == ("OK", [b"3"])
    typ, fetched = cb.fetch("1", "(BODY.PEEK[TEXT])")
    assert SECRET.encode() in fetched[0][1]
    typ, _text = cb.cmd("LIST", '""', '"*"')
    assert any(utf7.encode(B_FOLDER).encode() in line for line in cb.untagged("LIST"))
    typ, data = cb.append(q(f"Shared/{b.address}/INBOX"), None, None, message)
    assert typ == "OK"
    cb.logout()
    assert inbox_count(s, b.id) == 4


# -- POP3 ---------------------------------------------------------------------------------

def pop3_user_pass(server: ServerThread, user: str, password: str) -> str:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    try:
        client.user(user)
        reply = client.pass_(password)
        count, _size = client.stat()
        client.quit()
        return f"{reply.decode()} STAT {count}"
    except poplib.error_proto as exc:
        client.close()
        return exc.args[0].decode()


def pop3_auth_plain(server: ServerThread, initial: bytes) -> str:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    try:
        reply = client._shortcmd(  # type: ignore[attr-defined]  # AUTH (RFC 5034): not in poplib
            "AUTH PLAIN " + base64.b64encode(initial).decode())
        count, _size = client.stat()
        client.quit()
        return f"{reply.decode()} STAT {count}"
    except poplib.error_proto as exc:
        client.close()
        return exc.args[0].decode()


def test_pop3_a_cannot_open_b_maildrop(trio: Trio) -> None:
    s, a, b = trio.server, trio.a, trio.b
    before = mailbox_state(s, b.id)
    for user, password in ((b.address, a.password), (b.address.upper(), a.password),
                           (b.address.split("@")[0], a.password), (f"{a.address}*{b.address}", a.password),
                           (b.address, "")):
        reply = pop3_user_pass(s, user, password)
        assert reply.startswith("-ERR [AUTH] ") and WRONG in reply, (user, reply)
    for initial in (plain(b.address, a.address, a.password), plain(b.address, b.address, a.password)):
        reply = pop3_auth_plain(s, initial)
        assert reply.startswith("-ERR [AUTH] "), reply
        assert (MALFORMED if initial.split(b"\0")[0] != initial.split(b"\0")[1] else WRONG) in reply, reply
    assert mailbox_state(s, b.id) == before

    # Positive control: B opens its own maildrop both ways (3 messages in INBOX).
    assert pop3_user_pass(s, b.address, b.password).endswith("STAT 3")
    assert pop3_auth_plain(s, plain("", b.address, b.password)).endswith("STAT 3")
    assert pop3_auth_plain(s, plain(b.address, b.address, b.password)).endswith("STAT 3")
    assert pop3_auth_plain(s, plain("", a.address, a.password)).endswith("STAT 1")
    assert mailbox_state(s, b.id) == before


# -- SMTP submission ----------------------------------------------------------------------

def submit(server: ServerThread, who: Official, mail_from: str, rcpt: str, raw: bytes | None) -> tuple[int, bytes]:
    """Log in as ``who`` (STARTTLS, AUTH PLAIN) and try one message; the first refusal."""
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(who.address, who.password)
        code, text = client.mail(mail_from)
        if code != 250:
            return code, text
        code, text = client.rcpt(rcpt)
        if code != 250 or raw is None:
            return code, text
        try:
            return client.data(raw)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return exc.smtp_code, error if isinstance(error, bytes) else error.encode()


def test_smtp_a_cannot_send_as_b(trio: Trio) -> None:
    s, a, b, c = trio.server, trio.a, trio.b, trio.c
    before = mailbox_state(s, b.id)
    not_b = f"you may not send as {b.address}".encode()

    # The envelope sender (RFC 5321 MAIL FROM), in any case.
    for sender in (b.address, b.address.upper(), f"{b.address.split('@')[0]}@{DOMAIN.upper()}"):
        code, text = submit(s, a, sender, c.address, None)
        assert code == 553 and text.startswith(b"5.7.1 ") and b"you may not send as" in text, (sender, text)
    # The header authors (RFC 5322 section 3.6.2: From and Sender), with A's envelope.
    headers = [
        f"From: {b.address}\r\n",
        f"From: =?utf-8?b?{base64.b64encode('Trần Văn B'.encode()).decode()}?= <{b.address}>\r\n",
        f"From: {a.address}\r\nSender: {b.address}\r\n",
        f"From: {b.address}\r\nSender: {a.address}\r\n",
        f"From: {a.address}, {b.address}\r\nSender: {a.address}\r\n",
        f"From: {a.address}\r\nFrom: {b.address}\r\n",
        f"From: \"{a.address}\" <{b.address}>\r\n",
        f"From: {a.address}\r\n\t{b.address}\r\n",
        f"from: {b.address.upper()}\r\n",
    ]
    for head in headers:
        raw = (head + f"To: {c.address}\r\nSubject: Giả danh\r\n\r\nx\r\n").encode()
        code, text = submit(s, a, a.address, c.address, raw)
        assert code == 550 and text.startswith(b"5.7.1 ") and not_b in text.lower(), (head, text)

    # SASL authorisation identity B (RFC 4616 section 2; RFC 4954 section 4).
    with smtplib.SMTP("127.0.0.1", s.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        code, text = client.docmd("AUTH", "PLAIN " + base64.b64encode(plain(b.address, a.address, a.password)).decode())
        assert code == 535 and text.startswith(b"5.7.8 ") and MALFORMED.encode() in text, text
        # Still not logged in: no mail at all.
        assert client.docmd("MAIL", f"FROM:<{b.address}>")[0] == 530

    assert inbox_count(s, c.id) == 0
    assert mailbox_state(s, b.id) == before

    # Positive controls: B sends as B; A sends as A; both arrive.
    raw = f"From: {b.address}\r\nSender: {b.address}\r\nTo: {c.address}\r\nSubject: Của B\r\n\r\nx\r\n".encode()
    assert submit(s, b, b.address, c.address, raw)[0] == 250
    raw = f"From: {a.address}\r\nTo: {c.address}\r\nSubject: Của A\r\n\r\nx\r\n".encode()
    assert submit(s, a, a.address, c.address, raw)[0] == 250
    assert inbox_count(s, c.id) == 2


def test_smtp_obsolete_from_syntax_cannot_smuggle_b(trio: Trio) -> None:
    """RFC 5322 section 4.5.2: ``obs-from = "From" *WSP ":" mailbox-list CRLF``, and
    section 4: a conforming parser must accept the obsolete syntax. So "From : B" is a
    From field naming B, and a message with it must be refused like "From: B" (the
    header-parsing ambiguity of "Composition Kills", USENIX Security 2020)."""
    s, a, b, c = trio.server, trio.a, trio.b, trio.c
    for head in (f"From: {a.address}\r\nFrom : {b.address}\r\n",
                 f"From : {b.address}\r\nFrom: {a.address}\r\n",
                 f"From: {a.address}\r\nSender\t: {b.address}\r\n"):
        raw = (head + f"To: {c.address}\r\nSubject: Giả danh\r\n\r\nx\r\n").encode()
        code, text = submit(s, a, a.address, c.address, raw)
        assert code in (550, 554) and text[:2] == b"5.", (head, code, text)
    assert inbox_count(s, c.id) == 0


# -- the change-password page -------------------------------------------------------------

def change_password(server: ServerThread, address: str, current: str, new: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=30)
    try:
        conn.request("GET", "/doi-mat-khau")
        response = conn.getresponse()
        page = response.read().decode()
        assert response.status == 200
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert cookie.startswith("congthu_csrf=") and match
        body = urlencode({"csrf": match.group(1), "address": address, "current": current,
                          "new": new, "confirm": new, "otp": ""})
        conn.request("POST", "/doi-mat-khau", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_change_password_page_refuses_b_with_a_password(trio: Trio) -> None:
    s, a, b = trio.server, trio.a, trio.b
    new = "Lua#Chin2026Moi"
    for address in (b.address, b.address.upper(), f" {b.address} ", b.address.split("@")[0]):
        status, page = change_password(s, address, a.password, new)
        assert status == 400 and WRONG in page and "Đã đổi mật khẩu" not in page, (address, page[-600:])
    # Nothing changed: B and A keep their passwords, the new one opens nothing.
    assert imap_login(s, b.address, b.password)[0] == "OK"
    assert imap_login(s, a.address, a.password)[0] == "OK"
    assert imap_login(s, b.address, new)[0] == "NO"
    assert imap_login(s, a.address, new)[0] == "NO"

    # Positive control: B changes its own password on the page, and it takes effect.
    status, page = change_password(s, b.address, b.password, new)
    assert status == 200 and f"Đã đổi mật khẩu cho {b.address}" in page
    assert imap_login(s, b.address, new)[0] == "OK"
    assert imap_login(s, b.address, b.password)[0] == "NO"
    assert imap_login(s, a.address, a.password)[0] == "OK"
