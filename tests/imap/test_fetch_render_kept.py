"""FETCH items made once: ENVELOPE, BODYSTRUCTURE and BODY are kept with the content
however many header cuts a client asked for first (``cmd_fetch.render``: imaptest's
random HEADER.FIELDS lists used to fill the message's share, and the structure items were
made again at every FETCH), and the text of a UTC date-time is made once per value
(``response.date_time``), never given for an equal instant in another zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from congthu.imap.response import date_time
from tests.imap.conftest import User, message

FIELDS = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "References", "In-Reply-To", "Delivered-To"]


def test_structure_items_kept_after_many_header_cuts(user: User) -> None:
    uid = user.deliver(message("Thông báo", "Nội dung thông báo."))
    c = user.client()
    c.select("INBOX")
    # Nine different field lists: more than the share of items a message keeps.
    for n in range(len(FIELDS)):
        typ, _data = c.uid("FETCH", str(uid), f"(BODY.PEEK[HEADER.FIELDS ({' '.join(FIELDS[:n + 1])})])")
        assert typ == "OK"
    answers = []
    for _ in range(2):
        typ, data = c.uid("FETCH", str(uid), "(ENVELOPE BODYSTRUCTURE)")
        assert typ == "OK" and data[0] is not None
        answers.append(data[0])
    assert answers[0] == answers[1]
    assert re.search(rb"ENVELOPE \(.*Th", answers[0]) and b"BODYSTRUCTURE (" in answers[0]
    kept = {att.name for k in user.server.app.imap.known.values() for (att, _utf8) in k.items}
    assert {"ENVELOPE", "BODYSTRUCTURE"} <= kept
    c.logout()


def test_date_time_of_equal_instants_in_other_zones() -> None:
    utc = datetime(2026, 12, 7, 6, 0, 5, tzinfo=UTC)
    hanoi = utc.astimezone(timezone(timedelta(hours=7)))
    assert utc == hanoi  # equal, and equal hashes: not one cache entry for both
    for _ in range(2):
        assert date_time(utc) == b'"07-Dec-2026 06:00:05 +0000"'
        assert date_time(hanoi) == b'"07-Dec-2026 13:00:05 +0700"'
    assert date_time(datetime(2026, 12, 7, 6, 0, 5)) == b'"07-Dec-2026 06:00:05 +0000"'  # naive: UTC
