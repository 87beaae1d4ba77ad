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

What a viewer may not read is 404 like what does not exist; a change they may not make
is 403 and audited (``access.denied``).

The public page ``/danh-ba`` needs no sign-in and shows only what the publication shows
(``publish.collect``: ``directory.public_fields``), searched without accents.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from datetime import time as day_start
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from congthu import audit
from congthu.console import words
from congthu.console.access import Viewer
from congthu.console.pages import DOWNLOAD_HEADERS, id_of, lang_of
from congthu.directory.directory import Directory
from congthu.directory.naming import NamingError
from congthu.directory.pages import HOME, MAILBOX, ORG, PERSON, TEMPLATES, TEXTS, DirectoryPages, why
from congthu.directory.publish import HEADERS, Entry, collect
from congthu.directory.records import DirectoryError, Org, Person
from congthu.directory.web_addresses import address_routes
from congthu.directory.web_import import import_routes
from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.leaver import Handover, checked_handover, set_leaver_rules
from congthu.mailrules.vacation import today
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
# A leaver's handover lasts this long unless the form says otherwise.
HANDOVER_DAYS = 90


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
            person, made, password = await directory.add_person(name, org.id, title=title, rank=rank,
                                                                address=override or None)
        except (DirectoryError, NamingError) as exc:
            return await pages.org_page(request, signed, viewer, org, status=400, form=values, error=why(exc))
        await audit.record(app, "directory.person_added", viewer.address, person.address,
                           {"org": org.id, "rule": made.rule, "clash": made.clash_with or ""})
        return await pages.org_page(request, signed, viewer, org, added={
            "name": person.full_name, "address": person.address, "rule": made.explain(), "password": password})

    @api.post(ORG + "/{id_text}/{action}")
    async def reorganise(request: Request, id_text: str, action: str) -> Response:
        change = await pages.org_change(request, id_text, "directory.orgs",
                                        known=action in ("doi-ten", "sap-nhap", "chia-tach", "giai-the"))
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
                if action == "chia-tach":
                    plan = await split_plan(directory, org, name, units, movers,
                                            app.settings.lifecycle.alias_keep_days)
                else:
                    plan = await reorganisation_plan(directory, org, action, name, other,
                                                     app.settings.lifecycle.alias_keep_days)
            except (DirectoryError, NamingError) as exc:
                return await pages.org_page(request, signed, viewer, org, status=400, error=why(exc))
            return await pages.org_page(request, signed, viewer, org, plan=plan)
        try:
            if action == "chia-tach":
                if not name:
                    raise DirectoryError("Thiếu tên tổ chức mới / the new organisation's name is missing")
                new_org, new_password, changed = await directory.split_off(org.id, name, units=units,
                                                                           people=movers)
                await audit.record(app, "directory.org_split", viewer.address, org.address, {
                    "new": new_org.address, "name": name, "units": units, "people": movers, "changed": changed})
                # The new organisation mailbox's one-time password, shown once as for a person added.
                return await pages.org_page(request, signed, viewer, await directory.get_org(org.id), done="reorg",
                                            changed=changed, added={
                                                "name": new_org.name, "address": new_org.address,
                                                "rule": f"/quan-tri/danh-ba/don-vi/{new_org.id}",
                                                "password": new_password})
            if action == "doi-ten":
                new_name = " ".join(first(form, "name").split())[:300]
                if not new_name:
                    raise DirectoryError("Thiếu tên mới / the new name is missing")
                result, changed = await directory.rename_org(org.id, new_name)
                details: dict[str, Any] = {"name": new_name, "changed": changed}
            elif action == "sap-nhap":
                if other is None:
                    raise DirectoryError("Chọn đơn vị nhận / choose the organisation to merge into")
                result, _password = await directory.merge_orgs([org.id], into=other)
                changed = [(org.address, result.address)]
                details = {"into": result.address}
            else:
                result = await directory.dissolve_org(org.id, successor=other)
                changed = [(org.address, (await directory.get_org(other)).address)] if other else []
                details = {"successor": other}
        except (DirectoryError, NamingError) as exc:
            return await pages.org_page(request, signed, viewer, org, status=400, error=why(exc))
        event = {"doi-ten": "directory.org_renamed", "sap-nhap": "directory.org_merged",
                 "giai-the": "directory.org_dissolved"}[action]
        await audit.record(app, event, viewer.address, org.address, details)
        return await pages.org_page(request, signed, viewer, await directory.get_org(result.id), done="reorg",
                              changed=changed)

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
                if not new_name:
                    raise DirectoryError("Thiếu tên mới / the new name is missing")
                renamed, proposal, old = await directory.rename_person(person.id, new_name)
                await audit.record(app, "directory.person_renamed", viewer.address, renamed.address,
                                   {"old_address": old, "old_name": person.full_name, "rule": proposal.rule})
                return await pages.person_page(request, signed, viewer, renamed, done="renamed", old=old)
            if person.status != "active":
                raise DirectoryError("Người này đã nghỉ / already left")
            handover = await leaver_handover(pages, viewer, person, form)
            left = await directory.person_leaves(person.id)
            if person.mailbox_id is not None:
                await pages.web.sessions.end_all(person.mailbox_id)  # the webmail's sessions too
            await audit.record(app, "directory.person_left", viewer.address, person.address, {"org": person.org_id})
            notice = ""
            if handover is not None and person.mailbox_id is not None:
                await hand_over(pages, viewer, person, handover)
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


async def reorganisation_plan(directory: Directory, org: Org, action: str, name: str, other: int | None,
                              keep_days: int) -> dict[str, Any]:
    """What a reorganisation would do to every address and mailbox, before it runs (the
    directory's rules: ``rename_org``, ``merge_orgs``, ``dissolve_org``): the lines to
    show, and the form to confirm it with."""
    lines: list[str] = []
    people = await directory.list_people(org.id)
    units = [o for o in await directory.list_orgs() if o.parent_id == org.id]
    keep = f"{keep_days} ngày / days" if keep_days else "mãi mãi / for good"
    if action == "doi-ten":
        if not name:
            raise DirectoryError("Thiếu tên mới / the new name is missing")
        proposal = await directory.propose_org(name, parent=org.parent_id)
        new_local = proposal.local
        if proposal.clash_with and proposal.clash_with.startswith(org.local_part + " "):
            new_local = org.local_part
        if proposal.needs_decision and new_local != org.local_part:
            raise DirectoryError(f"Cần Trung tâm CNTT&TT quyết định địa chỉ / the address needs a decision: "
                                 f"{proposal.explain()}")
        lines.append(f"{org.name} → {name}")
        if new_local == org.local_part:
            lines.append(f"{org.address}: giữ nguyên / unchanged")
        else:
            lines.append(f"{org.address} → {directory.full(new_local)} ({proposal.rule}); "
                         f"{org.address} vẫn nhận thư (bí danh, {keep}) / still delivers (alias, {keep})")
            suffix = "." + org.local_part
            for unit in units:
                if unit.local_part.endswith(suffix):
                    moved = directory.full(unit.local_part[: -len(suffix)] + "." + new_local)
                    lines.append(f"{unit.address} → {moved} (bí danh / alias)")
        lines.append(f"{len(people)} người giữ địa chỉ và thư / people keep their addresses and mail")
        return {"action": action, "name": name, "other": "", "lines": lines}
    if action == "sap-nhap" and other is None:
        raise DirectoryError("Chọn đơn vị nhận / choose the organisation to merge into")
    target = await directory.get_org(other, include_inactive=False) if other is not None else None
    if target is not None and target.id == org.id:
        raise DirectoryError("Không thể sáp nhập một tổ chức vào chính nó / cannot merge into itself")
    if target is None:  # dissolving without a successor
        if people or units:
            raise DirectoryError(f"{org.name} còn {len(people)} người và {len(units)} đơn vị; chuyển họ đi hoặc chọn "
                                 f"đơn vị kế thừa / still has people or units: move them or choose a successor")
        lines.append(f"{org.address}: hộp thư bị khóa, thư được giữ, địa chỉ không cấp lại / mailbox disabled, "
                     "mail kept, address never reissued")
        return {"action": action, "name": "", "other": "", "lines": lines}
    lines.append(f"{org.address} → {target.address}: thư gửi địa chỉ cũ đến {target.name} (bí danh, {keep}) / "
                 f"mail to the old address goes to {target.name} (alias, {keep})")
    lines.append(f"Thư trong {org.address} chuyển vào {target.address}, thư mục Lưu trữ/{org.local_part} / "
                 f"its mail moves into {target.address} under Lưu trữ/{org.local_part}; the old mailbox is disabled")
    for person in people:
        lines.append(f"{person.full_name} <{person.address}> → {target.name} (địa chỉ giữ nguyên / address kept)")
    for unit in units:
        lines.append(f"{unit.name} <{unit.address}> → trực thuộc / under {target.name}")
    return {"action": action, "name": "", "other": str(target.id), "lines": lines}


async def split_plan(directory: Directory, org: Org, name: str, unit_ids: list[int], person_ids: list[int],
                     keep_days: int) -> dict[str, Any]:
    """What splitting ``org`` would do (``Directory.split_off``), before it runs: the new
    organisation's address by Điều 3.1, each chosen sub-unit moved under it (a new
    address by 3.1b, the old one kept as an alias), each chosen person moved (address
    and mail kept); ``org`` keeps its address, mail and the rest."""
    if not name:
        raise DirectoryError("Thiếu tên tổ chức mới / the new organisation's name is missing")
    units = {o.id: o for o in await directory.list_orgs() if o.parent_id == org.id}
    people = {p.id: p for p in await directory.list_people(org.id)}
    unknown = [i for i in unit_ids if i not in units] + [i for i in person_ids if i not in people]
    if unknown:
        raise DirectoryError(f"Không thuộc {org.name} / not part of {org.name}: {unknown}")
    if not unit_ids and not person_ids:
        raise DirectoryError("Chọn đơn vị hoặc người chuyển sang / choose the units or people that move")
    proposal = await directory.propose_org(name, parent=org.parent_id)
    if proposal.needs_decision:
        raise DirectoryError(f"Cần Trung tâm CNTT&TT quyết định địa chỉ / the address needs a decision: "
                             f"{proposal.explain()}")
    new_address = directory.full(proposal.local)
    keep = f"{keep_days} ngày / days" if keep_days else "mãi mãi / for good"
    lines = [f"Tổ chức mới / new organisation: {name} <{new_address}> ({proposal.rule})",
             f"{org.name} <{org.address}>: giữ địa chỉ và thư / keeps its address and mail"]
    suffix = "." + org.local_part
    for unit_id in unit_ids:
        unit = units[unit_id]
        if unit.local_part.endswith(suffix):
            moved = directory.full(unit.local_part[: -len(suffix)] + "." + proposal.local)
            lines.append(f"{unit.name}: {unit.address} → {moved}; {unit.address} vẫn nhận thư (bí danh, {keep}) / "
                         f"still delivers (alias, {keep}); thư giữ nguyên / mail kept")
        else:
            lines.append(f"{unit.name} <{unit.address}> → trực thuộc / under {name} (địa chỉ giữ nguyên / kept)")
    for person_id in person_ids:
        person = people[person_id]
        lines.append(f"{person.full_name} <{person.address}> → {name} (địa chỉ và thư giữ nguyên / address and "
                     f"mail kept)")
    return {"action": "chia-tach", "name": name, "other": "", "lines": lines,
            "units": unit_ids, "people": person_ids}


async def leaver_handover(pages: DirectoryPages, viewer: Viewer, person: Person,
                          form: dict[str, list[str]]) -> Handover | None:
    """The handover of a leaver's new mail the departure form asks for (Điều 4.5), checked
    before anything changes; None when neither forwarding nor a reply is asked. An
    organisation manager's successor must be in an organisation they manage."""
    forward = first(form, "forward") == "1"
    reply = first(form, "reply") == "1"
    if not (forward or reply) or person.mailbox_id is None:
        return None
    app, directory = pages.app, pages.directory
    until_text = first(form, "until").strip()
    try:
        until = (date.fromisoformat(until_text) if "-" in until_text
                 else datetime.strptime(until_text, "%d/%m/%Y").date()) if until_text else None
    except ValueError:
        raise RuleRefused(f"Ngày không hợp lệ: {until_text[:20]}", "invalid date (yyyy-mm-dd)") from None
    if until is None:
        until = today(app.settings, app.accounts.clock()) + timedelta(days=HANDOVER_DAYS)
    successor = first(form, "successor").strip()[:320]
    if successor and not viewer.is_admin:
        org_id: int | None = None
        try:
            org_id = (await directory.get_person(successor)).org_id
        except DirectoryError:
            try:
                org_id = (await directory.get_org(successor, include_inactive=False)).id
            except DirectoryError:
                org_id = None
        if org_id is None or not await pages.can(viewer, "directory.people", org_id):
            raise RuleRefused("Người tiếp nhận phải thuộc cơ quan bạn quản lý",
                              "the successor must be in an organisation you manage")
    organisation = (await directory.get_org(person.org_id)).address if person.org_id else ""
    mailbox = await app.store.get_mailbox_by_id(person.mailbox_id)
    if mailbox is None:
        return None
    return await checked_handover(app, mailbox, Handover(until, successor, forward, reply, organisation))


async def hand_over(pages: DirectoryPages, viewer: Viewer, person: Person, handover: Handover) -> None:
    """After the departure: the address keeps taking mail to the end of ``until`` (the
    system's time zone) and the mailbox's rules forward and answer it."""
    app = pages.app
    assert person.mailbox_id is not None
    mailbox = await app.store.get_mailbox_by_id(person.mailbox_id)
    if mailbox is None:
        return
    end = datetime.combine(handover.until + timedelta(days=1), day_start(), ZoneInfo(app.settings.system.timezone))
    await pages.directory.receive_until(mailbox.id, end, f"nghỉ việc / departure → {handover.successor or '-'}")
    saved = await set_leaver_rules(app, mailbox, person.full_name, handover, actor=viewer.address)
    await audit.record(app, "directory.leaver_handover", viewer.address, person.address, {
        "successor": saved.successor, "forward": saved.forward, "reply": saved.reply,
        "until": saved.until.isoformat()})


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
