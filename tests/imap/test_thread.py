"""THREAD=REFERENCES and THREAD=ORDEREDSUBJECT (RFC 5256 section 3) and the base subject
(section 2.1): message sets built to exercise each step, with the exact THREAD response
expected (worked out by hand from the RFC's text), through a real server and imaplib."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from congthu.imap.threads import ThreadMessage, references, render
from congthu.mime.subjects import base_subject, subject_base
from congthu.text import fold
from tests.imap.conftest import message


def _day(n: int) -> datetime:
    return datetime(2026, 3, 1, 8, 0, tzinfo=UTC).replace(day=n)


def _deliver(user, items: list[tuple[str | None, str, int, dict[str, str]]]) -> None:  # type: ignore[no-untyped-def]
    """(Message-ID, subject, day of the Date field, other fields) in sequence order."""
    for mid, subject, day, extra in items:
        if mid is None:  # no Message-ID field at all
            raw = (f"From: a@soctrang.gov.vn\r\nSubject: {subject}\r\n"
                   f"Date: {day:02d} Mar 2026 08:00:00 +0000\r\n"
                   + "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\nx\r\n").encode()
            user.deliver(raw)
        else:
            user.deliver(message(subject, "x", message_id=mid, date=_day(day), extra=extra))


def _thread(user, algorithm: str = "REFERENCES", *criteria: str, uid: bool = False) -> bytes:  # type: ignore[no-untyped-def]
    c = user.client()
    c.select("INBOX")
    if uid:
        typ, data = c.uid("THREAD", algorithm, "UTF-8", *(criteria or ("ALL",)))
    else:
        typ, data = c.thread(algorithm, "UTF-8", *(criteria or ("ALL",)))
    assert typ == "OK", data
    c.logout()
    return data[0] or b""


def test_references_links_prunes_and_sorts(user) -> None:
    _deliver(user, [
        ("<a@x>", "Họp giao ban", 1, {}),
        ("<b@x>", "Re: Họp giao ban", 3, {"References": "<a@x>"}),
        # Step 1.A: <b@x> already has a parent, kept; 1.B: <b@x> is this one's parent.
        ("<c@x>", "Re: Họp giao ban", 4, {"References": "<a@x> <b@x>"}),
        ("<d@x>", "Re: Họp giao ban", 2, {"References": "<a@x>"}),  # sorted before 2 (step 6)
        # A missing parent: a dummy with two children stays at the top (step 3).
        ("<e@x>", "Báo cáo quý", 5, {"References": "<missing@x>"}),
        ("<f@x>", "Re: Báo cáo quý", 6, {"References": "<missing@x>"}),
        # A dummy with one child at the top: the child takes its place (step 3).
        ("<g@x>", "Công văn lẻ", 7, {"References": "<gone@x>"}),
        # No References: the first Message ID of In-Reply-To is the only reference.
        ("<h@x>", "Re: Re: Họp giao ban", 8, {"In-Reply-To": "<c@x> <a@x>"}),
        # A loop: each names the other; the second cannot become the first's child.
        ("<l1@x>", "Vòng lặp", 9, {"References": "<l2@x>"}),
        ("<l2@x>", "Re: Vòng lặp", 10, {"References": "<l1@x>"}),
    ])
    assert _thread(user) == b"(1 (4)(2 3 8))((5)(6))(7)(10 9)"
    # Only the searched messages take part: without 2 and 4, 3 hangs under a dummy
    # <b@x> below 1, which step 3 removes (3 takes its place).
    assert _thread(user, "REFERENCES", "NOT", "2,4") == b"(1 3 8)((5)(6))(7)(10 9)"
    assert _thread(user, "REFERENCES", "UID", "5:7", uid=True) == b"((5)(6))(7)"


def test_references_merges_by_subject_step_5(user) -> None:
    _deliver(user, [
        ("<p1@x>", "Họp giao ban", 2, {}),
        ("<p2@x>", "Re: Họp giao ban", 3, {}),  # a reply: becomes a child of 1
        ("<q1@x>", "HOP GIAO BAN", 4, {}),  # not a reply either: a dummy takes 1 and 3
        ("<r1@x>", "[Fwd: Họp giao ban]", 5, {}),  # joins the dummy
        ("<s1@x>", "Họp giao ban (fwd)", 6, {}),  # joins the dummy
        ("<t1@x>", "Lịch công tác", 7, {}),
        ("<t2@x>", "Re: Lịch công tác", 1, {}),  # earlier, but a reply: child of 6
    ])
    assert _thread(user) == b"((1 2)(3)(4)(5))(6 7)"
    assert _thread(user, "ORDEREDSUBJECT") == b"(7 6)(1 (2)(3)(4)(5))"


def test_references_merges_two_dummies(user) -> None:
    _deliver(user, [
        ("<u1@x>", "Kế hoạch", 1, {"References": "<lost1@x>"}),
        ("<u2@x>", "Re: Kế hoạch", 2, {"References": "<lost1@x>"}),
        ("<v1@x>", "Kế hoạch", 3, {"References": "<lost2@x>"}),
        ("<v2@x>", "Re: Kế hoạch", 4, {"References": "<lost2@x>"}),
        ("<w1@x>", "Re: Kế hoạch", 5, {}),
        ("<z1@x>", "", 6, {}),  # an empty subject is never merged
        ("<z2@x>", "Re:", 7, {}),
    ])
    assert _thread(user) == b"((1)(2)(3)(4)(5))(6)(7)"
    assert _thread(user, "ORDEREDSUBJECT") == b"(1 (2)(3)(4)(5))(6 7)"


def test_references_duplicate_and_missing_ids_truncation_and_loops(user) -> None:
    _deliver(user, [
        ("<dup@x>", "Tờ trình", 1, {}),
        ("<dup@x>", "Tờ trình khác", 2, {}),  # a duplicate: gets a unique ID of its own
        ("<k1@x>", "Re: Tờ trình", 3, {"References": "<dup@x>"}),  # child of 1, the first
        (None, "Re: Tờ trình", 4, {"References": '<"dup"@x>'}),  # quoted form: the same ID
        ("<x2@x>", "Re: Tờ trình", 5, {"References": "<k1@x>"}),
        # Step 1.A keeps <x2@x>'s existing parent; 1.B puts this one under <x2@x>.
        ("<x3@x>", "Re: Tờ trình", 6, {"References": "<dup@x> <x2@x>"}),
        # A reference loop inside one field and a self-reference: no hang, no loop.
        ("<y9@x>", "Vòng", 7, {"References": "<y1@x> <y2@x> <y1@x> <y9@x>"}),
        ("<bad>", "Không hợp lệ", 8, {"References": "<not-an-id> <also bad>"}),
    ])
    assert _thread(user) == b"(1 (3 5 6)(4))(2)(7)(8)"


def test_references_deep_chain_has_no_recursion_limit() -> None:
    """A reply chain far deeper than Python's recursion limit (the algorithm itself: the
    IMAP wiring is the same as above): steps 1 to 6 and the rendering do not recurse."""
    day = _day(1)
    chain = [ThreadMessage(1, (day, 1), "Chuỗi dài", "<n1@x>")]
    for n in range(2, 5001):
        chain.append(ThreadMessage(n, (day, n), "Re: Chuỗi dài", f"<n{n}@x>", [f"<n{n - 1}@x>"]))
    found = references(reversed(chain))  # children before parents: links made by 1.A
    assert len(found) == 1
    assert render(found[0], lambda uid: uid) == "(" + " ".join(str(n) for n in range(1, 5001)) + ")"


@pytest.mark.parametrize(("subject", "base", "reply"), [
    ("Họp giao ban", "Họp giao ban", False),
    ("Re: Họp giao ban", "Họp giao ban", True),
    ("RE [2]: Fwd: Họp", "Họp", True),
    ("Re:Re:  re :  x", "x", True),
    ("  Re: \t x  ", "x", True),
    ("Fw: x", "x", True),
    ("FWD[3]: x", "x", True),
    ("[Sở TT&TT] Re: Thông báo", "Thông báo", True),  # *subj-blob subj-refwd: a leader
    ("[Sở TT&TT] Thông báo", "Thông báo", False),  # step 4: a blob before the text
    ("[PATCH]", "[PATCH]", False),  # step 4: not if nothing would be left
    ("Re: [x]", "[x]", True),
    ("[fwd: Re: Công văn]", "Công văn", True),  # step 6, then again from step 2
    ("[Fwd: [fwd: x]]", "x", True),
    ("Re: [fwd: x] đuôi", "đuôi", True),  # a blob, not a subj-fwd: the text follows it
    ("Công văn (fwd) (FWD)", "Công văn", True),  # step 2, repeated
    ("(fwd)", "", True),
    ("Report: doanh thu", "Report: doanh thu", False),  # "re" must be followed by [WSP] ":"
    ("Tra lời: x", "Tra lời: x", False),  # only the RFC's markers (exactly this algorithm)
])
def test_base_subject(subject: str, base: str, reply: bool) -> None:
    assert subject_base(subject) == (base, reply)
    # Beyond RFC 5256 (documented): the key SORT and THREAD compare is folded.
    assert base_subject(subject) == fold(base)


def test_base_subject_key_folds_accents_and_case() -> None:
    key = base_subject("Họp giao ban")
    assert key == "hop giao ban"
    assert base_subject("RE: HỌP  GIAO BAN") == base_subject("Fwd: hop giao ban (fwd)") == key
