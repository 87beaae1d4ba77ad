"""The API's endpoints for reorganising the directory (Điều 2.5: organisations are
renamed, merged, split and dissolved; Điều 3.1: their addresses), as the console's guided
operations (``congthu/directory/web.py``, ``/quan-tri/danh-ba/don-vi/<id>/doi-ten``,
``sap-nhap``, ``chia-tach``, ``giai-the``) with the same functions
(``congthu.directory.operations``: ``plan``, ``reorganise``):

| path | scope | what |
|---|---|---|
| `POST /orgs/{id}/rename` | orgs:write | a new name and address (3.1); the old addresses of it and its sub-units keep delivering as aliases |
| `POST /orgs/{id}/merge` | orgs:write | merge into another: people, sub-units, mail and the old address move there |
| `POST /orgs/{id}/split` | orgs:write | move chosen sub-units and people off into a new organisation |
| `POST /orgs/{id}/dissolve` | orgs:write | end it; with a successor its address, people and mail move there |

Each takes ``dry_run``: true answers what would happen to every address, person, unit and
mailbox (the console's preview) and changes nothing; false carries it out (audited as in
the console) and answers the same lines with the addresses changed. The console's action
``directory.orgs`` (IT Center administrators) on the organisation, and on the other
organisation named (``into``, ``successor``) for a token limited to an organisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from congthu.api import directory_models as dm
from congthu.api import models
from congthu.api.callers import Caller, require
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import from_text
from congthu.directory import DirectoryError, NamingError, operations
from congthu.directory.pages import why

if TYPE_CHECKING:
    from congthu.app import App

SCOPE = "orgs:write"
# The API's words -> the console's (``operations.REORGANISATIONS``).
ACTIONS = {"rename": operations.RENAME, "merge": operations.MERGE, "split": operations.SPLIT,
           "dissolve": operations.DISSOLVE}


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    async def run(caller: Caller, org_id: int, action: str, dry_run: bool, *, name: str = "",
                  other: int | None = None, units: list[int] | None = None,
                  people: list[int] | None = None) -> dm.ReorganisationOut:
        org = await readers.org(caller, org_id)
        await require(app, directory, caller, "directory.orgs", org.id, f"org:{org.id}")
        if other is not None:
            # The organisation named must be one the caller may reorganise too (a token
            # limited to an organisation stays within it): 404 as for any other.
            await readers.org(caller, other, "directory.orgs")
        name = " ".join(name.split())
        words = ACTIONS[action]
        try:
            plan = await operations.plan(app, directory, org, words, name=name, other=other, units=units,
                                         people=people)
            if dry_run:
                return dm.ReorganisationOut(action=action, dry_run=True, lines=plan["lines"],  # type: ignore[arg-type]
                                            org=models.OrgOut.of(org), changed=[], new_org=None, password=None)
            done = await operations.reorganise(app, directory, caller.actor, org, words, name=name, other=other,
                                               units=units, people=people, client=caller.client)
        except (DirectoryError, NamingError) as exc:
            raise from_text(422, "invalid", why(exc)) from None
        return dm.ReorganisationOut(
            action=action, dry_run=False, lines=plan["lines"], org=models.OrgOut.of(done.org),  # type: ignore[arg-type]
            changed=[dm.AddressChange(old=old, new=new) for old, new in done.changed],
            new_org=models.OrgOut.of(done.new_org) if done.new_org else None, password=done.password)

    @api.post(BASE + "/orgs/{org_id}/rename", response_model=dm.ReorganisationOut, openapi_extra=scoped(SCOPE),
              tags=["reorganisation"], summary="Đổi tên tổ chức (Điều 3.1) / rename an organisation (article 3.1)")
    async def rename(caller: CallerDep, org_id: ID, body: dm.OrgRenameIn) -> dm.ReorganisationOut:
        return await run(caller, org_id, "rename", body.dry_run, name=body.name)

    @api.post(BASE + "/orgs/{org_id}/merge", response_model=dm.ReorganisationOut, openapi_extra=scoped(SCOPE),
              tags=["reorganisation"], summary="Sáp nhập vào tổ chức khác / merge into another organisation")
    async def merge(caller: CallerDep, org_id: ID, body: dm.OrgMergeIn) -> dm.ReorganisationOut:
        return await run(caller, org_id, "merge", body.dry_run, other=body.into)

    @api.post(BASE + "/orgs/{org_id}/split", response_model=dm.ReorganisationOut, openapi_extra=scoped(SCOPE),
              tags=["reorganisation"],
              summary="Chia tách sang tổ chức mới / split units and people off into a new organisation")
    async def split(caller: CallerDep, org_id: ID, body: dm.OrgSplitIn) -> dm.ReorganisationOut:
        return await run(caller, org_id, "split", body.dry_run, name=body.name, units=sorted(set(body.units)),
                         people=sorted(set(body.people)))

    @api.post(BASE + "/orgs/{org_id}/dissolve", response_model=dm.ReorganisationOut, openapi_extra=scoped(SCOPE),
              tags=["reorganisation"], summary="Giải thể tổ chức / dissolve an organisation")
    async def dissolve(caller: CallerDep, org_id: ID, body: dm.OrgDissolveIn) -> dm.ReorganisationOut:
        return await run(caller, org_id, "dissolve", body.dry_run, other=body.successor)
