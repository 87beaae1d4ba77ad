"""The API's endpoints for the quarantine (Điều 9.9), as the console's page
``/quan-tri/cach-ly`` (``congthu/content/web.py``) and ``congthu quarantine``: the
messages the content pipeline held, for administrators (``quarantine.manage``).

| path | scope | what |
|---|---|---|
| `GET /quarantine` | quarantine:manage | the held messages, newest first (never their content) |
| `POST /quarantine/{id}/release` | quarantine:manage | delivered to the local recipients' INBOX as it came (``quarantine.release``) |
| `DELETE /quarantine/{id}` | quarantine:manage | deleted for good (``quarantine.delete_held``) |

Anyone else is refused (403, audited as ``access.denied``) before anything is read, so ids reveal nothing; a token limited to one organisation is
refused too (the quarantine is the whole system's). Releases and deletions are audited by
the content package (``content.released``, ``content.deleted``) with the caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Response

from congthu.api import models
from congthu.api.callers import require
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import not_found
from congthu.content import quarantine

if TYPE_CHECKING:
    from congthu.app import App

ACTION = "quarantine.manage"


def routes(app: App, api: APIRouter, readers: Readers) -> None:
    directory = readers.directory

    @api.get(BASE + "/quarantine", response_model=list[models.HeldOut], openapi_extra=scoped("quarantine:manage"),
             tags=["quarantine"], summary="Thư bị giữ lại (Điều 9.9) / held messages")
    async def listing(caller: CallerDep) -> list[models.HeldOut]:
        await require(app, directory, caller, ACTION, None, "quarantine")
        held = sorted(await quarantine.list_held(app), key=lambda h: (h.held_at, h.id), reverse=True)
        return [models.HeldOut.of(h) for h in held]

    @api.post(BASE + "/quarantine/{held_id}/release", response_model=models.HeldOut,
              openapi_extra=scoped("quarantine:manage"), tags=["quarantine"],
              summary="Giải phóng: chuyển vào hộp thư đến của người nhận / release to the local recipients")
    async def release(caller: CallerDep, held_id: ID) -> models.HeldOut:
        await require(app, directory, caller, ACTION, None, f"quarantine:{held_id}")
        done = await quarantine.release(app, held_id, actor=caller.actor)
        if done is None:
            raise not_found()
        return models.HeldOut.of(done)

    @api.delete(BASE + "/quarantine/{held_id}", status_code=204, response_class=Response,
                openapi_extra=scoped("quarantine:manage"), tags=["quarantine"],
                responses={204: {"description": "deleted"}}, summary="Xóa hẳn / delete for good")
    async def delete(caller: CallerDep, held_id: ID) -> Response:
        await require(app, directory, caller, ACTION, None, f"quarantine:{held_id}")
        if await quarantine.delete_held(app, held_id, actor=caller.actor) is None:
            raise not_found()
        return Response(status_code=204)
