"""The API's export of a mailbox's mail (Điều 4.4: a reclaimed mailbox's mail is kept and
exportable; Điều 4.5: a leaver's mail handed over or archived), as the console's
directory pages (``/quan-tri/danh-ba/hop-thu/<id>.mbox``) and ``congthu reclaim export``:

| path | scope | the console's action |
|---|---|---|
| `GET /mailboxes/{address}/export?format=mbox` | mailboxes:export | `mailbox.export` (administrators) |
| `GET /mailboxes/{address}/export?format=zip` | mailboxes:export | the same, as a zip of .eml files |

``mbox`` is streamed message by message as the console streams it (mboxrd,
``congthu.store.export.mbox_chunks``: the flags in Status / X-Status, the folder in
X-Congthu-Folder); ``zip`` is what ``congthu reclaim export FILE.zip`` writes
(``congthu.requests.reclaim.export``: ``<folder>/<uid>.eml`` exactly as received and
``index.csv`` with each message's flags), made in a temporary file then sent and
removed. A mailbox of any status (active, reclaimed, of a leaver).

The one check is the console's: ``mailbox.export`` (``mailboxes.export``: IT Center
administrators only), decided on the mailbox's organisation so that a token limited to
an organisation exports only its mailboxes; a mailbox whose organisation the caller may
not read is 404 like one that does not exist, a refusal 403 and audited, and every export
is audited (``mailbox.exported``, with its format) as the console does.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from congthu import audit
from congthu.api import models
from congthu.api.callers import can, require
from congthu.api.endpoints import BASE, CallerDep, Readers, scoped
from congthu.api.errors import not_found
from congthu.console.pages import DOWNLOAD_HEADERS
from congthu.requests import reclaim
from congthu.store.export import mbox_chunks

if TYPE_CHECKING:
    from congthu.app import App

MEDIA = {"mbox": "application/mbox", "zip": "application/zip"}
AddressP = Annotated[str, PathParam(min_length=3, max_length=320, pattern=models.ADDRESS)]


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    @api.get(BASE + "/mailboxes/{address}/export", openapi_extra=scoped("mailboxes:export"), tags=["mailboxes"],
             response_class=Response, responses={200: {"content": {
                 m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA.values()}}},
             summary="Xuất thư của hộp thư (Điều 4.4, 4.5) / export a mailbox's mail (mbox or a zip of .eml)")
    async def export(caller: CallerDep, address: AddressP,
                     format: Annotated[Literal["mbox", "zip"], Query(
                         description="mbox (mboxrd) or zip (.eml files and index.csv)")] = "mbox") -> Response:
        mailbox = await app.store.get_mailbox(address.lower()) if "@" in address else None
        if mailbox is None:
            raise not_found()
        org_id = await readers.org_of_address(mailbox.address)
        if not await can(directory, caller, "directory.read", org_id):
            raise not_found()
        await require(app, directory, caller, "mailbox.export", org_id, mailbox.address)
        await audit.record(app, "mailbox.exported", caller.actor, mailbox.address, {"format": format},
                           client=caller.client)
        name = quote(f"{mailbox.address}.{format}")
        headers = {**DOWNLOAD_HEADERS, "Content-Disposition": f"attachment; filename*=UTF-8''{name}"}
        if format == "mbox":
            return StreamingResponse(mbox_chunks(app.store, mailbox.id), media_type=MEDIA["mbox"], headers=headers)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="congthu-export-"))
        try:
            made = work / f"{mailbox.id}.zip"
            await reclaim.export(app, mailbox.address, made)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, work, True)
            raise
        return FileResponse(made, media_type=MEDIA["zip"], headers=headers,
                            background=BackgroundTask(shutil.rmtree, work, True))
