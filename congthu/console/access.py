"""The console's one authorisation check (issue 15: "every action through the one
authorisation check"), on the roles of ``congthu.accounts.roles`` and its one rule
``roles.decide``:

* IT Center administrators (``admin``): everything; they must have turned two-factor on
  (``needs_second_factor``) before the console opens for them;
* Department supervisors (``supervisor``): read (requests, the directory, reports),
  change nothing;
* organisation managers (``org_manager``, scoped to an organisation): their
  organisation and its sub-units only: its requests, people and mailboxes; they alone
  see the one-time passwords of their organisation's done requests (not even an
  administrator: Điều 13.2, a password chosen for someone reaches only the requester);
  they grant and revoke the delegations of their organisation mailboxes (Điều 12);
* the records office (``records``, Điều 7.4): the journal of inter-organisation mail
  only; a grant scoped to an organisation reads the entries that organisation (or one
  of its sub-units) sent or received, an unscoped one (the province's records office)
  every entry.

An action on an organisation is decided against the organisation's chain up to the root
(a manager of a department also manages its units), which the caller's ``orgs`` gives
(``Directory.org_chain``; anything with that method). A page the viewer may not read is
answered exactly as one that does not exist (404), so ids of other organisations reveal
nothing; a change the viewer may not make is 403 and written to the audit trail
(``refused``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from congthu import audit
from congthu.accounts import roles

if TYPE_CHECKING:
    from congthu.app import App

# Console action -> the permission of accounts.roles it needs.
PERMISSION = {
    # Requests (Điều 4.1-4.3, congthu.requests.web).
    "read": "org.requests.read",
    "file": "org.requests.manage",
    "start": "requests.manage",
    "done": "requests.manage",
    "refuse": "requests.manage",
    "passwords": "org.requests.manage",
    # The working-day calendar's overrides (Điều 4.3: the government's swapped days): the IT Center.
    "calendar.manage": "requests.manage",
    # A paper request entered by the IT Center, with its scanned letter (Điều 4.1).
    "paper": "requests.manage",
    # The directory (congthu.directory.web): reading an organisation's people and
    # mailboxes; adding, renaming and the departure of its people (Điều 3, 4.5);
    # reorganising (rename, merge, dissolve) and exporting a mailbox: administrators.
    "directory.read": "org.directory.read",
    "directory.people": "org.mailboxes.manage",
    "directory.orgs": "orgs.manage",
    "mailbox.export": "mailboxes.export",
    # Aliases (extra addresses: Điều 3.3c, the IT Center decides addresses) and the bulk
    # import of the directory (Điều 10.2: the structure from Home Affairs): administrators.
    "directory.aliases": "aliases.manage",
    "directory.import": "orgs.manage",
    # Delegations of an organisation mailbox (Điều 12: managed by its leader or delegated
    # to a unit or person): administrators and the organisation's managers.
    "delegations.manage": "org.mailboxes.manage",
    # The journal of inter-organisation mail (Điều 7.3-7.5): the records office.
    "journal.read": "journal.read",
    # Reports to the Department (congthu.reports).
    "reports.read": "org.reports.read",
    # The quarantine (Điều 9.9, congthu.content.web): administrators.
    "quarantine.manage": "quarantine.manage",
    # The REST API's tokens (congthu.api.pages): they carry their owner's rights, so only
    # those who give roles make them.
    "api.tokens": "roles.manage",
}
CONSOLE_ROLES = (roles.ADMIN, roles.SUPERVISOR, roles.ORG_MANAGER, roles.RECORDS)


class OrgChains(Protocol):
    """What gives an organisation's chain: its id, its parent's, ... up to the root."""

    async def org_chain(self, org_id: int) -> list[int]: ...


@dataclass(frozen=True)
class Viewer:
    mailbox_id: int
    address: str
    grants: tuple[roles.Grant, ...]

    @property
    def is_admin(self) -> bool:
        return any(g.role == roles.ADMIN for g in self.grants)

    @property
    def is_supervisor(self) -> bool:
        return any(g.role == roles.SUPERVISOR for g in self.grants)

    @property
    def managed_org_ids(self) -> list[int]:
        return sorted({int(g.scope) for g in self.grants if g.role == roles.ORG_MANAGER and g.scope.isdigit()})

    @property
    def journal_scope(self) -> list[int] | None:
        """The organisations whose journal entries the viewer reads: None for every one
        (administrators, an unscoped records grant), else the scoped records grants'."""
        if self.is_admin or any(g.role == roles.RECORDS and not g.scope for g in self.grants):
            return None
        return sorted({int(g.scope) for g in self.grants if g.role == roles.RECORDS and g.scope.isdigit()})

    @property
    def in_console(self) -> bool:
        """Holds a console role (the console exists for them)."""
        return any(g.role in CONSOLE_ROLES for g in self.grants)


async def viewer_of(app: App, mailbox_id: int, address: str) -> Viewer:
    return Viewer(mailbox_id, address, tuple(await roles.grants(app, mailbox_id)))


async def needs_second_factor(app: App, viewer: Viewer) -> bool:
    """An administrator without TOTP turned on is asked to enrol instead of the console
    (issue 15: two-factor required for administrators)."""
    return viewer.is_admin and not await app.accounts.totp_enabled(viewer.mailbox_id)


async def can(orgs: OrgChains, viewer: Viewer, action: str, org_id: int | None = None) -> bool:
    """The one check: may ``viewer`` do ``action`` (``console`` to open it at all, or a key
    of ``PERMISSION``) on organisation ``org_id`` (None: not about one organisation,
    which only administrators and supervisors' reading pass)?"""
    if action == "console":
        return viewer.in_console
    if action == "journal.read" and org_id is not None:
        # The records grant's scope is an organisation, and reading covers its sub-units.
        scope = viewer.journal_scope
        return scope is None or bool(set(scope) & set(await orgs.org_chain(org_id)))
    permission = PERMISSION.get(action)
    if permission is None:
        return False
    target = await orgs.org_chain(org_id) if org_id is not None else None
    held = list(viewer.grants)
    if action == "passwords":
        held = [g for g in held if g.role == roles.ORG_MANAGER]
    return roles.decide(held, viewer.mailbox_id, permission, target)


async def can_somewhere(orgs: OrgChains, viewer: Viewer, action: str) -> bool:
    """May ``viewer`` do ``action`` on anything at all: not about one organisation, or on
    one of the organisations they manage? What decides which console sections they are
    shown (``ConsolePages.sections_of``) and may open: the same ``can``."""
    if await can(orgs, viewer, action):
        return True
    for org_id in viewer.managed_org_ids:
        if await can(orgs, viewer, action, org_id):
            return True
    return False


async def refused(app: App, viewer: Viewer, action: str, target: str) -> None:
    """A refused change is written to the audit trail (as ``roles.require`` does)."""
    await audit.record(app, "access.denied", viewer.address, target, {"permission": PERMISSION.get(action, action)})
