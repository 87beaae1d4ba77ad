"""Roles and permissions, checked in one place for every interface.

Roles (stored in ``roles``; "official" is everyone's and not stored):

- ``admin``: system administrator (the IT Center): everything.
- ``supervisor``: the Department: reads and reports, changes nothing.
- ``org_manager`` (scoped to an organisation id): its own organisation's mailboxes and
  requests.
- ``official``: their own mailbox, password and second factor.
- ``records``: the records office (văn thư, Điều 7.4): searches and reads the journal of
  inter-organisation mail (``congthu.journal``), nothing else; optionally scoped to an
  organisation (its entries and its sub-units' only), unscoped for the province's.

``require(app, mailbox_id, permission, target=...)`` raises ``Forbidden`` or returns;
``allowed`` answers True/False. The ``target`` is a mailbox id for the ``mailbox.*``
permissions of officials, and an organisation id, or the list of an organisation's ids
from itself up to the root (so a manager of a department also manages its units), for
the ``org.*`` permissions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from congthu import audit
from congthu.accounts.tables import roles

if TYPE_CHECKING:
    from congthu.app import App

ADMIN = "admin"
SUPERVISOR = "supervisor"
ORG_MANAGER = "org_manager"
OFFICIAL = "official"
RECORDS = "records"
ROLES = (ADMIN, SUPERVISOR, ORG_MANAGER, OFFICIAL, RECORDS)

NAMES = {
    ADMIN: "Quản trị hệ thống / system administrator",
    SUPERVISOR: "Giám sát (Sở) / supervisor (the Department)",
    ORG_MANAGER: "Quản lý cơ quan / organisation manager",
    OFFICIAL: "Cán bộ / official",
    RECORDS: "Văn thư / records office",
}

# Permission -> roles that hold it. "own" permissions need target == the caller's mailbox;
# "org" permissions need the manager's scope among the target organisation ids.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Every official, on their own mailbox.
    "mailbox.access": (OFFICIAL,),
    "password.change": (OFFICIAL,),
    "totp.manage": (OFFICIAL,),
    # Organisation managers, in their organisation.
    "org.mailboxes.manage": (ORG_MANAGER,),
    "org.requests.manage": (ORG_MANAGER,),
    "org.requests.read": (ORG_MANAGER, SUPERVISOR),
    "org.reports.read": (ORG_MANAGER, SUPERVISOR),
    "org.directory.read": (ORG_MANAGER, SUPERVISOR),
    # Read-only oversight.
    "audit.read": (SUPERVISOR,),
    "reports.read": (SUPERVISOR,),
    "directory.read": (SUPERVISOR, ORG_MANAGER, OFFICIAL),
    # Administration (admin only; admin holds every permission anyway).
    "users.manage": (),
    "users.unlock": (),
    "roles.manage": (),
    "requests.manage": (),
    "policy.manage": (),
    "orgs.manage": (),  # reorganisation: rename, merge, dissolve organisations
    "mailboxes.export": (),  # a mailbox's mail written out (mbox, .eml zip)
    "aliases.manage": (),  # extra addresses (Điều 3.3c: the IT Center decides addresses)
    "quarantine.manage": (),  # held messages (Điều 9.9) released or deleted: the recipients' mail
    "audit.export": (SUPERVISOR,),
    # Điều 7.4: the journal of inter-organisation mail, for the records office.
    "journal.read": (RECORDS,),
}

OWN = ("mailbox.access", "password.change", "totp.manage")


class Forbidden(Exception):
    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(f"Không có quyền / permission denied: {permission}")


@dataclass(frozen=True)
class Grant:
    role: str
    scope: str = ""


def _grants(conn: Connection, mailbox_id: int) -> list[Grant]:
    rows = conn.execute(select(roles.c.role, roles.c.scope).where(roles.c.mailbox_id == mailbox_id)
                        .order_by(roles.c.role, roles.c.scope)).all()
    return [Grant(r.role, r.scope) for r in rows]


def holders(conn: Connection, role: str) -> list[int]:
    """The mailbox ids holding a role (any scope)."""
    return sorted({int(i) for i in conn.execute(select(roles.c.mailbox_id).where(roles.c.role == role)).scalars()})


async def grants(app: App, mailbox_id: int) -> list[Grant]:
    return await app.db.run_small_read(_grants, mailbox_id)


async def grant(app: App, mailbox_id: int, role: str, scope: str | int | None = None, *,
                actor: str = "system") -> bool:
    """Give a role (org_manager needs an organisation scope, records may have one);
    False if already held."""
    if role not in ROLES or role == OFFICIAL:
        raise ValueError(f"Vai trò không hợp lệ / invalid role {role!r}; one of admin, supervisor, org_manager, records")
    scoped = scope not in (None, "")
    if (role == ORG_MANAGER and not scoped) or (scoped and role not in (ORG_MANAGER, RECORDS)):
        raise ValueError("org_manager cần một cơ quan; chỉ org_manager và records có phạm vi / org_manager needs "
                         "an organisation scope; only org_manager and records take one")
    scope_text = "" if scope is None else str(scope)
    mailbox = await app.store.get_mailbox_by_id(mailbox_id)
    if mailbox is None:
        raise KeyError(mailbox_id)
    now = app.accounts.clock()

    def write(conn: Connection) -> None:
        conn.execute(insert(roles).values(mailbox_id=mailbox_id, role=role, scope=scope_text, granted_at=now))
        audit.append(conn, at=now, action="role.granted", actor=actor, target=mailbox.address,
                     details={"role": role, "scope": scope_text})

    try:
        await app.db.run_write(write)
    except IntegrityError:
        return False
    return True


async def revoke(app: App, mailbox_id: int, role: str, scope: str | int | None = None, *,
                 actor: str = "system") -> bool:
    scope_text = "" if scope is None else str(scope)
    mailbox = await app.store.get_mailbox_by_id(mailbox_id)
    target = mailbox.address if mailbox else str(mailbox_id)
    now = app.accounts.clock()

    def write(conn: Connection) -> bool:
        result = conn.execute(delete(roles).where(and_(
            roles.c.mailbox_id == mailbox_id, roles.c.role == role, roles.c.scope == scope_text)))
        if not result.rowcount:
            return False
        audit.append(conn, at=now, action="role.revoked", actor=actor, target=target,
                     details={"role": role, "scope": scope_text})
        return True

    return await app.db.run_write(write)


def _ids(target: Any) -> set[str]:
    if target is None:
        return set()
    if isinstance(target, str | int):
        return {str(target)}
    if isinstance(target, Iterable):
        return {str(t) for t in target}
    return {str(target)}


def decide(held: list[Grant], mailbox_id: int, permission: str, target: Any = None) -> bool:
    """The one rule: pure, so every interface and the tests agree on it."""
    if permission not in PERMISSIONS:
        return False  # unknown permissions are refused, never assumed
    if any(g.role == ADMIN for g in held):
        return True
    allowed_roles = PERMISSIONS[permission]
    if OFFICIAL in allowed_roles:
        if permission in OWN:
            if target is not None and str(target) == str(mailbox_id):
                return True
        else:
            return True
    for g in held:
        if g.role not in allowed_roles:
            continue
        if permission.startswith("org."):
            if g.role == ORG_MANAGER:
                if g.scope and g.scope in _ids(target):
                    return True
            else:  # supervisors read across every organisation
                return True
        elif permission not in OWN:
            return True
    return False


async def allowed(app: App, mailbox_id: int, permission: str, target: Any = None) -> bool:
    return decide(await grants(app, mailbox_id), mailbox_id, permission, target)


async def require(app: App, mailbox_id: int, permission: str, target: Any = None) -> None:
    """Return if allowed, else record the refusal in the audit trail and raise Forbidden."""
    if await allowed(app, mailbox_id, permission, target):
        return
    mailbox = await app.store.get_mailbox_by_id(mailbox_id)
    await audit.record(app, "access.denied", mailbox.address if mailbox else str(mailbox_id),
                       str(target) if target is not None else "-", {"permission": permission})
    raise Forbidden(permission)
