"""A session's \\Recent UID ranges (``Selected.recent``, RFC 3501 section 2.3.2) drop a
range once none of its messages is left, and answer as the plain computation over
every range did: random claims by turns (the ranges of other sessions between ours),
appends and expunges, compared at every step with \\Recent taken from all the ranges
ever claimed."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from congthu.imap.namespace import Target
from congthu.imap.selected import Selected
from congthu.store import Folder, MessageMeta


def test_recent_ranges_drop_the_empty_ones_and_answer_as_before() -> None:
    rng = random.Random(7)
    when = datetime(2026, 12, 7, tzinfo=UTC)
    folder = Folder(id=1, mailbox_id=1, name="INBOX", special_use=None, uidvalidity=1, uidnext=1,
                    highestmodseq=1, subscribed=True)
    target = Target(mailbox_id=1, owner="a@soctrang.gov.vn", folder="INBOX", rights="lrswipkxtea", shared=False)
    for _round in range(20):
        sel = Selected(target, folder, False, None)  # type: ignore[arg-type]  # no watch needed here
        claimed: list[tuple[int, int]] = []  # every range this session ever claimed
        next_uid = 1
        for _step in range(300):
            kind = rng.random()
            if kind < 0.4:  # new messages; this session or another claims them
                count = rng.randint(1, 3)
                for uid in range(next_uid, next_uid + count):
                    sel.append(MessageMeta(uid=uid, flags=0, keywords=(), size=1, internal_date=when,
                                           modseq=1, content_id=1))
                if rng.random() < 0.5:
                    sel.recent.append((next_uid, next_uid + count))
                    claimed.append((next_uid, next_uid + count))
                next_uid += count
            elif kind < 0.7 and len(sel):  # an expunge of some messages
                for uid in rng.sample(list(sel.uids), rng.randint(1, min(4, len(sel)))):
                    at = sel.index_of(uid)
                    assert at is not None
                    sel.remove_at(at)
            plain = [i for i, uid in enumerate(sel.uids) if any(s <= uid < e for s, e in claimed)]
            assert sel.recent_count() == len(plain)
            assert list(sel.recent_indexes()) == plain
            assert [i for i in range(len(sel)) if sel.is_recent(sel.uids[i])] == plain
            assert [i for i in range(len(sel)) if "\\Recent" in sel.flag_names(i)] == plain
            # Only ranges with a message left are kept.
            assert all(any(s <= uid < e for uid in sel.uids) for s, e in sel.recent)
