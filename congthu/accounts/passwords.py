"""The password rules of Điều 13.2, each refusal said in Vietnamese and English.

Rules (each a setting in ``[passwords]``, defaults from the regulation):

- at least ``min_length`` (8) characters, with an upper-case letter, a lower-case letter,
  a digit and a special character (anything that is neither letter nor digit);
- not containing the user's name or address, compared without accents and case, so
  ``Binh@2024`` is refused for Nguyễn Thanh Bình (``ntbinh@...``);
- not in the shipped list of common passwords (``data/common-passwords.txt``), also when
  only digits and signs were added around a listed word (``Password@123``);
- not one of the last ``history`` (5) passwords (checked by the caller against the
  stored hashes, see ``Accounts.change_password``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from congthu.config import PasswordSettings
from congthu.text import fold, nfc

COMMON_FILE = Path(__file__).parent / "data" / "common-passwords.txt"

# Shorter name parts ("Lê", "Vũ", "An") would refuse far too many good passwords.
_MIN_PERSONAL_PART = 3


@dataclass(frozen=True)
class Refusal:
    rule: str  # "length", "upper", "lower", "digit", "special", "personal", "common", "history"
    message: str  # Vietnamese / English


class PasswordRejected(Exception):
    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        super().__init__("; ".join(r.message for r in refusals))


def _messages(settings: PasswordSettings) -> dict[str, str]:
    return {
        "length": f"Mật khẩu phải có ít nhất {settings.min_length} ký tự / "
                  f"the password must have at least {settings.min_length} characters",
        "upper": "Mật khẩu phải có chữ hoa / the password must contain an upper-case letter",
        "lower": "Mật khẩu phải có chữ thường / the password must contain a lower-case letter",
        "digit": "Mật khẩu phải có chữ số / the password must contain a digit",
        "special": "Mật khẩu phải có ký tự đặc biệt (như @ # ! -) / "
                   "the password must contain a special character (such as @ # ! -)",
        "personal": "Mật khẩu không được chứa tên hoặc địa chỉ thư của bạn (kể cả không dấu) / "
                    "the password must not contain your name or address (with or without accents)",
        "common": "Mật khẩu quá phổ biến, dễ bị đoán / the password is too common and easy to guess",
        "history": f"Mật khẩu không được trùng {settings.history} mật khẩu gần nhất / "
                   f"the password must differ from your last {settings.history} passwords",
    }


def message(rule: str, settings: PasswordSettings) -> str:
    return _messages(settings)[rule]


@functools.cache
def common_passwords() -> frozenset[str]:
    words = set()
    for line in COMMON_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line.lower())
    return frozenset(words)


_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def is_common(password: str) -> bool:
    """In the list as typed, without accents, or with the digits and signs around it removed."""
    words = common_passwords()
    lowered = nfc(password).lower()
    folded = fold(password).replace(" ", "")
    core = _EDGES.sub("", folded)
    return lowered in words or folded in words or (len(core) >= 4 and core in words)


def personal_parts(address: str, names: Iterable[str]) -> set[str]:
    """The folded pieces of the user's names and address a password must not contain."""
    parts: set[str] = set()
    local = address.split("@", 1)[0]
    for piece in [local, *re.split(r"[^0-9a-z]+", fold(local))]:
        piece = fold(piece)
        if len(piece) >= _MIN_PERSONAL_PART:
            parts.add(piece)
    for name in names:
        words = fold(name).split()
        for word in words:
            if len(word) >= _MIN_PERSONAL_PART:
                parts.add(word)
        if len(words) > 1:
            parts.add("".join(words))  # "thanhbinh" hidden inside a password
    return parts


def contains_personal(password: str, address: str, names: Iterable[str]) -> bool:
    folded = fold(password).replace(" ", "")
    return any(part in folded for part in personal_parts(address, names))


def _special(c: str) -> bool:
    return not c.isalnum() or unicodedata.category(c).startswith(("P", "S"))


def check(password: str, settings: PasswordSettings, *, address: str = "",
          names: Iterable[str] = ()) -> list[Refusal]:
    """Every rule the password breaks (empty: acceptable, history aside)."""
    msgs = _messages(settings)
    failed: list[str] = []
    password = nfc(password)
    if len(password) < settings.min_length:
        failed.append("length")
    if settings.require_upper and not any(c.isupper() for c in password):
        failed.append("upper")
    if settings.require_lower and not any(c.islower() for c in password):
        failed.append("lower")
    if settings.require_digit and not any(c.isdigit() for c in password):
        failed.append("digit")
    if settings.require_special and not any(_special(c) for c in password):
        failed.append("special")
    if settings.forbid_personal and contains_personal(password, address, names):
        failed.append("personal")
    if settings.forbid_common and is_common(password):
        failed.append("common")
    return [Refusal(rule, msgs[rule]) for rule in failed]
