"""The ASGI application: FastAPI with the routers packages contribute.

A package that serves pages or API has ``web.py`` with ``router(app) -> APIRouter``;
``ROUTER_MODULES`` lists them.
"""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from congthu import __version__, metrics
from congthu.app import App
from congthu.plugins import optional_modules

ROUTER_MODULES = [
    "congthu.accounts.web",
    "congthu.directory.web",
    "congthu.web.mail",
    "congthu.web.admin",
]


def create_app(app: App) -> FastAPI:
    api = FastAPI(title="Công Thư", version=__version__, docs_url=None, redoc_url=None)
    api.state.congthu = app

    @api.get("/healthz")
    async def healthz() -> Response:
        """Liveness and readiness: the database answers and the blob store is writable."""
        checks: dict[str, str] = {}
        try:
            async with app.db.reader.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc}"
        checks["blobs"] = "ok" if app.store.blobs.tmp.is_dir() else "error: missing"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if healthy else "error", "version": __version__, **checks},
                            status_code=200 if healthy else 503)

    @api.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for module in optional_modules(ROUTER_MODULES):
        api.include_router(module.router(app))
    return api
