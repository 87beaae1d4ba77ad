"""Issue 10, Điều 13.2: a password chosen by anyone but the owner is not the owner's.

Every path that sets a password on someone's behalf (``user add --password``, ``user
reset``, ``org add --password``, ``user add --org --password``) goes through
``Accounts.prepare_issued``: a weak choice is refused before anything is created, and a
strong one must still be changed at first login on every door. Checked with the real
``congthu`` command and real clients: imaplib (LOGIN and AUTHENTICATE PLAIN), poplib
(USER/PASS), smtplib (AUTH on the submission port) and the change page over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest

from congthu.accounts import AuthStatus, PasswordRejected
from tests.accounts.helpers import congthu, imap_login, imap_plain, pop3_login, smtp_login
from tests.accounts.test_login import Page

DOMAIN = "soctrang.gov.vn"
STRONG = "Kh@c1Manh#Song"
NEW = "Song@Hau7River"


def assert_must_change_on_every_door(server: Any, address: str, password: str) -> None:
    """Right password, but not the owner's yet: refused on every door, each pointing to
    the change page."""
    for login in (imap_login, imap_plain):
        answer = login(server, address, password)
        assert answer.startswith("NO [EXPIRED]") and "/doi-mat-khau" in answer, answer
    answer = pop3_login(server, address, password)
    assert answer.startswith("-ERR [AUTH]") and "/doi-mat-khau" in answer, answer
    answer = smtp_login(server, address, password)
    assert answer.startswith("535") and "/doi-mat-khau" in answer, answer


def assert_open_on_every_door(server: Any, address: str, password: str) -> None:
    assert imap_login(server, address, password).startswith("OK")
    assert imap_plain(server, address, password).startswith("OK")
    assert pop3_login(server, address, password) == "+OK"
    assert smtp_login(server, address, password) == "235"


def change_on_the_page(server: Any, address: str, current: str, new: str) -> None:
    page = Page(server.port("http"))
    status, html = page.post({"address": address, "current": current, "new": new, "confirm": new,
                              "csrf": page.token()})
    assert status == 200 and "Đã đổi mật khẩu" in html, html


def run(server: Any, *args: str) -> Any:
    result = congthu(server.data_dir, *args)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def test_weak_passwords_chosen_by_an_administrator_are_refused(server: Any) -> None:
    weak = f"weak@{DOMAIN}"
    refused = run(server, "user", "add", weak, "--name", "Weak User", "--password", "a")
    assert refused.returncode == 1
    assert "password refused" in refused.stderr and "at least 8 characters" in refused.stderr
    assert server.run(server.app.store.get_mailbox(weak)) is None  # nothing was created
    # The other rules of Điều 13.2 hold too: the user's own name, a common password.
    personal = run(server, "user", "add", weak, "--name", "Weak User", "--password", "Weak@User2026")
    assert personal.returncode == 1 and "name or address" in personal.stderr
    common = run(server, "user", "add", weak, "--name", "Weak User", "--password", "Password@123")
    assert common.returncode == 1 and "too common" in common.stderr

    org = run(server, "org", "add", "Sở Thông tin và Truyền thông", "--password", "x")
    assert org.returncode == 1 and "password refused" in org.stderr
    assert server.run(server.app.store.get_mailbox(f"sotttt@{DOMAIN}")) is None
    created = run(server, "org", "add", "Sở Thông tin và Truyền thông")
    assert created.returncode == 0, created.stderr
    person = run(server, "user", "add", "--name", "Nguyễn Văn An", "--org", "sotttt", "--password", "1")
    assert person.returncode == 1 and "password refused" in person.stderr
    assert server.run(server.app.store.get_mailbox(f"nvan@{DOMAIN}")) is None

    for login in (imap_login, pop3_login, smtp_login):
        assert not login(server, weak, "a").startswith(("OK", "+OK", "235"))


def test_every_password_set_for_someone_else_must_be_changed_on_every_door(server: Any) -> None:
    user, org, official = f"strong@{DOMAIN}", f"sotttt@{DOMAIN}", f"nvan@{DOMAIN}"
    assert run(server, "user", "add", user, "--name", "Trần Thị Mai", "--password", STRONG).returncode == 0
    assert run(server, "org", "add", "Sở Thông tin và Truyền thông", "--password", STRONG).returncode == 0
    added = run(server, "user", "add", "--name", "Nguyễn Văn An", "--org", "sotttt", "--password", STRONG)
    assert added.returncode == 0 and official in added.stdout, added.stderr
    for address in (user, org, official):
        assert_must_change_on_every_door(server, address, STRONG)

    # The owner changes it on the page; then every door opens.
    change_on_the_page(server, user, STRONG, NEW)
    assert_open_on_every_door(server, user, NEW)

    # A reset by the administrator: a generated one-time password, to be changed again.
    reset = run(server, "user", "reset", user)
    assert reset.returncode == 0, reset.stderr
    one_time = reset.stdout.split("one-time password for", 1)[1].split(":", 1)[1].split()[0]
    assert_must_change_on_every_door(server, user, one_time)
    assert imap_login(server, user, NEW).startswith("NO [AUTHENTICATIONFAILED]")


async def test_issue_password_is_the_one_way(app: Any) -> None:
    """In process: the rules and the mark belong to the function, not to its callers."""
    mailbox = await app.store.create_mailbox(f"ttmai@{DOMAIN}", "Trần Thị Mai")
    issued = await app.accounts.issue_password(mailbox.id, STRONG, actor="test")
    assert not issued.generated
    cred = await app.accounts.credential(mailbox.id)
    assert cred.must_change
    result = await app.accounts.authenticate(f"ttmai@{DOMAIN}", STRONG, protocol="imap", client_ip="127.0.0.1")
    assert result.status is AuthStatus.EXPIRED
    generated = await app.accounts.issue_password(mailbox.id, actor="test")
    assert generated.generated and generated.password != STRONG
    assert (await app.accounts.credential(mailbox.id)).must_change
    with pytest.raises(PasswordRejected) as refused:
        await app.accounts.issue_password(mailbox.id, "mai12345", actor="test")
    assert {r.rule for r in refused.value.refusals} >= {"upper", "special"}
    # An issued password is the owner's only after the owner's change.
    await app.accounts.change_password(mailbox.id, NEW, actor=f"ttmai@{DOMAIN}")
    result = await app.accounts.authenticate(f"ttmai@{DOMAIN}", NEW, protocol="imap", client_ip="127.0.0.1")
    assert result.ok
