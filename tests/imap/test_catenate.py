"""CATENATE (RFC 4469) with IMAP URLs (RFC 5092), written from the RFCs' text, then
compared with a private Dovecot: APPEND ... CATENATE (TEXT literal / URL ...) makes one
message of new text and of messages or parts already on the server; a URL that cannot
be read fails the APPEND with NO [BADURL]; with MULTIAPPEND (RFC 3502) each message may
be catenated."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from congthu.imap import urls
from congthu.imap.parser import Section
from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User

# RFC 4469 Appendix A's shape: a multipart message whose parts are reused.
MULTIPART = (b"From: Nguyen Van Binh <nvbinh@soctrang.gov.vn>\r\nSubject: Bao cao\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
             b"--XX\r\nContent-Type: text/plain\r\n\r\npart one\r\n"
             b"--XX\r\nContent-Type: text/plain\r\n\r\npart two\r\n--XX--\r\n")
DATE = "01-Jan-2026 10:00:00 +0000"


@pytest.fixture
def conv(user: User) -> Iterator[dv.Conversation]:
    c = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        assert c.send(dv.append_command("INBOX", MULTIPART, DATE)).tagged.startswith(b"OK")
        assert c.send("SELECT INBOX").tagged.startswith(b"OK")
        yield c
    finally:
        c.close()


def body(c: dv.Conversation, uid: int) -> bytes:
    reply = c.send(f"UID FETCH {uid} (BODY.PEEK[])")
    assert reply.tagged.startswith(b"OK"), reply
    line = reply.untagged[0]
    return line[line.index(b"}\r\n") + 3:-1]


def appended_uid(reply: dv.Reply) -> int:
    """The UID of APPENDUID (RFC 4315 section 3)."""
    assert reply.tagged.startswith(b"OK [APPENDUID "), reply
    return int(reply.tagged.split(b"]")[0].split()[-1])


def test_capability(conv: dv.Conversation) -> None:
    """RFC 4469 section 2: the server advertises CATENATE."""
    assert b"CATENATE" in conv.send("CAPABILITY").untagged[0].split()


def test_text_and_url_parts(conv: dv.Conversation) -> None:
    """Section 3: the message is the parts in order; a URL part is the data FETCH
    BODY[section] gives (RFC 5092 section 5: ";SECTION=", ";PARTIAL=")."""
    reply = conv.send('APPEND INBOX CATENATE (TEXT {12}\r\nSubject: x\r\n URL "/INBOX/;UID=1/;SECTION=TEXT")')
    uid = appended_uid(reply)
    assert body(conv, uid) == b"Subject: x\r\n" + MULTIPART.split(b"\r\n\r\n", 1)[1]
    # Relative to the selected mailbox (RFC 5092 section 7.2), a part, a partial range.
    assert body(conv, appended_uid(conv.send('APPEND INBOX CATENATE (URL ";UID=1/;SECTION=2")'))) == b"part two"
    uid = appended_uid(conv.send('APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;PARTIAL=0.10")'))
    assert body(conv, uid) == MULTIPART[:10]
    # The whole message, with the mailbox's UIDVALIDITY; \Seen is not set by reading it.
    uidvalidity = int(conv.send("STATUS INBOX (UIDVALIDITY)").untagged[0].split()[-1].rstrip(b")"))
    uid = appended_uid(conv.send(f'APPEND INBOX (\\Flagged) CATENATE (URL "/INBOX;UIDVALIDITY={uidvalidity}/;UID=1")'))
    assert body(conv, uid) == MULTIPART
    flags = conv.send("UID FETCH 1 FLAGS").untagged[0]
    assert b"\\Seen" not in flags
    assert b"\\Flagged" in conv.send(f"UID FETCH {uid} FLAGS").untagged[0]


def test_rfc_example(user: User, conv: dv.Conversation) -> None:
    """The example of RFC 4469 section 3 (Drafts, a header, MIME parts and a whole
    message), with its URLs made for this mailbox: the absolute form
    imap://user@host/... (RFC 5092 section 6) names our own server and user."""
    assert conv.send("CREATE Drafts2").tagged.startswith(b"OK")
    draft = (b"Subject: draft\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=AA\r\n\r\n"
             b"--AA\r\nContent-Type: text/plain\r\n\r\nbody\r\n--AA--\r\n")
    assert conv.send(dv.append_command("Drafts2", draft, DATE)).tagged.startswith(b"OK")
    host = user.server.app.settings.system.hostname
    sep = b"\r\n--AA\r\n"
    cmd = (f'APPEND Drafts2 (\\Seen \\Draft $MDNSent) CATENATE (URL "/Drafts2/;UID=1/;section=HEADER" '
           f'TEXT {{{len(sep)}}}\r\n').encode() + sep + (
           b' URL "/Drafts2/;UID=1/;section=1.MIME" URL "/Drafts2/;UID=1/;section=1" '
           b'URL "imap://' + user.address.encode() + b"@" + host.encode() + b'/INBOX/;UID=1" '
           b"TEXT {8}\r\n\r\n--AA--)")
    reply = conv.send(cmd)
    uid = appended_uid(reply)
    assert conv.send("SELECT Drafts2").tagged.startswith(b"OK")
    made = body(conv, uid)
    header = draft.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert made == header + sep + b"Content-Type: text/plain\r\n\r\n" + b"body" + MULTIPART + b"\r\n--AA--"


@pytest.mark.parametrize("url, why", [
    ("/INBOX;UIDVALIDITY=1/;UID=1", "UIDVALIDITY that is not the mailbox's"),
    ("/INBOX/;UID=99", "no such message"),
    ("/Nope/;UID=1", "no such mailbox"),
    ("/INBOX/;UID=1/;SECTION=5", "no such section"),
    ("/INBOX/;UID=1/;SECTION=1.HEADER.FIELDS", "bad section"),
    ("/INBOX/;UID=1/;URLAUTH=anonymous", "URLAUTH not offered"),
    ("imap://someone.else@mail.soctrang.gov.vn/INBOX/;UID=1", "another user's"),
    ("imap://mail.example.org/INBOX/;UID=1", "another server's"),
    ("garbage", "not a URL"),
    ("/INBOX/;UID=0", "UID zero"),
    ("/%ZZ/;UID=1", "bad percent-encoding"),
    ("/%00/;UID=1", "a control character"),
    ("http://example.org/", "not an IMAP URL"),
])
def test_badurl(conv: dv.Conversation, url: str, why: str) -> None:
    """Section 5: a URL that cannot be used fails the APPEND with NO [BADURL url]; the
    code's text is the URL as sent (errata 4046: a bare URL, not an astring), and no
    message is stored (section 3: the APPEND fails as a whole)."""
    before = conv.send("STATUS INBOX (MESSAGES)").untagged[0]
    reply = conv.send(f'APPEND INBOX CATENATE (TEXT {{3}}\r\nabc URL "{url}")')
    assert reply.tagged.startswith(f"NO [BADURL {url}]".encode()), (why, reply)
    assert conv.send("STATUS INBOX (MESSAGES)").untagged[0] == before


def test_badurl_of_another_users_mailbox(new_user: object, user: User, conv: dv.Conversation) -> None:
    """RFC 5092 section 6 names the user: a URL of another user's message is not read
    (RFC 4469 section 5: BADURL), even with our host name."""
    other = new_user()  # type: ignore[operator]
    other.deliver(MULTIPART)
    host = user.server.app.settings.system.hostname
    url = f"imap://{other.address}@{host}/INBOX/;UID=1"
    assert conv.send(f'APPEND INBOX CATENATE (URL "{url}")').tagged.startswith(f"NO [BADURL {url}]".encode())


def test_relative_url_needs_selected_mailbox(user: User) -> None:
    """RFC 5092 section 7.2: ";UID=n" is relative to a base, here the selected mailbox;
    with none selected it names nothing."""
    c = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        assert c.send(dv.append_command("INBOX", MULTIPART, DATE)).tagged.startswith(b"OK")
        assert c.send('APPEND INBOX CATENATE (URL ";UID=1")').tagged.startswith(b"NO [BADURL ;UID=1]")
    finally:
        c.close()


def test_grammar(conv: dv.Conversation) -> None:
    """Section 5: catenate = "CATENATE" SP "(" cat-part *(SP cat-part) ")"; an empty
    list, an unknown part, TEXT without a literal are BAD; the session goes on."""
    for bad in ("APPEND INBOX CATENATE ()", 'APPEND INBOX CATENATE (TEXT "abc")', "APPEND INBOX CATENATE (FOO 1)",
                'APPEND INBOX CATENATE (URL)', 'APPEND INBOX CATENATE URL "/INBOX/;UID=1"',
                'APPEND INBOX CATENATE (URL "/INBOX/;UID=1"'):
        assert conv.send(bad).tagged.startswith(b"BAD"), bad
    assert conv.send("NOOP").tagged.startswith(b"OK")


def test_toobig(user: User, conv: dv.Conversation) -> None:
    """Section 5: a catenated message larger than the server takes is NO [TOOBIG]
    (APPENDLIMIT, RFC 7889), even when each part is small."""
    limit = user.server.app.settings.message_max_bytes
    half = b"Subject: half\r\n\r\n" + (b"x" * 998 + b"\r\n") * (limit // 2000 + 1)
    uid = user.deliver(half)
    assert b"* 2 EXISTS" in conv.send("NOOP").untagged
    before = conv.send("STATUS INBOX (MESSAGES)").untagged[0]
    assert before.endswith(b"(MESSAGES 2)")
    reply = conv.send(f'APPEND INBOX CATENATE (URL "/INBOX/;UID={uid}" URL "/INBOX/;UID={uid}")')
    assert reply.tagged.startswith(b"NO [TOOBIG]"), reply
    assert conv.send("STATUS INBOX (MESSAGES)").untagged[0] == before


def test_multiappend_with_catenate(conv: dv.Conversation) -> None:
    """RFC 4469 section 3 extends each append-message of MULTIAPPEND (RFC 3502): one
    APPENDUID with both UIDs; if one message's URL is bad, neither is stored."""
    reply = conv.send('APPEND INBOX (\\Seen) CATENATE (TEXT {10}\r\nSubject: y URL "/INBOX/;UID=1/;SECTION=1.MIME")'
                      " CATENATE (TEXT {10}\r\nSubject: z)")
    assert reply.tagged.startswith(b"OK [APPENDUID "), reply
    assert body(conv, 3) == b"Subject: z"
    assert body(conv, 2) == b"Subject: yContent-Type: text/plain\r\n\r\n"
    before = conv.send("STATUS INBOX (MESSAGES)").untagged[0]
    reply = conv.send("APPEND INBOX CATENATE (TEXT {3}\r\nabc) CATENATE (URL \"/INBOX/;UID=77\")")
    assert reply.tagged.startswith(b"NO [BADURL /INBOX/;UID=77]")
    assert conv.send("STATUS INBOX (MESSAGES)").untagged[0] == before


def test_literal_plus_and_gate(user: User, conv: dv.Conversation) -> None:
    """TEXT literals may be non-synchronising (RFC 7888); one larger than APPENDLIMIT is
    refused before it is sent, as a plain APPEND's (RFC 7889 section 4)."""
    reply = conv.send(b'APPEND INBOX CATENATE (TEXT {5+}\r\nabcde URL ";UID=1/;SECTION=1")')
    assert body(conv, appended_uid(reply)) == b"abcdepart one"
    limit = user.server.app.settings.message_max_bytes
    reply = conv.send(f"APPEND INBOX CATENATE (TEXT {{{limit + 1}}}\r\n".encode())
    assert reply.tagged.startswith(b"NO [TOOBIG]"), reply
    assert conv.send("NOOP").tagged.startswith(b"OK")


# -- the URL parser (RFC 5092), and fuzzing ------------------------------------------------

def test_url_forms() -> None:
    """RFC 5092 section 6 (imapurl), section 7.2 (relative forms), case-insensitive
    parameter names, percent-encoded UTF-8 mailbox names."""
    u = urls.parse("imap://minh;AUTH=*@mail.soctrang.gov.vn:143/T%E1%BB%95ng%20h%E1%BB%A3p;UIDVALIDITY=7/"
                   ";uid=20/;section=1.2.MIME/;partial=5.10")
    assert (u.user, u.host, u.mailbox, u.uidvalidity, u.uid) == ("minh", "mail.soctrang.gov.vn", "Tổng hợp", 7, 20)
    assert u.section == Section((1, 2), "MIME") and u.partial == (5, 10)
    u = urls.parse("/T/a/;UID=3/;SECTION=HEADER.FIELDS%20(FROM%20TO)")
    assert (u.mailbox, u.uid, u.section.fields) == ("T/a", 3, ("FROM", "TO"))
    u = urls.parse(";UID=4/;PARTIAL=7")
    assert (u.mailbox, u.uid, u.partial) == (None, 4, (7, None))
    for bad in ("", "/INBOX", "/;UID=1", "imap://host", "imap:///INBOX/;UID=1", "/INBOX/;UID=1/;SECTION=0",
                "/INBOX;FOO=1/;UID=1", "/INBOX/;UID=1/;PARTIAL=x", "/INBOX/;UID=99999999999",
                "/IN BOX/;UID=1", "/%FF/;UID=1", "/INBOX/;UID=1/;EXPIRE=2026-01-01T00:00:00Z"):
        with pytest.raises(urls.BadUrl):
            urls.parse(bad)


def test_fuzz_url_parser() -> None:
    """Random and truncated URLs: BadUrl or a URL, never another exception."""
    rng = random.Random(4469)
    seeds = ["imap://a@b:1/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=1.2.HEADER.FIELDS%20(A)/;PARTIAL=1.2",
             "/T%E1%BB%95ng/;UID=1/;SECTION=TEXT", ";UID=4/;PARTIAL=7"]
    alphabet = "/;=%.:@()[]*abcUIDSECTIONPARTIAL0123456789 \x00\x7f\u1ec7"
    for _ in range(3000):
        seed = rng.choice(seeds)
        if rng.random() < 0.4:
            text = seed[:rng.randrange(len(seed) + 1)]
        else:
            chars = list(seed)
            for _ in range(rng.randrange(1, 6)):
                chars.insert(rng.randrange(len(chars) + 1), rng.choice(alphabet))
            text = "".join(chars)
        try:
            urls.parse(text)
        except urls.BadUrl:
            pass


def test_fuzz_catenate_commands(conv: dv.Conversation) -> None:
    """Random and truncated CATENATE commands (no literals): BAD or NO, never a
    traceback; the session survives and answers NOOP."""
    rng = random.Random(3502)
    seed = 'APPEND INBOX (\\Seen) "01-Jan-2026 10:00:00 +0000" CATENATE (URL "/INBOX/;UID=1/;SECTION=1" URL ";UID=1")'
    for _ in range(60):
        if rng.random() < 0.5:
            text = seed[:rng.randrange(8, len(seed))]
        else:
            chars = list(seed)
            for _ in range(rng.randrange(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice('()" /;\\*%[]{}~')
            text = "".join(chars)
        if "{" in text:
            text = text.replace("{", "(")
        reply = conv.send(text)
        assert reply.tagged[:2] in (b"OK", b"NO", b"BA"), reply
        assert not reply.tagged.startswith(b"NO [SERVERBUG]"), reply
        # A NOOP between them: too many BADs in a row end a connection, on purpose.
        assert conv.send("NOOP").tagged.startswith(b"OK")
    assert conv.send("NOOP").tagged.startswith(b"OK")


# -- against Dovecot -------------------------------------------------------------------------

def test_same_answers_as_dovecot(user: User, dovecot: dv.Dovecot) -> None:
    """The same CATENATE commands to both servers: the same messages made, the same
    BADURL refusals. Left out (docs/imap.md): absolute imap:// URLs, which Dovecot
    refuses ("relative URL required") and we take for our own user and host; a URL of a
    section the message does not have, for which Dovecot appends an empty part and we
    answer BADURL (RFC 4469 section 5: a URL that cannot be fetched)."""
    ours = dv.login(user.server.port("imap"), user.address, PASSWORD)
    theirs = dv.login(dovecot.port, "catenate@soctrang.gov.vn", dv.PASSWORD)
    try:
        commands: list[str | bytes] = [
            dv.append_command("INBOX", MULTIPART, DATE), "SELECT INBOX",
            'APPEND INBOX CATENATE (TEXT {12}\r\nSubject: x\r\n URL "/INBOX/;UID=1/;SECTION=TEXT")',
            'APPEND INBOX CATENATE (URL ";UID=1/;SECTION=1")',
            'APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;PARTIAL=0.10")',
            'APPEND INBOX CATENATE (URL "/INBOX/;uid=1/;section=HEADER.FIELDS%20(SUBJECT)")',
            'APPEND INBOX CATENATE (URL "/INBOX;UIDVALIDITY=1/;UID=1")',
            'APPEND INBOX CATENATE (URL "/INBOX/;UID=99")',
            'APPEND INBOX CATENATE (URL "/Nope/;UID=1")',
            "APPEND INBOX CATENATE ()",
            'APPEND INBOX (\\Seen) CATENATE (TEXT {10}\r\nSubject: y URL "/INBOX/;UID=1/;SECTION=1.MIME")'
            " CATENATE (TEXT {10}\r\nSubject: z)",
            "NOOP", "UID FETCH 1:* (FLAGS BODY.PEEK[])",
        ]
        diff = dv.differences(ours.run(commands), theirs.run(commands))
        assert not diff, "\n".join(d[:800] for d in diff)
    finally:
        ours.close()
        theirs.close()
