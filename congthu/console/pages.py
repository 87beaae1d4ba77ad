"""What every console page shares: the gate (signed in through the webmail, a console
role, two-factor for administrators), the templates (the webmail's ``layout.html`` with
the console's navigation, ``console_nav.html``), and the error pages.

The console is part of the webmail: the same sign-in (``/dang-nhap``, the accounts' one
login check with TOTP), the same server-side sessions and CSRF tokens
(``congthu.webmail.context.WebContext``), the same layout and security headers. A
package's console pages make one ``ConsolePages`` with their own template directory and
words, and call ``enter`` first in every route.

The navigation lists the console's sections whose package is installed (a section's
``web.py`` exists), so a link never leads to a missing page.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from congthu.console import access, words
from congthu.console.access import OrgChains, Viewer
from congthu.webmail import i18n, render
from congthu.webmail.context import Signed, WebContext

if TYPE_CHECKING:
    from congthu.app import App

HOME = "/quan-tri"
TEMPLATES = Path(__file__).parent / "templates"
WEBMAIL_TEMPLATES = Path(i18n.__file__).parent / "templates"
# The console's sections: (path, word, the module that serves it).
SECTIONS = (
    ("/quan-tri/yeu-cau", "nav.requests", "congthu.requests.web"),
    ("/quan-tri/danh-ba", "nav.directory", "congthu.directory.web"),
    ("/quan-tri/bao-cao", "nav.reports", "congthu.reports.web"),
)


def installed_sections() -> list[tuple[str, str]]:
    """The sections whose module exists (found, not imported: no import cycle)."""
    found = []
    for path, word, module in SECTIONS:
        try:
            present = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            present = False
        if present:
            found.append((path, word))
    return found


def lang_of(request: Request) -> str:
    return i18n.language(request.cookies.get(i18n.LANG_COOKIE))


class ConsolePages:
    """The console pages of one package on one App."""

    def __init__(self, app: App, orgs: OrgChains, *, templates: Sequence[Path] = (),
                 texts: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.app = app
        self.orgs = orgs
        self.web = WebContext(app)
        self.texts = dict(texts or {})
        self.sections = installed_sections()
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(p) for p in (*templates, TEMPLATES, WEBMAIL_TEMPLATES)]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.globals["static"] = render.STATIC_PATH
        self.env.filters["size"] = i18n.show_size

    def translator(self, lang: str) -> Any:
        return words.translator(lang, self.texts)

    def page(self, request: Request, signed: Signed, template: str, context: dict[str, Any],
             status: int = 200) -> HTMLResponse:
        lang = lang_of(request)
        values = {"lang": lang, "t": self.translator(lang), "path": request.url.path,
                  "session": signed.session, "csrf": signed.session.csrf, "folders": [],
                  "address": signed.mailbox.address, "sections": self.sections, **context}
        html = self.env.get_template(template).render(values)
        return HTMLResponse(html, status_code=status, headers=render.PAGE_HEADERS)

    def error(self, request: Request, signed: Signed, key: str, status: int) -> HTMLResponse:
        return self.page(request, signed, "console_error.html", {"message_key": key}, status)

    async def can(self, viewer: Viewer, action: str, org_id: int | None = None) -> bool:
        return await access.can(self.orgs, viewer, action, org_id)

    async def enter(self, request: Request) -> tuple[Signed, Viewer] | Response:
        """The signed-in viewer of a console page, or the response instead: the sign-in
        page, the two-factor enrolment page, or 404 for users without a console role
        (the console does not exist for them)."""
        signed = await self.web.require(request)
        if isinstance(signed, Response):
            return signed
        viewer = await access.viewer_of(self.app, signed.mailbox.id, signed.mailbox.address)
        if not viewer.in_console:
            return self.error(request, signed, "not_found", 404)
        if await access.needs_second_factor(self.app, viewer):
            return self.page(request, signed, "console_enrol.html", {}, 403)
        return signed, viewer
