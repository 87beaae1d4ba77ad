"""The directory's pages (found by ``congthu.web.app``): its management in the console
under ``/quan-tri/danh-ba`` (issue 15), and the public directory at ``/danh-ba``
(Điều 3, 5: published, searchable without accents).

Console pages (``congthu.console``: the webmail's sign-in, sessions, CSRF and layout;
every route through the one check ``congthu.console.access.can``; every change audited):

| path | who | what |
|---|---|---|
| `/quan-tri/danh-ba` | console roles | the organisation tree (a manager sees their subtree) |
| `/quan-tri/danh-ba/don-vi/<id>` | readers of it | an organisation: sub-units, people, mailboxes, aliases, history |
| POST `.../don-vi/<id>/them-nguoi` | admin, its managers | add a person: the address of Điều 3.2/3.3 shown (`buoc=xem`), then saved (`buoc=luu`) |
| `/quan-tri/danh-ba/nguoi/<id>` | readers of its organisation | a person and their mailbox |
| POST `.../nguoi/<id>/doi-ten` | admin, its managers | a new name: a new address, the old one kept as an alias |
| POST `.../nguoi/<id>/nghi-viec` | admin, its managers | departure (Điều 4.5): mailbox revoked, every open session ended; optionally, until an end date, new mail forwarded to a successor and answered naming them (``congthu.mailrules.leaver``) |
| POST `.../don-vi/<id>/doi-ten`, `sap-nhap`, `chia-tach`, `giai-the` | admin | reorganisation: rename, merge into another, split chosen units and people off into a new organisation, dissolve; `step=preview` shows what will happen to every address, person, unit and mailbox, then it runs; mail and old addresses kept |
| `/quan-tri/danh-ba/hop-thu/<mailbox id>.mbox` | admin | the mailbox's mail as mboxrd |
| POST `.../don-vi/<id>/bi-danh`, `.../nguoi/<id>/bi-danh` | admin | add or remove an alias (``web_addresses.py``) |
| POST `.../don-vi/<id>/uy-quyen` | admin, its managers | grant or revoke a delegation of the organisation mailbox (``web_addresses.py``) |
| `/quan-tri/danh-ba/nhap` | admin | bulk import: upload, preview with row errors, confirm (``web_import.py``) |

Adding, renaming, the departure and the reorganisations are ``operations.py``'s, which
the REST API calls too (``congthu.api.people``, ``congthu.api.reorganise``).

What a viewer may not read is 404 like what does not exist; a change they may not make
is 403 and audited (``access.denied``).

The public page ``/danh-ba`` needs no sign-in and shows only what the publication shows
(``publish.collect``: ``directory.public_fields``), searched without accents.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from congthu import audit
from congthu.console import words
from congthu.console.access import Viewer
from congthu.console.pages import DOWNLOAD_HEADERS, id_of, lang_of
from congthu.directory import operations
from congthu.directory.naming import NamingError
from congthu.directory.pages import HOME, MAILBOX, ORG, PERSON, TEMPLATES, TEXTS, DirectoryPages, why
from congthu.directory.publish import HEADERS, Entry, collect
from congthu.directory.records import DirectoryError
from congthu.directory.web_addresses import address_routes
from congthu.directory.web_import import import_routes
from congthu.mailrules.errors import RuleRefused
from congthu.store import Mailbox
from congthu.store.export import mbox_chunks
from congthu.text import fold
from congthu.webmail import render
from congthu.webmail.context import first

if TYPE_CHECKING:
    from congthu.app import App

PUBLIC = "/danh-ba"
PAGE_SIZE = 50
MAX_QUERY = 200
PUBLIC_CACHE_SECONDS = 60.0


def _rank(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and 0 < int(text) < 100 else None


def console_routes(pages: DirectoryPages) -> APIRouter:
    api = APIRouter()
    directory = pages.directory
    app = pages.app

    @api.get(HOME)
    async def tree(request: Request) -> Response:
        visit = await pages.visit(request, pages.opening("directory.read"))
        if isinstance(visit, Response):
            return visit
        signed, viewer = visit.signed, visit.viewer
        lang = lang_of(request)
        rows = []
        for depth, org in await directory.org_tree():
            if await pages.can(viewer, "directory.read", org.id):
                rows.append({"depth": depth, "id": org.id, "name": org.name, "address": org.address})
        return pages.page(request, signed, "dir_tree.html", {
            "rows": rows, "lang": lang, "may_import": await pages.can(viewer, "directory.import")})

    @api.get(ORG + "/{id_text}")
    async def show_org(request: Request, id_text: str) -> Response:
        visit = await pages.org_visit(request, id_text)
        if isinstance(visit, Response):
            return visit
        return await pages.org_page(request, visit.signed, visit.viewer, visit.found)

    @api.post(ORG + "/{id_text}/them-nguoi")
    async def add_person(request: Request, id_text: str) -> Response:
        change = await pages.org_change(request, id_text, "directory.people")
        if isinstance(change, Response):
            return change
        signed, viewer, org, form = change.signed, change.viewer, change.found, change.form
        name = " ".join(first(form, "name").split())[:300]
        title = first(form, "title").strip()[:200]
        rank = _rank(first(form, "rank"))
        # Another address than the rules' (Điều 3.3c) is the IT Center's decision.
        override = first(form, "override").strip()[:64] if viewer.is_admin else ""
        values = {"name": name, "title": title, "rank": first(form, "rank"), "override": override}
        if not name:
            return await pages.org_page(request, signed, viewer, org, status=400, form=values,
                                  error="Thiếu họ tên / the name is missing")
        try:
            proposal = await directory.propose_person(name, org.id, rank=rank, address=override or None)
        except (DirectoryError, NamingError) as exc:
            return await pages.org_page(request, signed, viewer, org, status=400, form=values, error=why(exc))
        shown = {"address": directory.full(proposal.local), "rule": proposal.rule, "reason": proposal.reason,
                 "clash": proposal.clash_with or ""}
        if first(form, "step") != "save":
            return await pages.org_page(request, signed, viewer, org, form=values, proposal=shown)
        if first(form, "proposed") != shown["address"]:
            return await pages.org_page(request, signed, viewer, org, status=409, form=values, proposal=shown,
                                  error=pages.translator(lang_of(request))("dir.add.changed"))
        try:
            person, made, password = await operations.add_person(app, directory, viewer.address, org, name,
                                                                 title=title, rank=rank, override=override)
        except (DirectoryError, NamingError) as exc:
            return await pages.org_page(request, signed, viewer, org, status=400, form=values, error=why(exc))
        return await pages.org_page(request, signed, viewer, org, added={
            "name": person.full_name, "address": person.address, "rule": made.explain(), "password": password})

    @api.post(ORG + "/{id_text}/{action}")
    async def reorganise(request: Request, id_text: str, action: str) -> Response:
        change = await pages.org_change(request, id_text, "directory.orgs",
                                        known=action in operations.REORGANISATIONS)
        if isinstance(change, Response):
            return change
        signed, viewer, org, form = change.signed, change.viewer, change.found, change.form
        other = id_of(first(form, "other"))
        name = " ".join(first(form, "name").split())[:300]
        # Splitting: the sub-units and people chosen to move (ids; anything else ignored).
        units = sorted({i for i in (id_of(v) for v in form.get("unit", [])[:500]) if i is not None})
        movers = sorted({i for i in (id_of(v) for v in form.get("person", [])[:5000]) if i is not None})
        if first(form, "step") == "preview":
            try:
                plan = await operations.plan(app, directory, org, action, name=name, other=other, units=units,
                                             people=movers)
            except (DirectoryError, NamingError) as exc:
                return await pages.org_page(request, signed, viewer, org, status=400, error=why(exc))
            return await pages.org_page(request, signed, viewer, org, plan=plan)
        try:
            done = await operations.reorganise(app, directory, viewer.address, org, action, name=name, other=other,
                                               units=units, people=movers)
        except (DirectoryError, NamingError) as exc:
            return await pages.org_page(request, signed, viewer, org, status=400, error=why(exc))
        if done.new_org is not None:
            # The new organisation mailbox's one-time password, shown once as for a person added.
            return await pages.org_page(request, signed, viewer, done.org, done="reorg", changed=done.changed, added={
                "name": done.new_org.name, "address": done.new_org.address,
                "rule": f"/quan-tri/danh-ba/don-vi/{done.new_org.id}", "password": done.password})
        return await pages.org_page(request, signed, viewer, done.org, done="reorg", changed=done.changed)

    @api.get(PERSON + "/{id_text}")
    async def show_person(request: Request, id_text: str) -> Response:
        visit = await pages.person_visit(request, id_text)
        if isinstance(visit, Response):
            return visit
        return await pages.person_page(request, visit.signed, visit.viewer, visit.found)

    @api.post(PERSON + "/{id_text}/{action}")
    async def person_action(request: Request, id_text: str, action: str) -> Response:
        change = await pages.person_change(request, id_text, "directory.people",
                                           known=action in ("doi-ten", "nghi-viec"))
        if isinstance(change, Response):
            return change
        signed, viewer, person, form = change.signed, change.viewer, change.found, change.form
        try:
            if action == "doi-ten":
                new_name = " ".join(first(form, "name").split())[:300]
                renamed, _proposal, old = await operations.rename_person(app, directory, viewer.address, person,
                                                                         new_name)
                return await pages.person_page(request, signed, viewer, renamed, done="renamed", old=old)

            async def may_choose(org_id: int) -> bool:
                return await pages.can(viewer, "directory.people", org_id)

            left, handover = await operations.departure(
                app, directory, viewer.address, person, forward=first(form, "forward") == "1",
                reply=first(form, "reply") == "1", until=operations.parse_until(first(form, "until")),
                successor=first(form, "successor"), may_choose=None if viewer.is_admin else may_choose)
            notice = ""
            if handover is not None:
                t = pages.translator(lang_of(request))
                rules = ", ".join(t(k) for k, on in (("leave.forward", handover.forward),
                                                     ("leave.reply", handover.reply)) if on)
                notice = t("leave.kept", until=handover.until.strftime("%d/%m/%Y"), rules=rules)
            return await pages.person_page(request, signed, viewer, left, done="left", notice=notice)
        except (DirectoryError, NamingError) as exc:
            return await pages.person_page(request, signed, viewer, person, status=400, error=why(exc))
        except RuleRefused as exc:
            return await pages.person_page(request, signed, viewer, person, status=400, error=str(exc))

    @api.get(MAILBOX + "/{name}")
    async def export_mailbox(request: Request, name: str) -> Response:
        async def named(_viewer: Viewer) -> Mailbox | None:
            mailbox_id = id_of(name.removesuffix(".mbox")) if name.endswith(".mbox") else None
            return await app.store.get_mailbox_by_id(mailbox_id) if mailbox_id is not None else None

        visit = await pages.visit(request, named)
        if isinstance(visit, Response):
            return visit
        signed, viewer, mailbox = visit.signed, visit.viewer, visit.found
        refused = await pages.allowed(request, signed, viewer, "mailbox.export", None, mailbox.address)
        if refused is not None:
            return refused
        await audit.record(app, "mailbox.exported", viewer.address, mailbox.address, {"format": "mbox"})
        filename = quote(f"{mailbox.address}.mbox")
        headers = {**DOWNLOAD_HEADERS,
                   "Content-Disposition": f"attachment; filename*=UTF-8''{filename}"}
        return StreamingResponse(mbox_chunks(app.store, mailbox.id), media_type="application/mbox", headers=headers)

    return api


# -- the public directory -----------------------------------------------------------------


class PublicDirectory:
    """``/danh-ba``: the published entries (``publish.collect``), kept a minute per App."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(TEMPLATES), FileSystemLoader(render.HERE / "templates")]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.globals["static"] = render.STATIC_PATH
        self._cached: tuple[float, list[tuple[str, Entry]], list[str]] | None = None

    async def entries(self) -> tuple[list[tuple[str, Entry]], list[str]]:
        """(folded search key, entry) of every published entry, and the public fields.
        The key holds only public fields: a search never matches what is not shown."""
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > PUBLIC_CACHE_SECONDS:
            groups, fields = await collect(self.app)
            keyed = [(fold(" ".join(getattr(e, f) for f in fields)), e) for _depth, _org, group in groups
                     for e in group]
            self._cached = (now, keyed, fields)
        return self._cached[1], self._cached[2]

    async def page(self, request: Request) -> HTMLResponse:
        lang = lang_of(request)
        query = request.query_params.get("q", "")[:MAX_QUERY]
        number = id_of(request.query_params.get("trang", "1")) or 1
        keyed, fields = await self.entries()
        terms = fold(query).split()
        found = [e for key, e in keyed if all(t in key for t in terms)]
        pages = max(1, -(-len(found) // PAGE_SIZE))
        number = min(number, pages)
        shown = found[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        link = f"{PUBLIC}?q={quote(query)}&trang=" if query else f"{PUBLIC}?trang="
        html = self.env.get_template("danh_ba.html").render({
            "lang": lang, "t": words.translator(lang, TEXTS), "path": request.url.path, "session": None, "csrf": "",
            "folders": [], "address": "", "query": query, "fields": fields,
            "headers": [HEADERS[f] for f in fields], "rows": [e.public(fields) | {"kind": e.kind} for e in shown],
            "count": len(found), "page": number, "pages": pages,
            "prev": f"{link}{number - 1}" if number > 1 else "", "next": f"{link}{number + 1}" if number < pages else "",
        })
        return HTMLResponse(html, headers={**render.PAGE_HEADERS, "Cache-Control": "no-cache"})


def router(app: App) -> APIRouter:
    api = APIRouter()
    pages = DirectoryPages(app)
    # The aliases', delegations' and import's fixed paths before the catch-all
    # ``/don-vi/<id>/<action>`` and ``/nguoi/<id>/<action>`` of the console routes.
    api.include_router(address_routes(pages))
    api.include_router(import_routes(pages))
    api.include_router(console_routes(pages))
    public = PublicDirectory(app)

    @api.get(PUBLIC)
    async def public_page(request: Request) -> Response:
        return await public.page(request)

    return api
