"""Service accounts: applications, not people (issue 10). Made with ``congthu service``,
a long random secret made by the system, no first-login change and no expiry, no mailbox:
they receive no mail and log in on no mail door; ``authenticate_service`` (the future
LDAP bind) is their only check."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from typing import Any

from congthu import audit
from congthu.app import App
from tests.accounts.helpers import Clock, congthu, imap_login, pop3_login, smtp_login

DOMAIN = "soctrang.gov.vn"


def secret_of(output: str) -> str:
    return output.split("(shown only once):", 1)[1].split()[0]


def test_service_account_lifecycle_and_no_mail_door(server: Any) -> None:
    added = congthu(server.data_dir, "service", "add", "danhba-ldap", "--description", "sổ địa chỉ / address book")
    assert added.returncode == 0, added.stderr
    secret = secret_of(added.stdout)
    assert len(secret) >= 43  # 256 random bits
    listed = congthu(server.data_dir, "service", "list")
    assert "danhba-ldap" in listed.stdout and "address book" in listed.stdout

    accounts = server.app.accounts
    ok = server.run(accounts.authenticate_service("danhba-ldap", secret, client_ip="127.0.0.1"))
    assert ok.ok and ok.name == "danhba-ldap"
    # No first-login change and no monthly expiry: a year later it still binds.
    clock = Clock(accounts.clock() + timedelta(days=400))
    accounts.clock = clock
    assert server.run(accounts.authenticate_service("danhba-ldap", secret, client_ip="127.0.0.1")).ok

    # Not a person: no mail door knows it, by name or as an address, and it receives no mail.
    for name in ("danhba-ldap", f"danhba-ldap@{DOMAIN}"):
        assert imap_login(server, name, secret).startswith("NO [AUTHENTICATIONFAILED]")
        assert pop3_login(server, name, secret).startswith("-ERR")
        assert smtp_login(server, name, secret).startswith("535")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as mx:
        mx.ehlo("mx.example.org")
        mx.mail("someone@example.org")
        code, _text = mx.rcpt(f"danhba-ldap@{DOMAIN}")
        assert code == 550

    # A wrong secret is refused and audited; a new secret replaces the old one.
    bad = server.run(accounts.authenticate_service("danhba-ldap", secret[:-1] + "x", client_ip="127.0.0.1"))
    assert not bad.ok and bad.code == "AUTHENTICATIONFAILED"
    reset = congthu(server.data_dir, "service", "reset", "danhba-ldap")
    assert reset.returncode == 0, reset.stderr
    new_secret = secret_of(reset.stdout)
    assert not server.run(accounts.authenticate_service("danhba-ldap", secret, client_ip="127.0.0.1")).ok
    assert server.run(accounts.authenticate_service("danhba-ldap", new_secret, client_ip="127.0.0.1")).ok
    actions = [r.action for r in server.run(audit.records(server.app, target="danhba-ldap"))]
    assert actions[:3] == ["service.added", "service.login.ok", "service.login.ok"]
    assert "service.login.failed" in actions and "service.reset" in actions

    removed = congthu(server.data_dir, "service", "remove", "danhba-ldap")
    assert removed.returncode == 0, removed.stderr
    assert not server.run(accounts.authenticate_service("danhba-ldap", new_secret, client_ip="127.0.0.1")).ok
    again = congthu(server.data_dir, "service", "remove", "danhba-ldap")
    assert again.returncode == 1 and "no such service account" in again.stderr


async def test_service_rules(app: App) -> None:
    accounts = app.accounts
    for bad in ("a", "ldap@soctrang.gov.vn", "1ldap", "has space", "x" * 70):
        try:
            await accounts.add_service(bad, actor="test")
        except Exception as exc:
            assert "invalid service account name" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")
    secret = await accounts.add_service("monitor", actor="test")
    try:
        await accounts.add_service("Monitor", actor="test")
    except Exception as exc:
        assert "exists" in str(exc)
    else:
        raise AssertionError("a second 'monitor' was accepted")
    # TLS only (the test data directory allows plaintext over loopback only).
    refused = await accounts.authenticate_service("monitor", secret, client_ip="192.0.2.7", secure=False)
    assert not refused.ok and refused.code == "PRIVACYREQUIRED"
    # Guessing from one address locks that address, then even the right secret waits.
    app.accounts.sleep = _no_sleep
    for i in range(app.settings.login.address_lock_after):
        assert not (await accounts.authenticate_service("monitor", f"guess{i}", client_ip="192.0.2.8")).ok
    locked = await accounts.authenticate_service("monitor", secret, client_ip="192.0.2.8")
    assert not locked.ok and locked.code == "UNAVAILABLE"
    assert (await accounts.authenticate_service("monitor", secret, client_ip="192.0.2.9")).ok
    # It is not a mailbox: the mail login check does not know it.
    result = await accounts.authenticate("monitor", secret, protocol="imap", client_ip="127.0.0.1")
    assert not result.ok and result.mailbox is None


async def _no_sleep(_seconds: float) -> None:
    return None
