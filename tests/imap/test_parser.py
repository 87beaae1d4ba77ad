"""The command parser (congthu.imap.parser) and modified UTF-7, with fuzzing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from congthu.imap import utf7
from congthu.imap.parser import BadCharset, ParseError, Section, parse_command
from congthu.imap.sequence import SeqSet, format_set


def parse(*parts: bytes):  # type: ignore[no-untyped-def]
    return parse_command(list(parts))


def test_login_atoms_quoted_and_literal() -> None:
    cmd = parse(b'a1 LOGIN "user@x" {6}', b'p"\\ss ', b"")
    assert (cmd.tag, cmd.name, cmd.args["user"], cmd.args["password"]) == ("a1", "LOGIN", "user@x", 'p"\\ss ')
    cmd = parse(b'a2 login u "a\\"b\\\\c"')
    assert cmd.args["password"] == 'a"b\\c'


def test_literal_plus_and_mismatch() -> None:
    cmd = parse(b"a SELECT {5+}", b"INBOX", b"")
    assert cmd.args["mailbox"] == "INBOX"
    with pytest.raises(ParseError):
        parse(b"a SELECT {6}", b"INBOX", b"")
    with pytest.raises(ParseError):
        parse(b"a SELECT {5} x", b"INBOX", b"")


def test_sequence_sets() -> None:
    cmd = parse(b"a UID FETCH 1:3,7,9:* FLAGS")
    s: SeqSet = cmd.args["set"]
    assert cmd.uid and s.ranges == ((1, 3), (7, 7), (9, None))
    assert s.indexes([1, 2, 3, 5, 7, 8, 9, 12]) == [0, 1, 2, 4, 6, 7]
    # "n:*" with n above every UID still picks the last message (RFC 9051 6.4.8).
    assert SeqSet(((100, None),)).indexes([3, 5]) == [1]
    assert parse(b"a FETCH $ FLAGS").args["set"].saved
    assert format_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    for bad in (b"a FETCH 0 FLAGS", b"a FETCH 1: FLAGS", b"a FETCH ,1 FLAGS", b"a FETCH 1:2:3 FLAGS"):
        with pytest.raises(ParseError):
            parse(bad)


def test_fetch_items() -> None:
    cmd = parse(b"a FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (Subject From)] BODY[1.2.MIME]<0.100> "
                b"BINARY[2] RFC822.SIZE FAST) (CHANGEDSINCE 5)")
    atts = cmd.args["atts"]
    assert atts[1].name == "BODY[]" and atts[1].peek
    assert atts[1].section == Section((), "HEADER.FIELDS", ("SUBJECT", "FROM"))
    assert atts[1].section.spec() == "HEADER.FIELDS (SUBJECT FROM)"
    assert atts[2].section == Section((1, 2), "MIME") and atts[2].partial == (0, 100)
    assert atts[3].name == "BINARY[]" and atts[3].section.part == (2,)
    assert [a.name for a in atts[-3:]] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert cmd.args["changedsince"] == 5
    for bad in (b"a FETCH 1 (BODY[FOO])", b"a FETCH 1 BODY[MIME]", b"a FETCH 1 (UID", b"a FETCH 1 NOPE",
                b"a FETCH 1 (FLAGS) (VANISHED)", b"a FETCH 1 BINARY[HEADER]"):
        with pytest.raises(ParseError):
            parse(bad)


def test_search_keys() -> None:
    cmd = parse(b'a SEARCH CHARSET UTF-8 OR SUBJECT "c\xc3\xb4ng v\xc4\x83n" FROM binh NOT (SEEN 2:4) '
                b"SINCE 1-Feb-2026 LARGER 100 UID 1:* KEYWORD $Important MODSEQ 7")
    key = cmd.args["key"]
    assert key[0] == "AND"
    assert key[1][0] == ("OR", ("SUBJECT", "công văn"), ("FROM", "binh"))
    assert ("SINCE", date(2026, 2, 1)) in key[1]
    assert ("FLAG", "$Important", True) in key[1]
    with pytest.raises(BadCharset):
        parse(b"a SEARCH CHARSET KOI8-R ALL")
    with pytest.raises(ParseError):
        parse(b"a SEARCH SINCE 31-Feb-2026")
    with pytest.raises(ParseError):
        parse(b"a SEARCH " + b"(" * 100 + b"ALL" + b")" * 100)
    assert parse(b"a SEARCH RETURN (MIN COUNT) ALL").args["returns"] == ["MIN", "COUNT"]


def test_append_store_list_select() -> None:
    cmd = parse(b'a APPEND "Sent" (\\Seen $Label) "02-Mar-2026 08:30:00 +0700" {3+}', b"abc", b"")
    assert cmd.args["flags"] == ["\\Seen", "$Label"] and cmd.args["message"] == b"abc"
    assert cmd.args["date"] == datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    cmd = parse(b"a UID STORE 1:5 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Deleted)")
    assert (cmd.args["mode"], cmd.args["silent"], cmd.args["unchangedsince"]) == ("add", True, 9)
    cmd = parse(b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "%") RETURN (CHILDREN STATUS (MESSAGES))')
    assert cmd.args["patterns"] == ["INBOX", "%"] and cmd.args["status"] == ["MESSAGES"]
    cmd = parse(b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")
    assert cmd.args["qresync"]["modseq"] == 20050715194045000


def test_errors_carry_the_tag() -> None:
    with pytest.raises(ParseError) as info:
        parse(b"x17 NOSUCHTHING")
    assert info.value.tag == "x17"  # type: ignore[attr-defined]


def test_utf7_vietnamese() -> None:
    assert utf7.encode("Thư đã gửi") == "Th&AbA- &AREA4w- g&Hu0-i"
    assert utf7.decode("Th&AbA- &AREA4w- g&Hu0-i") == "Thư đã gửi"
    assert utf7.encode("A&B") == "A&-B"
    for bad in ("&", "&Jjo", "&AGE-", "&Jjo-&Jjo-", "é", "&#-"):
        with pytest.raises(utf7.UTF7Error):
            utf7.decode(bad)


@given(st.text(max_size=40))
def test_utf7_round_trip(text: str) -> None:
    text = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)
    assert utf7.decode(utf7.encode(text)) == text


_tokens = st.sampled_from([
    b"a1", b" ", b"FETCH", b"UID", b"SEARCH", b"STORE", b"1:*", b"(", b")", b"[", b"]", b"\"", b"\\",
    b"{", b"}", b"{3}", b"{99999999999999999999999}", b"BODY[", b"HEADER.FIELDS", b"<0.1>", b"OR", b"NOT",
    b"\x00", b"\xff", b"*", b"%", b"LOGIN", b"APPEND", b"LIST", b"SELECT", b"$", b",", b":", b"+FLAGS",
])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_tokens, max_size=30), st.lists(st.binary(max_size=8), max_size=3))
def test_fuzz_parser_never_crashes(tokens: list[bytes], literals: list[bytes]) -> None:
    """Any input gives a Command or a ParseError/BadCharset, never another exception."""
    parts = [b"".join(tokens)]
    for lit in literals:
        parts += [lit, b""]
    try:
        parse_command(parts)
    except (ParseError, BadCharset):
        pass


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_parser_random_bytes(data: bytes) -> None:
    try:
        parse_command([b"t FETCH " + data])
        parse_command([b"t SEARCH " + data])
        parse_command([data])
    except (ParseError, BadCharset):
        pass


# RFC 9051 section 9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
# quoted-specials / resp-specials; ASTRING-CHAR = ATOM-CHAR / resp-specials.
_RFC_ATOM_SPECIALS = set(b'(){ %*"\\]') | set(range(0x20)) | {0x7F}


@pytest.mark.parametrize("c", range(0x01, 0x80), ids=lambda c: f"{c:02x}")
def test_astring_chars_follow_the_rfc_grammar(c: int) -> None:
    """Each CHAR where an astring may start, in its middle and at its end: an ASTRING-CHAR
    is part of the atom (so "~foo" is a mailbox, literal8 needs "~{", RFC 3516), any
    other is a syntax error or starts a quoted string or literal."""
    ch = bytes([c])
    astring_char = c not in _RFC_ATOM_SPECIALS or ch == b"]"
    for name in (ch + b"foo", b"fo" + ch + b"o", b"foo" + ch):
        if astring_char:
            assert parse(b"a SELECT " + name).args["mailbox"] == name.decode()
        elif not name.startswith(b'"'):
            with pytest.raises(ParseError):
                parse(b"a SELECT " + name)
    # list-mailbox = 1*list-char / string; list-char = ATOM-CHAR / list-wildcards / resp-specials.
    list_char = c not in _RFC_ATOM_SPECIALS or ch in b"%*]"
    for pattern in (b"fo" + ch + b"o", b"foo" + ch):
        if list_char:
            assert parse(b'a LIST "" ' + pattern).args["patterns"] == [pattern.decode()]
        else:
            with pytest.raises(ParseError):
                parse(b'a LIST "" ' + pattern)
    # flag-keyword = atom (RFC 9051 section 9).
    atom_char = c not in _RFC_ATOM_SPECIALS
    if atom_char:
        assert parse(b"a STORE 1 +FLAGS (k" + ch + b"w)").args["flags"] == ["k" + ch.decode() + "w"]
    elif ch != b" ":  # SP separates two flags
        with pytest.raises(ParseError):
            parse(b"a STORE 1 +FLAGS (k" + ch + b"w)")
    # The tag: ASTRING-CHAR except "+".
    if astring_char and ch != b"+":
        assert parse(ch + b"t NOOP").tag == ch.decode() + "t"
    else:
        with pytest.raises(ParseError):
            parse(ch + b"t NOOP")


def test_tilde_starts_a_literal8_only_before_a_brace() -> None:
    assert parse(b"a SELECT ~foo").args["mailbox"] == "~foo"
    assert parse(b"a SELECT ~").args["mailbox"] == "~"
    assert parse(b"a SEARCH SUBJECT ~x").args["key"] == ("SUBJECT", "~x")
    assert parse(b"a APPEND ~box {3}", b"abc", b"").args["mailbox"] == "~box"
    cmd = parse(b"a APPEND INBOX ~{3}", b"a\x00c", b"")
    assert cmd.args["binary"] and cmd.args["message"] == b"a\x00c"
    assert parse(b"a SELECT ~{3}", b"box", b"").args["mailbox"] == "box"


# -- the grammars of CATENATE (RFC 4469), METADATA (RFC 5464), CONTEXT (RFC 5267), NOTIFY (RFC 5465)

_EXT_COMMANDS = [
    [b'a APPEND INBOX (\\Seen) CATENATE (TEXT {3}', b"abc", b' URL "/INBOX/;UID=1/;SECTION=1" URL ";UID=2")'],
    [b'a APPEND INBOX CATENATE (TEXT {3}', b"abc", b") CATENATE (URL {14}", b"/INBOX/;UID=17", b")"],
    [b'a GETMETADATA (MAXSIZE 10 DEPTH infinity) INBOX (/private/comment /shared)'],
    [b'a SETMETADATA "" (/private/a {3}', b"x\r\n", b' /shared/b NIL /shared/c ~{2}', b"\x00\x01", b")"],
    [b'a UID SEARCH RETURN (PARTIAL 1:5 UPDATE COUNT) FLAGGED'],
    [b'a UID SORT RETURN (PARTIAL 5:1 UPDATE) (REVERSE SUBJECT) UTF-8 ALL'],
    [b'a CANCELUPDATE "a1" "b2"'],
    [b'a NOTIFY SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) '
     b'(SUBTREE (Other "T/a") (MessageNew MessageExpunge MailboxName)) (PERSONAL NONE)'],
]


def test_extension_grammars() -> None:
    """Each new grammar reads its RFC's forms (section 5 of RFC 4469 and RFC 5464,
    section 4.4 of RFC 5267, section 8 of RFC 5465)."""
    cat = parse_command(_EXT_COMMANDS[0])
    assert cat.args["messages"][0]["parts"] == [("TEXT", b"abc"), ("URL", "/INBOX/;UID=1/;SECTION=1"),
                                                ("URL", ";UID=2")]
    multi = parse_command(_EXT_COMMANDS[1])
    assert [m["parts"] for m in multi.args["messages"]] == [[("TEXT", b"abc")], [("URL", "/INBOX/;UID=17")]]
    get = parse_command(_EXT_COMMANDS[2])
    assert (get.args["maxsize"], get.args["depth"], get.args["entries"]) == (10, None, ["/private/comment", "/shared"])
    put = parse_command(_EXT_COMMANDS[3])
    assert put.args["values"] == [("/private/a", b"x\r\n"), ("/shared/b", None), ("/shared/c", b"\x00\x01")]
    search = parse_command(_EXT_COMMANDS[4])
    assert (search.args["returns"], search.args["partial"]) == (["PARTIAL", "UPDATE", "COUNT"], (1, 5))
    assert parse_command(_EXT_COMMANDS[5]).args["partial"] == (1, 5)
    assert parse_command(_EXT_COMMANDS[6]).args["tags"] == ["a1", "b2"]
    notify = parse_command(_EXT_COMMANDS[7])
    assert notify.args["status"] and [g["filter"] for g in notify.args["groups"]] == ["SELECTED", "SUBTREE", "PERSONAL"]
    assert notify.args["groups"][1]["mailboxes"] == ["Other", "T/a"]
    assert [a.name for a in notify.args["groups"][0]["fetch"]] == ["UID", "FLAGS"]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(_EXT_COMMANDS), st.integers(0, 400), st.integers(0, 4), st.binary(max_size=4))
def test_fuzz_extension_grammars(parts: list[bytes], cut: int, where: int, junk: bytes) -> None:
    """The new grammars, truncated or with bytes put in anywhere: a Command or a
    ParseError, never another exception."""
    parts = list(parts)
    i = where % len(parts)
    part = parts[i]
    at = cut % (len(part) + 1)
    for variant in ([*parts[:i], part[:at]], [*parts[:i], part[:at] + junk + part[at:], *parts[i + 1:]]):
        try:
            parse_command(variant)
        except (ParseError, BadCharset):
            pass
