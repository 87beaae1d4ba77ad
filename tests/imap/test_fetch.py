"""FETCH and UID FETCH: every item, sections of a multipart message, partial fetches,
.PEEK and the implicit \\Seen, BINARY, and the mime structure seen by imapclient."""

from __future__ import annotations

from tests.imap.conftest import message

MULTIPART = (
    b"From: =?utf-8?b?Tmd1eeG7hW4gVsSDbiBCw6xuaA==?= <nvbinh@soctrang.gov.vn>\r\n"
    b"To: pth@soctrang.gov.vn, \"Tran B\" <b@soctrang.gov.vn>\r\n"
    b"Cc: c@soctrang.gov.vn\r\n"
    b"Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n"
    b"Date: Mon, 2 Mar 2026 08:30:00 +0700\r\n"
    b"Message-ID: <mp1@soctrang.gov.vn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"N=E1=BB=99i dung\r\n"
    b"--XX\r\n"
    b"Content-Type: application/pdf; name=\"a.pdf\"\r\n"
    b"Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--XX\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"From: x@y.vn\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--XX--\r\n"
    b"epilogue\r\n"
)


def test_fetch_simple_items(user) -> None:
    raw = message("Báo cáo", "Xin chào")
    user.deliver(raw)
    c = user.client()
    c.select("INBOX")
    typ, data = c.fetch("1", "(UID FLAGS INTERNALDATE RFC822.SIZE)")
    assert typ == "OK"
    assert data[0].startswith(b"1 (UID 1 FLAGS (\\Recent) INTERNALDATE \"") and data[0].endswith(b"RFC822.SIZE %d)" % len(raw))
    typ, data = c.fetch("1", "FAST")
    assert b"RFC822.SIZE" in data[0] and b"INTERNALDATE" in data[0]
    typ, data = c.fetch("1", "(RFC822.HEADER)")
    assert data[0][1] == raw[:raw.index(b"\r\n\r\n") + 4]
    typ, data = c.fetch("1", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Recent))"]  # RFC822.HEADER does not set \Seen
    typ, data = c.fetch("1", "(RFC822)")
    assert data[0][1] == raw
    assert b"FLAGS (\\Seen \\Recent)" in data[1]


def test_body_sections_and_partial(user) -> None:
    user.deliver(MULTIPART)
    c = user.client()
    c.select("INBOX")

    def body(spec: str) -> bytes:
        typ, data = c.fetch("1", f"(BODY.PEEK[{spec}])")
        assert typ == "OK", data
        return data[0][1] if isinstance(data[0], tuple) else b""

    assert body("") == MULTIPART
    assert body("1") == b"N=E1=BB=99i dung"
    assert body("1.MIME") == b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    assert body("2") == b"JVBERi0xLjQK"
    assert body("3") == b"Subject: inner\r\nFrom: x@y.vn\r\n\r\ninner body"
    assert body("3.HEADER") == b"Subject: inner\r\nFrom: x@y.vn\r\n\r\n"
    assert body("3.TEXT") == b"inner body"
    assert body("3.1") == b"inner body"
    assert body("HEADER.FIELDS (Subject CC)") == b"Cc: c@soctrang.gov.vn\r\nSubject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n\r\n"
    assert b"Subject:" not in body("HEADER.FIELDS.NOT (SUBJECT)")
    assert body("TEXT").startswith(b"preamble\r\n--XX")
    typ, data = c.fetch("1", "(BODY.PEEK[]<10.20>)")
    assert data[0][0].endswith(b"BODY[]<10> {20}") and data[0][1] == MULTIPART[10:30]
    typ, data = c.fetch("1", "(BODY.PEEK[9])")
    assert data == [b"1 (BODY[9] NIL)"]
    typ, data = c.fetch("1", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Recent))"]  # PEEK everywhere
    typ, data = c.fetch("1", "(BODY[1])")
    assert b"FLAGS (\\Seen \\Recent)" in data[1]


def test_binary(user) -> None:
    user.deliver(MULTIPART)
    c = user.client()
    c.select("INBOX")
    typ, data = c.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2])")
    assert data[0][1] == "Nội dung".encode()
    assert b"BINARY.SIZE[2] 9" in data[0][0] or b"BINARY.SIZE[2] 9" in data[1][0]
    assert data[1][1] == b"%PDF-1.4\n"


def test_envelope_and_bodystructure_via_imapclient(user) -> None:
    user.deliver(MULTIPART)
    c = user.imapclient()
    c.select_folder("INBOX")
    out = c.fetch([1], ["ENVELOPE", "BODYSTRUCTURE", "BODY"])[1]
    env = out[b"ENVELOPE"]
    assert env.subject == b"=?utf-8?q?C=C3=B4ng_v=C4=83n?="
    assert env.from_[0].mailbox == b"nvbinh" and env.from_[0].host == b"soctrang.gov.vn"
    assert env.sender == env.from_ and env.reply_to == env.from_
    assert [a.mailbox for a in env.to] == [b"pth", b"b"] and env.to[1].name == b"Tran B"
    assert env.message_id == b"<mp1@soctrang.gov.vn>"
    bs = out[b"BODYSTRUCTURE"]
    assert bs.is_multipart
    parts, subtype = bs[0], bs[1]
    assert subtype == b"MIXED" and len(parts) == 3
    assert parts[0][:2] == (b"TEXT", b"PLAIN") and parts[0][5] == b"QUOTED-PRINTABLE"
    assert parts[1][:2] == (b"APPLICATION", b"PDF") and parts[1][8][0] == b"ATTACHMENT"
    assert parts[2][:2] == (b"MESSAGE", b"RFC822")
    assert out[b"BODY"].is_multipart


def test_uid_fetch_and_sets(user) -> None:
    for i in range(6):
        user.deliver(message(f"m{i}"))
    c = user.client()
    c.select("INBOX")
    typ, data = c.uid("FETCH", "2:4,6", "(FLAGS)")
    assert data == [b"2 (UID 2 FLAGS (\\Recent))", b"3 (UID 3 FLAGS (\\Recent))", b"4 (UID 4 FLAGS (\\Recent))",
                    b"6 (UID 6 FLAGS (\\Recent))"]
    typ, data = c.uid("FETCH", "100:*", "(FLAGS)")
    assert data == [b"6 (UID 6 FLAGS (\\Recent))"]
    typ, data = c.fetch("5:*", "(UID)")
    assert data == [b"5 (UID 5)", b"6 (UID 6)"]


def test_fetch_bad_sequence_number(user) -> None:
    import imaplib

    import pytest
    user.deliver(message())
    c = user.client()
    c.select("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="sequence"):
        c.fetch("7", "(FLAGS)")


def test_large_fetch_streams(user) -> None:
    big = message("lớn", "x" * 100, attachment=b"\x00\x01" * 400_000)
    for _ in range(3):
        user.deliver(big)
    c = user.client()
    c.select("INBOX")
    typ, data = c.fetch("1:*", "(BODY.PEEK[])")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert bodies == [big] * 3


def test_structure_from_delivery_and_fallback(user) -> None:
    """ENVELOPE, BODYSTRUCTURE and sections come from the structure stored at delivery;
    a content stored without one ("{}", from before it existed) is parsed from its bytes,
    with the same answers."""
    from congthu import mime

    old = mime.analyse(MULTIPART)
    old.structure_json = "{}"
    user.deliver(MULTIPART)
    user.deliver(MULTIPART.replace(b"<mp1@", b"<mp2@"), analysis=old)
    store = user.server.app.store
    inbox = user.server.run(store.get_folder(user.id, "INBOX"))
    index = user.server.run(store.folder_index(inbox.id))
    contents = user.server.run(store.get_contents([m.content_id for m in index]))
    assert [bool(contents[m.content_id].structure) for m in index] == [True, False]
    c = user.client()
    c.select("INBOX")
    items = "(ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[3.HEADER] BINARY.PEEK[1] RFC822.HEADER)"
    typ, stored = c.fetch("1", items)
    typ, parsed = c.fetch("2", items)
    assert typ == "OK"
    flat = [x.replace(b"mp2@", b"mp1@").replace(b"2 (", b"1 (", 1)
            for part in parsed for x in (part if isinstance(part, tuple) else (part,))]
    assert flat == [x for part in stored for x in (part if isinstance(part, tuple) else (part,))]
    line = stored[0][0]
    # RFC 9051 section 9: the parts of a multipart follow one another without a space;
    # the line counts include an unterminated last line (RFC 3501 7.4.2's example).
    assert b'"QUOTED-PRINTABLE" 16 1 NIL NIL NIL NIL)("APPLICATION" "PDF"' in line
    assert b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 16 1)' in line


def test_fetch_item_cache_is_bounded_per_message(user) -> None:
    """The answers kept for a message do not grow with every new HEADER.FIELDS list a
    client invents (the server runs in this process: its cache can be looked at)."""
    from congthu.imap import cmd_fetch

    user.deliver(MULTIPART)
    c = user.client()
    c.select("INBOX")
    for i in range(40):
        typ, data = c.fetch("1", f"(BODY.PEEK[HEADER.FIELDS (Subject X-Field-{i})])")
        assert typ == "OK" and b"Subject:" in data[0][1]
    folder = user.server.run(user.server.app.store.get_folder(user.id, "INBOX"))
    known = [v for (fid, _validity, _uid), v in user.server.app.imap.known.items() if fid == folder.id]
    assert len(known) == 1 and 0 < len(known[0].items) <= cmd_fetch._ITEMS_PER_MESSAGE
