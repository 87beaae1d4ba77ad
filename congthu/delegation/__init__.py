"""Delegated access to mailboxes (Điều 12, 13.3): who may open, read, change or send as
another mailbox (an organisation mailbox managed by a delegate). Every grant is explicit,
and every grant, change and use is audited.

A grant is one row (owner mailbox, grantee mailbox, rights). The rights are the letters
of RFC 4314 section 2.1, applying to every folder of the owner's mailbox:

    l lookup (see the mailbox)      r read (SELECT, FETCH, SEARCH, COPY from)
    s keep \\Seen                    w write other flags and keywords
    i insert (APPEND, COPY into)    p post (unused: no submission address per folder)
    k create folders                x delete folders
    t set \\Deleted                  e expunge
    a administer (change the grants)

and one right of our own (RFC 4314 reserves the digits for such): "0", send as the
owner (From / MAIL FROM of the owner's address, Điều 12: the delegate answers for the
organisation). The owner has every right. The obsolete "c" and "d" of RFC 2086 are
accepted and stored as "k" and "xte" (RFC 4314 section 2.1.1).

IMAP shows the mailboxes delegated to a user under the shared namespace
``Shared/<owner address>/...`` (``congthu.imap.namespace``); a grant without "l"
hides the mailbox entirely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, insert, select, update

from congthu.delegation.tables import delegations
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["ALL_RIGHTS", "READ_ONLY", "SEND_AS", "Grant", "InvalidRights", "can_send_as", "delegated_to",
           "grant", "grants_of", "normalise_rights", "revoke", "rights_of"]

# RFC 4314 section 2.1, in canonical order.
RFC4314_RIGHTS = "lrswipkxtea"
SEND_AS = "0"
ALL_RIGHTS = RFC4314_RIGHTS + SEND_AS
READ_ONLY = "lrs"


class InvalidRights(ValueError):
    """A rights string with letters RFC 4314 does not define."""


@dataclass(frozen=True)
class Grant:
    owner_mailbox_id: int
    owner_address: str
    grantee_mailbox_id: int
    grantee_address: str
    rights: str


def normalise_rights(rights: str) -> str:
    """Canonical rights string; the obsolete "c" is "k", "d" is "xte" (RFC 4314 2.1.1)."""
    letters = set()
    for ch in rights:
        if ch == "c":
            letters.add("k")
        elif ch == "d":
            letters.update("xte")
        elif ch in ALL_RIGHTS:
            letters.add(ch)
        else:
            raise InvalidRights(f"Quyền không hợp lệ / invalid right {ch!r} (allowed: {ALL_RIGHTS})")
    return "".join(ch for ch in ALL_RIGHTS if ch in letters)


async def _audit(app: App, action: str, actor: str, target: str, details: dict[str, str]) -> None:
    try:
        from congthu import audit
    except ImportError:  # pragma: no cover - the audit trail ships with the same release
        event(action, actor=actor, target=target, **details)
        return
    await audit.record(app, action, actor, target, details)


async def grant(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, rights: str, *,
                granted_by: str = "") -> str:
    """Set the grantee's rights on the owner's mailbox (replacing earlier ones); returns
    the canonical rights. Empty rights revoke the grant."""
    rights = normalise_rights(rights)
    if owner_mailbox_id == grantee_mailbox_id:
        raise InvalidRights("Không thể ủy quyền cho chính mình / cannot delegate to oneself")
    if not rights:
        await revoke(app, owner_mailbox_id, grantee_mailbox_id, revoked_by=granted_by)
        return ""
    owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
    grantee = await app.store.get_mailbox_by_id(grantee_mailbox_id)
    if owner is None or grantee is None:
        raise LookupError("Không có hộp thư / no such mailbox")
    now = datetime.now(UTC)
    async with app.db.writer.begin() as conn:
        result = await conn.execute(
            update(delegations).where(and_(delegations.c.owner_mailbox_id == owner_mailbox_id,
                                           delegations.c.grantee_mailbox_id == grantee_mailbox_id))
            .values(rights=rights, granted_by=granted_by, updated_at=now)
        )
        if not result.rowcount:
            await conn.execute(insert(delegations).values(
                owner_mailbox_id=owner_mailbox_id, grantee_mailbox_id=grantee_mailbox_id, rights=rights,
                granted_by=granted_by, created_at=now, updated_at=now,
            ))
    await _audit(app, "delegation.granted", granted_by or "system", owner.address,
                 {"grantee": grantee.address, "rights": rights})
    return rights


async def revoke(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, *, revoked_by: str = "") -> bool:
    """Remove a grant; True if there was one."""
    async with app.db.writer.begin() as conn:
        result = await conn.execute(
            delete(delegations).where(and_(delegations.c.owner_mailbox_id == owner_mailbox_id,
                                           delegations.c.grantee_mailbox_id == grantee_mailbox_id))
        )
    if result.rowcount:
        owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
        grantee = await app.store.get_mailbox_by_id(grantee_mailbox_id)
        await _audit(app, "delegation.revoked", revoked_by or "system",
                     owner.address if owner else str(owner_mailbox_id),
                     {"grantee": grantee.address if grantee else str(grantee_mailbox_id)})
    return bool(result.rowcount)


async def rights_of(app: App, owner_mailbox_id: int, user_mailbox_id: int) -> str:
    """The rights ``user`` has on ``owner``'s mailbox: all for the owner, else the grant's."""
    if owner_mailbox_id == user_mailbox_id:
        return ALL_RIGHTS
    async with app.db.reader.connect() as conn:
        value = (await conn.execute(
            select(delegations.c.rights).where(and_(delegations.c.owner_mailbox_id == owner_mailbox_id,
                                                    delegations.c.grantee_mailbox_id == user_mailbox_id))
        )).scalar()
    return value or ""


async def _grants(app: App, condition: object) -> list[Grant]:
    from congthu.store.tables import mailboxes

    owner = mailboxes.alias("owner")
    grantee = mailboxes.alias("grantee")
    async with app.db.reader.connect() as conn:
        rows = (await conn.execute(
            select(delegations.c.owner_mailbox_id, owner.c.address.label("owner_address"),
                   delegations.c.grantee_mailbox_id, grantee.c.address.label("grantee_address"),
                   delegations.c.rights)
            .join(owner, owner.c.id == delegations.c.owner_mailbox_id)
            .join(grantee, grantee.c.id == delegations.c.grantee_mailbox_id)
            .where(condition)  # type: ignore[arg-type]
            .order_by(owner.c.address, grantee.c.address)
        )).all()
    return [Grant(r.owner_mailbox_id, r.owner_address, r.grantee_mailbox_id, r.grantee_address, r.rights)
            for r in rows]


async def grants_of(app: App, owner_mailbox_id: int) -> list[Grant]:
    """Who has rights on this mailbox (IMAP GETACL)."""
    return await _grants(app, delegations.c.owner_mailbox_id == owner_mailbox_id)


async def delegated_to(app: App, grantee_mailbox_id: int) -> list[Grant]:
    """The mailboxes delegated to this one (the IMAP shared namespace)."""
    return await _grants(app, delegations.c.grantee_mailbox_id == grantee_mailbox_id)


async def can_send_as(app: App, mailbox_id: int, address: str) -> bool:
    """May the owner of ``mailbox_id`` send with ``address`` as sender (From / MAIL FROM)?
    Yes for its own address, and for a mailbox delegated to it with the send-as right."""
    mailbox = await app.store.get_mailbox_by_id(mailbox_id)
    if mailbox is None:
        return False
    wanted = address.strip().lower()
    if mailbox.address == wanted:
        return True
    owner = await app.store.get_mailbox(wanted)
    if owner is None or owner.status != "active":
        return False
    return SEND_AS in await rights_of(app, owner.id, mailbox_id)
