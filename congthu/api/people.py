"""The API's endpoints for the people of the directory, as the console's organisation and
person pages (``congthu/directory/web.py``) with the same functions
(``Directory.propose_person``, ``congthu.directory.operations``):

| path | scope | the console's action |
|---|---|---|
| `GET /orgs/{id}/proposal?name=` | directory:write | `directory.people` on the organisation: the address Điều 3.2/3.3 would give now, the rule and any clash (nothing saved) |
| `POST /orgs/{id}/people` | directory:write | `directory.people`: add the person and their mailbox (201, the one-time password shown once) |
| `POST /people/{id}/rename` | directory:write | `directory.people` on their organisation: new name and address, the old one kept as an alias |
| `POST /people/{id}/departure` | directory:write | `directory.people`: Điều 4.5, the mailbox revoked and every session ended, the mail kept; optionally a successor, forwarding and an automatic reply until a day |

As in the console: another address than the rules' (``address``, Điều 3.3c) is the IT
Center's decision (administrators; anyone else 403, audited); ``expected_address`` is the
console's check that the address shown is still the one given (409 otherwise); an
organisation manager's successor must be in an organisation they manage. What the caller
may not read is 404, what they may not change 403 (audited), a rule broken 422, a person
already gone 409.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query

from congthu.api import directory_models as dm
from congthu.api import models
from congthu.api.callers import Caller, can, require
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import ApiError, from_text
from congthu.console import access
from congthu.directory import DirectoryError, NamingError, Org, Proposal, operations
from congthu.directory.pages import why
from congthu.mailrules.errors import RuleRefused

if TYPE_CHECKING:
    from congthu.app import App

SCOPE = "directory:write"
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "the address changed meanwhile, or the person "
                                                                  "already left"}}


def refusal(exc: Exception) -> ApiError:
    """A rule of the directory or of the mail rules broken: 422 with its words."""
    return from_text(422, "invalid", why(exc) if not isinstance(exc, RuleRefused) else str(exc))


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    async def changeable_org(caller: Caller, org_id: int) -> Org:
        """An organisation the caller reads (404) and whose people they manage (403, audited)."""
        org = await readers.org(caller, org_id)
        await require(app, directory, caller, "directory.people", org.id, f"org:{org.id}")
        return org

    async def override_allowed(caller: Caller, address: str | None, target: str) -> None:
        """Another address than the rules' is the IT Center's decision (Điều 3.3c): the
        console shows the field to administrators only."""
        if address and not caller.viewer.is_admin:
            await access.refused(app, caller.viewer, "directory.override", f"{target} (api:{caller.token.name})")
            raise ApiError(403, "forbidden", "Chỉ Trung tâm CNTT&TT chọn địa chỉ khác (Điều 3.3c)",
                           "only the IT Center chooses another address (article 3.3c)")

    async def proposal_of(org: Org, name: str, rank: int | None, address: str | None) -> Proposal:
        try:
            return await directory.propose_person(name, org.id, rank=rank, address=address or None)
        except (DirectoryError, NamingError) as exc:
            raise refusal(exc) from None

    @api.get(BASE + "/orgs/{org_id}/proposal", response_model=dm.ProposalOut, openapi_extra=scoped(SCOPE),
             tags=["people"], summary="Địa chỉ sẽ cấp theo Điều 3 / the address article 3 would give now")
    async def proposal(caller: CallerDep, org_id: ID,
                       name: Annotated[str, Query(min_length=1, max_length=300, pattern=models.LINE)],
                       rank: Annotated[int | None, Query(ge=1, le=99)] = None,
                       address: Annotated[str | None, Query(min_length=1, max_length=64,
                                                            pattern=models.ADDRESS)] = None) -> dm.ProposalOut:
        org = await changeable_org(caller, org_id)
        await override_allowed(caller, address, f"org:{org.id}")
        name = " ".join(name.split())
        if not name:
            raise ApiError(422, "invalid", "Thiếu họ tên", "the name is missing")
        made = await proposal_of(org, name, rank, address)
        return dm.ProposalOut.of(made, directory.full(made.local))

    @api.post(BASE + "/orgs/{org_id}/people", response_model=dm.PersonAddedOut, status_code=201,
              openapi_extra=scoped(SCOPE), tags=["people"], responses=CONFLICT,
              summary="Thêm cán bộ và hộp thư (Điều 3) / add a person and their mailbox (article 3)")
    async def add(caller: CallerDep, org_id: ID, body: dm.PersonIn) -> dm.PersonAddedOut:
        org = await changeable_org(caller, org_id)
        await override_allowed(caller, body.address, f"org:{org.id}")
        name = " ".join(body.name.split())
        if not name:
            raise ApiError(422, "invalid", "Thiếu họ tên", "the name is missing")
        if body.expected_address is not None:
            shown = directory.full((await proposal_of(org, name, body.rank, body.address)).local)
            if shown != directory.address_of(body.expected_address):
                raise ApiError(409, "conflict", f"Địa chỉ vừa thay đổi, nay là {shown}; hãy xem lại",
                               f"the address changed meanwhile, it is now {shown}; check again")
        try:
            person, made, password = await operations.add_person(
                app, directory, caller.actor, org, name, title=body.title.strip(), rank=body.rank,
                override=body.address, client=caller.client)
        except (DirectoryError, NamingError) as exc:
            raise refusal(exc) from None
        return dm.PersonAddedOut(person=models.PersonOut.of(person),
                                 proposal=dm.ProposalOut.of(made, person.address), password=password)

    @api.post(BASE + "/people/{person_id}/rename", response_model=dm.PersonRenamedOut, openapi_extra=scoped(SCOPE),
              tags=["people"], summary="Đổi tên (địa chỉ cũ vẫn nhận thư) / rename (the old address still delivers)")
    async def rename(caller: CallerDep, person_id: ID, body: dm.PersonRenameIn) -> dm.PersonRenamedOut:
        person = await readers.person(caller, person_id)
        await require(app, directory, caller, "directory.people", person.org_id, f"person:{person.id}")
        try:
            renamed, made, old = await operations.rename_person(app, directory, caller.actor, person,
                                                                " ".join(body.name.split()), client=caller.client)
        except (DirectoryError, NamingError) as exc:
            raise refusal(exc) from None
        return dm.PersonRenamedOut(person=models.PersonOut.of(renamed),
                                   proposal=dm.ProposalOut.of(made, renamed.address), old_address=old)

    @api.post(BASE + "/people/{person_id}/departure", response_model=dm.DepartureOut, openapi_extra=scoped(SCOPE),
              tags=["people"], responses=CONFLICT,
              summary="Nghỉ việc, chuyển công tác (Điều 4.5) / departure (article 4.5)")
    async def departure(caller: CallerDep, person_id: ID, body: dm.DepartureIn) -> dm.DepartureOut:
        person = await readers.person(caller, person_id)
        await require(app, directory, caller, "directory.people", person.org_id, f"person:{person.id}")
        if person.status != "active":
            raise ApiError(409, "conflict", "Người này đã nghỉ", "already left")

        async def may_choose(org_id: int) -> bool:
            return await can(directory, caller, "directory.people", org_id)

        whole = caller.viewer.is_admin and caller.token.org_id is None
        try:
            left, handover = await operations.departure(
                app, directory, caller.actor, person, forward=body.forward, reply=body.reply, until=body.until,
                successor=body.successor, may_choose=None if whole else may_choose, client=caller.client)
        except (DirectoryError, NamingError, RuleRefused) as exc:
            raise refusal(exc) from None
        return dm.DepartureOut(person=models.PersonOut.of(left),
                               handover=dm.HandoverOut.of(handover) if handover else None)

