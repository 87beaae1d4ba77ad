"""The login state kept between logins (``accounts/states.py``): kept only in a process
that hears the change feed; a read under way while a change is heard is not kept; a
change made in this process drops it before the writer goes on; a lock is never kept."""

from __future__ import annotations

from congthu.accounts.login import read_login_state
from congthu.app import App
from congthu.store.changes import mailbox_key

PASSWORD = "Mk@12345678x"
ADDRESS = "an@soctrang.gov.vn"


async def test_kept_only_while_the_feed_is_heard_and_never_across_a_change(app: App) -> None:
    mailbox = await app.store.create_mailbox(ADDRESS, "An")
    await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    states = app.accounts.states

    async def login(password: str = PASSWORD, client_ip: str = "127.0.0.1") -> bool:
        result = await app.accounts.authenticate(ADDRESS, password, protocol="pop3", client_ip=client_ip)
        return result.ok

    assert await login()
    assert states.get(ADDRESS, "127.0.0.1") is None  # nobody tells this process of changes
    await app.hub.listen_local()
    assert await login()
    assert states.get(ADDRESS, "127.0.0.1") is not None
    # A change of this process: dropped once committed, before set_password returns.
    await app.accounts.set_password(mailbox.id, "Mới@MatKhau2027", must_change=False)
    assert states.get(ADDRESS, "127.0.0.1") is None
    assert not await login()
    # A read under way while a change is heard is not kept; the same read begun after is.
    epoch = states.epoch
    states.forget([mailbox_key(mailbox.id)])
    now = app.accounts.clock()
    state = await app.db.run_small_read(read_login_state, "127.0.0.1", ADDRESS, now, app.accounts.login)
    assert state.mailbox is not None and state.credential is not None
    keep = (state.counters, state.mailbox, state.credential, state.two_factor)
    states.keep(ADDRESS, "127.0.0.1", *keep, epoch, now)
    assert states.get(ADDRESS, "127.0.0.1") is None
    states.keep(ADDRESS, "127.0.0.1", *keep, states.epoch, now)
    assert states.get(ADDRESS, "127.0.0.1") is not None
    # A lock (this pair, after one failure) is read each time, never kept.
    app.accounts.login.address_lock_after = 1
    assert not await login("Sai@mat-khau1", client_ip="10.0.0.9")
    assert states.get(ADDRESS, "10.0.0.9") is None
    assert not await login("Mới@MatKhau2027", client_ip="10.0.0.9")
    assert states.get(ADDRESS, "10.0.0.9") is None
    assert await login("Mới@MatKhau2027")
    assert states.get(ADDRESS, "127.0.0.1") is not None
