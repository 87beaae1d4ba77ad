"""Issue 12, item by item, each test written from the RFC's text (the differential
tests against Dovecot are in ``test_dovecot_diff.py``): SEARCH (RFC 9051 section 6.4.4),
SORT and THREAD (RFC 5256), keyword announcements (RFC 9051 section 7.3.5), CONDSTORE
enabling (RFC 7162 section 3.1), FETCH of a message expunged by another session (RFC
9051 section 7.4.1, RFC 2180 section 4.1), BINARY (RFC 3516), ENVELOPE's grammar, part
numbers, LIST-EXTENDED (RFC 5258) and LSUB (RFC 3501 section 6.3.9)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User
from tests.imap.corpus import MESSAGES


def _login(user: User) -> dv.Conversation:
    return dv.login(user.server.port("imap"), user.address, PASSWORD)


@pytest.fixture
def conv(user: User) -> Iterator[dv.Conversation]:
    """Our server, the corpus appended to INBOX, INBOX selected."""
    c = _login(user)
    for date, flags, raw in MESSAGES:
        assert c.send(dv.append_command("INBOX", raw, date, flags)).tagged.startswith(b"OK")
    assert c.send("SELECT INBOX").tagged.startswith(b"OK")
    try:
        yield c
    finally:
        c.close()


def search(c: dv.Conversation, key: str) -> list[int]:
    reply = c.send(f"SEARCH {key}")
    assert reply.tagged.startswith(b"OK"), (key, reply)
    (line,) = [x for x in reply.untagged if x.startswith(b"* SEARCH")]
    return [int(n) for n in line.split()[2:]]


def search_utf8(c: dv.Conversation, key: str, text: str) -> list[int]:
    """SEARCH CHARSET UTF-8 key {n}: text as a literal (8-bit text is not an atom)."""
    data = text.encode()
    reply = c.send(f"SEARCH CHARSET UTF-8 {key} {{{len(data)}}}\r\n".encode() + data)
    assert reply.tagged.startswith(b"OK"), (key, reply)
    (line,) = [x for x in reply.untagged if x.startswith(b"* SEARCH")]
    return [int(n) for n in line.split()[2:]]


def one(c: dv.Conversation, command: str, prefix: bytes) -> bytes:
    reply = c.send(command)
    assert reply.tagged.startswith(b"OK"), (command, reply)
    (line,) = [x for x in reply.untagged if x.startswith(prefix)]
    return line


# -- SEARCH (RFC 9051 section 6.4.4) --------------------------------------------------------

def test_sent_dates_are_the_date_fields_own_day(conv: dv.Conversation) -> None:
    """SENT*: "the message's [RFC-5322] Date: header (disregarding time and timezone)".
    Message 2's Date is 1 March at -0500 (2 March in UTC and in Viet Nam); message 6's
    4 March at +0000 (5 March in Viet Nam); 4 has none and 5 an unparsable one (the
    epoch, as Dovecot: only SENTBEFORE finds them)."""
    assert search(conv, "SENTON 1-Mar-2026") == [2]
    assert search(conv, "SENTON 2-Mar-2026") == [1]
    assert search(conv, "SENTON 4-Mar-2026") == [6]
    assert search(conv, "SENTSINCE 5-Mar-2026") == [7]  # 6 March 01:00 +1400
    assert search(conv, "SENTBEFORE 2-Mar-2026") == [2, 4, 5]


def test_arrival_dates_are_days_of_the_internal_date(conv: dv.Conversation) -> None:
    """BEFORE/ON/SINCE: the internal date, as a calendar day in the server's zone (the
    province's, Asia/Ho_Chi_Minh): message 2 arrived 20:00 UTC on 1 March, 2 March here."""
    assert search(conv, "ON 2-Mar-2026") == [1, 2]
    assert search(conv, "BEFORE 2-Mar-2026") == [4]
    assert search(conv, "SINCE 5-Mar-2026") == [6, 7]


def test_body_and_text_in_every_part_decoded(conv: dv.Conversation) -> None:
    """BODY: "in the body of the message"; TEXT: "in the header or body". Every text
    part, with quoted-printable / base64 and the charset undone; attached messages too."""
    assert search(conv, "BODY softbreak") == [2]  # quoted-printable soft line break
    assert search(conv, 'BODY "equals = sign"') == [2]
    assert search(conv, "BODY rendez-vous") == [3]  # base64, ISO-8859-1
    assert search_utf8(conv, "BODY", "café") == [3]
    assert search(conv, "BODY nestedword") == [4]  # multipart/alternative in mixed
    assert search(conv, "BODY quychehoatdong") == [4, 7]  # base64 UTF-8, also attached
    assert search(conv, 'BODY "<b>htmlonlyword</b>"') == [4]  # the HTML as written
    assert search(conv, "BODY attachedsecret") == []  # a PDF is not text
    # The header is not the body; TEXT has both, MIME part headers too.
    assert search(conv, "BODY X-Extra") == [] and search(conv, "TEXT X-Extra") == [2]
    assert search(conv, 'BODY "Inner subject"') == [] and search(conv, 'TEXT "Inner subject"') == [4]
    assert search(conv, "TEXT tl.pdf") == [3]
    assert search(conv, "TEXT nvbinh") == [1, 2]


def test_accent_insensitive_is_a_superset(conv: dv.Conversation) -> None:
    """Exact substrings are always found; unaccented and folded forms find more."""
    assert search_utf8(conv, "BODY", "naïve") == [3] == search(conv, "BODY naive")
    exact = search_utf8(conv, "BODY", "Báo cáo")
    assert exact == [2] and set(exact) <= set(search(conv, 'BODY "bao cao"'))


def test_header_any_field(conv: dv.Conversation) -> None:
    """HEADER field-name string: any field, unknown ones included; "If the string to
    search is zero-length, this matches all messages that have a header line with the
    specified field-name regardless of the contents"."""
    assert search(conv, "HEADER X-Extra another") == [2]
    assert search(conv, 'HEADER X-Extra ""') == [2]
    assert search(conv, 'HEADER X-Empty ""') == [2]
    assert search(conv, 'HEADER X-Missing ""') == []
    assert search(conv, 'HEADER Date ""') == [1, 2, 3, 5, 6, 7]


def test_address_keys_match_group_names(conv: dv.Conversation) -> None:
    """TO/FROM/CC: the field's text, a group's display name included (RFC 5322 section
    3.4 group syntax)."""
    assert search(conv, 'TO "Group Lanh Dao"') == [3]
    assert search(conv, "TO undisclosed-recipients") == [5]
    assert search(conv, 'CC "Nhom Ke Toan"') == [5]
    assert search(conv, "CC kt1") == [5]


def test_sequence_set_beyond_the_mailbox(conv: dv.Conversation) -> None:
    """A key describes messages: numbers beyond the mailbox match nothing (OK, not BAD,
    as Dovecot); ESEARCH's RETURN () likewise (RFC 4731)."""
    assert search(conv, "10") == [] and search(conv, "5:10") == [5, 6, 7]
    reply = conv.send("SEARCH RETURN () 10")
    assert reply.tagged.startswith(b"OK") and reply.untagged == [b'* ESEARCH (TAG "T3")'] or \
        reply.untagged[0].startswith(b"* ESEARCH (TAG ")
    assert conv.send("FETCH 10 FLAGS").tagged.startswith(b"BAD")  # outside SEARCH: BAD


# -- SORT and THREAD (RFC 5256) ---------------------------------------------------------------

def test_sort_date_in_utc_with_internal_date_fallback(conv: dv.Conversation) -> None:
    """Section 3: DATE is the Date field, compared in UTC; without one (4) or with an
    unparsable one (5), the internal date."""
    assert one(conv, "SORT (DATE) UTF-8 ALL", b"* SORT") == b"* SORT 4 1 2 3 5 6 7"
    assert one(conv, "SORT (REVERSE DATE) UTF-8 ALL", b"* SORT") == b"* SORT 7 6 5 3 2 1 4"


def test_sort_subject_by_base_subject(conv: dv.Conversation) -> None:
    """Section 2.1: "Re:", "Fwd:", "[blob]" prefixes, "(fwd)" trailers and runs of white
    space do not count; ties by sequence number."""
    assert one(conv, "SORT (SUBJECT) UTF-8 ALL", b"* SORT") == b"* SORT 2 3 4 1 5 6 7"


def test_sort_addresses_by_first_mailbox(conv: dv.Conversation) -> None:
    """Section 3: FROM/TO/CC sort by the addr-mailbox of the first address (a group's
    name for a group); no address sorts first; ties by sequence number."""
    assert one(conv, "SORT (TO) UTF-8 ALL", b"* SORT") == b"* SORT 7 3 2 1 6 5 4"
    assert one(conv, "SORT (CC) UTF-8 ALL", b"* SORT") == b"* SORT 1 3 4 6 7 5 2"
    assert one(conv, "SORT (FROM) UTF-8 ALL", b"* SORT") == b"* SORT 4 7 6 5 1 2 3"


def test_thread_orderedsubject(conv: dv.Conversation) -> None:
    """Section 3: threads by base subject, ordered by the sent date of each thread's
    first message, the others as its children in date order."""
    assert one(conv, "THREAD ORDEREDSUBJECT UTF-8 ALL", b"* THREAD") == \
        b"* THREAD (4 (2)(3))(1 (5)(6))(7)"


# -- keywords, CONDSTORE, expunged messages ----------------------------------------------------

def _kinds(reply: dv.Reply) -> list[bytes]:
    """FLAGS, PERMANENTFLAGS, EXISTS, FETCH... of each untagged line, in order."""
    out = []
    for line in reply.untagged:
        words = line.split(b" ")
        word = words[2] if words[1].isdigit() else words[1]
        out.append(words[2].strip(b"[") if word == b"OK" else word)
    return out


def test_new_keyword_is_announced_before_a_fetch_shows_it(user: User, conv: dv.Conversation) -> None:
    """RFC 9051 section 7.3.5 / RFC 3501 section 7.2.6: FLAGS (with PERMANENTFLAGS) comes
    before a FETCH shows a keyword the client was not told of."""
    reply = conv.send("STORE 1 +FLAGS (Cong_van_den)")
    assert _kinds(reply)[:2] == [b"FLAGS", b"PERMANENTFLAGS"] and b"Cong_van_den" in reply.untagged[0]
    assert reply.untagged[2].startswith(b"* 1 FETCH")
    assert conv.send("STORE 2 +FLAGS (Cong_van_den)").untagged[0].startswith(b"* 2 FETCH")  # known now
    other = _login(user)
    try:
        other.send("SELECT INBOX")
        other.send("STORE 3 +FLAGS (Khan)")
        other.send(dv.append_command("INBOX", b"Subject: x\r\n\r\ny\r\n", "07-Mar-2026 10:00:00 +0700", "Mat"))
    finally:
        other.close()
    reply = conv.send("NOOP")
    kinds = _kinds(reply)
    assert kinds.index(b"FLAGS") < kinds.index(b"FETCH") and b"PERMANENTFLAGS" in kinds
    flags = reply.untagged[kinds.index(b"FLAGS")]
    assert b"Khan" in flags and b"Mat" in flags


def test_condstore_enabling_command_gets_highestmodseq(conv: dv.Conversation) -> None:
    """RFC 7162 section 3.1: the first CONDSTORE-enabling command is answered with
    HIGHESTMODSEQ; FETCH responses carry MODSEQ from then on."""
    assert not any(b"MODSEQ" in x for x in conv.send("STORE 1 +FLAGS (\\Answered)").untagged)
    reply = conv.send("FETCH 1 (FLAGS MODSEQ)")
    assert reply.untagged[0].startswith(b"* OK [HIGHESTMODSEQ ") and b"MODSEQ (" in reply.untagged[1]
    again = conv.send("SEARCH MODSEQ 1")
    assert not any(b"HIGHESTMODSEQ" in x for x in again.untagged)
    assert b"MODSEQ (" in conv.send("STORE 2 +FLAGS (\\Answered)").untagged[0]


def test_condstore_enabled_by_search_modseq(conv: dv.Conversation) -> None:
    reply = conv.send("SEARCH MODSEQ 1")
    assert reply.untagged[0].startswith(b"* OK [HIGHESTMODSEQ ") and reply.untagged[1].startswith(b"* SEARCH 1 2")


def test_fetch_of_a_message_expunged_by_another_session(user: User, conv: dv.Conversation) -> None:
    """RFC 9051 section 7.4.1 / RFC 2180 section 4.1.1: the data still at hand is sent,
    OK; what is gone is NIL with OK [EXPUNGEISSUED] (RFC 2180 section 4.1.3), as
    Dovecot. The EXPUNGE itself waits for a command that allows it."""
    first = conv.send("FETCH 2 (RFC822.SIZE BODY.PEEK[TEXT])")
    other = _login(user)
    try:
        other.send("SELECT INBOX")
        other.send("STORE 2:3 +FLAGS (\\Deleted)")
        conv.send("NOOP")
        assert other.send("EXPUNGE").tagged.startswith(b"OK")
    finally:
        other.close()
    reply = conv.send("FETCH 2 (RFC822.SIZE BODY.PEEK[TEXT])")
    assert reply.tagged.startswith(b"OK") and not reply.tagged.startswith(b"OK [")
    assert reply.untagged == first.untagged
    gone = conv.send("FETCH 3 (UID BODY.PEEK[TEXT])")
    assert gone.tagged.startswith(b"OK [EXPUNGEISSUED]")
    assert gone.untagged == [b"* 3 FETCH (UID 3 BODY[TEXT] NIL)"]
    assert [x for x in conv.send("NOOP").untagged if x.endswith(b"EXPUNGE")] == [b"* 7 EXPUNGE", b"* 3 EXPUNGE",
                                                                                  b"* 2 EXPUNGE"]


# -- FETCH: BINARY, ENVELOPE, part numbers -------------------------------------------------------

QP_PART = (b"Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
           b"=E1=BB=A6y ban nh=C3=A2n d=C3=A2n t=E1=BB=89nh S=C3=B3c Tr=C4=83ng =3D soft=\r\nbreak\r\n")


def test_binary_of_quoted_printable_is_decoded(user: User) -> None:
    """RFC 3516 section 4.2: BINARY[] is the content with the transfer encoding undone,
    BINARY.SIZE its size in octets."""
    decoded = "Ủy ban nhân dân tỉnh Sóc Trăng = softbreak\r\n".encode()
    c = _login(user)
    try:
        c.send(dv.append_command("INBOX", QP_PART, "07-Mar-2026 10:00:00 +0700"))
        c.send("SELECT INBOX")
        size = one(c, "FETCH 1 (BINARY.SIZE[1])", b"* 1 FETCH")
        assert size == b"* 1 FETCH (BINARY.SIZE[1] %d)" % len(decoded)
        data = one(c, "FETCH 1 (BINARY.PEEK[1])", b"* 1 FETCH")
        assert data == b"* 1 FETCH (BINARY[1] {%d}\r\n" % len(decoded) + decoded + b")"
    finally:
        c.close()


def test_message_appended_as_literal8_is_returned_as_stored(user: User) -> None:
    """RFC 3516 section 4.4: APPEND with a literal8 (binary content, NUL included); the
    sections return the bytes as they were appended."""
    raw = (b"Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\x02 " + "nhị phân".encode() + b"\xff\r\n")
    c = _login(user)
    try:
        reply = c.send(b'APPEND INBOX ~{%d}\r\n' % len(raw) + raw)
        assert reply.tagged.startswith(b"OK"), reply
        c.send("SELECT INBOX")
        assert one(c, "FETCH 1 (BODY.PEEK[])", b"* 1 FETCH") == b"* 1 FETCH (BODY[] {%d}\r\n" % len(raw) + raw + b")"
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert one(c, "FETCH 1 (BINARY.PEEK[1])", b"* 1 FETCH") == \
            b"* 1 FETCH (BINARY[1] ~{%d}\r\n" % len(body) + body + b")"
    finally:
        c.close()


def test_envelope_address_lists_have_no_spaces(conv: dv.Conversation) -> None:
    """RFC 9051 section 9: env-to = "(" 1*address ")" / nil: addresses are not separated."""
    line = one(conv, "FETCH 2 ENVELOPE", b"* 2 FETCH")
    assert b'(("Zeta" NIL "zeta" "soctrang.gov.vn")(NIL NIL "alpha" "soctrang.gov.vn"))' in line
    nested = one(conv, "FETCH 4 BODYSTRUCTURE", b"* 4 FETCH")
    assert b'((NIL NIL "inner-to" "x.vn"))' in nested


def test_parts_of_a_leaf_and_empty_parts(conv: dv.Conversation) -> None:
    """RFC 9051 section 6.4.5: an empty part is an empty string ({0}); part 1.1 of a
    leaf part 1 of a multipart is that part (as Dovecot), a single-part message's body
    has no part 1.1."""
    assert one(conv, "FETCH 4 BODY.PEEK[2]", b"* 4 FETCH") == b"* 4 FETCH (BODY[2] {0}\r\n)"
    assert one(conv, "FETCH 3 BODY.PEEK[1.1]", b"* 3 FETCH") == \
        one(conv, "FETCH 3 BODY.PEEK[1]", b"* 3 FETCH").replace(b"BODY[1]", b"BODY[1.1]")
    assert one(conv, "FETCH 3 BINARY.SIZE[1.1]", b"* 3 FETCH") == b"* 3 FETCH (BINARY.SIZE[1.1] 39)"
    assert one(conv, "FETCH 1 BODY.PEEK[1.1]", b"* 1 FETCH") == b"* 1 FETCH (BODY[1.1] NIL)"


# -- LIST-EXTENDED (RFC 5258) and LSUB (RFC 3501 section 6.3.9) --------------------------------

def _names(reply: dv.Reply) -> dict[bytes, bytes]:
    out = {}
    for line in reply.untagged:
        attrs = line[line.index(b"(") + 1:line.index(b")")]
        out[line.rsplit(b" ", 1)[1].strip(b'"')] = attrs
    return out


def test_list_extended(user: User) -> None:
    c = _login(user)
    try:
        for cmd in ("CREATE Ban/Phong", "CREATE Ban/Phong/To", "CREATE Ban/Khac", "SUBSCRIBE Ban/Phong/To",
                    "SUBSCRIBE Ban/Khac"):
            assert c.send(cmd).tagged.startswith(b"OK")
        # Section 3: an unknown return option is an error.
        assert c.send('LIST "" Ban/% RETURN (NOSUCHOPTION)').tagged.startswith(b"BAD")
        # CREATE does not subscribe (RFC 9051 section 6.3.4): \Subscribed only when it is.
        names = _names(c.send('LIST "" Ban/* RETURN (SUBSCRIBED)'))
        assert b"\\Subscribed" not in names[b"Ban/Phong"] and b"\\Subscribed" in names[b"Ban/Phong/To"]
        names = _names(c.send('LIST "" Ban/% RETURN (CHILDREN SUBSCRIBED)'))
        assert names == {b"Ban/Khac": b"\\HasNoChildren \\Subscribed", b"Ban/Phong": b"\\HasChildren"}
        # Section 3, RECURSIVEMATCH: the parent of a subscribed name, with CHILDINFO.
        reply = c.send('LIST (SUBSCRIBED RECURSIVEMATCH) "" Ban/%')
        assert any(x.endswith(b'"Ban/Phong" ("CHILDINFO" ("SUBSCRIBED"))') for x in reply.untagged)
        # RFC 3501 section 6.3.9: LSUB shows the unsubscribed parent that "%" stopped at
        # as \Noselect; "*" reaches the subscribed name itself.
        assert _names(c.send('LSUB "" Ban/%')) == {b"Ban/Khac": b"", b"Ban/Phong": b"\\Noselect"}
        assert _names(c.send('LSUB "" Ban/*')) == {b"Ban/Khac": b"", b"Ban/Phong/To": b""}
        assert _names(c.send('LSUB "" Ban/Phong')) == {}
    finally:
        c.close()


# -- MULTIAPPEND (RFC 3502) -------------------------------------------------------------------

def multiappend(folder: str, *messages: tuple[str, str, bytes]) -> bytes:
    """APPEND folder followed by (flags) "date" {n} message for each message."""
    out = f"APPEND {folder}".encode()
    for flags, date, raw in messages:
        out += f" ({flags})".encode() + (f' "{date}"'.encode() if date else b"") + b" {%d}\r\n" % len(raw) + raw
    return out


def test_multiappend(user: User) -> None:
    """Section 3 (the example's shape): several messages in one APPEND, stored in order,
    APPENDUID with all the UIDs (RFC 4315); one bad message and none is stored."""
    c = _login(user)
    try:
        assert b"MULTIAPPEND" in one(c, "CAPABILITY", b"* CAPABILITY")
        reply = c.send(multiappend("INBOX", ("\\Seen", "", MESSAGES[0][2]),
                                   ("\\Flagged", " 7-Feb-1994 22:43:04 -0800", MESSAGES[1][2])))
        assert reply.tagged.startswith(b"OK [APPENDUID ") and reply.tagged.split(b"]")[0].endswith(b" 1:2")
        c.send("SELECT INBOX")
        fetched = c.send("FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)").untagged
        assert fetched[0].startswith(b"* 1 FETCH (FLAGS (\\Seen \\Recent) ")
        assert fetched[1] == b'* 2 FETCH (FLAGS (\\Flagged \\Recent) INTERNALDATE "08-Feb-1994 06:43:04 +0000" ' \
            b"RFC822.SIZE %d)" % len(MESSAGES[1][2])
        bad = c.send(multiappend("INBOX", ("", "", MESSAGES[2][2]), ("", "", b"")))
        assert bad.tagged.startswith(b"NO")
        assert [x for x in c.send("NOOP").untagged if b"EXISTS" in x] == []
        assert len(c.send("FETCH 1:* UID").untagged) == 2
    finally:
        c.close()
