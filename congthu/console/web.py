"""``/quan-tri``, the console's door (found by ``congthu.web.app``): through the gate of
``ConsolePages.enter``, then to the first section (the requests of Điều 4), or for the
records office to the journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.console.pages import HOME, JOURNAL, ConsolePages
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
        signed, viewer = entered
        paths = [path for path, _word in pages.sections]
        if not (viewer.is_admin or viewer.is_supervisor or viewer.managed_org_ids) and JOURNAL in paths:
            return render.redirect(JOURNAL)  # the records office has the journal only
        return render.redirect(paths[0] if paths else "/thu")

    return api
