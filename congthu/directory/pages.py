"""What the directory's console pages share (``/quan-tri/danh-ba``, issue 15): their paths,
words (Vietnamese first, then English), and ``DirectoryPages``, the console's shared pages
(``congthu.console.pages.ConsolePages``: the gate, layout, CSRF, the one check) with the
organisation and person pages every directory route answers with, and the prologue of
every route on an organisation or a person of the URL (``org_visit``, ``org_change``,
``person_visit``, ``person_change``) and the answer to a change (``answer``).

The routes are in ``web.py`` (tree, people, reorganisation, departure, export),
``web_addresses.py`` (aliases and delegations of a mailbox) and ``web_import.py`` (the
bulk import).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from congthu.console.access import Viewer
from congthu.console.pages import Change, ConsolePages, Visit, lang_of
from congthu.delegation import INBOX, grants_of, last_day
from congthu.directory.directory import Directory
from congthu.directory.naming import NamingError
from congthu.directory.records import DirectoryError, Org, Person, directory_events
from congthu.text import fold
from congthu.webmail import i18n
from congthu.webmail.context import Signed

if TYPE_CHECKING:
    from congthu.app import App

HOME = "/quan-tri/danh-ba"
ORG = HOME + "/don-vi"
PERSON = HOME + "/nguoi"
MAILBOX = HOME + "/hop-thu"
IMPORT = HOME + "/nhap"
TEMPLATES = Path(__file__).parent / "templates"

# The rights a console delegation gives (RFC 4314 letters, "0" send as: congthu.delegation).
DELEGATION_RIGHTS = {
    "xem": ("lrs", "deleg.read"),
    "xu-ly": ("lrswipkxte", "deleg.handle"),
    "gui-thay": ("lrswipkxte0", "deleg.send"),
}
# The rights of a folder's own grant (never send-as, which is mailbox-wide; "" hides it).
FOLDER_RIGHTS = {
    "xem": ("lrs", "deleg.read"),
    "xu-ly": ("lrswipkxte", "deleg.handle"),
    "khong": ("", "deleg.nothing"),
}

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
    # Aliases (Điều 3.3c).
    "alias.title": ("Bí danh (địa chỉ khác nhận thư vào hộp thư này)", "Aliases (other addresses delivering here)"),
    "alias.rule": ("Bí danh luôn thuộc tên miền chính, không trùng địa chỉ nào đã cấp, đã thu hồi hay dành riêng; "
                   "bí danh đã xóa không bao giờ được cấp lại.",
                   "An alias is always under the main domain and never an address issued, revoked or reserved; a "
                   "removed alias is never issued again."),
    "alias.address": ("Bí danh mới", "New alias"),
    "alias.days": ("Số ngày giữ (trống: mãi mãi)", "Days to keep (empty: for good)"),
    "alias.reason": ("Lý do", "Reason"),
    "alias.add": ("Thêm bí danh", "Add the alias"),
    "alias.remove": ("Xóa", "Remove"),
    "alias.until": ("đến", "until"),
    "alias.added": ("Đã thêm bí danh", "Alias added"),
    "alias.removed": ("Đã xóa bí danh (địa chỉ được giữ lại, không cấp lại)", "Alias removed (the address stays reserved)"),
    "alias.none": ("Không có bí danh.", "No alias."),
    # Delegations (Điều 12, 13.3).
    "deleg.title": ("Ủy quyền quản lý hộp thư của cơ quan (Điều 12)", "Delegated management of the mailbox (article 12)"),
    "deleg.why": ("Hộp thư cơ quan do thủ trưởng quản lý hoặc ủy quyền cho bộ phận, cá nhân; mọi lần cấp, thu hồi và "
                  "sử dụng đều được ghi nhật ký.",
                  "The organisation mailbox is managed by its head or delegated to a unit or person; every grant, "
                  "revocation and use is audited."),
    "deleg.grantee": ("Người hoặc bộ phận được ủy quyền (địa chỉ thư)", "Delegate (address)"),
    "deleg.rights": ("Quyền", "Rights"),
    "deleg.folder": ("Thư mục", "Folder"),
    "deleg.whole": ("cả hộp thư", "whole mailbox"),
    "deleg.grant": ("Ủy quyền", "Grant"),
    "deleg.revoke": ("Thu hồi", "Revoke"),
    "deleg.none": ("Chưa ủy quyền cho ai.", "No delegate."),
    "deleg.granted": ("Đã ủy quyền", "Granted"),
    "deleg.revoked": ("Đã thu hồi ủy quyền", "Revoked"),
    "deleg.end_changed": ("Đã đổi thời hạn ủy quyền", "The delegation's end is changed"),
    "deleg.set_end": ("Đổi thời hạn", "Change the end"),
    "deleg.read": ("Xem thư", "Read"),
    "deleg.handle": ("Xử lý thư (đọc, đánh dấu, sắp xếp, xóa)", "Handle mail (read, flag, file, delete)"),
    "deleg.send": ("Xử lý và gửi thư thay cơ quan", "Handle mail and send as the organisation"),
    "deleg.nothing": ("Không được xem (ẩn thư mục)", "Nothing (the folder hidden)"),
    "deleg.until": ("Đến hết ngày (trống: không thời hạn)", "Until (inclusive; empty: no end)"),
    "deleg.end": ("Thời hạn", "Ends"),
    "deleg.no_end": ("không thời hạn", "no end"),
    "deleg.ends": ("đến hết {day}", "until the end of {day}"),
    "deleg.expired": ("đã hết hạn {day}", "expired {day}"),
    "deleg.expired_title": ("Ủy quyền đã hết hạn (không còn hiệu lực ở mọi nơi)",
                            "Expired delegations (honoured nowhere)"),
    "deleg.folder_title": ("Quyền riêng trên một thư mục", "A folder's own rights"),
    "deleg.folder_why": ("Quyền riêng của thư mục thay cho quyền trên cả hộp thư ở thư mục đó và hết hạn cùng ủy "
                         "quyền; thu hồi quyền riêng thì thư mục theo quyền cả hộp thư.",
                         "A folder's own rights replace the mailbox-wide ones there and end with the delegation; "
                         "revoking them, the folder follows the mailbox-wide rights again."),
    # Bulk import (Điều 10.2).
    "imp.title": ("Nhập danh bạ từ tệp (XLSX, CSV)", "Import the directory from a file (XLSX, CSV)"),
    "imp.link": ("Nhập từ tệp", "Import a file"),
    "imp.help": ("Tệp theo mẫu (cột Loại dòng, Mã, Tên, Thuộc, ...; CSV phải là UTF-8). Bước 1 chỉ kiểm tra và cho "
                 "xem trước: chưa có gì thay đổi. Dòng lỗi được chỉ rõ theo số dòng của tệp.",
                 "A file in the template (columns Loại dòng, Mã, Tên, Thuộc, ...; CSV in UTF-8). Step 1 only checks "
                 "and previews: nothing changes. Bad rows are shown by the file's line numbers."),
    "imp.template": ("Tải tệp mẫu", "Download the template"),
    "imp.file": ("Tệp", "File"),
    "imp.preview": ("Kiểm tra và xem trước", "Check and preview"),
    "imp.errors": ("Dòng lỗi: không nhập gì cho đến khi sửa hết", "Bad rows: nothing is imported until all are fixed"),
    "imp.line": ("Dòng", "Line"),
    "imp.problem": ("Lỗi", "Problem"),
    "imp.new_orgs": ("Tổ chức mới", "New organisations"),
    "imp.new_people": ("Người mới và địa chỉ theo Điều 3", "New people and their addresses (article 3)"),
    "imp.updated": ("Người đã có, được cập nhật", "People already there, updated"),
    "imp.summary": ("Sẽ nhập: {orgs} tổ chức mới, {people} người mới, {updated} người cập nhật",
                    "Would import: {orgs} new organisations, {people} new people, {updated} updated"),
    "imp.confirm": ("Nhập vào danh bạ", "Import into the directory"),
    "imp.done": ("Đã nhập: {orgs} tổ chức mới, {people} người mới, {updated} người cập nhật",
                 "Imported: {orgs} new organisations, {people} new people, {updated} updated"),
    "imp.passwords": ("Tệp mật khẩu một lần cho thủ trưởng từng cơ quan (trên máy chủ)",
                      "One-time password files for each organisation's head (on the server)"),
    "imp.gone": ("Tệp đã tải lên không còn (đã nhập hoặc quá hạn); hãy tải lên lại.",
                 "The uploaded file is gone (imported or expired); upload it again."),
    # Splitting an organisation (Điều 2.5).
    "split.title": ("Chia tách: chuyển đơn vị, người đã chọn sang tổ chức mới",
                    "Split: move the chosen units and people to a new organisation"),
    "split.name": ("Tên tổ chức mới", "Name of the new organisation"),
    "split.units": ("Đơn vị trực thuộc chuyển sang", "Sub-units that move"),
    "split.people": ("Người chuyển sang", "People who move"),
    "split.go": ("Xem trước việc chia tách", "Preview the split"),
    # A leaver's mail (Điều 4.5).
    "leave.handover": ("Thư mới gửi đến sau khi nghỉ (không bắt buộc)", "New mail after the departure (optional)"),
    "leave.successor": ("Người tiếp nhận công việc (địa chỉ thư)", "Successor (address)"),
    "leave.forward": ("Chuyển thư mới cho người tiếp nhận (vẫn giữ một bản)", "Forward new mail to the successor (a copy kept)"),
    "leave.reply": ("Tự động trả lời, nêu người tiếp nhận và địa chỉ cơ quan", "Reply automatically, naming the successor and the organisation"),
    "leave.until": ("Đến hết ngày", "Until (inclusive)"),
    "leave.kept": ("Địa chỉ vẫn nhận thư đến {until}: {rules}", "The address still takes mail until {until}: {rules}"),
}
STATUS_WORDS = {
    "active": ("hoạt động", "active"), "revoked": ("đã thu hồi", "revoked"), "disabled": ("đã khóa", "disabled"),
    "reclaimed": ("đã thu hồi (không dùng 6 tháng)", "reclaimed (unused)"), "left": ("đã nghỉ", "left"),
    "merged": ("đã sáp nhập", "merged"), "split": ("đã chia tách", "split"), "dissolved": ("đã giải thể", "dissolved"),
}


def why(exc: Exception) -> str:
    """The operator's text of a refusal (a NamingError carries the row's key too)."""
    return str(exc.args[0]) if exc.args else str(exc)


def org_scope(org: Org) -> tuple[int | None, str]:
    """The organisation a change to ``org`` is checked on, and its audit target."""
    return org.id, f"org:{org.id}"


def person_scope(person: Person) -> tuple[int | None, str]:
    """The organisation a change to ``person`` is checked on, and its audit target."""
    return person.org_id, f"person:{person.id}"


def rights_name(rights: str, t: Any) -> str:
    """The words for a delegation's rights (a preset's name, else the letters)."""
    for letters, word in (*DELEGATION_RIGHTS.values(), *FOLDER_RIGHTS.values()):
        if letters == rights:
            return f"{t(word)} ({rights})" if rights else t(word)
    return rights


class DirectoryPages(ConsolePages):
    """The console's directory pages of one App."""

    def __init__(self, app: App) -> None:
        super().__init__(app, Directory(app), templates=[TEMPLATES], texts=TEXTS)

    async def org_visit(self, request: Request, id_text: str) -> Visit[Org] | Response:
        """The gate, then the organisation of the URL the viewer may read (else 404)."""
        return await self.visit(request, lambda viewer: self.readable_org(viewer, id_text))

    async def person_visit(self, request: Request, id_text: str) -> Visit[Person] | Response:
        """The gate, then the person of the URL the viewer may read (else 404)."""
        return await self.visit(request, lambda viewer: self.readable_person(viewer, id_text))

    async def org_change(self, request: Request, id_text: str, action: str, *, known: bool = True,
                         mailbox: bool = False) -> Change[Org] | Response:
        """The prologue of a change to the organisation of the URL (``ConsolePages.change``:
        the gate, 404, the form, ``action`` checked on it). 404 too for a route's unknown
        action (``known`` False) and, with ``mailbox``, for an organisation without one."""
        async def find(viewer: Viewer) -> Org | None:
            org = await self.readable_org(viewer, id_text) if known else None
            return None if org is None or (mailbox and org.mailbox_id is None) else org
        return await self.change(request, find, action, org_scope)

    async def person_change(self, request: Request, id_text: str, action: str, *, known: bool = True,
                            mailbox: bool = False) -> Change[Person] | Response:
        """``org_change`` for the person of the URL, checked on their organisation."""
        async def find(viewer: Viewer) -> Person | None:
            person = await self.readable_person(viewer, id_text) if known else None
            return None if person is None or (mailbox and person.mailbox_id is None) else person
        return await self.change(request, find, action, person_scope)

    async def answer(self, request: Request, change: Change[Org] | Change[Person], work: Awaitable[str]) -> Response:
        """Run a change (``work`` gives the word of what was done) and answer with the page
        of what it changed: that word as its notice, or 400 with the reason it was
        refused (DirectoryError, NamingError)."""
        try:
            done = await work
        except (DirectoryError, NamingError) as exc:
            return await self.page_of(request, change, status=400, error=why(exc))
        return await self.page_of(request, change, notice=self.translator(lang_of(request))(done))

    async def page_of(self, request: Request, change: Change[Org] | Change[Person], **extra: Any) -> Response:
        """The page of the organisation or person a change is about."""
        if isinstance(change.found, Org):
            return await self.org_page(request, change.signed, change.viewer, change.found, **extra)
        return await self.person_page(request, change.signed, change.viewer, change.found, **extra)

    def status(self, code: str, lang: str) -> str:
        return STATUS_WORDS.get(code, (code, code))[i18n.LANGUAGES.index(lang)]

    @staticmethod
    def delegation_end(expires_at: datetime | None, live: bool, t: Any, zone: str) -> str:
        """A delegation's end in words: none, until its last day, or expired since then."""
        if expires_at is None:
            return str(t("deleg.no_end"))
        day = last_day(expires_at, zone).strftime("%d/%m/%Y")
        return str(t("deleg.ends", day=day) if live else t("deleg.expired", day=day))

    def alias_rows(self, aliases: list[Any], lang: str) -> list[dict[str, Any]]:
        return [{"address": a.address, "target": a.target, "reason": a.reason,
                 "until": i18n.show_date(a.expires_at, lang) if a.expires_at else ""} for a in aliases]

    async def org_page(self, request: Request, signed: Signed, viewer: Viewer, org: Org, *, status: int = 200,
                       **extra: Any) -> Response:
        """An organisation: sub-units, people, mailboxes, aliases, delegations, history,
        and the forms the viewer may use."""
        directory, app = self.directory, self.app
        lang = lang_of(request)
        t = self.translator(lang)
        people = await directory.list_people(org.id, include_left=True)
        boxes: dict[int | None, Any] = {
            p.mailbox_id: await app.store.get_mailbox_by_id(p.mailbox_id) for p in people if p.mailbox_id}
        active = await directory.list_orgs()
        units = [o for o in active if o.parent_id == org.id]
        aliases = await directory.aliases_of(org.mailbox_id) if org.mailbox_id else []
        orgs = [o for o in active if o.id != org.id]
        events = await app.db.run_read(directory_events, org.id)
        is_active = org.status == "active"
        may_people = is_active and await self.can(viewer, "directory.people", org.id)
        may_orgs = is_active and await self.can(viewer, "directory.orgs", org.id)
        grants = await grants_of(app, org.mailbox_id, expired=True) if org.mailbox_id else []
        now, zone = app.accounts.clock(), app.settings.system.timezone
        folders = [f for f in await app.store.list_folders(org.mailbox_id) if f.name != INBOX] \
            if org.mailbox_id else []
        context = {
            "org": org, "org_status": self.status(org.status, lang),
            "parent": await directory.get_org(org.parent_id) if org.parent_id else None,
            "units": units, "aliases": self.alias_rows(aliases, lang),
            "others": sorted(orgs, key=lambda o: fold(o.name)),
            "people": [{"p": p, "status": self.status(p.status, lang),
                        "mailbox": self.status(boxes[p.mailbox_id].status, lang) if boxes.get(p.mailbox_id)
                        else "-"} for p in people],
            "events": [{"at": i18n.show_date(e[0], lang), "kind": e[1], "detail": e[2]} for e in events],
            "may_people": may_people, "may_orgs": may_orgs,
            "may_export": await self.can(viewer, "mailbox.export"),
            "may_aliases": is_active and bool(org.mailbox_id) and await self.can(viewer, "directory.aliases", org.id),
            "may_delegate": is_active and bool(org.mailbox_id) and await self.can(
                viewer, "delegations.manage", org.id),
            "grants": [{"grantee": g.grantee_address, "grantee_id": g.grantee_mailbox_id,
                        "rights": rights_name(g.rights, t), "folder": g.folder or t("deleg.whole"),
                        "folder_id": g.folder_id or "", "whole": g.folder_id is None,
                        "in_force": g.in_force(now), "end": self.delegation_end(g.expires_at, g.in_force(now), t, zone),
                        # The end belongs to the delegation: its form on the delegation's first row.
                        "end_form": g == next(x for x in grants if x.grantee_mailbox_id == g.grantee_mailbox_id),
                        "until": last_day(g.expires_at, zone).isoformat() if g.expires_at else ""}
                       for g in grants],
            "presets": [(key, t(word)) for key, (_letters, word) in DELEGATION_RIGHTS.items()],
            "folder_presets": [(key, t(word)) for key, (_letters, word) in FOLDER_RIGHTS.items()],
            "delegable_folders": folders,
            "form": dict.fromkeys(("name", "title", "rank", "override"), ""), "proposal": None, "plan": None,
            "error": "", "added": None, "done": "", "changed": [], "notice": "",
        }
        context.update(extra)
        return self.page(request, signed, "dir_org.html", context, status)

    async def person_page(self, request: Request, signed: Signed, viewer: Viewer, person: Person, *,
                          status: int = 200, **extra: Any) -> Response:
        """A person and their mailbox, aliases, and the forms the viewer may use."""
        app = self.app
        lang = lang_of(request)
        mailbox = await app.store.get_mailbox_by_id(person.mailbox_id) if person.mailbox_id else None
        aliases = await self.directory.aliases_of(mailbox.id) if mailbox else []
        may = person.status == "active" and person.org_id is not None and await self.can(
            viewer, "directory.people", person.org_id)
        context = {"person": person, "status": self.status(person.status, lang),
                   "mailbox": mailbox, "mailbox_status": self.status(mailbox.status, lang) if mailbox else "-",
                   "aliases": self.alias_rows(aliases, lang), "may": may,
                   "may_export": await self.can(viewer, "mailbox.export"),
                   "may_aliases": person.status == "active" and mailbox is not None and await self.can(
                       viewer, "directory.aliases", person.org_id),
                   "error": "", "done": "", "old": "", "notice": ""}
        context.update(extra)
        return self.page(request, signed, "dir_person.html", context, status)
