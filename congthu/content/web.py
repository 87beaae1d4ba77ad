"""The quarantine's console page (``/quan-tri/cach-ly``, issue 17; Điều 9.9): the messages
the content pipeline held, for administrators, found by ``congthu.web.app``
(``router(app)``).

| path | what |
|---|---|
| `GET /quan-tri/cach-ly` | the held messages, newest first: when, door, sender, recipients, subject, size, the rule and its reason |
| `POST /quan-tri/cach-ly/<id>/giai-phong` | release: delivered to the local recipients' INBOX as it came (``quarantine.release``) |
| `POST /quan-tri/cach-ly/<id>/xoa` | delete for good (``quarantine.delete_held``) |

Who: the ``quarantine.manage`` permission (administrators) through the console's one
check; for anyone else the page does not exist (404) and a POST is refused (403,
audited). A held message is never shown nor downloaded here: its dangerous part stays in
the quarantine, and what it holds is the recipients' mail. Releases and deletions are in
the audit trail with the administrator's address (the same functions as ``congthu
quarantine``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.console.pages import ConsolePages, id_of, lang_of
from congthu.content import quarantine
from congthu.directory import Directory
from congthu.webmail import i18n

if TYPE_CHECKING:
    from congthu.app import App

HOME = "/quan-tri/cach-ly"
TEMPLATES = Path(__file__).parent / "templates"
PERMISSION = "quarantine.manage"

TEXTS: dict[str, tuple[str, str]] = {
    "qr.title": ("Thư bị giữ lại (cách ly, Điều 9.9)", "Held messages (quarantine, article 9.9)"),
    "qr.hint": ("Thư bị giữ không được mở ở đây: phần nguy hiểm của nó ở lại trong khu cách ly. Giải phóng "
                "chuyển thư vào hộp thư đến của người nhận trong hệ thống; mọi thao tác được ghi nhật ký.",
                "A held message is not opened here: its dangerous part stays in the quarantine. Releasing "
                "delivers it to the local recipients' inboxes; every action is audited."),
    "qr.none": ("Không có thư bị giữ.", "No held messages."),
    "qr.when": ("Lúc giữ", "Held at"),
    "qr.door": ("Cổng", "Door"),
    "qr.from": ("Người gửi", "Sender"),
    "qr.to": ("Người nhận", "Recipients"),
    "qr.subject": ("Tiêu đề", "Subject"),
    "qr.size": ("Dung lượng", "Size"),
    "qr.reason": ("Lý do", "Reason"),
    "qr.actions": ("Thao tác", "Actions"),
    "qr.release": ("Giải phóng", "Release"),
    "qr.delete": ("Xóa hẳn", "Delete"),
    "qr.released": ("Đã giải phóng thư số {id}.", "Message {id} released."),
    "qr.deleted": ("Đã xóa thư số {id}.", "Message {id} deleted."),
    "qr.gone": ("Thư số {id} không còn trong khu cách ly.", "Message {id} is no longer held."),
}


class QuarantinePages(ConsolePages):
    """The quarantine's console page of one App."""

    def __init__(self, app: App) -> None:
        super().__init__(app, Directory(app), templates=[TEMPLATES], texts=TEXTS)


def routes(pages: QuarantinePages) -> APIRouter:
    api = APIRouter()
    app = pages.app

    async def held(held_id: int | None) -> int | None:
        """The id of a message held now, or None (the page's 404)."""
        return held_id if held_id is not None and any(h.id == held_id for h in await quarantine.list_held(app)) \
            else None

    async def listing(request: Request, signed: Any, notice: str = "", status: int = 200) -> Response:
        lang = lang_of(request)
        rows = [{"id": h.id, "when": i18n.show_date(h.held_at, lang), "door": h.door, "from": h.mail_from,
                 "to": ", ".join(address for address, _mailbox in h.recipients), "subject": h.subject,
                 "size": h.size, "reason": f"{h.rule}: {h.reason}"}
                for h in sorted(await quarantine.list_held(app), key=lambda h: h.held_at, reverse=True)]
        return pages.page(request, signed, "quarantine.html", {"rows": rows, "notice": notice}, status)

    @api.get(HOME)
    async def show(request: Request) -> Response:
        visit = await pages.visit(request, pages.opening(PERMISSION))
        if isinstance(visit, Response):
            return visit
        return await listing(request, visit.signed)

    @api.post(HOME + "/{id_text}/{action}")
    async def act(request: Request, id_text: str, action: str) -> Response:
        held_id = id_of(id_text)
        if action not in ("giai-phong", "xoa"):
            held_id = None
        change = await pages.change(request, lambda viewer: held(held_id), PERMISSION,
                                    lambda found: (None, f"quarantine:{found}"))
        if isinstance(change, Response):
            return change
        actor = change.viewer.address
        if action == "giai-phong":
            done = await quarantine.release(app, change.found, actor=actor)
            key = "qr.released"
        else:
            done = await quarantine.delete_held(app, change.found, actor=actor)
            key = "qr.deleted"
        t = pages.translator(lang_of(request))
        if done is None:
            return await listing(request, change.signed, t("qr.gone", id=change.found), 404)
        return await listing(request, change.signed, t(key, id=change.found))

    return api


def router(app: App) -> APIRouter:
    return routes(QuarantinePages(app))
