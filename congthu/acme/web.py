"""``GET /.well-known/acme-challenge/<token>`` (RFC 8555 section 8.3): the key
authorisation as ``application/octet-stream``, on the HTTP and HTTPS ports alike (the
CA asks on port 80; section 8.3 lets it follow a redirect, we need none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from congthu.acme import challenges

if TYPE_CHECKING:
    from congthu.app import App


def router(app: App) -> APIRouter:
    routes = APIRouter()

    @routes.get("/.well-known/acme-challenge/{token}", include_in_schema=False)
    async def challenge(token: str) -> Response:
        text = challenges.answer(app, token)
        if text is None:
            return PlainTextResponse("Không có / not found", status_code=404)
        return Response(text.encode("ascii"), media_type="application/octet-stream")

    return routes
