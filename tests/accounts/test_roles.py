"""Roles and permissions in one place; an official gets nothing of another official's mailbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from congthu import audit
from congthu.accounts import AuthStatus, roles
from congthu.app import App
from congthu.cli import build_parser
from tests.accounts.helpers import cli
from tests.accounts.test_login import Page


async def test_permission_matrix(app: App) -> None:
    a = await app.store.create_mailbox("nva@soctrang.gov.vn", "Nguyễn Văn A")
    b = await app.store.create_mailbox("ttb@soctrang.gov.vn", "Trần Thị B")
    manager = await app.store.create_mailbox("lanhdao@soctrang.gov.vn", "Lãnh đạo")
    supervisor = await app.store.create_mailbox("sotttt@soctrang.gov.vn", "Sở TTTT", kind="organisation")
    admin = await app.store.create_mailbox("admin@soctrang.gov.vn", "Quản trị", kind="organisation")
    assert await roles.grant(app, manager.id, "org_manager", 17)
    assert await roles.grant(app, supervisor.id, "supervisor")
    assert await roles.grant(app, admin.id, "admin")
    assert not await roles.grant(app, admin.id, "admin")  # already held
    with pytest.raises(ValueError):
        await roles.grant(app, a.id, "org_manager")  # needs a scope
    with pytest.raises(ValueError):
        await roles.grant(app, a.id, "root")

    # An official: their own mailbox only, nothing administrative.
    assert await roles.allowed(app, a.id, "mailbox.access", a.id)
    for permission, target in [("mailbox.access", b.id), ("password.change", b.id), ("totp.manage", b.id),
                               ("mailbox.access", None), ("users.manage", None), ("audit.read", None),
                               ("org.mailboxes.manage", 17), ("roles.manage", None), ("no.such", a.id)]:
        assert not await roles.allowed(app, a.id, permission, target), permission
    with pytest.raises(roles.Forbidden):
        await roles.require(app, a.id, "mailbox.access", b.id)
    denied = await audit.records(app, action="access.denied")
    assert [(d.actor, d.target, d.details["permission"]) for d in denied] == \
        [("nva@soctrang.gov.vn", str(b.id), "mailbox.access")]

    # An organisation manager: their organisation (and its units, given the chain of ids).
    assert await roles.allowed(app, manager.id, "org.mailboxes.manage", 17)
    assert await roles.allowed(app, manager.id, "org.requests.manage", [42, 17, 1])
    assert not await roles.allowed(app, manager.id, "org.mailboxes.manage", 18)
    assert not await roles.allowed(app, manager.id, "org.mailboxes.manage", [18, 1])
    assert not await roles.allowed(app, manager.id, "mailbox.access", b.id)
    assert not await roles.allowed(app, manager.id, "users.manage")

    # The supervisor reads and reports everywhere, changes nothing.
    assert await roles.allowed(app, supervisor.id, "audit.read")
    assert await roles.allowed(app, supervisor.id, "org.reports.read", 18)
    assert not await roles.allowed(app, supervisor.id, "org.mailboxes.manage", 18)
    assert not await roles.allowed(app, supervisor.id, "users.manage")
    assert not await roles.allowed(app, supervisor.id, "mailbox.access", b.id)

    # The system administrator may do everything known.
    for permission in roles.PERMISSIONS:
        assert await roles.allowed(app, admin.id, permission, b.id)

    assert await roles.revoke(app, manager.id, "org_manager", 17)
    assert not await roles.allowed(app, manager.id, "org.mailboxes.manage", 17)


async def test_init_makes_the_first_administrator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "fresh"
    args = build_parser().parse_args(["--data", str(data), "init", "--dev"])
    assert await args.handler(args) == 0
    assert "one-time password" in capsys.readouterr().out
    app = await App.open(data)
    try:
        admin = await app.store.get_mailbox("admin@soctrang.gov.vn")
        assert admin is not None
        assert await roles.grants(app, admin.id) == [roles.Grant("admin")]
        assert await cli(app, "user", "role", "admin@soctrang.gov.vn", "list") == 0
        assert "admin" in capsys.readouterr().out
    finally:
        await app.close()


def test_official_a_cannot_change_b_on_the_page(server: Any) -> None:
    server.add_user("nva@soctrang.gov.vn", "Song@Hau7River", name="Nguyễn Văn A")
    server.add_user("ttb@soctrang.gov.vn", "Cau#Vong-Mieu7", name="Trần Thị B")
    page = Page(server.port("http"))
    # A's own password with B's address: nothing.
    status, html = page.post({"address": "ttb@soctrang.gov.vn", "current": "Song@Hau7River", "new": "Moi#MatKhau99",
                              "confirm": "Moi#MatKhau99", "csrf": page.token()})
    assert status == 400 and "Sai địa chỉ hoặc mật khẩu" in html
    result = server.run(server.app.accounts.authenticate("ttb@soctrang.gov.vn", "Cau#Vong-Mieu7", protocol="imap",
                                                         client_ip="127.0.0.1"))
    assert result.ok
    assert server.run(server.app.accounts.authenticate("ttb@soctrang.gov.vn", "Moi#MatKhau99", protocol="imap",
                                                       client_ip="127.0.0.1")).status is AuthStatus.FAILED
