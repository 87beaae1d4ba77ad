"""First login, monthly expiry and reminders (Điều 13.2); plaintext refusal; rehash on login."""

from __future__ import annotations

import email
import email.header
import email.policy
import http.cookiejar
import io
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import Any

import pytest

from congthu import audit
from congthu.accounts import AuthStatus, make_hasher
from congthu.accounts.jobs import send_reminders
from congthu.app import App
from congthu.cli import CommandError
from tests.accounts.helpers import Clock, cli
from tests.folders import folder_messages

ADDRESS = "ntbinh@soctrang.gov.vn"
NAME = "Nguyễn Thanh Bình"


def auth(server: Any, password: str, protocol: str = "imap", address: str = ADDRESS) -> Any:
    return server.run(server.app.accounts.authenticate(address, password, protocol=protocol,
                                                       client_ip="127.0.0.1", secure=False))


class Page:
    """A browser for the change-password page: cookies, the form's token, real HTTP."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/doi-mat-khau"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self) -> tuple[int, str]:
        with self.opener.open(self.url, timeout=30) as response:
            return response.status, response.read().decode()

    def token(self) -> str:
        _status, html = self.get()
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        assert match, html
        return match.group(1)

    def post(self, fields: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(fields).encode()
        try:
            with self.opener.open(urllib.request.Request(self.url, data=data), timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def test_first_login_must_change_then_cli_change(server: Any, monkeypatch: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # (tests/accounts/test_doors.py runs `congthu user passwd` as its own process.)
    def command(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            return server.run(cli(server.app, *argv))
        except CommandError as exc:
            print(exc, file=sys.stderr)
            return exc.code

    server.add_user(ADDRESS, "Mot#LanDau1", name=NAME, must_change=True)
    first = auth(server, "Mot#LanDau1")
    assert first.status is AuthStatus.EXPIRED and first.code == "EXPIRED"
    assert "/doi-mat-khau" in first.message and "hết hạn" in first.message
    for protocol in ("pop3", "smtp", "ldap"):
        assert auth(server, "Mot#LanDau1", protocol).status is AuthStatus.EXPIRED

    assert command("user", "passwd", ADDRESS, "--password-stdin", stdin="Binh@2024\n") == 1
    err = capsys.readouterr().err
    assert "không được chứa tên" in err and "must not contain your name" in err
    assert auth(server, "Mot#LanDau1").status is AuthStatus.EXPIRED

    assert command("user", "passwd", ADDRESS, "--password-stdin", stdin="Song@Hau7River\n") == 0
    for protocol in ("imap", "pop3", "smtp"):
        result = auth(server, "Song@Hau7River", protocol)
        assert result.ok, result
        assert result.mailbox.address == ADDRESS
    assert auth(server, "Mot#LanDau1").status is AuthStatus.FAILED

    # An administrator's reset gives a new one-time password that must be changed again.
    capsys.readouterr()
    assert command("user", "reset", ADDRESS) == 0
    match = re.search(r"one-time password for \S+: (\S+)", capsys.readouterr().out)
    assert match
    one_time = match.group(1)
    assert auth(server, one_time).status is AuthStatus.EXPIRED
    assert auth(server, "Song@Hau7River").status is AuthStatus.FAILED


def test_change_on_the_page(server: Any) -> None:
    server.add_user(ADDRESS, "Mot#LanDau1", name=NAME, must_change=True)
    assert auth(server, "Mot#LanDau1").status is AuthStatus.EXPIRED
    page = Page(server.port("http"))
    status, html = page.get()
    assert status == 200 and "Đổi mật khẩu" in html and "<script" not in html

    good = {"address": ADDRESS, "current": "Mot#LanDau1", "new": "Song@Hau7River", "confirm": "Song@Hau7River"}
    # No or a wrong token: refused (CSRF), nothing changed.
    page.token()
    status, html = page.post({**good, "csrf": "forged"})
    assert status == 403 and "không hợp lệ" in html
    # A cross-site POST without the cookie is refused too.
    other = Page(server.port("http"))
    status, _ = other.post({**good, "csrf": page.token()})
    assert status == 403

    status, html = page.post({**good, "confirm": "Song@Hau7Rivet", "csrf": page.token()})
    assert status == 400 and "không khớp" in html
    status, html = page.post({**good, "current": "Sai#MatKhau9", "csrf": page.token()})
    assert status == 400 and "Sai địa chỉ hoặc mật khẩu" in html
    status, html = page.post({**good, "new": "Binh@2024", "confirm": "Binh@2024", "csrf": page.token()})
    assert status == 400 and "không được chứa tên" in html
    # What the user typed is escaped, never interpreted.
    status, html = page.post({**good, "address": '<b onmouseover="x">@soctrang.gov.vn', "csrf": page.token()})
    assert status == 400 and "<b onmouseover" not in html and "&lt;b onmouseover" in html

    status, html = page.post({**good, "csrf": page.token()})
    assert status == 200, html
    assert "Đã đổi mật khẩu" in html
    for protocol in ("imap", "pop3", "smtp"):
        assert auth(server, "Song@Hau7River", protocol).ok
    assert auth(server, "Mot#LanDau1").status is AuthStatus.FAILED
    changes = server.run(audit.records(server.app, action="password.changed"))
    assert [(r.actor, r.target) for r in changes] == [(ADDRESS, ADDRESS)]
    assert changes[0].client.startswith("web 127.0.0.1")


async def test_expiry_after_31_days_and_reminders_on_days_23_and_29(app: App) -> None:
    clock = Clock()
    app.accounts.clock = clock
    start = clock.now
    mailbox = await app.store.create_mailbox(ADDRESS, NAME)
    await app.accounts.set_password(mailbox.id, "Mot#LanDau1", must_change=True)
    await app.accounts.change_password(mailbox.id, "Song@Hau7River", actor=ADDRESS)
    assert (await app.accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap",
                                            client_ip="127.0.0.1")).ok

    sent_on: list[int] = []
    for day in range(1, 32):
        clock.now = start + timedelta(days=day, minutes=5)
        if await send_reminders(app):
            sent_on.append(day)
        # A second run on the same day sends nothing more.
        assert await send_reminders(app) == 0
    assert sent_on == [23, 29]

    raws = await folder_messages(app.store, mailbox.id)
    assert len(raws) == 2
    for raw, days, day in zip(raws, (7, 1), (23, 29), strict=True):
        assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0].lower()  # RFC 2047 encoded subject
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        unit = "day" if days == 1 else "days"
        assert msg["Subject"] == f"Mật khẩu sắp hết hạn sau {days} ngày / Your password expires in {days} {unit}"
        assert msg["To"] == ADDRESS and msg["Message-ID"] and msg["Date"]
        assert msg["Date"].datetime.date() == (start + timedelta(days=day)).date()
        assert "/doi-mat-khau" in msg.get_content()

    # Day 31: refused everywhere, with the way to change it.
    for protocol in ("imap", "pop3", "smtp", "web"):
        result = await app.accounts.authenticate(ADDRESS, "Song@Hau7River", protocol=protocol, client_ip="127.0.0.1")
        assert result.status is AuthStatus.EXPIRED, protocol
        assert "/doi-mat-khau" in result.message
    # Changing it starts a new month.
    await app.accounts.change_password(mailbox.id, "Cau#Vong-Mieu7", actor=ADDRESS)
    assert (await app.accounts.authenticate(ADDRESS, "Cau#Vong-Mieu7", protocol="imap", client_ip="127.0.0.1")).ok


async def test_plaintext_only_over_tls_or_dev_loopback(app: App) -> None:
    mailbox = await app.store.create_mailbox(ADDRESS, NAME)
    await app.accounts.set_password(mailbox.id, "Song@Hau7River", must_change=False)
    accounts = app.accounts
    assert app.settings.system.dev_allow_plaintext_loopback
    assert (await accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="127.0.0.1",
                                        secure=False)).ok
    assert (await accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="::1",
                                        secure=False)).ok
    remote = await accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="203.0.113.9",
                                         secure=False)
    assert remote.status is AuthStatus.FAILED and remote.code == "PRIVACYREQUIRED" and remote.mailbox is None
    assert (await accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="203.0.113.9",
                                        secure=True)).ok
    app.settings.system.dev_allow_plaintext_loopback = False  # production
    local = await accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="127.0.0.1",
                                        secure=False)
    assert local.code == "PRIVACYREQUIRED"
    refused = await audit.records(app, action="login.refused")
    assert len(refused) == 2 and refused[0].details["reason"] == "tls-required"


async def test_rehash_on_login_when_argon2_parameters_change(app: App) -> None:
    mailbox = await app.store.create_mailbox(ADDRESS, NAME)
    await app.accounts.set_password(mailbox.id, "Song@Hau7River", must_change=False)
    before = await app.accounts.credential(mailbox.id)
    assert before is not None and "t=1" in before.password_hash
    app.settings.passwords.argon2_time_cost = 2
    app.accounts.hasher = make_hasher(app.settings.passwords)
    assert (await app.accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="127.0.0.1")).ok
    after = await app.accounts.credential(mailbox.id)
    assert after is not None and "t=2" in after.password_hash and after.password_hash != before.password_hash
    assert after.changed_at == before.changed_at  # a rehash is not a password change
    assert (await app.accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="127.0.0.1")).ok
    oks = await audit.records(app, action="login.ok")
    assert [r.details.get("rehashed", False) for r in oks] == [True, False]


async def test_disabled_mailbox_is_told_only_with_the_right_password(app: App) -> None:
    mailbox = await app.store.create_mailbox(ADDRESS, NAME)
    await app.accounts.set_password(mailbox.id, "Song@Hau7River", must_change=False)
    await app.store.update_mailbox(mailbox.id, status="revoked")
    right = await app.accounts.authenticate(ADDRESS, "Song@Hau7River", protocol="imap", client_ip="127.0.0.1")
    assert right.status is AuthStatus.DISABLED
    wrong = await app.accounts.authenticate(ADDRESS, "Sai#MatKhau9", protocol="imap", client_ip="127.0.0.1")
    assert wrong.status is AuthStatus.FAILED
    unknown = await app.accounts.authenticate("nobody@soctrang.gov.vn", "Sai#MatKhau9", protocol="imap",
                                              client_ip="127.0.0.1")
    assert unknown.status is AuthStatus.FAILED and unknown.message == wrong.message
