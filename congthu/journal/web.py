"""The journal's console page (``/quan-tri/luu-thu``, issues 15 and 17; Điều 7.3–7.5): the
records office (văn thư) searches and reads the mail kept between organisation
mailboxes, found by ``congthu.web.app`` (``router(app)``).

| path | what |
|---|---|
| `/quan-tri/luu-thu?q=&dia-chi=&tu=&den=&loai=` | entries, newest first: text (subject, Message-ID, addresses), an address, days from / to (Vietnam's days, as the CLI's), a document type |
| `/quan-tri/luu-thu/<id>` | one entry: its envelope, SHA-256 (checked on every read), header fields and text |
| `/quan-tri/luu-thu/<id>.eml` | the message exactly as kept, byte for byte |

Who: the ``journal.read`` permission (``records`` role, administrators) through the
console's one check; for anyone else the page does not exist (404). A records grant
scoped to an organisation sees only the entries that organisation or its sub-units sent
or received (``entries.reader_scope``); another entry is 404 like a missing one. Every
search and every read (page or download) is written to the audit trail by
``entries.search`` / ``entries.read_entry``, with the viewer and their address.
"""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.console.access import Viewer
from congthu.console.pages import DOWNLOAD_HEADERS, ConsolePages, id_of, lang_of
from congthu.content.doctypes import TYPES, lookup
from congthu.directory import Directory
from congthu.journal import entries
from congthu.webmail import i18n

if TYPE_CHECKING:
    from congthu.app import App

HOME = "/quan-tri/luu-thu"
TEMPLATES = Path(__file__).parent / "templates"
VIETNAM = i18n.VIETNAM
PAGE_LIMIT = 200
MAX_TEXT = 200_000  # characters of a message's text shown on the page (the .eml has all)

TEXTS: dict[str, tuple[str, str]] = {
    "jr.title": ("Lưu thư giữa các cơ quan (Điều 7.3–7.5)", "Mail between organisations (articles 7.3–7.5)"),
    "jr.scope": ("Bạn xem thư của: {orgs}", "You see the mail of: {orgs}"),
    "jr.all": ("mọi cơ quan", "every organisation"),
    "jr.text": ("Tiêu đề, Message-ID hoặc địa chỉ", "Subject, Message-ID or address"),
    "jr.address": ("Người gửi hoặc nhận", "Sender or recipient"),
    "jr.since": ("Từ ngày", "From"),
    "jr.until": ("Đến hết ngày", "Until (inclusive)"),
    "jr.type": ("Loại văn bản", "Document type"),
    "jr.any": ("(mọi loại)", "(any)"),
    "jr.search": ("Tìm", "Search"),
    "jr.count": ("{count} thư (mới nhất trước; tối đa {limit})", "{count} messages (newest first; at most {limit})"),
    "jr.none": ("Không có thư nào.", "Nothing found."),
    "jr.sent": ("Gửi lúc", "Sent"),
    "jr.from": ("Cơ quan gửi", "From organisation"),
    "jr.to": ("Cơ quan nhận", "To organisations"),
    "jr.subject": ("Tiêu đề", "Subject"),
    "jr.size": ("Dung lượng", "Size"),
    "jr.submitted_by": ("Người gửi (đăng nhập)", "Submitted by (login)"),
    "jr.envelope": ("Phong bì (MAIL FROM → RCPT TO)", "Envelope (MAIL FROM → RCPT TO)"),
    "jr.sha": ("SHA-256 (đã kiểm tra khi đọc)", "SHA-256 (checked on this read)"),
    "jr.download": ("Tải thư gốc (.eml, đúng từng byte)", "Download the message (.eml, byte for byte)"),
    "jr.headers": ("Trường tiêu đề", "Header fields"),
    "jr.body": ("Nội dung", "Text"),
    "jr.no_text": ("(Thư không có phần văn bản; hãy tải thư gốc.)", "(No text part; download the message.)"),
    "jr.back": ("Về danh sách", "Back to the list"),
    "jr.audited": ("Mỗi lần tìm và đọc đều được ghi nhật ký.", "Every search and read is audited."),
    "jr.bad_date": ("Ngày không hợp lệ (yyyy-mm-dd)", "Invalid date (yyyy-mm-dd)"),
}


def _day(text: str) -> date | None:
    text = text.strip()[:10]
    return date.fromisoformat(text) if text else None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), VIETNAM)


def message_view(raw: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """The header fields (decoded) and the plain text of a kept message, for the page;
    anything unreadable is shown as it can be, never an error."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    fields: list[tuple[str, str]] = []
    for name, value in message.items():
        try:
            fields.append((name, str(value)))
        except Exception:  # noqa: BLE001 - a malformed field: shown raw
            fields.append((name, repr(value)))
    text: str | None = None
    try:
        body = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        if body is not None:
            text = str(body.get_content())[:MAX_TEXT]
    except Exception:  # noqa: BLE001 - an unknown charset or a broken part: the .eml still has it
        text = None
    return fields, text


class JournalPages(ConsolePages):
    """The journal's console pages of one App."""

    def __init__(self, app: App) -> None:
        super().__init__(app, Directory(app), templates=[TEMPLATES], texts=TEXTS)

    async def scope_names(self, viewer: Viewer, lang: str) -> str:
        scope = viewer.journal_scope
        if scope is None:
            return self.translator(lang)("jr.all")
        names = []
        for org_id in scope:
            try:
                org = await self.directory.get_org(org_id)
                names.append(f"{org.name} <{org.address}>")
            except Exception:  # noqa: BLE001 - a scope naming a removed organisation
                names.append(str(org_id))
        return ", ".join(names)


def _client(request: Request) -> str:
    return f"web:{request.client.host}" if request.client else "web"


def routes(pages: JournalPages) -> APIRouter:
    api = APIRouter()
    app = pages.app

    @api.get(HOME)
    async def search(request: Request) -> Response:
        # The console's gate, then ``journal.read``: the page does not exist (404) for
        # anyone without it.
        visit = await pages.visit(request, pages.opening("journal.read"))
        if isinstance(visit, Response):
            return visit
        signed, viewer = visit.signed, visit.viewer
        lang = lang_of(request)
        query = request.query_params
        form = {"q": query.get("q", "")[:200], "dia-chi": query.get("dia-chi", "")[:320],
                "tu": query.get("tu", "")[:10], "den": query.get("den", "")[:10], "loai": query.get("loai", "")[:40]}
        context: dict[str, Any] = {"form": form, "rows": [], "error": "", "limit": PAGE_LIMIT,
                                   "types": [(t.key, t.name if lang == "vi" else t.english) for t in TYPES],
                                   "scope": await pages.scope_names(viewer, lang)}
        try:
            since, until = _day(form["tu"]), _day(form["den"])
        except ValueError:
            context["error"] = pages.translator(lang)("jr.bad_date")
            return pages.page(request, signed, "journal_list.html", context, 400)
        found_type = lookup(form["loai"]) if form["loai"] else None
        kept = await entries.search(
            app, viewer.mailbox_id, text=form["q"], address=form["dia-chi"],
            since=_day_start(since) if since else None,
            until=_day_start(until + timedelta(days=1)) if until else None,
            document_type=found_type.key if found_type else None, limit=PAGE_LIMIT, client=_client(request))
        names = {t.key: (t.name if lang == "vi" else t.english) for t in TYPES}
        context["rows"] = [{"id": e.id, "sent": i18n.show_date(e.sent_at, lang), "from": e.organisation,
                            "to": ", ".join(e.org_recipients), "subject": e.subject,
                            "type": names.get(e.document_type or "", ""), "size": e.size} for e in kept]
        return pages.page(request, signed, "journal_list.html", context)

    async def entry_of(request: Request, viewer: Viewer, id_text: str) -> tuple[entries.Entry, bytes] | None:
        """The kept message of the URL and its bytes (the read audited), None if there is
        none or the viewer may not read the journal (404: the page does not exist)."""
        entry_id = id_of(id_text)
        if entry_id is None or not await pages.can(viewer, "journal.read"):
            return None
        try:
            return await entries.read_entry(app, viewer.mailbox_id, entry_id, client=_client(request))
        except entries.JournalError:
            return None

    @api.get(HOME + "/{name}")
    async def show(request: Request, name: str) -> Response:
        download = name.endswith(".eml")
        visit = await pages.visit(request, lambda viewer: entry_of(request, viewer, name.removesuffix(".eml")))
        if isinstance(visit, Response):
            return visit
        signed, (entry, raw) = visit.signed, visit.found
        if download:
            headers = {**DOWNLOAD_HEADERS,
                       "Content-Disposition": f'attachment; filename="luu-thu-{entry.id}.eml"'}
            return Response(raw, media_type="message/rfc822", headers=headers)
        lang = lang_of(request)
        fields, text = message_view(raw)
        kind = lookup(entry.document_type) if entry.document_type else None
        return pages.page(request, signed, "journal_entry.html", {
            "e": entry, "sent": i18n.show_date(entry.sent_at, lang), "fields": fields, "text": text,
            "type": (kind.name if lang == "vi" else kind.english) if kind else ""})

    return api


def router(app: App) -> APIRouter:
    return routes(JournalPages(app))
