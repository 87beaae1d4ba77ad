"""What every module of the API's endpoints shares (``web.py``, ``addresses.py``,
``workdays.py``, ``journal.py``, ``quarantine.py``): the base path, the caller (the
dependency ``CallerDep``, authenticated by ``routing.Service`` before the endpoint
runs), the scope marker of an operation, the id parameters, and ``Readers``: the things
of the URL the caller may read, else 404 exactly as for what does not exist (the
console's rule, ``congthu.console.access``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Request

from congthu.api.callers import Caller, can
from congthu.api.errors import not_found
from congthu.api.routing import SCOPE_KEY
from congthu.directory import DirectoryError, Org, Person
from congthu.requests.workflow import Request as WorkRequest
from congthu.requests.workflow import RequestError, Requests

if TYPE_CHECKING:
    from congthu.app import App

BASE = "/api/v1"
ID = Annotated[int, Path(ge=1, le=2_147_483_647)]


def caller_of(request: Request) -> Caller:
    """The caller ``routing.Service`` authenticated before the endpoint runs."""
    caller: Caller = request.state.caller
    return caller


CallerDep = Annotated[Caller, Depends(caller_of)]


def scoped(scope: str) -> dict[str, Any]:
    """The operation's scope, read by ``routing.ApiRoute`` and shown in the document."""
    return {SCOPE_KEY: scope}


class Readers:
    """The organisations, people and requests of one App as the caller may read them."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.workflow = Requests(app)
        self.directory = self.workflow.directory

    async def org(self, caller: Caller, org_id: int | str, action: str = "directory.read") -> Org:
        try:
            org = await self.directory.get_org(org_id)
        except DirectoryError:
            raise not_found() from None
        if not await can(self.directory, caller, action, org.id):
            raise not_found()
        return org

    async def person(self, caller: Caller, ref: int | str) -> Person:
        try:
            person = await self.directory.get_person(ref)
        except DirectoryError:
            raise not_found() from None
        if not await can(self.directory, caller, "directory.read", person.org_id):
            raise not_found()
        return person

    async def request(self, caller: Caller, request_id: int) -> WorkRequest:
        try:
            found = await self.workflow.get(request_id)
        except RequestError:
            raise not_found() from None
        if not await can(self.directory, caller, "read", found.org_id):
            raise not_found()
        return found

    async def org_of_address(self, address: str, *, include_inactive: bool = True) -> int | None:
        """The organisation a mailbox's address belongs to: its person's, or the
        organisation (or sub-unit) whose mailbox it is; None outside the directory."""
        try:
            return (await self.directory.get_person(address)).org_id
        except DirectoryError:
            try:
                return (await self.directory.get_org(address, include_inactive=include_inactive)).id
            except DirectoryError:
                return None
