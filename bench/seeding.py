"""A benchmark's big Inbox, seeded quickly: one real message is appended (its blob, its
MIME analysis), then ``count - 1`` more rows are written in bulk sharing that body and
structure, each with its own subject, sender, date and size, stored as a delivery stores
them (the folded header fields and search text, the message list's sort keys); the search
index follows by its triggers. Used by bench/imap.py and bench/web.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import insert, update

from congthu.app import App
from congthu.store.listing import sort_keys
from congthu.store.tables import contents, folders, mailboxes, messages
from congthu.text import fold

PASSWORD = "Mk@12345678"
RECIPIENT = "canbo@soctrang.gov.vn"
TOPICS = ["Đề án chuyển đổi số", "Kế hoạch cải cách hành chính", "Báo cáo tình hình kinh tế",
          "Lịch họp giao ban", "Quyết định bổ nhiệm", "Thông báo nghỉ lễ", "Công tác phòng chống lụt bão",
          "Hội nghị trực tuyến", "Tuyển dụng viên chức", "Kiểm tra an toàn thông tin"]
START = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 5000


class Seeded(NamedTuple):
    """What sets one seeded message apart from the others."""

    subject: str
    sender: str
    extra_size: int = 0  # bytes added to the row's size (the body stays the shared one)
    earlier_minutes: int = 0  # how much older than its place in the folder its date is


def official_letter(i: int) -> Seeded:
    """The plain series: letter ``i`` from the secretariat, in order of arrival."""
    return Seeded(f"Công văn số {i}/UBND về {TOPICS[i % len(TOPICS)]}", "Văn thư UBND <vanthu@soctrang.gov.vn>")


def sample_message() -> bytes:
    """The one real message: a 1.5 KB Vietnamese letter in UTF-8."""
    body = ("Kính gửi các cơ quan, đơn vị.\r\n" * 40).encode()
    return (b"From: =?utf-8?b?VsSDbiB0aMawIFVCTkQ=?= <vanthu@soctrang.gov.vn>\r\n"
            b"To: <canbo@soctrang.gov.vn>\r\nSubject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n"
            b"Date: Mon, 2 Mar 2026 08:30:00 +0700\r\nMessage-ID: <bench@soctrang.gov.vn>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)


async def seed_inbox(app: App, address: str, count: int, describe: Callable[[int], Seeded] = official_letter,
                     *, salt: str = "bench") -> int:
    """Create the mailbox ``address`` (password PASSWORD) whose Inbox holds ``count``
    messages, message ``i`` (1 .. count - 1) as ``describe(i)`` says; return the Inbox's id.
    ``salt`` keeps two benches' made-up content hashes apart."""
    box = await app.store.create_mailbox(address, quota_bytes=1 << 40)
    await app.accounts.set_password(box.id, PASSWORD, must_change=False)
    inbox = await app.store.get_folder(box.id, "INBOX")
    assert inbox is not None
    raw = sample_message()
    await app.store.append(inbox.id, raw)  # writes the blob and one real row
    first = (await app.store.folder_index(inbox.id))[0]
    proto = await app.store.get_content(first.content_id)
    structure, segments = json.dumps(proto.structure), json.dumps(proto.segments)  # as congthu.mime made them

    def content_row(i: int, seeded: Seeded) -> dict[str, Any]:
        subject, sender = seeded.subject, seeded.sender
        return {"sha256": hashlib.sha256(f"{salt}-{i}".encode()).hexdigest(), "size": len(raw),
                "segments": segments, "structure": structure, "subject": subject,
                "from_addr": sender, "to_addr": RECIPIENT, "cc_addr": "",
                "sent_date": START + timedelta(minutes=i), "message_id": f"<{i}@bench>",
                # As congthu.mime.search makes it: subject, addresses, text.
                "search_text": fold(f"{subject} {sender} {RECIPIENT} Kính gửi các cơ quan số {i}"),
                # What congthu.mime.analyse folds at delivery for SEARCH SUBJECT/FROM/TO/CC.
                "subject_key": fold(subject), "from_key": fold(sender), "to_key": fold(RECIPIENT), "cc_key": "",
                "refcount": 1, "created_at": START}

    def message_row(i: int, seeded: Seeded, content_id: int, content: dict[str, Any]) -> dict[str, Any]:
        sort_subject, sort_from = sort_keys(content["subject"], content["from_key"])  # as every writer stores them
        return {"folder_id": inbox.id, "uid": i + 1, "content_id": content_id, "flags": 1 if i % 3 else 0,
                "keywords": "", "size": len(raw) + seeded.extra_size, "modseq": 2,
                "sort_subject": sort_subject, "sort_from": sort_from,
                "internal_date": START + timedelta(minutes=i - seeded.earlier_minutes)}

    def fill(conn: Any) -> None:  # the bench's own bulk rows, in one write transaction
        for base in range(1, count, BATCH):
            seeded = [(i, describe(i)) for i in range(base, min(base + BATCH, count))]
            rows_c = [content_row(i, s) for i, s in seeded]
            content_ids = [r[0] for r in conn.execute(insert(contents).returning(contents.c.id), rows_c)]
            conn.execute(insert(messages), [message_row(i, s, cid, row) for (i, s), cid, row
                                            in zip(seeded, content_ids, rows_c, strict=True)])
        conn.execute(update(folders).where(folders.c.id == inbox.id).values(uidnext=count + 1, highestmodseq=3))
        conn.execute(update(mailboxes).where(mailboxes.c.id == box.id).values(used_bytes=count * len(raw)))

    await app.db.run_write(fill)
    return inbox.id
