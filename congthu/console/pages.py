"""What every console page shares: the gate (signed in through the webmail, a console
role, two-factor for administrators), the templates (the webmail's ``layout.html`` with
the console's navigation, ``console_nav.html``), and the error pages.

The console is part of the webmail: the same sign-in (``/dang-nhap``, the accounts' one
login check with TOTP), the same server-side sessions and CSRF tokens
(``congthu.webmail.context.WebContext``), the same layout and security headers. A
package's console pages make one ``ConsolePages`` with their own template directory and
words, and call ``enter`` first in every route.

The navigation is per viewer: of the console's sections whose package is installed (a
section's module exists), those the viewer may open, decided by the one check on the
section's action (``access.can_somewhere`` over ``access.PERMISSION``, the table every
route checks: no second list). The gate works it out once per request and keeps it
with the request (``request.state.console_nav``) for the layout. A section's page opens
with ``visit(request, pages.opening(action))``, the same decision, so a link shown always
opens and a section not shown is refused (404).

What every package's pages did alike lives here once: ``posted`` (a POSTed form with its
CSRF token checked), ``allowed`` (the one check for a change, the refusal audited and
answered 403), ``readable_org`` and ``readable_person`` (an organisation or person of
the URL, or None when the viewer may not read it: answered 404 like what does not
exist), and ``id_of`` (an id from the URL). A route's prologue is one call: ``visit``
(the gate, then what the URL names, or 404) for a page, ``change`` (the same, then the
posted form and the one check of the change) for a POST; each returns the response to
give instead, or what the route goes on with (``Visit``, ``Change``); a page that names
nothing in its URL (a section's list) finds the viewer with ``opening(action)``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from congthu.console import access, words
from congthu.console.access import Viewer
from congthu.directory import Directory, DirectoryError, Org, Person
from congthu.webmail import i18n, render
from congthu.webmail.context import Signed, WebContext, first, read_form

if TYPE_CHECKING:
    from congthu.app import App

T = TypeVar("T")

HOME = "/quan-tri"
JOURNAL = "/quan-tri/luu-thu"
# Where the gate keeps the viewer's sections for the layout (``request.state``).
NAV = "console_nav"
TEMPLATES = Path(__file__).parent / "templates"
WEBMAIL_TEMPLATES = Path(i18n.__file__).parent / "templates"
# Downloads from the console (an mbox, a kept message, the import template): never shown
# in the page, never sniffed, never a document that could run anything (CSP sandbox).
DOWNLOAD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
# The console's sections: (link, word, the module that serves it, the action of
# access.PERMISSION its page needs somewhere). The IT Center's administrators see every
# one; the Department's supervisors the requests (read), the overdue ones and the reports;
# an organisation's managers its requests, its directory (mailboxes, delegations) and
# reports; the records office the journal: what the permission table gives each role.
SECTIONS = (
    ("/quan-tri/yeu-cau", "nav.requests", "congthu.requests.web", "read"),
    ("/quan-tri/yeu-cau?trang-thai=qua-han", "nav.overdue", "congthu.requests.web", "read"),
    ("/quan-tri/danh-ba", "nav.directory", "congthu.directory.web", "directory.read"),
    ("/quan-tri/bao-cao", "nav.reports", "congthu.reports.web", "reports.read"),
    (JOURNAL, "nav.journal", "congthu.journal.web", "journal.read"),
    ("/quan-tri/cach-ly", "nav.quarantine", "congthu.content.web", "quarantine.manage"),
    ("/quan-tri/api", "nav.api", "congthu.api.pages", "api.tokens"),
)


@dataclass(frozen=True, slots=True)
class Section:
    """A console section in the navigation: its link, its word, the action it needs."""

    href: str
    word: str
    action: str


def installed_sections() -> list[Section]:
    """The sections whose module exists (found, not imported: no import cycle)."""
    found = []
    for href, word, module, action in SECTIONS:
        try:
            present = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            present = False
        if present:
            found.append(Section(href, word, action))
    return found


def lang_of(request: Request) -> str:
    return i18n.language(request.cookies.get(i18n.LANG_COOKIE))


def id_of(text: str) -> int | None:
    """An id from a URL or a form ("12"), None for anything else (never an exception)."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


@dataclass(frozen=True, slots=True)
class Visit(Generic[T]):
    """A console page's viewer and what its URL names (``ConsolePages.visit``)."""

    signed: Signed
    viewer: Viewer
    found: T


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """A change the viewer may make (``ConsolePages.change``): who, on what, the form."""

    signed: Signed
    viewer: Viewer
    found: T
    form: dict[str, list[str]]


# What a route's URL names, for a viewer: None when it does not exist or they may not see it.
Finder = Callable[[Viewer], Awaitable[T | None]]


class ConsolePages:
    """The console pages of one package on one App."""

    def __init__(self, app: App, directory: Directory, *, templates: Sequence[Path] = (),
                 texts: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.app = app
        self.directory = directory
        self.orgs = directory  # the organisation chains of the one check
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
        # The viewer's sections, worked out by the gate; none on a page answered before it
        # knew the viewer may use the console (a 404 for a non-console user, the enrolment).
        values = {"lang": lang, "t": self.translator(lang), "path": request.url.path,
                  "session": signed.session, "csrf": signed.session.csrf, "folders": [],
                  "address": signed.mailbox.address, "sections": getattr(request.state, NAV, []), **context}
        html = self.env.get_template(template).render(values)
        return HTMLResponse(html, status_code=status, headers=render.PAGE_HEADERS)

    def error(self, request: Request, signed: Signed, key: str, status: int) -> HTMLResponse:
        return self.page(request, signed, "console_error.html", {"message_key": key}, status)

    async def can(self, viewer: Viewer, action: str, org_id: int | None = None) -> bool:
        return await access.can(self.orgs, viewer, action, org_id)

    async def sections_of(self, viewer: Viewer) -> list[Section]:
        """The sections the viewer may open (``access.can_somewhere`` on each one's action)."""
        return [s for s in self.sections if await access.can_somewhere(self.orgs, viewer, s.action)]

    def opening(self, action: str | None = None) -> Finder[Viewer]:
        """What a section's page (naming nothing in its URL) finds for ``visit``: the
        viewer, if they may do ``action`` somewhere (as the navigation decides; None: any
        console user), else None (404)."""
        async def find(viewer: Viewer) -> Viewer | None:
            if action is None or await access.can_somewhere(self.orgs, viewer, action):
                return viewer
            return None
        return find

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
        setattr(request.state, NAV, await self.sections_of(viewer))
        return signed, viewer

    async def visit(self, request: Request, find: Finder[T]) -> Visit[T] | Response:
        """The gate (``enter``), then what the URL names (``find``), or the response
        instead: the gate's, or 404 when ``find`` gives None."""
        entered = await self.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        found = await find(viewer)
        if found is None:
            return self.error(request, signed, "not_found", 404)
        return Visit(signed, viewer, found)

    async def change(self, request: Request, find: Finder[T], action: str,
                     scope: Callable[[T], tuple[int | None, str]]) -> Change[T] | Response:
        """A POSTed change: ``visit``, then the form (its CSRF token checked: 403), then
        the one check of ``action`` on the organisation ``scope`` gives with the audit
        target (403, audited). The response to give instead, or the ``Change``."""
        visited = await self.visit(request, find)
        if isinstance(visited, Response):
            return visited
        form = await self.posted(request, visited.signed)
        if isinstance(form, Response):
            return form
        org_id, target = scope(visited.found)
        refused = await self.allowed(request, visited.signed, visited.viewer, action, org_id, target)
        if refused is not None:
            return refused
        return Change(visited.signed, visited.viewer, visited.found, form)

    async def posted(self, request: Request, signed: Signed) -> dict[str, list[str]] | Response:
        """The POSTed form if its CSRF token is right, else the 403 page."""
        form = await read_form(request)
        if form is None or not self.web.form_ok(request, signed.session.secret, first(form, "csrf")):
            return self.error(request, signed, "form.expired", 403)
        return form

    async def allowed(self, request: Request, signed: Signed, viewer: Viewer, action: str,
                      org_id: int | None, target: str) -> Response | None:
        """None if the viewer may do ``action`` on the organisation; else the 403 page,
        the refusal audited (``access.refused``)."""
        if await self.can(viewer, action, org_id):
            return None
        await access.refused(self.app, viewer, action, target)
        return self.error(request, signed, "denied", 403)

    async def readable_org(self, viewer: Viewer, id_text: str, action: str = "directory.read") -> Org | None:
        """The organisation of the URL if the viewer may ``action`` on it, else None
        (answered 404: another organisation's id reveals nothing)."""
        org_id = id_of(id_text)
        if org_id is None:
            return None
        try:
            org = await self.directory.get_org(org_id)
        except DirectoryError:
            return None
        return org if await self.can(viewer, action, org.id) else None

    async def readable_person(self, viewer: Viewer, id_text: str) -> Person | None:
        """The person of the URL if the viewer may read their organisation, else None."""
        person_id = id_of(id_text)
        if person_id is None:
            return None
        try:
            person = await self.directory.get_person(person_id)
        except DirectoryError:
            return None
        # Someone in no organisation: only those who read every organisation.
        return person if await self.can(viewer, "directory.read", person.org_id) else None
