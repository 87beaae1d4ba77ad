"""The webmail's routes, found by ``congthu.web.app`` (``router(app)``): sign-in and the
static files (``login.py``), the mail pages (``mailpages.py``), settings
(``accountpages.py``), all on one ``WebContext`` per App."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from congthu.webmail import (
    accountpages,
    compose,
    events,
    folderpages,
    login,
    mailpages,
    messageviews,
    searchpages,
    settingspages,
)
from congthu.webmail.context import WebContext

if TYPE_CHECKING:
    from congthu.app import App


def router(app: App) -> APIRouter:
    ctx = WebContext(app)
    api = APIRouter()
    # compose, search, events and folders first: /thu/soan, /thu/danh-ba, /thu/tim,
    # /thu/su-kien and /thu/thu-muc before mailpages' /thu/{folder_id}.
    for part in (login, compose, searchpages, events, folderpages, mailpages, messageviews, accountpages,
                 settingspages):
        api.include_router(part.routes(ctx))
    return api
