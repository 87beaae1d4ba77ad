"""The administration console's request pages under ``/quan-tri`` (issue 15, Điều 4),
found by ``congthu.web.app`` (``router(app)``).

The console's sign-in gate, layout and navigation are ``congthu.console.pages`` (the
webmail's sign-in, sessions, CSRF tokens and layout). Every route goes through
``congthu.console.access.can`` (the one authorisation check); a request the viewer may
not read is 404 like a missing one, a POST the viewer may not make is 403 and audited.

| path | what |
|---|---|
| `/quan-tri/yeu-cau?trang-thai=` | requests with due dates and overdue marks, by state or `qua-han` |
| `/quan-tri/yeu-cau/moi` | a new request (organisation managers for their organisation; administrators) |
| `/quan-tri/yeu-cau/<id>` | one request: details, result, history, actions by role, one-time passwords |
| `/quan-tri/yeu-cau/<id>/<action>` (POST) | `bat-dau`, `hoan-thanh`, `tu-choi`, `nhan-mat-khau` |
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.console import access
from congthu.console.access import Viewer
from congthu.console.pages import ConsolePages, id_of, lang_of
from congthu.directory import DirectoryError, Org
from congthu.requests import words
from congthu.requests.calendar import deadline
from congthu.requests.workflow import (
    KIND_NAMES,
    KINDS,
    STATE_NAMES,
    STATES,
    RequestError,
    Requests,
)
from congthu.requests.workflow import (
    Request as WorkRequest,
)
from congthu.webmail import i18n, render
from congthu.webmail.context import Signed, first

if TYPE_CHECKING:
    from congthu.app import App

LIST = "/quan-tri/yeu-cau"
TEMPLATES = Path(__file__).parent / "templates"
ACTIONS = {"bat-dau": "start", "hoan-thanh": "done", "tu-choi": "refuse", "nhan-mat-khau": "passwords"}


class Console(ConsolePages):
    """The request pages: the console's shared pages (``congthu.console.pages``) with the
    workflow, its templates and words."""

    def __init__(self, app: App) -> None:
        self.workflow = Requests(app)
        super().__init__(app, self.workflow.directory, templates=[TEMPLATES], texts=words.TEXTS)

    async def org_names(self) -> dict[int, Org]:
        try:
            return {o.id: o for o in await self.workflow.directory.list_orgs(include_inactive=True)}
        except DirectoryError:
            return {}

    def shown(self, r: WorkRequest, orgs: dict[int, Org], lang: str) -> dict[str, Any]:
        index = i18n.LANGUAGES.index(lang)
        now = self.app.accounts.clock()
        org = orgs.get(r.org_id)
        return {"id": r.id, "kind": KIND_NAMES[r.kind][index], "state": r.state,
                "state_name": STATE_NAMES[r.state][index], "org": org.name if org else str(r.org_id),
                "filed": i18n.show_date(r.filed_at, lang), "due": r.due_on.strftime("%d/%m/%Y"),
                "deadline": i18n.show_date(deadline(r.due_on), lang), "overdue": r.overdue(now),
                "source": r.source, "filed_by": r.filed_by, "note": r.note, "reason": r.reason}


def request_scope(found: WorkRequest) -> tuple[int | None, str]:
    """The organisation a change to a request is checked on, and its audit target."""
    return found.org_id, f"request:{found.id}"


def routes(console: Console) -> APIRouter:
    api = APIRouter()
    workflow = console.workflow

    @api.get(LIST)
    async def list_page(request: Request) -> Response:
        entered = await console.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        wanted = request.query_params.get("trang-thai", "")
        state = wanted if wanted in STATES else None
        orgs = await console.org_names()
        lang = lang_of(request)
        visible = []
        for r in await workflow.listing(state=state):
            if await console.can(viewer, "read", r.org_id):
                row = console.shown(r, orgs, lang)
                if wanted != "qua-han" or row["overdue"]:
                    visible.append(row)
        return console.page(request, signed, "console_list.html", {
            "rows": visible, "states": [(s, STATE_NAMES[s][i18n.LANGUAGES.index(lang)]) for s in STATES],
            "wanted": wanted, "may_file": viewer.is_admin or bool(viewer.managed_org_ids)})

    async def orgs_for_filing(viewer: Viewer) -> list[Org]:
        orgs = await console.org_names()
        return [o for o in orgs.values() if o.status == "active"
                and await console.can(viewer, "file", o.id)]

    async def new_page(request: Request, signed: Signed, viewer: Viewer, error: str = "",
                       status: int = 200, form: dict[str, list[str]] | None = None) -> Response:
        lang = lang_of(request)
        index = i18n.LANGUAGES.index(lang)
        return console.page(request, signed, "console_new.html", {
            "orgs": sorted(await orgs_for_filing(viewer), key=lambda o: o.name),
            "kinds": [(k, KIND_NAMES[k][index]) for k in KINDS], "error": error,
            "form": {k: first(form or {}, k) for k in ("kind", "org", "names", "target", "new_name", "note",
                                                       "mailbox_kind")}}, status)

    @api.get(LIST + "/moi")
    async def show_new(request: Request) -> Response:
        entered = await console.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        return await new_page(request, signed, viewer)

    @api.post(LIST)
    async def file_request(request: Request) -> Response:
        entered = await console.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        form = await console.posted(request, signed)
        if isinstance(form, Response):
            return form
        org_text = first(form, "org")
        org_id = id_of(org_text)
        if org_id is None:
            await access.refused(console.app, viewer, "file", f"org:{org_text[:20]}")
            return console.error(request, signed, "denied", 403)
        refused = await console.allowed(request, signed, viewer, "file", org_id, f"org:{org_text[:20]}")
        if refused is not None:
            return refused
        try:
            filed = await workflow.file(
                first(form, "kind"), org_id, filed_by=viewer.address, source="console",
                names=first(form, "names"), mailbox_kind=first(form, "mailbox_kind") or "person",
                target=first(form, "target"), new_name=first(form, "new_name"), note=first(form, "note"))
        except RequestError as exc:
            return await new_page(request, signed, viewer, str(exc), 400, form)
        return render.redirect(f"{LIST}/{filed.id}")

    async def visible(viewer: Viewer, id_text: str) -> WorkRequest | None:
        request_id = id_of(id_text)
        if request_id is None:
            return None
        try:
            found = await workflow.get(request_id)
        except RequestError:
            return None
        return found if await console.can(viewer, "read", found.org_id) else None

    async def request_page(request: Request, signed: Signed, viewer: Viewer, found: WorkRequest,
                           error: str = "", status: int = 200, taken: bool = False) -> Response:
        lang = lang_of(request)
        orgs = await console.org_names()
        may = {a: await console.can(viewer, a, found.org_id) for a in ("start", "done", "refuse",
                                                                               "passwords")}
        passwords = await workflow.passwords(found.id) if may["passwords"] else {}
        events = [{"at": i18n.show_date(e.at, lang), "actor": e.actor, "action": e.action, "text": e.text}
                  for e in await workflow.events(found.id)]
        done = found.result.get("done", {})
        made = [done[k] for k in sorted((k for k in done if k.isdigit()), key=int)]
        return console.page(request, signed, "console_request.html", {
            "r": console.shown(found, orgs, lang), "details": found.details, "made": made,
            "result": {k: v for k, v in done.items() if not k.isdigit()}, "may": may,
            "passwords": sorted(passwords.items()), "events": events, "error": error, "taken": taken,
            "kind_code": found.kind}, status)

    @api.get(LIST + "/{id_text}")
    async def show_request(request: Request, id_text: str) -> Response:
        visit = await console.visit(request, lambda viewer: visible(viewer, id_text))
        if isinstance(visit, Response):
            return visit
        return await request_page(request, visit.signed, visit.viewer, visit.found,
                                  taken=request.query_params.get("mat-khau") == "da-xoa")

    @api.post(LIST + "/{id_text}/{action_text}")
    async def act(request: Request, id_text: str, action_text: str) -> Response:
        action = ACTIONS.get(action_text, "")

        async def find(viewer: Viewer) -> WorkRequest | None:
            return await visible(viewer, id_text) if action else None

        change = await console.change(request, find, action, request_scope)
        if isinstance(change, Response):
            return change
        signed, viewer, found, form = change.signed, change.viewer, change.found, change.form
        try:
            if action == "start":
                await workflow.start(found.id, viewer.address)
            elif action == "done":
                await workflow.done(found.id, viewer.address)
            elif action == "refuse":
                await workflow.refuse(found.id, viewer.address, first(form, "reason"))
            else:
                await workflow.take_passwords(found.id, viewer.address)
                return render.redirect(f"{LIST}/{found.id}?mat-khau=da-xoa")
        except RequestError as exc:
            return await request_page(request, signed, viewer, await workflow.get(found.id), str(exc), 400)
        return render.redirect(f"{LIST}/{found.id}")

    return api


def router(app: App) -> APIRouter:
    return routes(Console(app))
