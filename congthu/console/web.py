"""``/quan-tri``, the console's door (found by ``congthu.web.app``): through the gate of
``ConsolePages.visit``, then to the first section of the viewer's navigation (the
requests of Điều 4 for most; the journal for the records office), the same sections the
navigation shows them (``ConsolePages.sections_of``)."""

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
        visit = await pages.visit(request, pages.opening())
        if isinstance(visit, Response):
            return visit
        shown = await pages.sections_of(visit.viewer)
        return render.redirect(shown[0].href if shown else "/thu")

    return api
