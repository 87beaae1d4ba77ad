"""The administration console's request pages under ``/quan-tri`` (issue 15, Điều 4),
found by ``congthu.web.app`` (``router(app)``).

The console's sign-in gate, layout and navigation are ``congthu.console.pages`` (the
webmail's sign-in, sessions, CSRF tokens and layout). Every route goes through
``congthu.console.access.can`` (the one authorisation check); a request the viewer may
not read is 404 like a missing one, a POST the viewer may not make is 403 and audited.

| path | what |
|---|---|
| `/quan-tri/yeu-cau?trang-thai=` | requests with due dates and overdue marks, by state or `qua-han` |
| `/quan-tri/yeu-cau/moi` | a new request (organisation managers for their organisation; administrators, also a paper request with its scanned letter) |
| `/quan-tri/yeu-cau/<id>` | one request: details, letters, result, history, actions by role, one-time passwords |
| `/quan-tri/yeu-cau/<id>/<action>` (POST) | `bat-dau`, `hoan-thanh`, `tu-choi`, `nhan-mat-khau` |
| `/quan-tri/yeu-cau/<id>/cong-van` (POST) | administrators: another scanned letter for the request |
| `/quan-tri/yeu-cau/<id>/cong-van/<n>` | the letter, downloaded (never shown inline), by those who may read the request |

A paper request (Điều 4.1, "bằng văn bản") is entered by the IT Center (``paper``:
``requests.manage``) with the form's ``paper=1`` and its scanned letter in the
multipart field ``cong-van``: refused from its Content-Length when larger than
``[requests] letter_max_mb`` (unread), then checked by its bytes (``letters.check``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from congthu.console import access
from congthu.console.access import Viewer
from congthu.console.pages import DOWNLOAD_HEADERS, ConsolePages, id_of, lang_of
from congthu.directory import DirectoryError, Org
from congthu.requests import letters, words
from congthu.requests.calendar import deadline
from congthu.requests.letters import KeptLetter, Letter, LetterError
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
from congthu.webmail.context import Signed, first, read_form

if TYPE_CHECKING:
    from congthu.app import App

LIST = "/quan-tri/yeu-cau"
TEMPLATES = Path(__file__).parent / "templates"
ACTIONS = {"bat-dau": "start", "hoan-thanh": "done", "tu-choi": "refuse", "nhan-mat-khau": "passwords"}
# A form field's longest value (200 names of new mailboxes, one a line, fit).
MAX_FORM_CHARS = 20_000
LETTER_FIELD = "cong-van"
UNREADABLE = "Không đọc được biểu mẫu / the form cannot be read"


@dataclass(frozen=True)
class Posted:
    """A POSTed form (its fields) and the letter's file part, if one was sent."""

    form: dict[str, list[str]]
    file: UploadFile | None


async def read_posted(request: Request, limit: int) -> Posted | tuple[int, str]:
    """The POSTed form, multipart with a letter or not, or the status and reason it cannot
    be read. A multipart body larger than a letter may be (and the fields) is refused
    from its Content-Length, unread."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        plain = await read_form(request, MAX_FORM_CHARS)
        return Posted(plain, None) if plain is not None else (400, UNREADABLE)
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return 411, "Thiếu độ dài tệp / the upload must say its length (Content-Length)"
    if int(length) > limit + 256 * 1024:
        return 413, f"Tệp công văn lớn quá {limit // (1024 * 1024)} MB / the letter is larger than " \
                    f"{limit // (1024 * 1024)} MB"
    try:
        form = await request.form(max_files=1, max_fields=50, max_part_size=128 * 1024)
    except Exception:  # a malformed body, too many parts
        return 400, UNREADABLE
    fields: dict[str, list[str]] = {}
    upload: UploadFile | None = None
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(key, []).append(value[:MAX_FORM_CHARS])
        elif key == LETTER_FIELD and value.filename:
            upload = value
    return Posted(fields, upload)


async def letter_in(posted: Posted, limit: int) -> Letter | None:
    """The letter sent with the form, checked (LetterError), or None if none was."""
    if posted.file is None:
        return None
    data = await posted.file.read(limit + 1)
    return letters.check(data, posted.file.filename or "", limit)


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

    def letter_rows(self, kept: list[KeptLetter], lang: str) -> list[dict[str, Any]]:
        return [{"id": k.id, "name": k.filename, "type": letters.SUFFIX.get(k.content_type, "")[1:].upper(),
                 "size": k.size, "by": k.added_by, "at": i18n.show_date(k.added_at, lang),
                 "href": f"{LIST}/{k.request_id}/{LETTER_FIELD}/{k.id}"} for k in kept]

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
        visit = await console.visit(request, console.opening("read"))
        if isinstance(visit, Response):
            return visit
        signed, viewer = visit.signed, visit.viewer
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
            "may_paper": await console.can(viewer, "paper"), "max_mb": console.app.settings.requests.letter_max_mb,
            "form": {k: first(form or {}, k) for k in ("kind", "org", "names", "target", "new_name", "note",
                                                       "mailbox_kind", "paper")}}, status)

    @api.get(LIST + "/moi")
    async def show_new(request: Request) -> Response:
        visit = await console.visit(request, console.opening("file"))
        if isinstance(visit, Response):
            return visit
        return await new_page(request, visit.signed, visit.viewer)

    @api.post(LIST)
    async def file_request(request: Request) -> Response:
        visit = await console.visit(request, console.opening())
        if isinstance(visit, Response):
            return visit
        signed, viewer = visit.signed, visit.viewer
        limit = letters.max_bytes(console.app)
        posted = await read_posted(request, limit)
        if isinstance(posted, tuple):
            return await new_page(request, signed, viewer, posted[1], posted[0])
        form = posted.form
        if not console.web.form_ok(request, signed.session.secret, first(form, "csrf")):
            return console.error(request, signed, "form.expired", 403)
        org_text = first(form, "org")
        org_id = id_of(org_text)
        target = f"org:{org_text[:20]}"
        if org_id is None:
            await access.refused(console.app, viewer, "file", target)
            return console.error(request, signed, "denied", 403)
        paper = first(form, "paper") == "1"
        for action in ("file", "paper") if paper else ("file",):
            refused = await console.allowed(request, signed, viewer, action, org_id, target)
            if refused is not None:
                return refused
        try:
            letter = await letter_in(posted, limit)
            filed = await workflow.file(
                first(form, "kind"), org_id, filed_by=viewer.address, source="paper" if paper else "console",
                names=first(form, "names"), mailbox_kind=first(form, "mailbox_kind") or "person",
                target=first(form, "target"), new_name=first(form, "new_name"), note=first(form, "note"),
                letter=letter)
        except (RequestError, LetterError) as exc:
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
                                                                               "passwords", "paper")}
        passwords = await workflow.passwords(found.id) if may["passwords"] else {}
        events = [{"at": i18n.show_date(e.at, lang), "actor": e.actor, "action": e.action, "text": e.text}
                  for e in await workflow.events(found.id)]
        done = found.result.get("done", {})
        made = [done[k] for k in sorted((k for k in done if k.isdigit()), key=int)]
        return console.page(request, signed, "console_request.html", {
            "r": console.shown(found, orgs, lang), "details": found.details, "made": made,
            "result": {k: v for k, v in done.items() if not k.isdigit()}, "may": may,
            "passwords": sorted(passwords.items()), "events": events, "error": error, "taken": taken,
            "kind_code": found.kind, "letters": console.letter_rows(await workflow.letters_of(found.id), lang),
            "max_mb": console.app.settings.requests.letter_max_mb}, status)

    @api.get(LIST + "/{id_text}")
    async def show_request(request: Request, id_text: str) -> Response:
        visit = await console.visit(request, lambda viewer: visible(viewer, id_text))
        if isinstance(visit, Response):
            return visit
        return await request_page(request, visit.signed, visit.viewer, visit.found,
                                  taken=request.query_params.get("mat-khau") == "da-xoa")

    @api.get(LIST + "/{id_text}/" + LETTER_FIELD + "/{letter_text}")
    async def download_letter(request: Request, id_text: str, letter_text: str) -> Response:
        async def find(viewer: Viewer) -> KeptLetter | None:
            found = await visible(viewer, id_text)
            letter_id = id_of(letter_text)
            return await workflow.letter_of(found.id, letter_id) if found and letter_id is not None else None

        visit = await console.visit(request, find)
        if isinstance(visit, Response):
            return visit
        kept = visit.found
        data = await workflow.letter_bytes(kept, visit.viewer.address)
        # Never shown in the console's origin: a download, of the type its bytes told.
        headers = {**DOWNLOAD_HEADERS, "Content-Disposition": f'attachment; filename="{kept.download_name}"'}
        return Response(data, media_type=kept.content_type, headers=headers)

    @api.post(LIST + "/{id_text}/" + LETTER_FIELD)
    async def add_letter(request: Request, id_text: str) -> Response:
        visit = await console.visit(request, lambda viewer: visible(viewer, id_text))
        if isinstance(visit, Response):
            return visit
        signed, viewer, found = visit.signed, visit.viewer, visit.found
        limit = letters.max_bytes(console.app)
        posted = await read_posted(request, limit)
        if isinstance(posted, tuple):
            return await request_page(request, signed, viewer, found, posted[1], posted[0])
        if not console.web.form_ok(request, signed.session.secret, first(posted.form, "csrf")):
            return console.error(request, signed, "form.expired", 403)
        refused = await console.allowed(request, signed, viewer, "paper", *request_scope(found))
        if refused is not None:
            return refused
        try:
            letter = await letter_in(posted, limit)
            if letter is None:
                raise LetterError("Chưa chọn tệp công văn / no letter chosen")
            await workflow.attach_letter(found.id, letter, viewer.address)
        except (RequestError, LetterError) as exc:
            return await request_page(request, signed, viewer, found, str(exc), 400)
        return render.redirect(f"{LIST}/{found.id}")

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
