"""Điều 13.2 password rules: each rule refuses and accepts, with bilingual messages."""

from __future__ import annotations

import pytest

from congthu.accounts import PasswordRejected
from congthu.accounts.passwords import check, common_passwords
from congthu.app import App
from congthu.config import PasswordSettings

S = PasswordSettings()
BINH = {"address": "ntbinh@soctrang.gov.vn", "names": ["Nguyễn Thanh Bình"]}


def rules(password: str, **who: object) -> list[str]:
    return [r.rule for r in check(password, S, **who)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("password", "rule"), [
    ("Ab@1xyz", "length"),  # 7 characters
    ("song@hau7river", "upper"),
    ("SONG@HAU7RIVER", "lower"),
    ("Song@Hau-River", "digit"),
    ("SongHau7River", "special"),
])
def test_each_composition_rule_refuses(password: str, rule: str) -> None:
    assert rules(password, **BINH) == [rule]


def test_a_good_password_passes_every_rule() -> None:
    assert rules("Song@Hau7River", **BINH) == []
    assert rules("Sóc#Trăng9Lúa", **BINH) == []  # accented letters count as letters
    assert rules("Ab@1wxyz", **BINH) == []  # exactly 8 characters


@pytest.mark.parametrize("password", [
    "Binh@2024",  # the given name without accents
    "Bình@2024",  # with accents
    "BÌNH!x2024",
    "2024@NguyenX",  # the family name
    "Thanh#2024z",
    "Ntbinh#2024",  # the address's local part
    "xX1!thanhbinh",  # the name run together
])
def test_personal_names_hidden_in_the_password_are_refused(password: str) -> None:
    assert "personal" in rules(password, **BINH)


def test_personal_rule_is_about_this_user_only() -> None:
    assert rules("Binh@2024z", address="dvthong@soctrang.gov.vn", names=["Đoàn Văn Thông"]) == []
    assert "personal" in rules("Thong@2024", address="dvthong@soctrang.gov.vn", names=["Đoàn Văn Thông"])
    # Đ folds to D: "Doan" is found in "doan" written plainly.
    assert "personal" in rules("Doan#2024x", address="dvthong@soctrang.gov.vn", names=["Đoàn Văn Thông"])


@pytest.mark.parametrize("password", ["Password@123", "P@ssw0rd", "Matkhau@2024", "Qwerty@123", "Iloveyou!1"])
def test_common_passwords_are_refused(password: str) -> None:
    assert "common" in rules(password, address="x@soctrang.gov.vn")


def test_the_shipped_list_is_substantial() -> None:
    words = common_passwords()
    assert len(words) > 3000
    assert {"123456", "password", "matkhau", "anhyeuem"} <= words


def test_messages_are_vietnamese_then_english() -> None:
    refusals = check("abc", S)
    assert {r.rule for r in refusals} >= {"length", "upper", "digit", "special"}
    for r in refusals:
        vi, en = r.message.split(" / ", 1)
        assert "Mật khẩu" in vi and "password" in en


def test_settings_switch_rules_off() -> None:
    relaxed = PasswordSettings(require_special=False, forbid_common=False, forbid_personal=False)
    assert check("Password1", relaxed) == []
    assert [r.rule for r in check("Password1", S)] == ["special", "common"]


async def test_change_password_applies_rules_and_history(app: App) -> None:
    mailbox = await app.store.create_mailbox("ntbinh@soctrang.gov.vn", "Nguyễn Thanh Bình")
    accounts = app.accounts
    await accounts.set_password(mailbox.id, "Start#Pass1", must_change=True)
    with pytest.raises(PasswordRejected) as refused:
        await accounts.change_password(mailbox.id, "Binh@2024", actor="test")
    assert [r.rule for r in refused.value.refusals] == ["personal"]
    assert "tên" in str(refused.value) and "name" in str(refused.value)

    # Five passwords in a row: none of the last five may come back.
    history = ["Start#Pass1"] + [f"Cau{i}#Vong-Mieu" for i in range(1, 5)]
    for password in history[1:]:
        await accounts.change_password(mailbox.id, password, actor="test")
    for old in history:
        with pytest.raises(PasswordRejected) as refused:
            await accounts.change_password(mailbox.id, old, actor="test")
        assert [r.rule for r in refused.value.refusals] == ["history"]
    # A sixth change pushes the oldest out of the history: it is accepted again.
    await accounts.change_password(mailbox.id, "Cau5#Vong-Mieu", actor="test")
    await accounts.change_password(mailbox.id, "Start#Pass1", actor="test")
    cred = await accounts.credential(mailbox.id)
    assert cred is not None and not cred.must_change


def test_one_time_passwords_pass_the_rules_and_survive_a_spreadsheet() -> None:
    """Generated first passwords meet Điều 13.2 and are written unchanged into the import's
    password files: none begins like a spreadsheet formula (which would be escaped)."""
    from congthu.accounts.generated import one_time_password
    from congthu.directory.spreadsheet import csv_cell, is_formula_like

    for _ in range(2000):
        password = one_time_password()
        assert not check(password, PasswordSettings())
        assert not is_formula_like(password) and csv_cell(password) == password
