"""The ASGI application: FastAPI with the routers packages contribute.

A package that serves pages or API has ``web.py`` with ``router(app) -> APIRouter``,
found by ``congthu.plugins.discover``.

``/healthz`` is public (load balancers ask it); ``/metrics`` only for the addresses of
``web.metrics_allow`` or with ``web.metrics_token`` (RFC 6750 bearer token), since it
shows logins, refusals and traffic. FastAPI's generated ``/openapi.json``, ``/docs`` and
``/redoc`` are not served: they describe every route to whoever asks.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from congthu import __version__, metrics
from congthu.app import App
from congthu.plugins import discover


def create_app(app: App) -> FastAPI:
    api = FastAPI(title="Công Thư", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    api.state.congthu = app
    web = app.settings.web
    metrics_networks = [ipaddress.ip_network(n, strict=False) for n in web.metrics_allow]

    def may_read_metrics(request: Request) -> bool:
        if web.metrics_token:
            scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                                  web.metrics_token.encode()):
                return True
        try:
            client = ipaddress.ip_address(request.client.host if request.client else "")
        except ValueError:
            return False
        if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
            client = client.ipv4_mapped
        return any(client in network for network in metrics_networks)

    @api.get("/healthz")
    async def healthz() -> Response:
        """Liveness and readiness: the database answers and the blob store is writable,
        and the node is not draining (stopping on SIGTERM: 503 at once, so a load
        balancer sends it no new connection while its sessions finish)."""
        checks: dict[str, str] = {}
        if app.draining:
            checks["node"] = "draining"
        try:
            await app.db.run_small_read(_select_one)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc}"
        checks["blobs"] = await asyncio.to_thread(app.store.blobs.health)
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if healthy else "error", "version": __version__, **checks},
                            status_code=200 if healthy else 503)

    @api.get("/metrics")
    async def prometheus(request: Request) -> Response:
        if not may_read_metrics(request):
            if web.metrics_token:  # RFC 6750 section 3
                return PlainTextResponse("Cần mã truy cập / token required\n", status_code=401,
                                         headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
            return PlainTextResponse("Không được phép / forbidden\n", status_code=403)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for module in discover("web"):
        api.include_router(module.router(app))
    return api


def _select_one(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))
