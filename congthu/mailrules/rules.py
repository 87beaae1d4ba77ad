"""What other packages call (the webmail's settings pages): a mailbox's vacation reply,
forwarding rule and signature, read and saved. Every save is checked (``RuleRefused``
with the reason in Vietnamese and English) and audited in the same transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.forwarding import Forwarding, check_targets, read_forwarding, refused, save_forwarding
from congthu.mailrules.signature import read_signature, save_signature
from congthu.mailrules.vacation import Vacation, read_vacation, save_vacation
from congthu.smtp import addresses
from congthu.store import Mailbox

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["get_forwarding", "get_signature", "get_vacation", "set_forwarding", "set_signature",
           "set_vacation"]


async def get_vacation(app: App, mailbox_id: int) -> Vacation:
    return await app.db.run_small_read(read_vacation, mailbox_id)


async def set_vacation(app: App, mailbox: Mailbox, vacation: Vacation, *, actor: str,
                       client: str = "") -> Vacation:
    at = app.accounts.clock()

    def tx(conn: Connection) -> Vacation:
        return save_vacation(conn, mailbox.id, vacation, at=at, actor=actor, target=mailbox.address,
                             client=client)

    return await app.db.run_write(tx)


async def get_forwarding(app: App, mailbox_id: int) -> Forwarding:
    return await app.db.run_small_read(read_forwarding, mailbox_id)


async def set_forwarding(app: App, mailbox: Mailbox, targets: list[str], *, enabled: bool, keep_copy: bool,
                         actor: str, client: str = "") -> Forwarding:
    """Check the targets (Điều 7.7, addresses, a local target must exist) and save."""
    checked = check_targets(app.settings, mailbox.address, targets)
    for target in checked:
        if not addresses.is_local(app, target):
            continue
        try:
            found = await addresses.resolve(app, target)
        except addresses.RecipientRefused as exc:  # an alias to foreign free-mail (Điều 7.7)
            raise refused(exc.refusal) from None
        if found is None:
            raise RuleRefused(f"Không có hộp thư {target}", f"no such mailbox: {target}")
    forwarding = Forwarding(enabled, checked, keep_copy)
    at = app.accounts.clock()

    def tx(conn: Connection) -> None:
        save_forwarding(conn, mailbox.id, forwarding, at=at, actor=actor, target=mailbox.address,
                        client=client)

    await app.db.run_write(tx)
    return forwarding


async def get_signature(app: App, mailbox_id: int) -> str:
    return await app.db.run_small_read(read_signature, mailbox_id)


async def set_signature(app: App, mailbox: Mailbox, text: str, *, actor: str, client: str = "") -> str:
    at = app.accounts.clock()

    def tx(conn: Connection) -> str:
        return save_signature(conn, mailbox.id, text, at=at, actor=actor, target=mailbox.address,
                              client=client)

    return await app.db.run_write(tx)
