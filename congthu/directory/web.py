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
| POST `.../nguoi/<id>/nghi-viec` | admin, its managers | departure (Điều 4.5): mailbox revoked, every open session ended |
| POST `.../don-vi/<id>/doi-ten`, `sap-nhap`, `giai-the` | admin | reorganisation: rename, merge into another, dissolve; `step=preview` shows what will happen to every address, person, unit and mailbox, then it runs; mail and old addresses kept |
| `/quan-tri/danh-ba/hop-thu/<mailbox id>.mbox` | admin | the mailbox's mail as mboxrd |

What a viewer may not read is 404 like what does not exist; a change they may not make
is 403 and audited (``access.denied``).

The public page ``/danh-ba`` needs no sign-in and shows only what the publication shows
(``publish.collect``: ``directory.public_fields``), searched without accents.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from congthu import audit
from congthu.console import access, words
from congthu.console.access import Viewer
from congthu.console.pages import ConsolePages, lang_of
from congthu.directory.directory import Directory
from congthu.directory.naming import NamingError
from congthu.directory.publish import HEADERS, Entry, collect
from congthu.directory.records import DirectoryError, Org, Person, directory_events
from congthu.store.export import mbox_chunks
from congthu.text import fold
from congthu.webmail import i18n, render
from congthu.webmail.context import Signed, first, read_form

if TYPE_CHECKING:
    from congthu.app import App

HOME = "/quan-tri/danh-ba"
ORG = HOME + "/don-vi"
PERSON = HOME + "/nguoi"
MAILBOX = HOME + "/hop-thu"
PUBLIC = "/danh-ba"
TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 50
MAX_QUERY = 200
PUBLIC_CACHE_SECONDS = 60.0

TEXTS: dict[str, tuple[str, str]] = {
    "dir.title": ("Danh bạ, đơn vị", "Directory"),
    "dir.tree": ("Cây tổ chức", "Organisation tree"),
    "dir.none": ("Không có đơn vị nào bạn được xem.", "No organisation you may see."),
    "dir.org": ("Đơn vị", "Organisation"),
    "dir.address": ("Địa chỉ thư", "Address"),
    "dir.status": ("Trạng thái", "Status"),
    "dir.units": ("Đơn vị trực thuộc", "Sub-units"),
    "dir.people": ("Cán bộ, công chức", "People"),
    "dir.name": ("Họ và tên", "Name"),
    "dir.title_col": ("Chức vụ", "Title"),
    "dir.mailbox": ("Hộp thư", "Mailbox"),
    "dir.aliases": ("Bí danh (địa chỉ cũ vẫn nhận thư)", "Aliases (old addresses still delivering)"),
    "dir.history": ("Lịch sử", "History"),
    "dir.add": ("Thêm người", "Add a person"),
    "dir.add.name": ("Họ và tên", "Full name"),
    "dir.add.title": ("Chức vụ", "Title"),
    "dir.add.rank": ("Cấp lãnh đạo (1 = cao nhất, để trống nếu không)", "Leadership rank (1 highest; empty: none)"),
    "dir.add.override": ("Địa chỉ khác (chỉ Trung tâm CNTT&TT, Điều 3.3c)", "Another address (IT Center only, 3.3c)"),
    "dir.add.preview": ("Xem địa chỉ sẽ cấp", "Show the address"),
    "dir.add.proposed": ("Địa chỉ sẽ cấp theo Điều 3", "The address of article 3"),
    "dir.add.rule": ("Quy tắc", "Rule"),
    "dir.add.clash": ("Trùng với", "Clashes with"),
    "dir.add.save": ("Tạo hộp thư", "Create the mailbox"),
    "dir.add.changed": ("Địa chỉ vừa thay đổi (có người vừa được cấp); hãy xem lại.",
                        "The address changed meanwhile (someone was just given it); check again."),
    "dir.added": ("Đã tạo hộp thư", "Mailbox created"),
    "dir.password": ("Mật khẩu dùng một lần (chỉ hiện một lần; người dùng phải đổi ở lần đăng nhập đầu)",
                     "One-time password (shown once; the owner must change it at first sign-in)"),
    "dir.rename": ("Đổi tên", "Rename"),
    "dir.rename.new": ("Tên mới", "New name"),
    "dir.renamed": ("Đã đổi tên; địa chỉ cũ vẫn nhận thư (bí danh)", "Renamed; the old address still delivers (alias)"),
    "dir.leave": ("Nghỉ việc, chuyển công tác (Điều 4.5)", "Departure (article 4.5)"),
    "dir.leave.why": ("Thu hồi hộp thư ngay: mọi phiên IMAP, POP3 và webmail đang mở bị ngắt; thư được giữ, địa "
                      "chỉ không cấp lại cho người khác.",
                      "Revokes the mailbox at once: every open IMAP, POP3 and webmail session ends; the mail is "
                      "kept, the address never given to anyone else."),
    "dir.left": ("Đã thu hồi hộp thư", "Mailbox revoked"),
    "dir.reorg": ("Sắp xếp lại tổ chức (Trung tâm CNTT&TT)", "Reorganisation (IT Center)"),
    "dir.reorg.rename": ("Đổi tên đơn vị (địa chỉ mới theo Điều 3.1; địa chỉ cũ vẫn nhận thư)",
                         "Rename (a new address by 3.1; the old one still delivers)"),
    "dir.reorg.merge": ("Sáp nhập vào đơn vị (người, đơn vị con, thư và địa chỉ cũ chuyển sang)",
                        "Merge into (people, sub-units, mail and old addresses move)"),
    "dir.reorg.dissolve": ("Giải thể (nếu có đơn vị kế thừa: thư và địa chỉ chuyển sang)",
                           "Dissolve (with a successor: mail and addresses move to it)"),
    "dir.reorg.successor": ("Đơn vị kế thừa", "Successor"),
    "dir.reorg.none": ("(không có)", "(none)"),
    "dir.reorg.done": ("Đã thực hiện", "Done"),
    "dir.reorg.plan": ("Sẽ thực hiện như sau (chưa có gì thay đổi)", "What will happen (nothing changed yet)"),
    "dir.reorg.run": ("Thực hiện", "Carry it out"),
    "dir.reorg.cancel": ("Hủy", "Cancel"),
    "dir.changed": ("Địa chỉ thay đổi", "Addresses changed"),
    "dir.export": ("Tải thư (mbox)", "Download mail (mbox)"),
    "dir.back": ("Về đơn vị", "Back to the organisation"),
    "not_found": ("Không tìm thấy trang này.", "This page was not found."),
    "public.title": ("Danh bạ thư điện tử công vụ", "Official e-mail directory"),
    "public.search": ("Tìm theo tên, chức vụ, cơ quan hoặc địa chỉ (có dấu hoặc không dấu)",
                      "Search by name, title, organisation or address (with or without accents)"),
    "public.go": ("Tìm", "Search"),
    "public.count": ("{count} kết quả", "{count} results"),
    "public.none": ("Không tìm thấy.", "Nothing found."),
    "public.prev": ("Trang trước", "Previous page"),
    "public.next": ("Trang sau", "Next page"),
    "public.page": ("Trang {page}/{pages}", "Page {page} of {pages}"),
    "public.files": ("Tải danh bạ", "Download the directory"),
}
STATUS_WORDS = {
    "active": ("hoạt động", "active"), "revoked": ("đã thu hồi", "revoked"), "disabled": ("đã khóa", "disabled"),
    "reclaimed": ("đã thu hồi (không dùng 6 tháng)", "reclaimed (unused)"), "left": ("đã nghỉ", "left"),
    "merged": ("đã sáp nhập", "merged"), "split": ("đã chia tách", "split"), "dissolved": ("đã giải thể", "dissolved"),
}


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


def _why(exc: Exception) -> str:
    """The operator's text of a refusal (a NamingError carries the row's key too)."""
    return str(exc.args[0]) if exc.args else str(exc)


def _rank(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and 0 < int(text) < 100 else None


class DirectoryPages(ConsolePages):
    """The console's directory pages of one App."""

    def __init__(self, app: App) -> None:
        self.directory = Directory(app)
        super().__init__(app, self.directory, templates=[TEMPLATES], texts=TEXTS)

    def status(self, code: str, lang: str) -> str:
        return STATUS_WORDS.get(code, (code, code))[i18n.LANGUAGES.index(lang)]

    async def readable_org(self, viewer: Viewer, id_text: str) -> Org | None:
        """The organisation of the URL if the viewer may read it, else None (404)."""
        org_id = _id(id_text)
        if org_id is None:
            return None
        try:
            org = await self.directory.get_org(org_id)
        except DirectoryError:
            return None
        return org if await self.can(viewer, "directory.read", org.id) else None

    async def readable_person(self, viewer: Viewer, id_text: str) -> Person | None:
        person_id = _id(id_text)
        if person_id is None:
            return None
        try:
            person = await self.directory.get_person(person_id)
        except DirectoryError:
            return None
        # Someone in no organisation: only those who read every organisation.
        return person if await self.can(viewer, "directory.read", person.org_id) else None

    async def posted(self, request: Request, signed: Signed) -> dict[str, list[str]] | Response:
        """The POSTed form if its CSRF token is right, else the 403 page."""
        form = await read_form(request)
        if form is None or not self.web.form_ok(request, signed.session.secret, first(form, "csrf")):
            return self.error(request, signed, "form.expired", 403)
        return form

    async def allowed(self, request: Request, signed: Signed, viewer: Viewer, action: str,
                      org_id: int | None, target: str) -> Response | None:
        """None if the viewer may do ``action`` on the organisation; else the 403 page,
        the refusal audited."""
        if await self.can(viewer, action, org_id):
            return None
        await access.refused(self.app, viewer, action, target)
        return self.error(request, signed, "denied", 403)


def console_routes(pages: DirectoryPages) -> APIRouter:
    api = APIRouter()
    directory = pages.directory
    app = pages.app

    @api.get(HOME)
    async def tree(request: Request) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        lang = lang_of(request)
        rows = []
        for depth, org in await directory.org_tree():
            if await pages.can(viewer, "directory.read", org.id):
                rows.append({"depth": depth, "id": org.id, "name": org.name, "address": org.address})
        return pages.page(request, signed, "dir_tree.html", {"rows": rows, "lang": lang})

    async def org_page(request: Request, signed: Signed, viewer: Viewer, org: Org, *, status: int = 200,
                       **extra: Any) -> Response:
        lang = lang_of(request)
        people = await directory.list_people(org.id, include_left=True)
        boxes: dict[int | None, Any] = {
            p.mailbox_id: await app.store.get_mailbox_by_id(p.mailbox_id) for p in people if p.mailbox_id}
        active = await directory.list_orgs()
        units = [o for o in active if o.parent_id == org.id]
        aliases = [a for a in await directory.list_aliases() if a.mailbox_id == org.mailbox_id]
        orgs = [o for o in active if o.id != org.id]
        events = await app.db.run_read(directory_events, org.id)
        may_people = org.status == "active" and await pages.can(viewer, "directory.people", org.id)
        may_orgs = org.status == "active" and await pages.can(viewer, "directory.orgs", org.id)
        context = {
            "org": org, "org_status": pages.status(org.status, lang),
            "parent": await directory.get_org(org.parent_id) if org.parent_id else None,
            "units": units, "aliases": aliases, "others": sorted(orgs, key=lambda o: fold(o.name)),
            "people": [{"p": p, "status": pages.status(p.status, lang),
                        "mailbox": pages.status(boxes[p.mailbox_id].status, lang) if boxes.get(p.mailbox_id)
                        else "-"} for p in people],
            "events": [{"at": i18n.show_date(e[0], lang), "kind": e[1], "detail": e[2]} for e in events],
            "may_people": may_people, "may_orgs": may_orgs,
            "may_export": await pages.can(viewer, "mailbox.export"),
            "form": dict.fromkeys(("name", "title", "rank", "override"), ""), "proposal": None, "plan": None, "error": "", "added": None, "done": "", "changed": [],
        }
        context.update(extra)
        return pages.page(request, signed, "dir_org.html", context, status)

    @api.get(ORG + "/{id_text}")
    async def show_org(request: Request, id_text: str) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        org = await pages.readable_org(viewer, id_text)
        if org is None:
            return pages.error(request, signed, "not_found", 404)
        return await org_page(request, signed, viewer, org)

    @api.post(ORG + "/{id_text}/them-nguoi")
    async def add_person(request: Request, id_text: str) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        org = await pages.readable_org(viewer, id_text)
        if org is None:
            return pages.error(request, signed, "not_found", 404)
        form = await pages.posted(request, signed)
        if isinstance(form, Response):
            return form
        refused = await pages.allowed(request, signed, viewer, "directory.people", org.id, f"org:{org.id}")
        if refused is not None:
            return refused
        name = " ".join(first(form, "name").split())[:300]
        title = first(form, "title").strip()[:200]
        rank = _rank(first(form, "rank"))
        # Another address than the rules' (Điều 3.3c) is the IT Center's decision.
        override = first(form, "override").strip()[:64] if viewer.is_admin else ""
        values = {"name": name, "title": title, "rank": first(form, "rank"), "override": override}
        if not name:
            return await org_page(request, signed, viewer, org, status=400, form=values,
                                  error="Thiếu họ tên / the name is missing")
        try:
            proposal = await directory.propose_person(name, org.id, rank=rank, address=override or None)
        except (DirectoryError, NamingError) as exc:
            return await org_page(request, signed, viewer, org, status=400, form=values, error=_why(exc))
        shown = {"address": directory.full(proposal.local), "rule": proposal.rule, "reason": proposal.reason,
                 "clash": proposal.clash_with or ""}
        if first(form, "step") != "save":
            return await org_page(request, signed, viewer, org, form=values, proposal=shown)
        if first(form, "proposed") != shown["address"]:
            return await org_page(request, signed, viewer, org, status=409, form=values, proposal=shown,
                                  error=pages.translator(lang_of(request))("dir.add.changed"))
        try:
            person, made, password = await directory.add_person(name, org.id, title=title, rank=rank,
                                                                address=override or None)
        except (DirectoryError, NamingError) as exc:
            return await org_page(request, signed, viewer, org, status=400, form=values, error=_why(exc))
        await audit.record(app, "directory.person_added", viewer.address, person.address,
                           {"org": org.id, "rule": made.rule, "clash": made.clash_with or ""})
        return await org_page(request, signed, viewer, org, added={
            "name": person.full_name, "address": person.address, "rule": made.explain(), "password": password})

    @api.post(ORG + "/{id_text}/{action}")
    async def reorganise(request: Request, id_text: str, action: str) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        org = await pages.readable_org(viewer, id_text)
        if org is None or action not in ("doi-ten", "sap-nhap", "giai-the"):
            return pages.error(request, signed, "not_found", 404)
        form = await pages.posted(request, signed)
        if isinstance(form, Response):
            return form
        refused = await pages.allowed(request, signed, viewer, "directory.orgs", org.id, f"org:{org.id}")
        if refused is not None:
            return refused
        other = _id(first(form, "other"))
        if first(form, "step") == "preview":
            try:
                plan = await reorganisation_plan(directory, org, action, " ".join(first(form, "name").split())[:300],
                                                 other, app.settings.lifecycle.alias_keep_days)
            except (DirectoryError, NamingError) as exc:
                return await org_page(request, signed, viewer, org, status=400, error=_why(exc))
            return await org_page(request, signed, viewer, org, plan=plan)
        try:
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
            return await org_page(request, signed, viewer, org, status=400, error=_why(exc))
        event = {"doi-ten": "directory.org_renamed", "sap-nhap": "directory.org_merged",
                 "giai-the": "directory.org_dissolved"}[action]
        await audit.record(app, event, viewer.address, org.address, details)
        return await org_page(request, signed, viewer, await directory.get_org(result.id), done="reorg",
                              changed=changed)

    @api.get(PERSON + "/{id_text}")
    async def show_person(request: Request, id_text: str) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        person = await pages.readable_person(viewer, id_text)
        if person is None:
            return pages.error(request, signed, "not_found", 404)
        return await person_page(request, signed, viewer, person)

    async def person_page(request: Request, signed: Signed, viewer: Viewer, person: Person, *,
                          status: int = 200, **extra: Any) -> Response:
        lang = lang_of(request)
        mailbox = await app.store.get_mailbox_by_id(person.mailbox_id) if person.mailbox_id else None
        aliases = [a for a in await directory.list_aliases() if mailbox and a.mailbox_id == mailbox.id]
        may = person.status == "active" and person.org_id is not None and await pages.can(
            viewer, "directory.people", person.org_id)
        context = {"person": person, "status": pages.status(person.status, lang),
                   "mailbox": mailbox, "mailbox_status": pages.status(mailbox.status, lang) if mailbox else "-",
                   "aliases": aliases, "may": may, "may_export": await pages.can(viewer, "mailbox.export"),
                   "error": "", "done": "", "old": ""}
        context.update(extra)
        return pages.page(request, signed, "dir_person.html", context, status)

    @api.post(PERSON + "/{id_text}/{action}")
    async def person_action(request: Request, id_text: str, action: str) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        person = await pages.readable_person(viewer, id_text)
        if person is None or action not in ("doi-ten", "nghi-viec"):
            return pages.error(request, signed, "not_found", 404)
        form = await pages.posted(request, signed)
        if isinstance(form, Response):
            return form
        refused = await pages.allowed(request, signed, viewer, "directory.people", person.org_id,
                                      f"person:{person.id}")
        if refused is not None:
            return refused
        try:
            if action == "doi-ten":
                new_name = " ".join(first(form, "name").split())[:300]
                if not new_name:
                    raise DirectoryError("Thiếu tên mới / the new name is missing")
                renamed, proposal, old = await directory.rename_person(person.id, new_name)
                await audit.record(app, "directory.person_renamed", viewer.address, renamed.address,
                                   {"old_address": old, "old_name": person.full_name, "rule": proposal.rule})
                return await person_page(request, signed, viewer, renamed, done="renamed", old=old)
            if person.status != "active":
                raise DirectoryError("Người này đã nghỉ / already left")
            left = await directory.person_leaves(person.id)
            if person.mailbox_id is not None:
                await pages.web.sessions.end_all(person.mailbox_id)  # the webmail's sessions too
            await audit.record(app, "directory.person_left", viewer.address, person.address, {"org": person.org_id})
            return await person_page(request, signed, viewer, left, done="left")
        except (DirectoryError, NamingError) as exc:
            return await person_page(request, signed, viewer, person, status=400, error=_why(exc))

    @api.get(MAILBOX + "/{name}")
    async def export_mailbox(request: Request, name: str) -> Response:
        entered = await pages.enter(request)
        if isinstance(entered, Response):
            return entered
        signed, viewer = entered
        mailbox_id = _id(name.removesuffix(".mbox")) if name.endswith(".mbox") else None
        mailbox = await app.store.get_mailbox_by_id(mailbox_id) if mailbox_id is not None else None
        if mailbox is None:
            return pages.error(request, signed, "not_found", 404)
        if not await pages.can(viewer, "mailbox.export"):
            await access.refused(app, viewer, "mailbox.export", mailbox.address)
            return pages.error(request, signed, "denied", 403)
        await audit.record(app, "mailbox.exported", viewer.address, mailbox.address, {"format": "mbox"})
        filename = quote(f"{mailbox.address}.mbox")
        headers = {**render.DOWNLOAD_HEADERS,
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
        number = _id(request.query_params.get("trang", "1")) or 1
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
    api.include_router(console_routes(DirectoryPages(app)))
    public = PublicDirectory(app)

    @api.get(PUBLIC)
    async def public_page(request: Request) -> Response:
        return await public.page(request)

    return api
