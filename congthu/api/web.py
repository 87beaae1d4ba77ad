"""The REST API under ``/api/v1`` (issue 15: "for everything the console does, with
scoped tokens for automation"; issue 18: reports "from the console and the API"), found
by ``congthu.web.app`` (``router(app)``). ``docs/api.md`` describes it for integrators.

| path | scope | what (the owner's function it calls) |
|---|---|---|
| `GET /api/v1/openapi.json` | public | this API's OpenAPI 3.1 document |
| `GET /api/docs` | public | the same as a page (no script, nothing from elsewhere) |
| `GET /api/v1/token` | any | the calling token: owner, scopes, organisation, expiry |
| `GET /api/v1/orgs` | directory:read | the organisation tree the caller may read (`Directory.org_tree`) |
| `GET /api/v1/orgs/{id}` | directory:read | an organisation (`get_org`) |
| `GET /api/v1/orgs/{id}/people` | directory:read | its people (`list_people`) |
| `GET /api/v1/people/{id}` | directory:read | a person (`get_person`) |
| `GET /api/v1/search?q=` | directory:read | search without accents (`Directory.search`) |
| `GET /api/v1/orgs/{id}/mailboxes` | mailboxes:read | the states of its mailboxes (`MailStore.get_mailbox_by_id`) |
| `GET /api/v1/mailboxes/{address}` | mailboxes:read | one mailbox's state |
| `GET /api/v1/requests` | requests:read | requests of Điều 4 (`Requests.listing`) |
| `GET /api/v1/requests/{id}` | requests:read | one request with its history |
| `POST /api/v1/requests` | requests:write | file a request (`Requests.file`, source "api") |
| `POST /api/v1/requests/{id}/start`, `/done`, `/refuse` | requests:write | the IT Center's actions (`Requests.start`, `done`, `refuse`) |
| `POST /api/v1/requests/{id}/passwords` | requests:passwords | take the one-time passwords (`Requests.take_passwords`) |
| `POST /api/v1/paper-requests`; `GET, POST /requests/{id}/letters`; `GET /requests/{id}/letters/{n}` | requests:write, requests:read | a paper request with its scanned letter (multipart), the letters (`letters.py`: `Requests.file`, `attach_letter`, `letter_bytes`) |
| `GET /api/v1/mailboxes/{address}/export?format=` (mbox, zip) | mailboxes:export | a mailbox's mail (`exports.py`: `store.export.mbox_chunks`, `requests.reclaim.export`) |
| `GET, POST /api/v1/tokens`; `DELETE /tokens/{id}` | tokens:manage | the API's tokens, never wider than the caller's (`tokens_api.py`: `tokens.Tokens`) |
| `GET /api/v1/reports` | reports:read | a period's figures as JSON (`reports.figures.build`) |
| `GET /api/v1/reports/{pdf,xlsx,html}` | reports:read | the same report as a file (`reports.output.render`) |
| `GET, POST /api/v1/orgs/{id}/aliases`, `/people/{id}/aliases`; `DELETE .../aliases/{alias}` | directory:read, aliases:write | aliases (`addresses.py`: `Directory.add_alias`, `remove_alias`) |
| `GET, POST /api/v1/orgs/{id}/delegations`; `PATCH, DELETE .../delegations/{grantee}` | directory:read, delegations:write | delegations of an organisation mailbox (`addresses.py`: `congthu.delegation.grant`, `revoke`) |
| `GET /api/v1/calendar/overrides`, `/calendar/days`, `/calendar/due`; `POST /calendar/overrides`; `DELETE /calendar/overrides/{day}` | requests:read, calendar:write | the working-day calendar (`workdays.py`: `congthu.requests.calendar`) |
| `GET /api/v1/journal`, `/journal/{id}`, `/journal/{id}/eml` | journal:read | the journal (`journal.py`: `entries.search`, `read_entry`) |
| `GET /api/v1/quarantine`; `POST /quarantine/{id}/release`; `DELETE /quarantine/{id}` | quarantine:manage | the quarantine (`quarantine.py`: `content.quarantine`) |
| `GET /api/v1/orgs/{id}/proposal`; `POST /orgs/{id}/people`, `/people/{id}/rename`, `/people/{id}/departure` | directory:write | people (`people.py`: `Directory.propose_person`, `directory.operations`) |
| `POST /api/v1/orgs/{id}/rename`, `/merge`, `/split`, `/dissolve` (each with `dry_run`) | orgs:write | reorganisation (`reorganise.py`: `directory.operations.plan`, `reorganise`) |
| `POST /api/v1/import` (`?dry_run=true`), `GET /import/template.xlsx` | orgs:write | the bulk import (`imports.py`: `directory.importer.Importer`) |

Every route decides through the console's one check (``callers.require`` over
``congthu.console.access.can``), with the same actions as the console's pages: what the
caller may not read is 404 like what does not exist, what they may not do is 403 and
audited. ``routing.py`` puts every call through the token, the rate limit, the scope, the
body's bounds and the audit trail.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response

from congthu import __version__
from congthu.api import (
    addresses,
    exports,
    imports,
    journal,
    letters,
    models,
    pages,
    people,
    quarantine,
    reorganise,
    tokens_api,
    workdays,
)
from congthu.api.callers import Caller, can, require
from congthu.api.endpoints import BASE, ID, CallerDep, Readers, scoped
from congthu.api.errors import MEDIA, ApiError, Problem, from_text, not_found
from congthu.api.routing import SCOPE_KEY, Service, route_class
from congthu.api.tokens import SCOPES
from congthu.directory import DirectoryError
from congthu.reports.counters import vietnam_day
from congthu.reports.figures import SECTIONS, Report, ReportError, build
from congthu.reports.output import render
from congthu.reports.pdf import FontsMissing
from congthu.reports.periods import Period, PeriodError, parse, parse_day, previous, span
from congthu.requests.workflow import IN_PROGRESS, TRANSITIONS, RequestError

if TYPE_CHECKING:
    from congthu.app import App

DOCS = "/api/docs"
PeriodQ = Annotated[str | None, Query(max_length=20, description="2026-11, 2026-Q4 or 2026; default the last "
                                                                 "whole month")]
FromQ = Annotated[str | None, Query(alias="from", max_length=20, description="first day, YYYY-MM-DD (with to)")]
ToQ = Annotated[str | None, Query(alias="to", max_length=20, description="last day, YYYY-MM-DD (with from)")]
OrgQ = Annotated[int | None, Query(ge=1, le=2_147_483_647, description="default: the whole system, or the "
                                                                        "token's organisation")]
FILE_MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
              "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
DESCRIPTION = """API của Công Thư cho các ứng dụng khác của tỉnh / the REST API of Công Thư for the
province's other applications. Every call carries `Authorization: Bearer <token>`; a token is
made by an administrator (`congthu api token create`), carries at most its owner's rights,
narrowed by its scopes and, optionally, to one organisation. Errors are RFC 9457 problem
documents in Vietnamese and English. See docs/api.md."""


def period_of(key: str | None, first: str | None, last: str | None, default: Period) -> Period:
    """``period`` (2026-11, 2026-Q4, 2026) or ``from`` and ``to``; default the last month."""
    if first or last:
        if not (first and last):
            raise PeriodError("Cần cả from và to / both from and to are needed")
        return span(parse_day(first), parse_day(last))
    if not key:
        return default
    if re.fullmatch(r"\d{4}", key):
        return parse("year", key)
    if "q" in key.lower():
        return parse("quarter", key)
    return parse("month", key)


def report_out(report: Report) -> models.ReportOut:
    p = report.period
    columns = [c for s in SECTIONS for c in s.columns]

    def row(r: Any) -> models.ReportRowOut:
        return models.ReportRowOut(label=r.label, org_id=r.org_id, own=r.own,
                                   values={c.key: r.value(c) for c in columns})

    return models.ReportOut(
        period=models.PeriodOut(kind=p.kind, key=p.key, first=p.first, last=p.last,  # type: ignore[arg-type]
                                title_vi=p.title_vi, title_en=p.title_en),
        org=models.ReportOrgOut(id=report.org.id, name=report.org.name, address=report.org.address)
        if report.org else None,
        made_at=report.made_at, operator=report.operator,
        sections=[models.SectionOut(number=s.number, title_vi=s.vi, title_en=s.en, columns=[
            models.ColumnOut(key=c.key, vi=c.vi, en=c.en, kind=c.kind) for c in s.columns])  # type: ignore[arg-type]
            for s in SECTIONS],
        rows=[row(r) for r in report.rows], total=row(report.total), notes=list(report.notes))


def routes(app: App, service: Service) -> APIRouter:
    api = APIRouter(route_class=route_class(service))
    readers = Readers(app)
    workflow = readers.workflow
    directory = readers.directory
    # What the caller may read (404 otherwise, as the console).
    readable_org = readers.org
    readable_person = readers.person
    readable_request = readers.request

    # -- the token ----------------------------------------------------------------------------------

    @api.get(BASE + "/token", response_model=models.TokenOut, openapi_extra=scoped(""), tags=["token"],
             summary="Mã truy cập đang dùng / the calling token")
    async def token(caller: CallerDep) -> models.TokenOut:
        return models.TokenOut.of(caller.token, caller.viewer.address)

    # -- the directory ------------------------------------------------------------------------------

    @api.get(BASE + "/orgs", response_model=list[models.OrgOut], openapi_extra=scoped("directory:read"),
             tags=["directory"], summary="Cây tổ chức / the organisation tree")
    async def orgs(caller: CallerDep) -> list[models.OrgOut]:
        return [models.OrgOut.of(org, depth) for depth, org in await directory.org_tree()
                if await can(directory, caller, "directory.read", org.id)]

    @api.get(BASE + "/orgs/{org_id}", response_model=models.OrgOut, openapi_extra=scoped("directory:read"),
             tags=["directory"], summary="Một tổ chức / an organisation")
    async def org(caller: CallerDep, org_id: ID) -> models.OrgOut:
        return models.OrgOut.of(await readable_org(caller, org_id))

    @api.get(BASE + "/orgs/{org_id}/people", response_model=list[models.PersonOut],
             openapi_extra=scoped("directory:read"), tags=["directory"],
             summary="Cán bộ của tổ chức / the people of an organisation")
    async def org_people(caller: CallerDep, org_id: ID, include_left: bool = False) -> list[models.PersonOut]:
        found = await readable_org(caller, org_id)
        return [models.PersonOut.of(p) for p in await directory.list_people(found.id, include_left=include_left)]

    @api.get(BASE + "/people/{person_id}", response_model=models.PersonOut, openapi_extra=scoped("directory:read"),
             tags=["directory"], summary="Một cán bộ / a person")
    async def person(caller: CallerDep, person_id: ID) -> models.PersonOut:
        return models.PersonOut.of(await readable_person(caller, person_id))

    @api.get(BASE + "/search", response_model=list[models.SearchHitOut], openapi_extra=scoped("directory:read"),
             tags=["directory"], summary="Tìm không dấu / search, with or without accents")
    async def search(caller: CallerDep, q: Annotated[str, Query(min_length=1, max_length=200)],
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[models.SearchHitOut]:
        hits = await directory.search(q, limit=limit)
        return [models.SearchHitOut.of(h) for h in hits
                if await can(directory, caller, "directory.read", h.org_id)]

    # -- mailboxes (read-only) ----------------------------------------------------------------------

    @api.get(BASE + "/orgs/{org_id}/mailboxes", response_model=list[models.MailboxOut],
             openapi_extra=scoped("mailboxes:read"), tags=["mailboxes"],
             summary="Trạng thái hộp thư của tổ chức / the states of an organisation's mailboxes")
    async def org_mailboxes(caller: CallerDep, org_id: ID) -> list[models.MailboxOut]:
        found = await readable_org(caller, org_id)
        out = []
        if found.mailbox_id is not None:
            box = await app.store.get_mailbox_by_id(found.mailbox_id)
            if box is not None:
                out.append(models.MailboxOut.of(box, org_id=found.id))
        for p in await directory.list_people(found.id, include_left=True):
            box = await app.store.get_mailbox_by_id(p.mailbox_id) if p.mailbox_id else None
            if box is not None:
                out.append(models.MailboxOut.of(box, person_id=p.id, org_id=found.id))
        return out

    @api.get(BASE + "/mailboxes/{address}", response_model=models.MailboxOut, openapi_extra=scoped("mailboxes:read"),
             tags=["mailboxes"], summary="Trạng thái một hộp thư / one mailbox's state")
    async def mailbox(caller: CallerDep, address: Annotated[str, Path(min_length=3, max_length=320, pattern=models.ADDRESS)]
                      ) -> models.MailboxOut:
        box = await app.store.get_mailbox(address) if "@" in address else None
        if box is None:
            raise not_found()
        person_id: int | None = None
        org_id: int | None = None
        try:
            p = await directory.get_person(box.address)
            person_id, org_id = p.id, p.org_id
        except DirectoryError:
            try:
                org_id = (await directory.get_org(box.address)).id
            except DirectoryError:
                org_id = None  # outside the directory: for those who read every organisation
        if not await can(directory, caller, "directory.read", org_id):
            raise not_found()
        return models.MailboxOut.of(box, person_id=person_id, org_id=org_id)

    # -- requests of Điều 4 -------------------------------------------------------------------------

    @api.get(BASE + "/requests", response_model=list[models.RequestOut], openapi_extra=scoped("requests:read"),
             tags=["requests"], summary="Yêu cầu (Điều 4) / requests (article 4)")
    async def requests_list(caller: CallerDep,
                            state: Literal["received", "in_progress", "done", "refused"] | None = None,
                            org: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
                            overdue: bool | None = None) -> list[models.RequestOut]:
        now = workflow.now()
        found = await workflow.listing(org_ids=[org] if org is not None else None, state=state)
        return [models.RequestOut.of(r, now) for r in found
                if (overdue is None or r.overdue(now) == overdue) and await can(directory, caller, "read", r.org_id)]

    @api.get(BASE + "/requests/{request_id}", response_model=models.RequestDetail,
             openapi_extra=scoped("requests:read"), tags=["requests"], summary="Một yêu cầu / one request")
    async def request_detail(caller: CallerDep, request_id: ID) -> models.RequestDetail:
        found = await readable_request(caller, request_id)
        out = models.RequestOut.of(found, workflow.now())
        return models.RequestDetail(**out.model_dump(), events=[
            models.EventOut.of(e) for e in await workflow.events(found.id)])

    @api.post(BASE + "/requests", response_model=models.RequestOut, status_code=201,
              openapi_extra=scoped("requests:write"), tags=["requests"],
              summary="Gửi yêu cầu / file a request",
              responses={409: {"description": "the request cannot be filed as it stands"}})
    async def file_request(caller: CallerDep, body: models.RequestIn) -> models.RequestOut:
        org = await readable_org(caller, body.org, "read")
        await require(app, directory, caller, "file", org.id, f"org:{org.id}")
        try:
            filed = await workflow.file(
                body.kind, org.id, filed_by=caller.viewer.address, source="api",
                names="\n".join(f"{n.name}; {n.title}" if n.title else n.name for n in body.names),
                mailbox_kind=body.mailbox_kind, target=body.target, new_name=body.new_name, note=body.note)
        except RequestError as exc:
            raise from_text(422, "invalid", str(exc)) from None
        return models.RequestOut.of(filed, workflow.now())

    async def act(caller: Caller, request_id: int, action: str, reason: str = "") -> models.RequestOut:
        found = await readable_request(caller, request_id)
        await require(app, directory, caller, action, found.org_id, f"request:{found.id}")
        sources = (IN_PROGRESS,) if action == "done" else TRANSITIONS[action][0]
        if found.state not in sources:
            raise ApiError(409, "conflict", f"Yêu cầu đang ở trạng thái {found.state}, không thể {action}",
                           f"the request is {found.state}: {action} is not possible now")
        try:
            if action == "start":
                moved = await workflow.start(found.id, caller.viewer.address)
            elif action == "done":
                moved = await workflow.done(found.id, caller.viewer.address)
            else:
                moved = await workflow.refuse(found.id, caller.viewer.address, reason)
        except RequestError as exc:
            raise from_text(409, "conflict", str(exc)) from None
        return models.RequestOut.of(moved, workflow.now())

    conflict: dict[int | str, dict[str, Any]] = {409: {"description": "not possible in the request's state"}}

    @api.post(BASE + "/requests/{request_id}/start", response_model=models.RequestOut,
              openapi_extra=scoped("requests:write"), tags=["requests"], responses=conflict,
              summary="Bắt đầu xử lý / start (received → in progress)")
    async def start(caller: CallerDep, request_id: ID) -> models.RequestOut:
        return await act(caller, request_id, "start")

    @api.post(BASE + "/requests/{request_id}/done", response_model=models.RequestOut,
              openapi_extra=scoped("requests:write"), tags=["requests"], responses=conflict,
              summary="Thực hiện và hoàn thành / carry out (in progress → done)")
    async def done(caller: CallerDep, request_id: ID) -> models.RequestOut:
        return await act(caller, request_id, "done")

    @api.post(BASE + "/requests/{request_id}/refuse", response_model=models.RequestOut,
              openapi_extra=scoped("requests:write"), tags=["requests"], responses=conflict,
              summary="Từ chối, nêu lý do / refuse, with the reason (Điều 4.3)")
    async def refuse(caller: CallerDep, request_id: ID, body: models.RefuseIn) -> models.RequestOut:
        return await act(caller, request_id, "refuse", body.reason)

    @api.post(BASE + "/requests/{request_id}/passwords", response_model=models.PasswordsOut,
              openapi_extra=scoped("requests:passwords"), tags=["requests"],
              summary="Nhận mật khẩu dùng một lần / take the one-time passwords (organisation managers only)")
    async def passwords(caller: CallerDep, request_id: ID) -> models.PasswordsOut:
        found = await readable_request(caller, request_id)
        await require(app, directory, caller, "passwords", found.org_id, f"request:{found.id}")
        return models.PasswordsOut(passwords=await workflow.take_passwords(found.id, caller.viewer.address))

    # -- aliases, delegations, the calendar, the journal, the quarantine -------------------------------

    people.routes(app, api, readers)
    reorganise.routes(app, api, readers)
    imports.routes(app, api, readers)
    addresses.routes(app, api, readers)
    letters.routes(app, api, readers)
    exports.routes(app, api, readers)
    tokens_api.routes(app, api, readers)
    workdays.routes(app, api, readers)
    journal.routes(app, api, readers)
    quarantine.routes(app, api, readers)

    # -- reports (Điều 9.13, 11.8) ------------------------------------------------------------------

    async def asked_report(caller: Caller, period: str | None, first: str | None, last: str | None,
                           org: int | None) -> Report:
        if org is None:
            if caller.token.org_id is not None:
                org = caller.token.org_id
            elif not await can(directory, caller, "reports.read"):
                managed = caller.viewer.managed_org_ids
                if not managed:
                    await require(app, directory, caller, "reports.read", None, "reports")
                org = managed[0]
        if org is not None:
            await readable_org(caller, org, "reports.read")
        try:
            chosen = period_of(period, first, last, previous("month", vietnam_day(app.accounts.clock())))
        except PeriodError as exc:
            raise from_text(422, "invalid", str(exc)) from None
        try:
            return await build(app, chosen, org)
        except ReportError:
            raise not_found() from None

    @api.get(BASE + "/reports", response_model=models.ReportOut, openapi_extra=scoped("reports:read"),
             tags=["reports"], summary="Số liệu báo cáo / a report's figures")
    async def report(caller: CallerDep, period: PeriodQ = None,
                     first: FromQ = None, last: ToQ = None,
                     org: OrgQ = None) -> models.ReportOut:
        return report_out(await asked_report(caller, period, first, last, org))

    @api.get(BASE + "/reports/{fmt}", openapi_extra=scoped("reports:read"), tags=["reports"],
             summary="Báo cáo dạng tệp / the report as a file (PDF, XLSX, HTML)", response_class=Response,
             responses={200: {"content": {m.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                                          for m in FILE_MEDIA.values()}}})
    async def report_file(caller: CallerDep, fmt: Literal["pdf", "xlsx", "html"], period: PeriodQ = None,
                          first: FromQ = None, last: ToQ = None,
                          org: OrgQ = None) -> Response:
        made = await asked_report(caller, period, first, last, org)
        try:
            data = render(made, fmt, place=app.settings.reports.place)
        except FontsMissing as exc:
            raise from_text(503, "unavailable", str(exc)) from None
        name = f"bao-cao-{made.period.key.replace('..', '_')}" + (f"-{made.org.id}" if made.org else "")
        return Response(data, media_type=FILE_MEDIA[fmt], headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store"})

    return api


# -- the document ------------------------------------------------------------------------------------

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
COMMON = {401: "no valid token", 403: "scope or right missing", 429: "over the rate limit",
          503: "busy; try again"}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA: {"schema": PROBLEM_REF}}}


def document(router: APIRouter) -> dict[str, Any]:
    """The OpenAPI document of the API's routes, with its security, scopes and errors."""
    doc = get_openapi(title="Công Thư API", version=f"1 ({__version__})", description=DESCRIPTION,
                      routes=[r for r in router.routes if getattr(r, "include_in_schema", False)])
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in Problem.model_json_schema(ref_template="#/components/schemas/{model}").pop(
            "$defs", {}).items():
        schemas[name] = schema
    schemas["Problem"] = {k: v for k, v in Problem.model_json_schema(
        ref_template="#/components/schemas/{model}").items() if k != "$defs"}
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    doc["components"]["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "congthu api token create --scope ... (docs/api.md)"}}
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            scope = operation.get(SCOPE_KEY)
            if scope is None:
                continue
            operation["security"] = [{"bearer": []}]
            if scope:
                operation["description"] = (f"Phạm vi / scope: `{scope}` ({SCOPES[scope]}). "
                                            + operation.get("description", "")).strip()
            responses = operation.setdefault("responses", {})
            extra = dict(COMMON)
            parameters = operation.get("parameters", [])
            if (any(p.get("in") == "path" or p.get("name") == "org" for p in parameters)
                    or "requestBody" in operation):
                extra[404] = "not found, or not readable by the caller"
            if operation.get("parameters") or "requestBody" in operation:
                extra[422] = "invalid input"
            if "requestBody" in operation:
                extra.update({400: "the body is not JSON", 413: "the body is too large",
                              415: "the body is not application/json"})
            for status, text in extra.items():
                key = str(status)
                description = responses.get(key, {}).get("description", text)
                responses[key] = _problem_response(description if key != "422" else text)
            for key, value in list(responses.items()):
                if key.startswith(("4", "5")) and "content" not in value:
                    responses[key] = _problem_response(value.get("description", ""))
    _link_requests(doc)
    return doc


def _link_requests(doc: dict[str, Any]) -> None:
    """OpenAPI links (section 4.8.20) from a filed request to what can be done with it,
    so clients (and schemathesis's stateful phase) follow its id."""
    paths = doc.get("paths", {})
    links = {}
    for path, operations in paths.items():
        if path.startswith(BASE + "/requests/{request_id}"):
            for operation in operations.values():
                links[operation["operationId"]] = {"operationId": operation["operationId"],
                                                   "parameters": {"request_id": "$response.body#/id"}}
    for filing in (BASE + "/requests", BASE + "/paper-requests"):  # the latter: letters.py
        filed = paths.get(filing, {}).get("post", {}).get("responses", {}).get("201")
        if filed is not None:
            filed["links"] = dict(links)


def docs_page(doc: dict[str, Any]) -> str:
    """The document as a page: each operation, its scope and summary (no script)."""
    rows = []
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            rows.append(f"<tr><td><code>{html.escape(method.upper())}</code></td><td><code>{html.escape(path)}"
                        f"</code></td><td>{html.escape(str(op.get(SCOPE_KEY, '')) or '-')}</td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td></tr>")
    scopes = "".join(f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>" for k, v in SCOPES.items())
    return ("<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Công Thư API</title>"
            "<meta name=\"viewport\" content=\"width=device-width\"></head><body>"
            "<h1>Công Thư API v1</h1><p>Tài liệu OpenAPI / the OpenAPI document: "
            f"<a href=\"{BASE}/openapi.json\">{BASE}/openapi.json</a></p>"
            f"<p>{html.escape(DESCRIPTION)}</p><h2>Phạm vi / scopes</h2><ul>{scopes}</ul>"
            "<h2>Điểm cuối / endpoints</h2><table border=\"1\" cellpadding=\"4\"><tr><th>method</th><th>path</th>"
            f"<th>scope</th><th>what</th></tr>{''.join(rows)}</table></body></html>")


def router(app: App) -> APIRouter:
    service = Service(app)
    api = routes(app, service)
    outer = APIRouter(route_class=route_class(service))
    cached: dict[str, Any] = {}

    def the_document() -> dict[str, Any]:
        if "doc" not in cached:
            cached["doc"] = document(api)
        return cached["doc"]

    @outer.get(BASE + "/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(the_document(), headers={"Cache-Control": "no-cache"})

    @outer.get(DOCS, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(the_document()), headers={"Cache-Control": "no-cache"})

    outer.include_router(api)
    outer.include_router(pages.router(app))

    @outer.api_route(BASE + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                     include_in_schema=False)
    async def unknown(request: Request, rest: str) -> Response:
        """No such endpoint (404), or not with this method (405 with Allow, RFC 9110
        section 15.5.6)."""
        known = [*api.routes, *(r for r in outer.routes if getattr(r, "path", "") in (BASE + "/openapi.json", DOCS))]
        allowed = sorted({m for r in known if hasattr(r, "methods") and r.matches(
            {**request.scope, "method": "-"})[0].value for m in r.methods})
        if allowed:
            raise ApiError(405, "method_not_allowed", "Phương thức không được hỗ trợ", "method not allowed",
                           headers={"Allow": ", ".join(allowed)})
        raise not_found()

    return outer
