"""Applications behind one address (an application server, a NAT): failures count per
(address, account), so one user's stale password or one misconfigured application locks
only that account from there; a higher per-address cap over every account still stops
one password sprayed across many accounts (``congthu/accounts/lockout.py``).

Each step goes through the real doors with real clients (imaplib, smtplib, ldap3), all
from 127.0.0.1: the one login check (``Accounts.authenticate``) holds the rule for every
door."""

from __future__ import annotations

from typing import Any

from ldap3 import NONE, Connection, Server

from congthu import audit
from tests.accounts.helpers import congthu, imap_login, smtp_login

HOA = "tthoa@soctrang.gov.vn"
BINH = "ntbinh@soctrang.gov.vn"
PASSWORD = "Song@Hau7River"  # imaplib sends LOGIN in ASCII


def ldap_bind(server: Any, address: str, password: str) -> str:
    """A simple bind by mail address (loopback: plaintext allowed in development mode)."""
    conn = Connection(Server("127.0.0.1", port=server.port("ldap"), get_info=NONE), user=address,
                      password=password, receive_timeout=30)
    conn.open()
    try:
        conn.bind()
        return f"{conn.result['result']} {conn.result['message']}"
    finally:
        conn.unbind()


def every_door(server: Any, address: str, password: str) -> dict[str, str]:
    return {"imap": imap_login(server, address, password), "smtp": smtp_login(server, address, password),
            "ldap": ldap_bind(server, address, password)}


def ok(answers: dict[str, str]) -> bool:
    return (answers["imap"].startswith("OK") and answers["smtp"] == "235"
            and answers["ldap"].startswith("0 "))


def locked(answers: dict[str, str]) -> bool:
    return ("UNAVAILABLE" in answers["imap"] and answers["smtp"].startswith("454")
            and answers["ldap"].startswith("49 ") and "Tạm khóa" in answers["ldap"])


def prepare(server: Any, **login: Any) -> None:
    settings = server.app.settings.login
    settings.delay_base_seconds, settings.max_delay_seconds, settings.alert_on_lock = 0.001, 0.002, False
    for name, value in login.items():
        setattr(settings, name, value)
    server.add_user(HOA, PASSWORD, name="Trần Thị Hoa")
    server.add_user(BINH, PASSWORD, name="Nguyễn Thanh Bình")


def test_one_account_failing_locks_only_that_account_from_the_address(server: Any) -> None:
    prepare(server, address_lock_after=4)
    # One application keeps an old password for Hoa: failures on IMAP, SMTP and LDAP.
    answers = [imap_login(server, HOA, "Cu#MatKhau1"), smtp_login(server, HOA, "Cu#MatKhau2"),
               ldap_bind(server, HOA, "Cu#MatKhau3"), imap_login(server, HOA, "Cu#MatKhau4")]
    assert answers[0].startswith("NO") and answers[1].startswith("535") and answers[2].startswith("49 ")
    # Hoa is locked from this address on every door, even with the right password...
    assert locked(every_door(server, HOA, PASSWORD))
    # ... while Bình, behind the same address, logs in on every door.
    assert ok(every_door(server, BINH, PASSWORD))
    records = server.run(audit.records(server.app, action="lockout.locked"))
    assert [(r.target, r.details["kind"], r.details["account"]) for r in records] == [("127.0.0.1", "pair", HOA)]
    # The administrator's unlock of the account lifts its lock from every address.
    done = congthu(server.data_dir, "user", "unlock", HOA)
    assert done.returncode == 0, done.stderr
    assert ok(every_door(server, HOA, PASSWORD))


def test_spraying_many_accounts_locks_the_address_for_everyone(server: Any) -> None:
    prepare(server, address_all_accounts_delay_after=2, address_all_accounts_lock_after=6)
    # One guess per account, accounts that exist and that do not, over three doors.
    tried = [f"nguoi{i}@soctrang.gov.vn" for i in range(4)] + [HOA, BINH]
    for number, address in enumerate(tried):
        door = (imap_login, smtp_login, ldap_bind)[number % 3]
        assert not door(server, address, "Xuan#2026hoa").startswith(("OK", "235", "0 "))
    # Every account is now refused from this address, Bình's right password too.
    assert locked(every_door(server, BINH, PASSWORD))
    records = server.run(audit.records(server.app, action="lockout.locked"))
    assert [(r.target, r.details["kind"]) for r in records] == [("127.0.0.1", "address")]
    # Counted on the address over every account, one per guess (smtplib tries each
    # mechanism with the same password: that counts once).
    failed = server.run(audit.records(server.app, action="login.failed"))
    assert {r.details["all_accounts_failures"] for r in failed} == set(range(1, 7))
    assert {r.details["address_failures"] for r in failed} == {1}
    assert congthu(server.data_dir, "user", "unlock", "127.0.0.1").returncode == 0
    assert ok(every_door(server, BINH, PASSWORD))
