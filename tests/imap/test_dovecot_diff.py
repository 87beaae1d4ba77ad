"""Differential tests (issue 12): congthu and a private Dovecot 2.3 get the same messages
through APPEND (``corpus.py``) and then the same commands; the tagged statuses and the
untagged data must be the same once what legitimately differs is normalised
(``dovecot.normalise``). A difference is allowed only when ``docs/imap.md`` lists it with
a reason; such commands are left out of the lists here and tested on their own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import pytest

from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User
from tests.imap.corpus import MESSAGES

_users = itertools.count(1)


class Pair:
    """A logged-in connection to each server, the corpus appended to both INBOXes."""

    def __init__(self, ours: dv.Conversation, theirs: dv.Conversation, user: User, dovecot_user: str,
                 dovecot_port: int) -> None:
        self.ours, self.theirs = ours, theirs
        self.user, self.dovecot_user, self.dovecot_port = user, dovecot_user, dovecot_port

    def second(self) -> Pair:
        """Another session of the same users (for changes seen by another session)."""
        return Pair(dv.login(self.user.server.port("imap"), self.user.address, PASSWORD),
                    dv.login(self.dovecot_port, self.dovecot_user, dv.PASSWORD),
                    self.user, self.dovecot_user, self.dovecot_port)

    def run(self, commands: Sequence[str | bytes]) -> tuple[list[dv.Reply], list[dv.Reply]]:
        return self.ours.run(commands), self.theirs.run(commands)

    def check(self, commands: Sequence[str | bytes], modseq: bool = False) -> None:
        ours, theirs = self.run(commands)
        diff = dv.differences(ours, theirs, modseq)
        assert not diff, "\n".join(diff)

    def close(self) -> None:
        self.ours.close()
        self.theirs.close()


@pytest.fixture
def pair(user: User, dovecot: dv.Dovecot) -> Iterator[Pair]:
    name = f"diff{next(_users)}@soctrang.gov.vn"
    p = Pair(dv.login(user.server.port("imap"), user.address, PASSWORD),
             dv.login(dovecot.port, name, dv.PASSWORD), user, name, dovecot.port)
    for date, flags, raw in MESSAGES:
        p.check([dv.append_command("INBOX", raw, date, flags)])
    try:
        yield p
    finally:
        p.close()


SEARCH_KEYS = [
    "ALL", "ANSWERED", "UNANSWERED", "DELETED", "UNDELETED", "DRAFT", "UNDRAFT", "FLAGGED",
    "UNFLAGGED", "SEEN", "UNSEEN", "RECENT", "NEW", "OLD", "KEYWORD $Work", "UNKEYWORD $Work",
    "KEYWORD $Forwarded", # Internal date, calendar days in the server's zone (RFC 9051 section 6.4.4).
    "BEFORE 2-Mar-2026", "ON 2-Mar-2026", "SINCE 2-Mar-2026", "ON 1-Mar-2026", "ON 3-Mar-2026",
    "ON 4-Mar-2026", "ON 5-Mar-2026", "BEFORE 5-Mar-2026", "SINCE 6-Mar-2026",
    # The Date field's date in its own zone.
    "SENTON 1-Mar-2026", "SENTON 2-Mar-2026", "SENTBEFORE 2-Mar-2026", "SENTSINCE 2-Mar-2026",
    "SENTON 3-Mar-2026", "SENTON 4-Mar-2026", "SENTON 5-Mar-2026", "SENTON 6-Mar-2026",
    "SENTSINCE 5-Mar-2026", "SENTBEFORE 4-Mar-2026", "SENTON 28-Feb-2026", "SENTON 25-Feb-2026",
    "LARGER 600", "SMALLER 600", "LARGER 100000",
    "SUBJECT cong", "SUBJECT \"bao cao\"", "SUBJECT fwd", "SUBJECT \"\"", "SUBJECT Inner",
    "FROM nvbinh", "FROM \"Tran Thi\"", "FROM soctrang", "FROM inner", "FROM zzz",
    "TO pth", "TO \"Group Lanh Dao\"", "TO b@soctrang", "TO undisclosed", "TO other",
    "CC zeta", "CC alpha", "CC \"Nhom Ke Toan\"", "CC kt1", "BCC bimat", "BCC nothing",
    "HEADER X-Extra another", "HEADER X-Extra \"\"", "HEADER x-extra VALUE", "HEADER X-Empty \"\"",
    "HEADER X-Missing \"\"", "HEADER Message-ID m3", "HEADER In-Reply-To m1", "HEADER Subject \"re:\"",
    "HEADER Content-Type multipart", "HEADER From \"\"", "HEADER Date \"not a date\"",
    "BODY \"noi dung\"", "BODY soft", "BODY \"softbreak\"", "BODY \"equals = sign\"",
    "BODY attachedsecret", "BODY nestedword", "BODY htmlonlyword",
    "BODY quychehoatdong", "BODY \"Inner subject\"", "BODY Subject",
    "TEXT \"Bao cao\"", "TEXT nvbinh", "TEXT quychehoatdong", "TEXT \"X-Extra\"",
    "TEXT attachedsecret", "TEXT nestedword", "TEXT \"Le B\"",
    "1", "2:4", "*", "3:*", "1,3,5", "UID 2:4", "UID 1,7", "UID 100", "UID 5:100",
    "NOT SEEN", "OR SEEN FLAGGED", "NOT OR SEEN FLAGGED", "(SEEN) (ANSWERED)", "(OR SEEN DRAFT) NOT 1",
    "OLDER 1", "YOUNGER 1", "NOT FROM soctrang SINCE 1-Mar-2026",
]

# Keys where we find more than an exact substring search (accents, white space: see
# docs/imap.md): what Dovecot finds must be found too.
SUPERSET_KEYS = ["BODY naive", "BODY \"Bao cao\"", "TEXT \"Cong van\"", "TEXT \"Bao cao\"", "SUBJECT \"cong van\"",
                 "BODY \"noi   dung\"", "TEXT nghi", "BODY \"quyet dinh\""]

OUT_OF_RANGE = ["10", "5:10", "UID 10:20", "RETURN () 10", "RETURN (COUNT) 5:10", "RETURN () ALL",
                "RETURN (MIN MAX COUNT) ALL", "RETURN (ALL) 2:4", "RETURN (COUNT) 100:200"]

SORT_CRITERIA = ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO",
                 "REVERSE DATE", "REVERSE SUBJECT", "SUBJECT DATE", "REVERSE ARRIVAL", "FROM REVERSE SIZE"]


def _utf8(key: str, text: str) -> bytes:
    data = text.encode()
    return f"SEARCH CHARSET UTF-8 {key} {{{len(data)}}}\r\n".encode() + data


def test_search_every_key(pair: Pair) -> None:
    pair.check(["SELECT INBOX"])
    pair.check([f"SEARCH {key}" for key in SEARCH_KEYS])
    pair.check([_utf8("BODY", "naïve"), _utf8("BODY", "café"), _utf8("TEXT", "Thủ tục"), _utf8("BODY", "Nghị định"),
                _utf8("SUBJECT", "Cong"), _utf8("HEADER X-Extra", "another")])
    pair.check([f"UID SEARCH {key}" for key in SEARCH_KEYS])


def _numbers(reply: dv.Reply) -> set[int]:
    (line,) = [x for x in reply.untagged if x.startswith(b"* SEARCH")]
    return {int(n) for n in line.split()[2:]}


def test_search_finds_a_superset_of_exact_substrings(pair: Pair) -> None:
    """Accent- and white-space-insensitive matching finds everything Dovecot's exact
    (case-insensitive) substring search finds."""
    pair.check(["SELECT INBOX"])
    ours, theirs = pair.run([f"SEARCH {key}" for key in SUPERSET_KEYS])
    for a, b in zip(ours, theirs, strict=True):
        assert a.tagged.startswith(b"OK") and b.tagged.startswith(b"OK")
        assert _numbers(a) >= _numbers(b), (a.command, _numbers(a), _numbers(b))
    assert _numbers(ours[0]) == {3} and _numbers(ours[1]) == {2}


def test_search_unknown_keyword(pair: Pair) -> None:
    """A keyword no message has: nothing / everything. Dovecot also defines the keyword in
    the mailbox (an untagged FLAGS); we do not (docs/imap.md)."""
    pair.check(["SELECT INBOX"])
    ours, theirs = pair.run(["SEARCH KEYWORD nosuchkeyword", "SEARCH UNKEYWORD nosuchkeyword"])
    for a, b in zip(ours, theirs, strict=True):
        assert a.tagged.startswith(b"OK") and b.tagged.startswith(b"OK")
        assert _numbers(a) == _numbers(b)


def test_search_sequence_beyond_the_count(pair: Pair) -> None:
    """A sequence set beyond the message count is not an error (Dovecot answers OK)."""
    pair.check(["SELECT INBOX"])
    pair.check([f"SEARCH {key}" for key in OUT_OF_RANGE])


def test_sort_every_key(pair: Pair) -> None:
    pair.check(["SELECT INBOX"])
    pair.check([f"SORT ({c}) UTF-8 ALL" for c in SORT_CRITERIA])
    pair.check([f"UID SORT ({c}) UTF-8 NOT DELETED" for c in SORT_CRITERIA])


def test_thread_both_algorithms(pair: Pair) -> None:
    pair.check(["SELECT INBOX"])
    pair.check(["THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL",
                "UID THREAD ORDEREDSUBJECT UTF-8 ALL", "UID THREAD REFERENCES UTF-8 SINCE 2-Mar-2026"])


FETCH_ITEMS = [
    "BODY.PEEK[]", "BODY.PEEK[1]", "BODY.PEEK[2]", "BODY.PEEK[1.1]", "BODY.PEEK[1.2]", "BODY.PEEK[1.MIME]",
    "BODY.PEEK[3]", "BODY.PEEK[3.HEADER]", "BODY.PEEK[3.TEXT]", "BODY.PEEK[3.1]", "BODY.PEEK[2.MIME]",
    "BODY.PEEK[HEADER.FIELDS (Subject From)]", "BODY.PEEK[TEXT]<0.20>", "BODY.PEEK[1]<5.10>",
    "BINARY.PEEK[1]", "BINARY.PEEK[1.1]", "BINARY.PEEK[2]", "BINARY.PEEK[3.1]",
    "BINARY.SIZE[1]", "BINARY.SIZE[1.1]", "BINARY.SIZE[2]", "BINARY.SIZE[3.1]",
    "RFC822.SIZE", "INTERNALDATE", "ENVELOPE", "FLAGS", "UID", "BODYSTRUCTURE", "BODY",
    "BODY.PEEK[HEADER]", "RFC822.HEADER", "BODY.PEEK[HEADER.FIELDS.NOT (Subject Date)]", "BODY.PEEK[3.MIME]",
    "BODY.PEEK[1.2.MIME]", "BINARY.PEEK[1.2]", "BODY.PEEK[1.2]<2.5>", "BINARY.PEEK[1.1]<3.5>",
]


# Listed in docs/imap.md: the body of a multipart part ends before the CRLF of the next
# boundary (RFC 2046 section 5.1.1), Dovecot keeps that CRLF; BINARY of a multipart part
# is its bytes as they are for us, Dovecot decodes the parts inside.
# And Dovecot's ENVELOPE subject has runs of white space made one; ours is the field as
# it is (RFC 9051 section 7.5.2).
# BODYSTRUCTURE: Dovecot counts a part's lines as its line ends (0 for the parts of 4
# that end where the boundary's CRLF begins), we its lines (1); Dovecot writes the
# default charset of RFC 2045 section 5.2 into a text part that has none (5, 6);
# BINARY.SIZE of a message/rfc822 part: Dovecot decodes the message inside.
MULTIPART_SECTIONS = {(4, "BODY.PEEK[1]"), (4, "BINARY.PEEK[1]"), (4, "BINARY.SIZE[1]"), (6, "ENVELOPE"),
                      (4, "BODYSTRUCTURE"), (4, "BODY"), (5, "BODYSTRUCTURE"), (5, "BODY"),
                      (6, "BODYSTRUCTURE"), (6, "BODY"), (4, "BINARY.SIZE[3]")}


def test_fetch_sections(pair: Pair) -> None:
    """Sections of every message, nested multiparts, the empty part (4: BODY[2]),
    sections that do not exist (an empty string, as Dovecot)."""
    pair.check(["SELECT INBOX"])
    pair.check([f"FETCH {n} ({item})" for n in range(1, len(MESSAGES) + 1) for item in FETCH_ITEMS
                if (n, item) not in MULTIPART_SECTIONS])
    # The empty part is a zero-length literal from both (clients expect "{0}").
    ours, theirs = pair.run(["FETCH 4 (BODY.PEEK[2])", "FETCH 4 (BINARY.PEEK[2])"])
    assert [r.untagged for r in ours] == [r.untagged for r in theirs] == [
        [b"* 4 FETCH (BODY[2] {0}\r\n)"], [b"* 4 FETCH (BINARY[2] {0}\r\n)"]]


def test_list_and_lsub_patterns(pair: Pair) -> None:
    """Patterns with % and *, LSUB's \\Noselect parents (RFC 3501 section 6.3.9), the
    LIST-EXTENDED options (RFC 5258). Not compared (docs/imap.md): the parent made by
    CREATE T/a is a mailbox for us (RFC 9051 section 6.3.4 lets the server create it),
    a \\Noselect directory for Dovecot."""
    pair.check(["CREATE T/a", "CREATE T/a/b", "CREATE T/c", "CREATE T/d", "SUBSCRIBE T/a/b",
                "SUBSCRIBE T/c"])
    pair.check([
        'LIST "" T/%', 'LIST "" T/*', 'LIST "" T/%/%', 'LIST T/ %', 'LIST "" t/A', 'LIST "" T/%/b',
        'LSUB "" T/%', 'LSUB "" T/*', 'LSUB "" T', 'LSUB "" T/%/%', 'LSUB "" T/a',
        'LSUB "" T/a/%',
        'LIST (SUBSCRIBED) "" T/*', 'LIST (SUBSCRIBED) "" T/%', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" T/%',
        'LIST "" T/* RETURN (CHILDREN)', 'LIST "" T/% RETURN (CHILDREN SUBSCRIBED)',
        'LIST "" T/* RETURN (SUBSCRIBED)', 'LIST "" T/% RETURN (NOSUCHOPTION)',
        'LIST "" (T/a T/c)',
    ])


def test_keywords_announced_before_fetch(pair: Pair) -> None:
    """RFC 9051 section 7.3.5: FLAGS (and PERMANENTFLAGS) before a FETCH shows a new keyword,
    whether this session or another introduced it."""
    pair.check(["SELECT INBOX"])
    pair.check(["STORE 1 +FLAGS (newkw1)", "FETCH 1 FLAGS"])
    other = pair.second()
    try:
        other.check(["SELECT INBOX", "STORE 2 +FLAGS (newkw2)"])
        pair.check(["NOOP", "FETCH 2 FLAGS"])
        raw = b"Subject: x\r\n\r\nbody\r\n"
        other.check([dv.append_command("INBOX", raw, "07-Mar-2026 10:00:00 +0700", "newkw3")])
        pair.check(["NOOP", "FETCH 8 FLAGS"])
        # Another session takes a known keyword off every message and brings a new one:
        # the FLAGS announcing it still lists the one taken off (imaptest's "Keyword
        # dropped, but it still had N references" otherwise), as Dovecot's does.
        other.check(["STORE 1 -FLAGS (newkw1)", "STORE 3 +FLAGS (newkw4)"])
        pair.check(["NOOP", "FETCH 1 FLAGS"])
    finally:
        other.close()


def test_condstore_enabled_by_fetch_modseq(pair: Pair) -> None:
    """RFC 7162 section 3.1: FETCH MODSEQ enables CONDSTORE: HIGHESTMODSEQ then, MODSEQ in
    the FETCH responses of later changes."""
    pair.check(["SELECT INBOX"])
    pair.check(["FETCH 1 (FLAGS MODSEQ)", "STORE 1 +FLAGS (\\Answered)", "FETCH 2 (FLAGS)"])
    other = pair.second()
    try:
        other.check(["SELECT INBOX", "STORE 3 +FLAGS (\\Seen)"])
        pair.check(["NOOP"])
    finally:
        other.close()


def test_condstore_enabled_by_search_modseq(pair: Pair) -> None:
    pair.check(["SELECT INBOX"])
    pair.check(["SEARCH MODSEQ 1", "STORE 1 +FLAGS (\\Answered)"])


def test_fetch_of_a_message_expunged_by_another_session(pair: Pair) -> None:
    """RFC 9051 section 7.4.1, RFC 2180 section 4.1.1: the data still at hand is returned
    (Dovecot does), no NO [EXPUNGEISSUED]; the EXPUNGE comes at the next NOOP."""
    pair.check(["SELECT INBOX", "FETCH 2 (RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject)])"])
    other = pair.second()
    try:
        other.check(["SELECT INBOX", "STORE 2:3 +FLAGS (\\Deleted)"])
        pair.check(["NOOP"])
        other.check(["EXPUNGE"])
        pair.check(["FETCH 2 (UID FLAGS)", "FETCH 2 (RFC822.SIZE ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject)])",
                    # Never fetched, so neither server has the text: NIL, OK [EXPUNGEISSUED].
                    "FETCH 3 (UID BODY.PEEK[TEXT])", "NOOP", "FETCH 2 (UID RFC822.SIZE)"])
    finally:
        other.close()


def test_multiappend(pair: Pair) -> None:
    """RFC 3502: several messages in one APPEND, all stored or none."""
    from tests.imap.test_conformance import multiappend

    pair.check([multiappend("T1", ("\\Seen", "", MESSAGES[0][2])), "CREATE T1",
                multiappend("T1", ("\\Seen", "", MESSAGES[0][2]), ("\\Flagged $Work", "07-Feb-1994 22:43:04 -0800",
                                                                    MESSAGES[1][2])),
                multiappend("T1", ("", "", MESSAGES[2][2]), ("", "", b"")),
                # The first message has no date, so each server gives its own "now": the
                # two may be a second apart.
                "EXAMINE T1", "FETCH 1 (FLAGS RFC822.SIZE)", "FETCH 2:* (FLAGS INTERNALDATE RFC822.SIZE)"])


def test_esearch_esort_and_searchres(pair: Pair) -> None:
    """RFC 4731 ESEARCH, RFC 5267 ESORT, RFC 5182 SEARCHRES."""
    pair.check(["SELECT INBOX"])
    pair.check(["SEARCH RETURN (MIN MAX COUNT ALL) NOT DELETED", "UID SEARCH RETURN (ALL) SINCE 2-Mar-2026",
                "SEARCH RETURN (COUNT) KEYWORD $Work", "SEARCH RETURN (MIN) NOT ALL",
                "SORT RETURN (ALL COUNT MIN MAX) (SUBJECT) UTF-8 ALL",
                "SEARCH RETURN (SAVE) OR FLAGGED ANSWERED", "FETCH $ (UID FLAGS)", "SEARCH $ SEEN",
                "UID SEARCH RETURN (SAVE) SUBJECT cong", "UID FETCH $ (FLAGS)", "SEARCH NOT $"])


def test_subscriptions_outlive_their_mailboxes(pair: Pair) -> None:
    """RFC 9051 sections 6.3.7-6.3.8 and RFC 5258 section 3.4: a subscription is a name;
    DELETE leaves it, and LIST (SUBSCRIBED) shows the name \\NonExistent (LSUB without
    attributes), a parent of such a name gets CHILDINFO; CREATE again finds it
    subscribed; UNSUBSCRIBE removes it, and is OK for a name never subscribed; SUBSCRIBE
    needs the mailbox."""
    pair.check(["CREATE S", "CREATE S/a", "CREATE S/b", "CREATE S/b/c", "CREATE S/d", "SUBSCRIBE S/a",
                "SUBSCRIBE S/b/c", "SUBSCRIBE S/d", "DELETE S/a", "DELETE S/b/c"])
    pair.check(['LIST (SUBSCRIBED) "" S/*', 'LIST (SUBSCRIBED) "" S/%', 'LSUB "" S/*', 'LSUB "" S/%',
                'LSUB "" S/b/%', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" S/%', 'LIST (SUBSCRIBED) "" S/* RETURN (CHILDREN)',
                'LIST "" S/* RETURN (SUBSCRIBED)', 'LIST "" S/* RETURN (SUBSCRIBED CHILDREN)',
                'LIST (SUBSCRIBED) "" S/a RETURN (STATUS (MESSAGES))', "STATUS S/a (MESSAGES)",
                "CREATE S/a", 'LIST "" S/a RETURN (SUBSCRIBED)', "DELETE S/a", "UNSUBSCRIBE S/a", 'LSUB "" S/*',
                "UNSUBSCRIBE S/never", "UNSUBSCRIBE S/never", "SUBSCRIBE S/nosuch", 'LIST (SUBSCRIBED) "" S/*'])


def _today_here() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d-%b-%Y")


def test_savedate_and_preview(pair: Pair) -> None:
    """RFC 8514 SAVEDATE (the save date searched by its day in the server's zone; FETCH
    SAVEDATE compared as instants, each server saved at its own moment) and RFC 8970
    PREVIEW of every message of the corpus."""
    from datetime import datetime

    pair.check(["SELECT INBOX", "CREATE T2", "COPY 2:3 T2"])
    today = _today_here()
    pair.check([f"SEARCH {key}" for key in ("SAVEDATESUPPORTED", f"SAVEDON {today}", f"SAVEDSINCE {today}",
                                            f"SAVEDBEFORE {today}", "SAVEDBEFORE 1-Jan-2000", "NOT SAVEDON 1-Jan-2000")])
    pair.check([f"FETCH {n} (PREVIEW)" for n in range(1, len(MESSAGES) + 1)] + ["FETCH 1:3 (PREVIEW (LAZY))"])
    ours, theirs = pair.run(["EXAMINE T2", "FETCH 1:* (SAVEDATE)"])
    for a, b in zip(ours[1].untagged, theirs[1].untagged, strict=True):
        when = [datetime.strptime(x.split(b'"')[1].decode(), "%d-%b-%Y %H:%M:%S %z") for x in (a, b)]
        assert abs((when[0] - when[1]).total_seconds()) < 120, (a, b)
