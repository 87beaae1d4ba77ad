"""Junk moves teach rspamd's Bayes for the user (Điều 9.9), against the private rspamd
with its private Redis (``daemons.py``)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from congthu.app import App
from congthu.content import learning
from congthu.content import rspamd as rspamd_client
from tests.conftest import make_data_dir
from tests.content import documents
from tests.content.daemons import Rspamd

SPAM_WORDS = "Khuyến mãi lớn, trúng thưởng xe máy, nhấn vào liên kết để nhận quà ngay hôm nay"
HAM_WORDS = "Kính gửi các phòng ban, lịch họp giao ban tuần này chuyển sang chiều thứ Năm"


def _learned(rspamd: Rspamd) -> int:
    with urllib.request.urlopen(f"{rspamd.controller}/stat", timeout=10) as answer:
        return int(json.loads(answer.read())["learned"])


async def test_moves_to_and_from_junk_teach_rspamd(tmp_path, rspamd: Rspamd):
    if not rspamd.redis_port:
        pytest.skip("redis-server not installed: rspamd's Bayes needs Redis (apt-get install redis-server)")
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
