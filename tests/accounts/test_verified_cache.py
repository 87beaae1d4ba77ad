"""Passwords verified lately (congthu/accounts/verified.py): a repeated login skips the
argon2id check, a wrong password never does, and a new password leaves nothing of the
old one usable. Counted on the real argon2 PasswordHasher the accounts use."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher

from congthu.accounts import AuthStatus
from congthu.accounts.verified import VerifiedPasswords
from congthu.app import App

ADDRESS = "ntbinh@soctrang.gov.vn"
PASSWORD = "Mk@12345678"
NEW_PASSWORD = "Kh0ng-Doan-Duoc#2026"


class CountingHasher(PasswordHasher):
    """argon2's own hasher, counting its verify calls."""

    calls = 0

    def verify(self, hash: Any, password: Any) -> bool:  # noqa: A002 - argon2's name
        CountingHasher.calls += 1
        return super().verify(hash, password)


def counting(app: App) -> type[CountingHasher]:
    old = app.accounts.hasher
    app.accounts.hasher = CountingHasher(old.time_cost, old.memory_cost, old.parallelism, old.hash_len,
                                         old.salt_len, type=old.type)
    CountingHasher.calls = 0
    return CountingHasher


async def login(app: App, password: str) -> AuthStatus:
    result = await app.accounts.authenticate(ADDRESS, password, protocol="imap", client_ip="192.0.2.7")
    return result.status


async def test_repeated_login_skips_argon2_wrong_password_never(app: App) -> None:
    box = await app.store.create_mailbox(ADDRESS, "Nguyễn Thanh Bình")
    await app.accounts.set_password(box.id, PASSWORD, must_change=False)
    hasher = counting(app)
    assert await login(app, PASSWORD) is AuthStatus.OK
    first = hasher.calls
    assert first >= 1
    for _ in range(5):
        assert await login(app, PASSWORD) is AuthStatus.OK
    assert hasher.calls == first  # remembered: no argon2id again
    assert await login(app, PASSWORD + "x") is AuthStatus.FAILED
    assert hasher.calls > first  # a wrong password is always checked in full


async def test_new_password_leaves_nothing_of_the_old(app: App) -> None:
    box = await app.store.create_mailbox(ADDRESS, "Nguyễn Thanh Bình")
    await app.accounts.set_password(box.id, PASSWORD, must_change=False)
    assert await login(app, PASSWORD) is AuthStatus.OK
    await app.accounts.set_password(box.id, NEW_PASSWORD, must_change=False)
    assert await login(app, PASSWORD) is AuthStatus.FAILED
    assert await login(app, NEW_PASSWORD) is AuthStatus.OK


async def test_switched_off_and_expiry() -> None:
    now = [1000.0]
    off = VerifiedPasswords(0, clock=lambda: now[0])
    off.remember("$argon2id$h", PASSWORD)
    assert not off.known("$argon2id$h", PASSWORD)
    cache = VerifiedPasswords(60, clock=lambda: now[0])
    cache.remember("$argon2id$h", PASSWORD)
    assert cache.known("$argon2id$h", PASSWORD)
    assert not cache.known("$argon2id$h", PASSWORD + " ")
    assert not cache.known("$argon2id$other", PASSWORD)
    now[0] += 61
    assert not cache.known("$argon2id$h", PASSWORD)
