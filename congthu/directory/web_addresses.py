"""The console's pages for what else reaches a mailbox (issue 15): its aliases (Điều 3.3c)
and the delegations of an organisation mailbox (Điều 12).

| path | who | what |
|---|---|---|
| POST `/quan-tri/danh-ba/don-vi/<id>/bi-danh` | admin | add (`action=them`) or remove (`action=xoa`) an alias of the organisation's mailbox |
| POST `/quan-tri/danh-ba/nguoi/<id>/bi-danh` | admin | the same for a person's mailbox |
| POST `/quan-tri/danh-ba/don-vi/<id>/uy-quyen` | admin, the organisation's managers | grant (`action=cap`) or revoke (`action=thu-hoi`) a delegate's rights on the organisation mailbox, or (`folder`) on one of its folders; the delegation's end (`until`); or only change that end (`action=han`, the form on each delegation's row: `until` a day, or empty for no end) |

Aliases follow the directory's rules (``Aliases.add_alias``): a valid local part, kept
under the main domain (every local domain shares one namespace), never an address
issued, revoked, reserved or once an alias; a removed alias stays reserved. Addresses are
the IT Center's decision (Điều 3.3c), so only administrators change them.

Delegations go through ``congthu.delegation`` (``grant``, ``revoke``: each audited as
``delegation.granted`` / ``delegation.revoked``) and only on organisation and sub-unit
mailboxes (Điều 12; Điều 13.3 forbids access to another person's mailbox). The delegate
is an active mailbox of ours; an organisation manager's delegate must be a person or unit
of an organisation they manage.

Without ``folder`` a grant is the mailbox-wide one (rights ``xem``, ``xu-ly``,
``gui-thay``) with the delegation's end: ``until``, its last day (empty: no end), set
on all the delegation's grants (``congthu.delegation.term``); a revocation takes every
right of the delegate. With ``folder`` (the id of a folder of that mailbox, not INBOX,
whose rights are the mailbox-wide ones) a grant is that folder's own (``xem``, ``xu-ly``,
or ``khong``: nothing there, the folder hidden from the delegate), replacing the
mailbox-wide rights on it and ending with the delegation; a revocation removes the
folder's own grant, so the folder follows the mailbox-wide one again.

Pages the viewer may not read are 404, changes they may not make 403 and audited
(``congthu.console.pages``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu import audit
from congthu.console.access import Viewer
from congthu.console.pages import Change, id_of
from congthu.delegation import KEEP, InvalidRights, InvalidTerm, grant, parse_end, revoke, set_end
from congthu.directory.pages import DELEGATION_RIGHTS, FOLDER_RIGHTS, ORG, PERSON, DirectoryPages, why
from congthu.directory.records import DirectoryError, Org, Person
from congthu.webmail.context import first

MAX_ALIAS_DAYS = 36_500


def _days(text: str) -> int | None:
    """Days to keep an alias: empty for good, else 1..MAX_ALIAS_DAYS."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) <= MAX_ALIAS_DAYS:
        raise DirectoryError(f"Số ngày không hợp lệ / invalid number of days: {text[:12]}")
    return int(text)


async def change_alias(pages: DirectoryPages, viewer: Viewer, mailbox_id: int, form: dict[str, list[str]]) -> str:
    """Add or remove an alias of ``mailbox_id`` as the form says, audited; the word of
    what was done. DirectoryError (or NamingError) with the reason otherwise."""
    directory, app = pages.directory, pages.app
    mailbox = await app.store.get_mailbox_by_id(mailbox_id)
    if mailbox is None:
        raise DirectoryError("Không có hộp thư / no such mailbox")
    wanted = first(form, "alias").strip()[:320]
    if not wanted:
        raise DirectoryError("Thiếu bí danh / the alias is missing")
    if first(form, "action") == "xoa":
        address = directory.address_of(wanted)
        if address not in {a.address for a in await directory.aliases_of(mailbox_id, include_expired=True)}:
            raise DirectoryError(f"Không phải bí danh của {mailbox.address} / not an alias of it: {address}")
        await directory.remove_alias(address)
        await audit.record(app, "directory.alias_removed", viewer.address, address, {"mailbox": mailbox.address})
        return "alias.removed"
    reason = " ".join(first(form, "reason").split())[:200]
    alias = await directory.add_alias(wanted, mailbox.address, days=_days(first(form, "days")),
                                      reason=reason or f"quản trị / console: {viewer.address}")
    await audit.record(app, "directory.alias_added", viewer.address, alias.address, {
        "mailbox": mailbox.address, "days": first(form, "days").strip(), "reason": reason})
    return "alias.added"


async def change_delegation(pages: DirectoryPages, viewer: Viewer, org: Org, form: dict[str, list[str]]) -> str:
    """Grant or revoke a delegate's rights on ``org``'s mailbox as the form says (the
    delegation package audits it); the word of what was done."""
    directory, app = pages.directory, pages.app
    assert org.mailbox_id is not None
    wanted = first(form, "grantee").strip()[:320]
    if not wanted:
        raise DirectoryError("Thiếu địa chỉ người được ủy quyền / the delegate's address is missing")
    grantee = await app.store.get_mailbox(directory.address_of(wanted))
    folder_text = first(form, "folder").strip()
    folder_id = id_of(folder_text) if folder_text else None
    if folder_text and folder_id is None:
        raise DirectoryError("Không có thư mục / no such folder")
    if first(form, "action") == "thu-hoi":
        if grantee is None or not await revoke(app, org.mailbox_id, grantee.id, folder_id=folder_id,
                                               revoked_by=viewer.address):
            raise DirectoryError(f"{wanted} không được ủy quyền / has no delegation here")
        return "deleg.revoked"
    if first(form, "action") == "han":
        # Only the end of a delegation in force (its rights as they are), on all its rows.
        try:
            new_end = parse_end(first(form, "until"), app.accounts.clock(), app.settings.system.timezone)
        except InvalidTerm as exc:
            raise DirectoryError(why(exc)) from None
        if grantee is None or not await set_end(app, org.mailbox_id, grantee.id, new_end,
                                                changed_by=viewer.address):
            raise DirectoryError(f"{wanted} không có ủy quyền đang hiệu lực / has no delegation in force here")
        return "deleg.end_changed"
    if grantee is None or grantee.status != "active":
        raise DirectoryError(f"Không có hộp thư đang hoạt động / no active mailbox: {wanted}")
    preset = (FOLDER_RIGHTS if folder_id is not None else DELEGATION_RIGHTS).get(first(form, "rights"))
    if preset is None:
        raise DirectoryError("Chọn quyền / choose the rights")
    if not viewer.is_admin:
        # A manager delegates within what they manage: a person or unit of their organisation.
        owner_org: int | None = None
        try:
            owner_org = (await directory.get_person(grantee.address)).org_id
        except DirectoryError:
            try:
                owner_org = (await directory.get_org(grantee.address, include_inactive=False)).id
            except DirectoryError:
                owner_org = None
        if owner_org is None or not await pages.can(viewer, "delegations.manage", owner_org):
            raise DirectoryError("Người được ủy quyền phải thuộc cơ quan bạn quản lý / the delegate must be in an "
                                 "organisation you manage")
    try:
        # The whole mailbox's grant says the delegation's end; a folder's joins it.
        end = KEEP if folder_id is not None else parse_end(first(form, "until"), app.accounts.clock(),
                                                           app.settings.system.timezone)
        await grant(app, org.mailbox_id, grantee.id, preset[0], folder_id=folder_id, granted_by=viewer.address,
                    expires_at=end)
    except (InvalidRights, InvalidTerm, LookupError) as exc:
        raise DirectoryError(why(exc)) from None
    return "deleg.granted"


def address_routes(pages: DirectoryPages) -> APIRouter:
    api = APIRouter()

    async def alias(request: Request, change: Change[Org] | Change[Person] | Response) -> Response:
        if isinstance(change, Response):
            return change
        assert change.found.mailbox_id is not None
        return await pages.answer(request, change,
                                  change_alias(pages, change.viewer, change.found.mailbox_id, change.form))

    @api.post(ORG + "/{id_text}/bi-danh")
    async def org_alias(request: Request, id_text: str) -> Response:
        return await alias(request, await pages.org_change(request, id_text, "directory.aliases", mailbox=True))

    @api.post(PERSON + "/{id_text}/bi-danh")
    async def person_alias(request: Request, id_text: str) -> Response:
        return await alias(request, await pages.person_change(request, id_text, "directory.aliases", mailbox=True))

    @api.post(ORG + "/{id_text}/uy-quyen")
    async def org_delegation(request: Request, id_text: str) -> Response:
        change = await pages.org_change(request, id_text, "delegations.manage", mailbox=True)
        if isinstance(change, Response):
            return change
        return await pages.answer(request, change, delegate(pages, change.viewer, change.found, change.form))

    return api


async def delegate(pages: DirectoryPages, viewer: Viewer, org: Org, form: dict[str, list[str]]) -> str:
    """``change_delegation``, only on an organisation still active."""
    if org.status != "active":
        raise DirectoryError(f"Tổ chức không còn hoạt động / organisation is {org.status}")
    return await change_delegation(pages, viewer, org, form)
