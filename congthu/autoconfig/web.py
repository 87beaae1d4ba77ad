"""The routes clients configure themselves from:

- ``GET /.well-known/autoconfig/mail/config-v1.1.xml`` (Thunderbird asks the mail
  domain) and ``GET /mail/config-v1.1.xml`` (the ``autoconfig.<domain>`` host), with the
  optional ``emailaddress`` Thunderbird adds;
- ``POST /autodiscover/autodiscover.xml`` and ``/Autodiscover/Autodiscover.xml``
  (Outlook, on the domain or ``autodiscover.<domain>``);
- ``GET /autoconfig/apple.mobileconfig?emailaddress=...``: the Apple profile, signed. It
  holds no secret (the device asks for the password), so it needs no login; the webmail
  links to it with the signed-in user's address.

An address that is not well formed or not ours is refused (400, or autodiscover's error
600) and never written into a document.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from congthu import log
from congthu.autoconfig import apple, autodiscover, thunderbird
from congthu.autoconfig.servers import BadAddress, check_address, client_servers

if TYPE_CHECKING:
    from congthu.app import App

XML = "application/xml; charset=utf-8"
MOBILECONFIG = "application/x-apple-aspen-config"


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None past ``limit`` octets (read no further)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def router(app: App) -> APIRouter:
    api = APIRouter()
    settings = app.settings

    async def thunderbird_config(request: Request) -> Response:
        address = request.query_params.get("emailaddress")
        if address is not None:
            try:
                check_address(settings, address)
            except BadAddress as exc:
                return PlainTextResponse(f"{exc}\n", status_code=404)
        body = thunderbird.config_xml(settings, client_servers(settings))
        return Response(body, media_type=XML, headers={"Cache-Control": "max-age=3600"})

    for path in ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"):
        api.add_api_route(path, thunderbird_config, methods=["GET"], include_in_schema=False)

    async def outlook(request: Request) -> Response:
        data = await _read_body(request, autodiscover.MAX_REQUEST)
        try:
            if data is None:
                raise autodiscover.BadRequest("request too large")
            asked = autodiscover.parse_request(data)
            email = check_address(settings, asked.email)
        except (autodiscover.BadRequest, BadAddress):
            return Response(autodiscover.error_xml(600, "Invalid Request"), media_type=XML)
        if asked.schema != autodiscover.OUTLOOK_SCHEMA:
            return Response(autodiscover.error_xml(601, "Provider is not available for requested schema"),
                            media_type=XML)
        return Response(autodiscover.response_xml(client_servers(settings), email), media_type=XML)

    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml",
                 "/AutoDiscover/AutoDiscover.xml"):
        api.add_api_route(path, outlook, methods=["POST"], include_in_schema=False)

    @api.get("/autoconfig/apple.mobileconfig", include_in_schema=False)
    async def apple_profile(request: Request) -> Response:
        try:
            address = check_address(settings, request.query_params.get("emailaddress", ""))
        except BadAddress as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        data = apple.profile(settings, client_servers(settings), address)
        try:
            data = await asyncio.to_thread(apple.sign, data, app.path(settings.tls.cert),
                                           app.path(settings.tls.key))
        except (OSError, ValueError) as exc:
            # Unsigned still installs (the device says "not verified"): better than none.
            log.event("autoconfig.profile_unsigned", reason=str(exc))
        local = address.split("@", 1)[0]
        return Response(data, media_type=MOBILECONFIG, headers={
            "Content-Disposition": f'attachment; filename="{local}.mobileconfig"'})

    return api
