"""``/quan-tri``, the console's door (found by ``congthu.web.app``): through the gate of
``ConsolePages.enter``, then to the first section (the requests of Điều 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.console.pages import HOME, ConsolePages
from congthu.directory import Directory
from congthu.webmail import render

if TYPE_CHECKING:
    from congthu.app import App


def router(app: App) -> APIRouter:
    pages = ConsolePages(app, Directory(app))
    api = APIRouter()

    @api.get(HOME)
    async def home(request: Request) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        return render.redirect(pages.sections[0][0] if pages.sections else "/thu")

    return api
