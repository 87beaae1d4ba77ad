"""Content addressing: an attachment sent to many mailboxes is stored once, while every
mailbox's quota counts it in full (Điều 8.1)."""

from __future__ import annotations

import base64
import functools
import os
from email.message import EmailMessage

from congthu.app import App

TEN_MB = 10 * 1024 * 1024


PLACEHOLDER = b"@@attachment-placeholder@@"


@functools.lru_cache(maxsize=2)
def _base64(attachment: bytes) -> bytes:
    return base64.encodebytes(attachment)


def message_with(attachment: bytes, number: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "vanthu@soctrang.gov.vn"
    msg["To"] = f"user{number}@soctrang.gov.vn"
    msg["Subject"] = f"Công văn số {number}"
    msg.set_content("Kính gửi các đơn vị.")
    # The email package takes about a second to encode 10 MB: encode the attachment once
    # and put it in place of a small one (the same base64 lines email would write).
    msg.add_attachment(PLACEHOLDER, maintype="application", subtype="pdf", filename="Công văn.pdf")
    raw = msg.as_bytes()
    assert raw.count(base64.encodebytes(PLACEHOLDER)) == 1
    return raw.replace(base64.encodebytes(PLACEHOLDER), _base64(attachment))


async def test_one_message_to_100_mailboxes_is_stored_once(app: App) -> None:
    ids = [(await app.store.create_mailbox(f"u{i}@soctrang.gov.vn")).id for i in range(100)]
    before = app.store.blobs.size()
    raw = message_with(os.urandom(TEN_MB), 0)
    results = await app.store.deliver(raw, ids)
    assert all(r.ok for r in results)
    grown = app.store.blobs.size() - before
    assert len(raw) <= grown < len(raw) * 1.05
    for mailbox_id in ids[:3] + ids[-3:]:
        assert (await app.store.quota(mailbox_id))[0] == len(raw)


async def test_same_attachment_in_100_different_messages_is_stored_once(app: App) -> None:
    attachment = os.urandom(TEN_MB)
    encoded_size = len(base64.encodebytes(attachment))
    before = app.store.blobs.size()
    total = 0
    for i in range(100):
        mailbox = await app.store.create_mailbox(f"v{i}@soctrang.gov.vn")
        raw = message_with(attachment, i)
        total += len(raw)
        [result] = await app.store.deliver(raw, [mailbox.id])
        assert result.ok
        assert (await app.store.quota(mailbox.id))[0] == len(raw)
        inbox = await app.store.get_folder(mailbox.id, "INBOX")
        assert inbox is not None
        [meta] = await app.store.folder_index(inbox.id)
        if i % 33 == 0:
            assert await app.store.read_message(meta.content_id) == raw
    grown = app.store.blobs.size() - before
    # About one copy of the (base64) attachment plus 100 small header/text pieces.
    assert grown < encoded_size * 1.1, (grown, encoded_size, total)
