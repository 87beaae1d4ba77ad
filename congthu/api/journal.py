"""The API's endpoints for the journal of inter-organisation mail (Điều 7.3–7.5), as the
console's page ``/quan-tri/luu-thu`` (``congthu/journal/web.py``): the records office
(``records`` role, administrators) searches and reads the mail kept as sent.

| path | scope | what |
|---|---|---|
| `GET /journal?q=&address=&from=&to=&type=&limit=` | journal:read | entries, newest first (``entries.search``) |
| `GET /journal/{id}` | journal:read | one entry's record, its bytes checked against its SHA-256 (``entries.read_entry``) |
| `GET /journal/{id}/eml` | journal:read | the message exactly as kept (`message/rfc822`) |

Who: the console's ``journal.read`` (403 for a search without it, 404 for an entry, as
the console's pages). A records grant scoped to an organisation sees only the entries that
organisation or its sub-units sent or received; a token limited to an organisation
narrows that further to its organisation. Every search and read is audited by the
journal (``journal.search``, ``journal.read``) with the owner's address, and the call by
the API (``api.call``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Response

from congthu.api import models
from congthu.api.callers import Caller
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import forbidden, invalid, not_found
from congthu.console import access
from congthu.content.doctypes import lookup
from congthu.journal import entries
from congthu.requests.calendar import VIETNAM

if TYPE_CHECKING:
    from congthu.app import App

EARLIEST, LATEST = date(1971, 1, 1), date(9998, 12, 31)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), VIETNAM)


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    async def within(caller: Caller) -> set[str] | None:
        """The addresses of the token's organisation and its sub-units (None: no limit)."""
        if caller.token.org_id is None:
            return None
        return await directory.org_addresses([caller.token.org_id])

    def client(caller: Caller) -> str:
        return f"api:{caller.token.name}:{caller.client}"[:200]

    @api.get(BASE + "/journal", response_model=list[models.JournalEntryOut], openapi_extra=scoped("journal:read"),
             tags=["journal"], summary="Tìm thư lưu giữa các cơ quan (Điều 7.3–7.5) / search the journal")
    async def search(caller: CallerDep, q: Annotated[str, Query(max_length=200, pattern=models.TEXT)] = "",
                     address: Annotated[str, Query(max_length=320, pattern=models.TEXT)] = "",
                     first: Annotated[models.Day | None, Query(alias="from", description="first day (Vietnam)")
                                      ] = None,
                     last: Annotated[models.Day | None, Query(alias="to", description="last day, inclusive")] = None,
                     doc_type: Annotated[str, Query(alias="type", max_length=40, pattern=models.TEXT,
                                                    description="a document type (Điều 7.1), key or name")] = "",
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[models.JournalEntryOut]:
        if not await access.can(directory, caller.viewer, "journal.read"):
            await access.refused(app, caller.viewer, "journal.read", f"journal (api:{caller.token.name})")
            raise forbidden()
        kind = lookup(doc_type) if doc_type else None
        if doc_type and kind is None:
            raise invalid("Loại văn bản không có", f"unknown document type {doc_type}", ["query", "type"])
        # Days outside any mail's life bound nothing (and stay clear of datetime's ends).
        since = day_start(first) if first and first > EARLIEST else None
        until = day_start(last + timedelta(days=1)) if last and last < LATEST else None
        found = await entries.search(app, caller.viewer.mailbox_id, text=q, address=address,
                                     since=since, until=until,
                                     document_type=kind.key if kind else None, limit=limit,
                                     client=client(caller), within=await within(caller))
        return [models.JournalEntryOut.of(e) for e in found]

    async def entry(caller: Caller, entry_id: int) -> tuple[entries.Entry, bytes]:
        if not await access.can(directory, caller.viewer, "journal.read"):
            raise not_found()
        try:
            return await entries.read_entry(app, caller.viewer.mailbox_id, entry_id, client=client(caller),
                                            within=await within(caller))
        except entries.JournalError:
            raise not_found() from None

    @api.get(BASE + "/journal/{entry_id}", response_model=models.JournalEntryOut,
             openapi_extra=scoped("journal:read"), tags=["journal"],
             summary="Một thư lưu (đã kiểm tra SHA-256) / one journal entry (its SHA-256 checked)")
    async def read(caller: CallerDep, entry_id: ID) -> models.JournalEntryOut:
        found, _raw = await entry(caller, entry_id)
        return models.JournalEntryOut.of(found)

    @api.get(BASE + "/journal/{entry_id}/eml", openapi_extra=scoped("journal:read"), tags=["journal"],
             response_class=Response,
             responses={200: {"content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}},
             summary="Thư gốc, đúng từng byte / the message as kept, byte for byte")
    async def raw(caller: CallerDep, entry_id: ID) -> Response:
        found, data = await entry(caller, entry_id)
        return Response(data, media_type="message/rfc822", headers={
            "Content-Disposition": f'attachment; filename="luu-thu-{found.id}.eml"', "Cache-Control": "no-store"})
