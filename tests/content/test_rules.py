"""Content rules: Điều 7.7 foreign free-mail, Điều 7.8/13.3 classified markings, Điều 8.1
attachment size."""

from __future__ import annotations

import pytest

from congthu.config import Settings
from congthu.content import rules as policy


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.mark.parametrize("subject", [
    "[MẬT] Kế hoạch phòng chống lụt bão",
    "(Mật) Báo cáo tình hình",
    "TỐI MẬT: phương án",
    "Tài liệu tuyệt mật về dự án",
    "V/v báo cáo — Độ mật: Mật",
    "MẬT - Công văn số 12",
    "Công văn số 12 - MẬT",
    "[TUYỆT MẬT]",
    "tối  mật",  # any case, any spacing
])
def test_classified_markings_found(settings, subject):
    assert policy.classified_marking(settings, [subject]) is not None
    refusal = policy.check_message(settings, subject, [])
    assert refusal is not None and refusal.rule == "7.8" and refusal.code == 550


@pytest.mark.parametrize("subject", [
    "Đổi mật khẩu hộp thư",
    "ĐỔI MẬT KHẨU",
    "Bí mật kinh doanh của doanh nghiệp",  # a word of the text, not a marking
    "Mật ong Sóc Trăng",
    "Quan hệ mật thiết giữa hai đơn vị",
    "Mật mã học",
    "",
])
def test_ordinary_words_are_not_markings(settings, subject):
    assert policy.classified_marking(settings, [subject]) is None
    assert policy.check_message(settings, subject, []) is None


def test_marking_in_attachment_name(settings):
    refusal = policy.check_message(settings, "Báo cáo", [("[MẬT] ke-hoach.pdf", 100)])
    assert refusal is not None and refusal.rule == "7.8"


def test_attachment_size_decoded(settings):
    mb = 1024 * 1024
    assert policy.check_message(settings, "x", [("a.pdf", 15 * mb)]) is None
    refusal = policy.check_message(settings, "x", [("Báo cáo.pdf", 15 * mb + 1)])
    assert refusal is not None and (refusal.code, refusal.status) == (552, "5.3.4")
    assert "Báo cáo.pdf" in refusal.text and "Điều 8.1" in refusal.text
    assert refusal.smtp_reply(utf8=False).isascii()


def test_foreign_freemail(settings):
    assert policy.foreign_freemail_domain(settings, "a@gmail.com") == "gmail.com"
    assert policy.foreign_freemail_domain(settings, "a@mail.yahoo.com") == "yahoo.com"
    assert policy.foreign_freemail_domain(settings, "a@cantho.gov.vn") is None
    refusal = policy.check_recipient(settings, "a@GMAIL.com")
    assert refusal is not None and refusal.rule == "7.7"
    settings.policy.foreign_freemail_action = "warn"
    assert policy.check_recipient(settings, "a@gmail.com") is None
    settings.policy.foreign_freemail_action = "allow"
    assert policy.check_recipient(settings, "a@gmail.com") is None
