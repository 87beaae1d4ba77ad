"""Where a large message is analysed (``smtp.delivery.analyse``, issue 13): an all-ASCII
one (here its text and attachment in base64) in a worker thread, one with 8-bit bytes
(the same text as 8bit) in the analysis process. Either way the store holds what
``mime.analyse`` gives for the message as delivered."""

from __future__ import annotations

import email.policy
import json
import smtplib
from email.message import EmailMessage

from congthu import mime
from congthu.smtp import delivery
from congthu.store.model import Content, MessageMeta
from tests.conftest import ServerThread
from tests.smtp.conftest import messages

BOB = "ntbinh@soctrang.gov.vn"
OUTSIDE = "vanthu@cantho.gov.vn"
TEXT = "Kính gửi các cơ quan, đơn vị: báo cáo tình hình thực hiện nhiệm vụ tháng 11.\n"


def _message(n: int, cte: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Văn thư <{OUTSIDE}>"
    msg["To"] = BOB
    msg["Subject"] = f"Báo cáo số {n}"
    msg.set_content(TEXT * 4000, charset="utf-8", cte=cte)  # some 340 KB of Vietnamese
    msg.add_attachment(bytes(range(256)) * 400, maintype="application", subtype="octet-stream",
                       filename="Số liệu.bin")
    return msg.as_bytes(policy=email.policy.SMTP)


def test_ascii_message_analysed_in_a_thread_8bit_in_the_process(mx) -> None:
    bob = mx.add_user(BOB)
    seven, eight = _message(1, "base64"), _message(2, "8bit")
    assert seven.isascii() and not eight.isascii()
    assert min(len(seven), len(eight)) > delivery.PROCESS_ANALYSIS
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.sendmail(OUTSIDE, [BOB], seven)
    assert mx.app.smtp._pool is None  # no analysis process started for it
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.sendmail(OUTSIDE, [BOB], eight)
    assert mx.app.smtp._pool is not None

    async def contents(ids: list[int]) -> list[Content]:
        return [await mx.app.store.get_content(content_id) for content_id in ids]

    raws = messages(mx, bob)  # oldest first, as the contents below
    rows = mx.run(contents([m.content_id for m in mx.run(_index(mx, bob))]))
    assert [content.subject for content in rows] == ["Báo cáo số 1", "Báo cáo số 2"]
    for raw, content in zip(raws, rows, strict=True):
        local = mime.analyse(raw)
        assert (content.subject, content.from_addr, content.to_addr, content.preview, content.sent_date) == (
            local.subject, local.from_addr, local.to_addr, local.preview, local.sent_date)
        assert content.structure == json.loads(local.structure_json)


async def _index(server: ServerThread, mailbox_id: int) -> list[MessageMeta]:
    folder = await server.app.store.get_folder(mailbox_id, "INBOX")
    assert folder is not None
    return await server.app.store.folder_index(folder.id)
