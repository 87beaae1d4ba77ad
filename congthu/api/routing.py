"""What every call of the API goes through, in this order (``ApiRoute``, the routes'
class):

1. the token (401, RFC 6750), with calls without a valid one limited per client address;
2. the rate limit of the token (429 with Retry-After), shared by every worker and node
   (``limits.py``);
3. the endpoint's scope (403 ``insufficient_scope``), before any input is read;
4. the body: at most ``api.max_body_kib`` (413, counted while it is read, whatever
   Content-Length says), ``application/json`` only (415); an upload endpoint (a request's
   scanned letter) says in its ``x-body`` (``upload``) its media type and its own bound;
5. the endpoint, whose input FastAPI checks against its Pydantic models (400 for a body
   that is not JSON, 422 for one that breaks a rule); the endpoint decides through the
   console's one check (``callers.require``: 404 for what the caller may not read,
   403 for what they may not do);
6. the audit trail: one ``api.call`` record per call (token, method, path, status),
   written with the token's last use in one transaction; a refused token is an
   ``api.refused`` record; every answer other than success is a problem document
   (``errors.py``), never a traceback.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.engine import Connection
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from congthu import audit
from congthu.api.callers import Caller, authenticate
from congthu.api.errors import ApiError, problem, validation_errors
from congthu.api.limits import SharedLimiter
from congthu.api.tokens import Tokens, mark_used
from congthu.db import DatabaseUnavailable
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

# The key of an endpoint's scope in its OpenAPI operation (shown to clients too).
SCOPE_KEY = "x-scope"
# The key of an upload endpoint's body in its OpenAPI operation: {"media": ..., "max_bytes": ...}.
BODY_KEY = "x-body"
BODY_METHODS = ("POST", "PUT", "PATCH")
JSON_BODY = {"media": "application/json"}
BOUNDARY = re.compile(r';\s*boundary="?[^";\s]', re.IGNORECASE)


def upload(media: str, max_bytes: int) -> dict[str, Any]:
    """The ``openapi_extra`` of an endpoint taking ``media`` (multipart/form-data) of at most
    ``max_bytes`` instead of JSON (shown to clients too)."""
    return {BODY_KEY: {"media": media, "max_bytes": max_bytes}}


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> None:
    """Read the body into the request (where FastAPI finds it), refusing past ``limit``
    bytes however the client announced its length."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge
    size = 0
    chunks: list[bytes] = []
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge
            chunks.append(chunk)
    except ClientDisconnect:  # gone before its body was whole: nobody reads the answer
        raise ApiError(400, "incomplete", "Nội dung chưa gửi hết", "the body was cut short") from None
    request._body = b"".join(chunks)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class Service:
    """The API's state on one App: its tokens and rate limits."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.tokens = Tokens(app)
        self.limiter = SharedLimiter(app.db)

    async def handle(self, request: Request, inner: Callable[[Request], Coroutine[Any, Any, Response]],
                     scope: str | None, body: dict[str, Any] | None = None) -> Response:
        if scope is None:  # public: the OpenAPI document and its page
            return await self._guarded(request, inner)
        settings = self.app.settings.api
        client = client_of(request)
        caller: Caller | None = None
        started = time.monotonic()
        try:
            try:
                caller = await authenticate(self.app, self.tokens, request.headers.get("authorization", ""), client)
            except ApiError as refused:
                if await self.limiter.take(f"address:{client}", settings.refused_per_minute):
                    event("api.refused_flood", client=client)  # not audited one by one: the writer is shared
                    raise ApiError(429, "rate_limited", "Quá nhiều lần gọi không hợp lệ",
                                   "too many calls without a valid token", headers={"Retry-After": "60"}) from None
                await audit.record(self.app, "api.refused", "-", request.url.path[:200],
                                   {"method": request.method, "reason": refused.detail}, client=client)
                raise
            wait = await self.limiter.take(f"token:{caller.token.id}", settings.calls_per_minute)
            if wait:
                raise ApiError(429, "rate_limited", "Quá nhiều lần gọi, hãy thử lại sau",
                               "too many calls, try again later", headers={"Retry-After": str(int(wait) + 1)})
            request.state.caller = caller
            if scope and scope not in caller.token.scopes:
                raise ApiError(403, "insufficient_scope", f"Mã truy cập thiếu phạm vi {scope}",
                               f"the token lacks the scope {scope}",
                               headers={"WWW-Authenticate": f'Bearer realm="congthu-api", error="insufficient_scope", '
                                                            f'scope="{scope}"'})
            if request.method in BODY_METHODS:
                await self._check_body(request, body or JSON_BODY)
            response = await self._guarded(request, inner)
        except ApiError as exc:
            response = exc.response()
        except DatabaseUnavailable:  # the token or the shared rate limit could not be read
            response = problem(503, "unavailable", "Cơ sở dữ liệu đang bận, hãy thử lại / the database is busy, "
                                                   "try again", headers={"Retry-After": "5"})
        if caller is not None:
            await self._audit(caller, request, response.status_code, time.monotonic() - started)
        return response

    async def _check_body(self, request: Request, body: dict[str, Any]) -> None:
        """The body read whole within its bound (413), of the endpoint's media type (415);
        JSON in UTF-8 (400)."""
        media = str(body.get("media", "application/json"))
        kib = self.app.settings.api.max_body_kib
        limit = int(body.get("max_bytes", kib * 1024))
        try:
            await read_body(request, limit)
        except TooLarge:
            shown = f"{kib} KiB" if "max_bytes" not in body else f"{limit // 1024} KiB"
            raise ApiError(413, "too_large", f"Nội dung quá lớn (tối đa {shown})",
                           f"the body is too large (at most {shown})", headers={"Connection": "close"}) from None
        sent = request.headers.get("content-type", "")
        if media != "application/json":
            if sent.split(";", 1)[0].strip().lower() != media:
                raise ApiError(415, "unsupported_media_type", f"Chỉ nhận {media}", f"only {media} is accepted")
            if media.startswith("multipart/") and not BOUNDARY.search(sent):
                raise ApiError(400, "bad_multipart", f"{media} thiếu boundary",
                               f"{media} without its boundary (RFC 2046 section 5.1.1)")
            return
        if request._body and not is_json(sent):
            raise ApiError(415, "unsupported_media_type", "Chỉ nhận application/json",
                           "only application/json is accepted")
        try:  # RFC 8259 section 8.1: JSON between systems is UTF-8
            request._body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad_json", "Nội dung không phải UTF-8", "the body is not UTF-8") from None

    async def _guarded(self, request: Request, inner: Callable[[Request], Coroutine[Any, Any, Response]]) -> Response:
        """The endpoint; whatever goes wrong becomes a problem document."""
        try:
            return await inner(request)
        except ApiError as exc:
            return exc.response()
        except RequestValidationError as exc:
            return validation_errors(list(exc.errors())).response()
        except HTTPException as exc:  # FastAPI's, and Starlette's (a multipart body without its boundary)
            return problem(exc.status_code, "http_error", str(exc.detail))
        except DatabaseUnavailable:
            return problem(503, "unavailable", "Cơ sở dữ liệu đang bận, hãy thử lại / the database is busy, try again",
                           headers={"Retry-After": "5"})
        except Exception as exc:  # a defect: logged with its traceback, never sent
            event("api.error", path=request.url.path, error=repr(exc)[:500],
                  traceback=traceback.format_exc()[-4000:])
            return problem(500, "internal", "Lỗi máy chủ / internal server error")

    async def _audit(self, caller: Caller, request: Request, status: int, seconds: float) -> None:
        now = self.tokens.now()
        details = {"token": caller.token.id, "method": request.method, "path": request.url.path[:200],
                   "status": status, "ms": round(seconds * 1000, 1)}

        def write(conn: Connection) -> None:
            mark_used(conn, caller.token.id, now, caller.client)
            audit.append(conn, at=now, action="api.call", actor=caller.actor, target=request.url.path[:200],
                         details=details, client=caller.client)

        try:
            await self.app.db.run_write(write)
        except DatabaseUnavailable:
            event("api.audit_failed", **details)


def route_class(service: Service) -> type[APIRoute]:
    """The route class of one App's API: every route's handler goes through ``service``."""

    class ApiRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            inner = super().get_route_handler()
            scope = (self.openapi_extra or {}).get(SCOPE_KEY)
            body = (self.openapi_extra or {}).get(BODY_KEY)

            async def handler(request: Request) -> Response:
                return await service.handle(request, inner, scope, body)

            return handler

    return ApiRoute
