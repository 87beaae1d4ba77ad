"""The API's endpoints for what else reaches a mailbox, as the console's directory pages
(``congthu/directory/web_addresses.py``): the aliases of an organisation's or a person's
mailbox (Điều 3.3c) and the delegations of an organisation mailbox (Điều 12).

| path | scope | the console's action |
|---|---|---|
| `GET /orgs/{id}/aliases`, `/people/{id}/aliases` | directory:read | `directory.read` on the organisation |
| `POST /orgs/{id}/aliases`, `/people/{id}/aliases` | aliases:write | `directory.aliases` (administrators: the IT Center decides addresses) |
| `DELETE /orgs/{id}/aliases/{alias}`, `/people/{id}/aliases/{alias}` | aliases:write | `directory.aliases` |
| `GET /orgs/{id}/delegations` | directory:read | `directory.read` |
| `POST /orgs/{id}/delegations` | delegations:write | `delegations.manage` (administrators, the organisation's managers) |
| `PATCH /orgs/{id}/delegations/{grantee}` | delegations:write | `delegations.manage`: the delegation's end set or cleared |
| `DELETE /orgs/{id}/delegations/{grantee}` | delegations:write | `delegations.manage` |

Aliases go through the directory's ``add_alias`` / ``remove_alias`` (its rules: a valid
local part under the main domain, never an address issued, revoked or reserved; a removed
alias stays reserved) and are audited as from the console (``directory.alias_added``,
``directory.alias_removed``). Delegations go through ``congthu.delegation`` (``grant``,
``revoke``, which audit them), with the console's presets of rights, an optional last
day (``congthu.delegation.term``), and the console's rule that an organisation manager's
delegate is a person or unit of an organisation they manage. ``PATCH`` changes only the
end of a delegation in force (``congthu.delegation.set_end``, audited
``delegation.end_changed``), as the console's per-row form does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Response

from congthu import audit
from congthu.api import models
from congthu.api.callers import Caller, can, require
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import from_text, invalid, not_found
from congthu.delegation import InvalidRights, grant, grants_of, revoke, set_end
from congthu.delegation.term import InvalidTerm, parse_end
from congthu.directory import DirectoryError, NamingError
from congthu.directory.pages import DELEGATION_RIGHTS

if TYPE_CHECKING:
    from congthu.app import App

AddressP = Annotated[str, Path(min_length=1, max_length=320, pattern=models.ADDRESS)]
PRESETS = {letters: key for key, (letters, _word) in DELEGATION_RIGHTS.items()}
NO_CONTENT: dict[int | str, dict[str, Any]] = {204: {"description": "done"}}


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    async def org_box(caller: Caller, org_id: int) -> tuple[int, int, str]:
        """(mailbox id, organisation checked on, audit target) of a readable organisation
        with a mailbox; 404 otherwise (the console's page has no form then)."""
        org = await readers.org(caller, org_id)
        if org.mailbox_id is None:
            raise not_found()
        return org.mailbox_id, org.id, f"org:{org.id}"

    async def person_box(caller: Caller, person_id: int) -> tuple[int, int | None, str]:
        person = await readers.person(caller, person_id)
        if person.mailbox_id is None:
            raise not_found()
        return person.mailbox_id, person.org_id, f"person:{person.id}"

    # -- aliases --------------------------------------------------------------------------------

    async def aliases_of(mailbox_id: int, include_expired: bool) -> list[models.AliasOut]:
        return [models.AliasOut.of(a) for a in await directory.aliases_of(mailbox_id, include_expired=include_expired)]

    async def add_alias(caller: Caller, box: tuple[int, int | None, str], body: models.AliasIn) -> models.AliasOut:
        mailbox_id, org_id, target = box
        await require(app, directory, caller, "directory.aliases", org_id, target)
        mailbox = await app.store.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise not_found()
        reason = " ".join(body.reason.split())
        try:
            alias = await directory.add_alias(body.alias, mailbox.address, days=body.days,
                                              reason=reason or f"api: {caller.actor}"[:200])
        except (DirectoryError, NamingError) as exc:
            raise from_text(422, "invalid", str(exc.args[0] if exc.args else exc)) from None
        await audit.record(app, "directory.alias_added", caller.actor, alias.address, {
            "mailbox": mailbox.address, "days": str(body.days or ""), "reason": reason}, client=caller.client)
        return models.AliasOut.of(alias)

    async def remove_alias(caller: Caller, box: tuple[int, int | None, str], alias: str) -> Response:
        mailbox_id, org_id, target = box
        await require(app, directory, caller, "directory.aliases", org_id, target)
        mailbox = await app.store.get_mailbox_by_id(mailbox_id)
        address = directory.address_of(alias)
        if mailbox is None or address not in {
                a.address for a in await directory.aliases_of(mailbox_id, include_expired=True)}:
            raise not_found("bí danh / alias")
        try:
            await directory.remove_alias(address)
        except DirectoryError:  # removed meanwhile
            raise not_found("bí danh / alias") from None
        await audit.record(app, "directory.alias_removed", caller.actor, address, {"mailbox": mailbox.address},
                           client=caller.client)
        return Response(status_code=204)

    @api.get(BASE + "/orgs/{org_id}/aliases", response_model=list[models.AliasOut],
             openapi_extra=scoped("directory:read"), tags=["aliases"],
             summary="Bí danh của hộp thư tổ chức / the aliases of an organisation's mailbox")
    async def org_aliases(caller: CallerDep, org_id: ID, include_expired: bool = False) -> list[models.AliasOut]:
        org = await readers.org(caller, org_id)
        return await aliases_of(org.mailbox_id, include_expired) if org.mailbox_id else []

    @api.post(BASE + "/orgs/{org_id}/aliases", response_model=models.AliasOut, status_code=201,
              openapi_extra=scoped("aliases:write"), tags=["aliases"],
              summary="Thêm bí danh (Điều 3.3c) / add an alias to an organisation's mailbox")
    async def org_alias_add(caller: CallerDep, org_id: ID, body: models.AliasIn) -> models.AliasOut:
        return await add_alias(caller, await org_box(caller, org_id), body)

    @api.delete(BASE + "/orgs/{org_id}/aliases/{alias}", status_code=204, response_class=Response,
                openapi_extra=scoped("aliases:write"), tags=["aliases"], responses=NO_CONTENT,
                summary="Xóa bí danh (vẫn giữ, không cấp lại) / remove an alias (kept reserved)")
    async def org_alias_remove(caller: CallerDep, org_id: ID, alias: AddressP) -> Response:
        return await remove_alias(caller, await org_box(caller, org_id), alias)

    @api.get(BASE + "/people/{person_id}/aliases", response_model=list[models.AliasOut],
             openapi_extra=scoped("directory:read"), tags=["aliases"],
             summary="Bí danh của hộp thư cá nhân / the aliases of a person's mailbox")
    async def person_aliases(caller: CallerDep, person_id: ID, include_expired: bool = False
                             ) -> list[models.AliasOut]:
        person = await readers.person(caller, person_id)
        return await aliases_of(person.mailbox_id, include_expired) if person.mailbox_id else []

    @api.post(BASE + "/people/{person_id}/aliases", response_model=models.AliasOut, status_code=201,
              openapi_extra=scoped("aliases:write"), tags=["aliases"],
              summary="Thêm bí danh (Điều 3.3c) / add an alias to a person's mailbox")
    async def person_alias_add(caller: CallerDep, person_id: ID, body: models.AliasIn) -> models.AliasOut:
        return await add_alias(caller, await person_box(caller, person_id), body)

    @api.delete(BASE + "/people/{person_id}/aliases/{alias}", status_code=204, response_class=Response,
                openapi_extra=scoped("aliases:write"), tags=["aliases"], responses=NO_CONTENT,
                summary="Xóa bí danh của hộp thư cá nhân / remove an alias of a person's mailbox")
    async def person_alias_remove(caller: CallerDep, person_id: ID, alias: AddressP) -> Response:
        return await remove_alias(caller, await person_box(caller, person_id), alias)

    # -- delegations of an organisation mailbox (Điều 12) -----------------------------------------

    @api.get(BASE + "/orgs/{org_id}/delegations", response_model=list[models.DelegationOut],
             openapi_extra=scoped("directory:read"), tags=["delegations"],
             summary="Ủy quyền hộp thư tổ chức (Điều 12) / the delegations of an organisation's mailbox")
    async def delegations(caller: CallerDep, org_id: ID) -> list[models.DelegationOut]:
        org = await readers.org(caller, org_id)
        if org.mailbox_id is None:
            return []
        return [models.DelegationOut.of(g, PRESETS) for g in await grants_of(app, org.mailbox_id)]

    @api.post(BASE + "/orgs/{org_id}/delegations", response_model=models.DelegationOut, status_code=201,
              openapi_extra=scoped("delegations:write"), tags=["delegations"],
              summary="Ủy quyền hộp thư tổ chức / grant a delegate rights on an organisation's mailbox")
    async def delegation_grant(caller: CallerDep, org_id: ID, body: models.DelegationIn) -> models.DelegationOut:
        mailbox_id, checked_on, target = await org_box(caller, org_id)
        await require(app, directory, caller, "delegations.manage", checked_on, target)
        org = await directory.get_org(checked_on)
        if org.status != "active":
            raise invalid(f"Tổ chức không còn hoạt động ({org.status})", f"the organisation is {org.status}")
        grantee = await app.store.get_mailbox(directory.address_of(body.grantee))
        if grantee is None or grantee.status != "active":
            raise invalid("Không có hộp thư đang hoạt động", f"no active mailbox: {body.grantee}", ["body", "grantee"])
        if not caller.viewer.is_admin or caller.token.org_id is not None:
            # A manager (or a token limited to an organisation) delegates within what it
            # manages: a person or unit of such an organisation (the console's rule).
            owner_org = await readers.org_of_address(grantee.address, include_inactive=False)
            if owner_org is None or not await can(directory, caller, "delegations.manage", owner_org):
                raise invalid("Người được ủy quyền phải thuộc cơ quan bạn quản lý",
                              "the delegate must be in an organisation you manage", ["body", "grantee"])
        letters = DELEGATION_RIGHTS[body.rights][0]
        try:
            end = parse_end(body.until.isoformat() if body.until else "", app.accounts.clock(),
                            app.settings.system.timezone)
            rights = await grant(app, mailbox_id, grantee.id, letters, granted_by=caller.actor, expires_at=end)
        except (InvalidTerm, InvalidRights, LookupError) as exc:
            raise from_text(422, "invalid", str(exc.args[0] if exc.args else exc)) from None
        return models.DelegationOut(grantee=grantee.address, rights=rights, preset=body.rights, folder=None,
                                    expires_at=end)

    @api.patch(BASE + "/orgs/{org_id}/delegations/{grantee}", response_model=models.DelegationOut,
               openapi_extra=scoped("delegations:write"), tags=["delegations"],
               summary="Đổi thời hạn ủy quyền / set or clear the end of a delegation")
    async def delegation_end(caller: CallerDep, org_id: ID, grantee: AddressP,
                             body: models.DelegationEndIn) -> models.DelegationOut:
        mailbox_id, checked_on, target = await org_box(caller, org_id)
        await require(app, directory, caller, "delegations.manage", checked_on, target)
        org = await directory.get_org(checked_on)
        if org.status != "active":
            raise invalid(f"Tổ chức không còn hoạt động ({org.status})", f"the organisation is {org.status}")
        box = await app.store.get_mailbox(directory.address_of(grantee))
        try:
            end = parse_end(body.until.isoformat() if body.until else "", app.accounts.clock(),
                            app.settings.system.timezone)
        except InvalidTerm as exc:
            raise from_text(422, "invalid", str(exc.args[0] if exc.args else exc)) from None
        if box is None or not await set_end(app, mailbox_id, box.id, end, changed_by=caller.actor):
            raise not_found("ủy quyền đang hiệu lực / delegation in force")
        rows = [g for g in await grants_of(app, mailbox_id) if g.grantee_mailbox_id == box.id]
        rows.sort(key=lambda g: g.folder_id is not None)
        if not rows:  # revoked meanwhile
            raise not_found("ủy quyền / delegation")
        return models.DelegationOut.of(rows[0], PRESETS)

    @api.delete(BASE + "/orgs/{org_id}/delegations/{grantee}", status_code=204, response_class=Response,
                openapi_extra=scoped("delegations:write"), tags=["delegations"], responses=NO_CONTENT,
                summary="Thu hồi ủy quyền / revoke a delegate's rights on an organisation's mailbox")
    async def delegation_revoke(caller: CallerDep, org_id: ID, grantee: AddressP) -> Response:
        mailbox_id, checked_on, target = await org_box(caller, org_id)
        await require(app, directory, caller, "delegations.manage", checked_on, target)
        box = await app.store.get_mailbox(directory.address_of(grantee))
        if box is None or not await revoke(app, mailbox_id, box.id, revoked_by=caller.actor):
            raise not_found("ủy quyền / delegation")
        return Response(status_code=204)
