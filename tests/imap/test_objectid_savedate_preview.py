"""OBJECTID (RFC 8474), SAVEDATE (RFC 8514), PREVIEW (RFC 8970), STATUS=SIZE (RFC 8438)
and the non-synchronising literals of LITERAL- (RFC 7888), each written from the RFC's
text (the comparison with Dovecot is in ``test_dovecot_diff.py``)."""

from __future__ import annotations

import re
import socket
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User, message, raw_command


def _login(user: User) -> dv.Conversation:
    return dv.login(user.server.port("imap"), user.address, PASSWORD)


def _ok(c: dv.Conversation, command: str | bytes) -> dv.Reply:
    reply = c.send(command)
    assert reply.tagged.startswith(b"OK"), (command, reply)
    return reply


def _code(reply: dv.Reply, name: bytes) -> bytes:
    """The argument of a response code in the untagged data or the tagged status."""
    for line in [*reply.untagged, reply.tagged]:
        m = re.search(rb"\[" + name + rb" ([^\]]*)\]", line)
        if m:
            return m.group(1)
    raise AssertionError(f"no {name!r} in {reply}")


# -- OBJECTID (RFC 8474) ------------------------------------------------------------------

_OBJECTID = re.compile(rb"\(([A-Za-z0-9_-]{1,255})\)")


def test_mailboxid_given_by_create_kept_by_rename(user: User) -> None:
    """Section 4.1: CREATE answers OK [MAILBOXID (id)]; the id is kept by RENAME and
    never given to another mailbox (a new one of the same name gets another); section
    4.2: SELECT/EXAMINE send it, STATUS returns it."""
    c = _login(user)
    try:
        assert b"OBJECTID" in _ok(c, "CAPABILITY").untagged[0].split()
        created = _OBJECTID.fullmatch(_code(_ok(c, "CREATE Hop"), b"MAILBOXID"))
        assert created is not None
        mailboxid = created.group(0)
        assert _code(_ok(c, "SELECT Hop"), b"MAILBOXID") == mailboxid
        _ok(c, "UNSELECT")
        _ok(c, "RENAME Hop Hop2")
        assert _code(_ok(c, "EXAMINE Hop2"), b"MAILBOXID") == mailboxid
        status = _ok(c, "STATUS Hop2 (MAILBOXID MESSAGES)").untagged
        assert status == [b'* STATUS "Hop2" (MAILBOXID ' + mailboxid + b" MESSAGES 0)"]
        _ok(c, "CLOSE")
        _ok(c, "DELETE Hop2")
        again = _code(_ok(c, "CREATE Hop2"), b"MAILBOXID")
        assert again != mailboxid
        # Folders of the mailbox made before, and INBOX, have theirs too, all different.
        ids = {_ok(c, f"STATUS {name} (MAILBOXID)").untagged[0].split(b"MAILBOXID ")[1]
               for name in ("INBOX", "Sent", "Drafts", "Trash", "Hop2")}
        assert len(ids) == 5
    finally:
        c.close()


def test_emailid_kept_by_copy_and_move_threadid_nil(user: User) -> None:
    """Section 5.1: a message's EMAILID does not change when it is copied or moved;
    section 5.2: THREADID is NIL from a server that keeps no threads; section 6: SEARCH
    EMAILID / THREADID."""
    user.deliver(message("Một"))
    user.deliver(message("Hai"))
    c = _login(user)
    try:
        _ok(c, "SELECT INBOX")
        fetched = _ok(c, "FETCH 1:2 (EMAILID THREADID)").untagged
        ids = [_OBJECTID.search(line).group(1) for line in fetched]  # type: ignore[union-attr]
        assert ids[0] != ids[1]
        assert all(line.endswith(b" THREADID NIL)") for line in fetched)
        _ok(c, "COPY 1 Archive")
        _ok(c, "MOVE 2 Trash")
        assert _ok(c, f"SEARCH EMAILID {ids[0].decode()}").untagged == [b"* SEARCH 1"]
        assert _ok(c, f"SEARCH THREADID {ids[0].decode()}").untagged == [b"* SEARCH"]
        assert c.send("SEARCH EMAILID bad+id").tagged.startswith(b"BAD")
        for folder, emailid in (("Archive", ids[0]), ("Trash", ids[1])):
            _ok(c, f"EXAMINE {folder}")
            assert _ok(c, "UID FETCH 1:* (EMAILID)").untagged == [b"* 1 FETCH (UID 1 EMAILID (" + emailid + b"))"]
    finally:
        c.close()


# -- SAVEDATE (RFC 8514) ------------------------------------------------------------------

def _savedate(line: bytes) -> datetime:
    return datetime.strptime(line.split(b'SAVEDATE "')[1].split(b'"')[0].decode(), "%d-%b-%Y %H:%M:%S %z")


def test_savedate_is_when_the_message_was_saved(user: User) -> None:
    """Section 3: the date the message was saved in the mailbox (APPEND, COPY...), not
    its internal date; section 4: SAVEDBEFORE/SAVEDON/SAVEDSINCE compare its day,
    SAVEDATESUPPORTED matches every message of a mailbox that keeps save dates. A
    message stored before save dates were kept has its internal date."""
    c = _login(user)
    try:
        assert b"SAVEDATE" in _ok(c, "CAPABILITY").untagged[0].split()
        raw = message("Cũ")
        _ok(c, f'APPEND INBOX "01-Jan-2020 10:00:00 +0700" {{{len(raw)}}}\r\n'.encode() + raw)
        _ok(c, "SELECT INBOX")
        (line,) = _ok(c, "FETCH 1 (INTERNALDATE SAVEDATE)").untagged
        assert b'INTERNALDATE "01-Jan-2020 03:00:00 +0000"' in line
        assert abs(_savedate(line) - datetime.now(UTC)) < timedelta(minutes=2)
        time.sleep(1.1)
        _ok(c, "COPY 1 Archive")
        _ok(c, "EXAMINE Archive")
        (copied,) = _ok(c, "FETCH 1 (SAVEDATE)").untagged
        assert _savedate(copied) > _savedate(line)
        today = datetime.now(UTC).strftime("%d-%b-%Y")  # the server's zone is +0700: today or tomorrow
        assert _ok(c, "SEARCH SAVEDATESUPPORTED").untagged == [b"* SEARCH 1"]
        assert _ok(c, "SEARCH SAVEDBEFORE 1-Jan-2021").untagged == [b"* SEARCH"]
        assert _ok(c, "SEARCH BEFORE 1-Jan-2021").untagged == [b"* SEARCH 1"]
        assert _ok(c, f"SEARCH SAVEDSINCE {today}").untagged == [b"* SEARCH 1"]
        # Stored before store_0006 (no save date): the internal date.
        folder = user.server.run(user.server.app.store.get_folder(user.id, "Archive"))
        assert folder is not None
        from congthu.store.tables import messages

        user.server.run(user.server.app.db.run_write(
            lambda conn: conn.execute(update(messages).where(messages.c.folder_id == folder.id).values(saved_at=None))))
        assert _ok(c, "FETCH 1 (SAVEDATE)").untagged == [b'* 1 FETCH (SAVEDATE "01-Jan-2020 03:00:00 +0000")']
        assert _ok(c, "SEARCH SAVEDON 1-Jan-2020").untagged == [b"* SEARCH 1"]
    finally:
        c.close()


# -- PREVIEW (RFC 8970) ---------------------------------------------------------------------

def test_preview_of_text_and_html(user: User) -> None:
    """Section 3: the preview is plain text of at most 256 characters made from the
    message's content, NIL only when none can be made (LAZY, section 4: "PREVIEW
    (LAZY)" may be answered with it all the same)."""
    long_body = "Kính gửi các phòng ban,\n\n> trích dẫn thư trước\n" + "Nội dung rất dài. " * 40
    user.deliver(message("Dài", long_body))
    html = (b"From: a@b.vn\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            b"<html><head><style>p{}</style></head><body><p>Xin&nbsp;ch\xc3\xa0o <b>anh</b></p></body></html>\r\n")
    user.deliver(html)
    user.deliver(b"From: a@b.vn\r\nSubject: empty\r\nContent-Type: image/png\r\n\r\niVBORw0KGgo=\r\n")
    c = _login(user)
    try:
        assert b"PREVIEW" in _ok(c, "CAPABILITY").untagged[0].split()
        _ok(c, "ENABLE UTF8=ACCEPT")
        _ok(c, "SELECT INBOX")
        first, second, third = _ok(c, "FETCH 1:3 (PREVIEW)").untagged
        text = first.split(b'PREVIEW "')[1].rsplit(b'")', 1)[0].decode()
        assert text.startswith("Kính gửi các phòng ban, Nội dung rất dài.") and "trích" not in text
        assert len(text) <= 256 and "  " not in text
        assert second == '* 2 FETCH (PREVIEW "Xin chào anh")'.encode()
        assert third == b'* 3 FETCH (PREVIEW "")'
        assert _ok(c, "FETCH 2 (PREVIEW (LAZY))").untagged == [second]
        assert c.send("FETCH 2 (PREVIEW (EAGER))").tagged.startswith(b"BAD")
    finally:
        c.close()


def test_preview_of_a_message_stored_before_previews(user: User) -> None:
    """A content stored before previews were made at delivery gets one made from its
    bytes at its first FETCH PREVIEW, then kept; without UTF8=ACCEPT an 8-bit preview
    is a literal (RFC 9051 section 4.3)."""
    user.deliver(message("Cũ", "Báo cáo tháng ba."))
    store = user.server.app.store
    folder = user.server.run(store.get_folder(user.id, "INBOX"))
    assert folder is not None
    (meta,) = user.server.run(store.folder_index(folder.id))
    from congthu.store.tables import contents

    user.server.run(store.db.run_write(lambda conn: conn.execute(
        update(contents).where(contents.c.id == meta.content_id).values(preview=None))))
    c = _login(user)
    try:
        _ok(c, "SELECT INBOX")
        (line,) = _ok(c, "FETCH 1 (PREVIEW)").untagged
        assert line == b"* 1 FETCH (PREVIEW {%d}\r\n" % len("Báo cáo tháng ba.".encode()) + \
            "Báo cáo tháng ba.".encode() + b")"
    finally:
        c.close()
    assert user.server.run(store.get_content(meta.content_id)).preview == "Báo cáo tháng ba."


# -- STATUS=SIZE (RFC 8438) -----------------------------------------------------------------

def test_status_size(user: User) -> None:
    """Section 3: SIZE is the total of the RFC822.SIZE of the mailbox's messages."""
    sizes = [len(message("A")), len(message("Bb", "Nội dung khác"))]
    user.deliver(message("A"))
    user.deliver(message("Bb", "Nội dung khác"))
    c = _login(user)
    try:
        assert b"STATUS=SIZE" in _ok(c, "CAPABILITY").untagged[0].split()
        (line,) = _ok(c, "STATUS INBOX (SIZE MESSAGES)").untagged
        total = int(line.split(b"SIZE ")[1].split()[0])
        _ok(c, "SELECT INBOX")
        fetched = [int(x.split(b"RFC822.SIZE ")[1].rstrip(b")")) for x in _ok(c, "FETCH 1:* RFC822.SIZE").untagged]
        assert total == sum(fetched) and len(fetched) == 2 and abs(total - sum(sizes)) < 20
    finally:
        c.close()


# -- LITERAL- (RFC 7888) --------------------------------------------------------------------

def test_non_synchronising_literals_of_4096_octets_in_every_state(user: User) -> None:
    """Section 4 (LITERAL-): a client may send non-synchronising literals of up to 4096
    octets in any command; we advertise LITERAL+, which accepts those and more after
    login, and before login up to imap.login_literal_max (at least 4096)."""
    assert user.server.settings.imap.login_literal_max >= 4096
    with socket.create_connection(("127.0.0.1", user.server.port("imap")), timeout=10) as sock:
        greeting = raw_command(sock, b"", until=b"\r\n")
        assert b"LITERAL+" in greeting
        password = PASSWORD.encode()
        # Before login: a 4096-octet ID value, then LOGIN with non-synchronising literals.
        out = raw_command(sock, b"a0 ID (\"x\" {4096+}\r\n" + b"v" * 4096 + b")\r\n", until=b"a0 ")
        assert b"a0 OK" in out, out
        login = (b"a1 LOGIN {%d+}\r\n" % len(user.address) + user.address.encode()
                 + b" {%d+}\r\n" % len(password) + password + b"\r\n")
        assert b"a1 OK" in raw_command(sock, login, until=b"a1 ")
        raw = message("Bốn nghìn", "x" * 3000)
        assert len(raw) <= 4096
        out = raw_command(sock, b"a2 APPEND INBOX {%d+}\r\n" % len(raw) + raw + b"\r\n", until=b"a2 ")
        assert b"a2 OK" in out and b"+ " not in out, out
        name = "Thư mục".encode()
        out = raw_command(sock, b"a3 ENABLE UTF8=ACCEPT\r\na4 CREATE {%d+}\r\n" % len(name) + name + b"\r\n",
                          until=b"a4 ")
        assert b"a4 OK" in out, out
