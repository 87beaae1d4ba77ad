"""The login state kept between logins (``accounts/states.py``) on PostgreSQL: a change
made on another node reaches the kept state through the NOTIFY sent inside the
changing transaction (``store/changes.account_changed``), even from a node that does not
listen itself (a command)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from congthu.app import App
from tests.conftest import make_data_dir

PASSWORD = "Mk@12345678x"
NEW_PASSWORD = "Mới@MatKhau2027"
ADDRESS = "an@soctrang.gov.vn"


async def dropped(app: App, address: str, seconds: float = 10.0) -> bool:
    """Is the kept state of ``address`` dropped within ``seconds``?"""
    for _ in range(int(seconds / 0.02)):
        if app.accounts.states.get(address, "127.0.0.1") is None:
            return True
        await asyncio.sleep(0.02)
    return False


async def login(app: App, password: str) -> bool:
    result = await app.accounts.authenticate(ADDRESS, password, protocol="imap", client_ip="127.0.0.1")
    return result.ok


async def test_a_change_on_another_node_drops_the_kept_state(tmp_path: Path, postgres: object) -> None:
    url = postgres.create_database()  # type: ignore[attr-defined]
    node_a = await make_data_dir(tmp_path / "a", database={"url": url})
    node_b = await make_data_dir(tmp_path / "b", database={"url": url})
    app = await App.open(node_a)
    other = await App.open(node_b)
    try:
        mailbox = await app.store.create_mailbox(ADDRESS, "An")
        await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
        assert await login(app, PASSWORD)
        assert app.accounts.states.get(ADDRESS, "127.0.0.1") is None  # not listening: nothing kept
        await app.hub.listen_postgres(url)
        assert await login(app, PASSWORD)
        assert app.accounts.states.get(ADDRESS, "127.0.0.1") is not None
        # A password set on the other node (which does not listen).
        await other.accounts.set_password(mailbox.id, NEW_PASSWORD, must_change=False)
        assert await dropped(app, ADDRESS)
        assert not await login(app, PASSWORD)
        assert await login(app, NEW_PASSWORD)
        # Its mailbox disabled there.
        assert app.accounts.states.get(ADDRESS, "127.0.0.1") is not None
        await other.store.update_mailbox(mailbox.id, status="disabled")
        assert await dropped(app, ADDRESS)
        assert not await login(app, NEW_PASSWORD)
        # A change of this node is dropped here at once, before the NOTIFY comes back.
        await app.store.update_mailbox(mailbox.id, status="active")
        assert await login(app, NEW_PASSWORD)
        await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
        assert app.accounts.states.get(ADDRESS, "127.0.0.1") is None
        assert not await login(app, NEW_PASSWORD)
    finally:
        await other.close()
        await app.close()
