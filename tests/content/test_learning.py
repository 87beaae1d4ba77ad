"""Junk moves teach rspamd's Bayes for the user (Điều 9.9), against the private rspamd
with its private Redis (``daemons.py``)."""

from __future__ import annotations

import imaplib
import json
import time
import urllib.request

import pytest

from congthu.app import App
from congthu.content import learning
from congthu.content import rspamd as rspamd_client
from tests.conftest import make_data_dir
from tests.content import documents
from tests.content.daemons import Rspamd
from tests.smtp.conftest import start_server

SPAM_WORDS = "Khuyến mãi lớn, trúng thưởng xe máy, nhấn vào liên kết để nhận quà ngay hôm nay"
HAM_WORDS = "Kính gửi các phòng ban, lịch họp giao ban tuần này chuyển sang chiều thứ Năm"


def _learned(rspamd: Rspamd) -> int:
    with urllib.request.urlopen(f"{rspamd.controller}/stat", timeout=10) as answer:
        return int(json.loads(answer.read())["learned"])


async def test_moves_to_and_from_junk_teach_rspamd(tmp_path, rspamd: Rspamd):
    if not rspamd.redis_port:
        pytest.fail("redis-server not installed: rspamd's Bayes needs Redis (apt-get install redis-server)")
    user = "vanthu@soctrang.gov.vn"
    data = await make_data_dir(tmp_path / "data", content={"rspamd": rspamd.url,
                                                           "rspamd_controller": rspamd.controller})
    app = await App.open(data)
    try:
        before = _learned(rspamd)
        for i in range(3):
            spam = documents.message(f"km{i}@example.net", user, f"Trúng thưởng {i}", f"{SPAM_WORDS} {i}")
            ham = documents.message(f"vp{i}@soctrang.gov.vn", user, f"Lịch họp {i}", f"{HAM_WORDS} {i}")
            assert await learning.teach(app, user, spam.as_bytes(), spam=True)
            assert await learning.teach(app, user, ham.as_bytes(), spam=False)
        assert _learned(rspamd) == before + 6
        # The user's own statistics now score a like message.
        like = documents.message("km9@example.net", user, "Trúng thưởng", SPAM_WORDS).as_bytes()
        checked = await rspamd_client.check(rspamd.url, like, seconds=30, ip="127.0.0.1", recipients=[user])
        assert "BAYES_SPAM" in checked.symbols
    finally:
        await app.close()


async def test_learning_off_or_controller_down(tmp_path):
    data = await make_data_dir(tmp_path / "data")
    app = await App.open(data)
    try:
        assert await learning.teach(app, "a@soctrang.gov.vn", b"Subject: x\r\n\r\nx\r\n", spam=True) is False
    finally:
        await app.close()
    data = await make_data_dir(tmp_path / "data2", content={"rspamd_controller": "http://127.0.0.1:9",
                                                            "timeout": 2.0})
    app = await App.open(data)
    try:
        assert await learning.teach(app, "a@soctrang.gov.vn", b"Subject: x\r\n\r\nx\r\n", spam=True) is False
    finally:
        await app.close()


def _learned_reaches(rspamd: Rspamd, count: int, seconds: float = 30.0) -> int:
    """rspamd's learned count once it reaches ``count`` (learning runs in the background)."""
    deadline = time.monotonic() + seconds
    while (learned := _learned(rspamd)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return learned


def test_imap_move_into_and_out_of_junk_teaches_rspamd(tmp_path, dns_server, rspamd: Rspamd):
    """A real IMAP client (imaplib) moves mail into Junk and back: each message moved is
    learnt once, as spam into Junk and as ham out of it; a move between other folders
    teaches nothing."""
    if not rspamd.redis_port:
        pytest.fail("redis-server is not installed: rspamd's Bayes needs Redis (apt-get install redis-server)")
    user = "hocthu@soctrang.gov.vn"
    server = start_server(tmp_path / "data", dns_server, content={"rspamd_controller": rspamd.controller,
                                                                 "timeout": 10.0})
    try:
        box = server.add_user(user, "Mk@12345678")
        for i in range(3):
            raw = documents.message(f"km{i}@example.net", user, f"Trúng thưởng lần {i}", f"{SPAM_WORDS} {i}")
            server.run(server.app.store.deliver(raw.as_bytes(), [box]))
        before = _learned(rspamd)
        client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
        client.login(user, "Mk@12345678")
        junk = next(line.split(b' "/" ')[-1].decode().strip('"') for line in client.list()[1]
                    if b"\\Junk" in line)
        client.select("INBOX")
        assert client.uid("MOVE", "1:3", junk)[0] == "OK"
        assert _learned_reaches(rspamd, before + 3) == before + 3
        client.select(junk)
        assert client.uid("MOVE", "1", "INBOX")[0] == "OK"
        assert _learned_reaches(rspamd, before + 4) == before + 4
        client.select("INBOX")
        assert client.create("Rieng")[0] == "OK"  # a folder that is not Junk
        assert client.uid("COPY", "1:*", "Rieng")[0] == "OK"
        time.sleep(1.0)
        assert _learned(rspamd) == before + 4
        client.logout()
    finally:
        server.stop()
