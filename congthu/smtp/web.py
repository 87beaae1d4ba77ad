"""The MTA-STS policy we publish (RFC 8461 section 3.2), on the web listener:
``GET /.well-known/mta-sts.txt`` as text/plain, for ``https://mta-sts.<domain>/``
(``mtasts.policy_text``; the ``_mta-sts`` TXT record is printed by ``congthu dns``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from congthu.smtp import mtasts

if TYPE_CHECKING:
    from congthu.app import App


def router(app: App) -> APIRouter:
    api = APIRouter()

    @api.get("/.well-known/mta-sts.txt", include_in_schema=False)
    async def policy() -> PlainTextResponse:
        return PlainTextResponse(mtasts.policy_text(app), headers={"Cache-Control": "max-age=3600"})

    return api
