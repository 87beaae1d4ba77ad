"""Requests by mail to admin@<domain> (Điều 4.1: "lãnh đạo tổ chức lập yêu cầu gửi từ
hộp thư tổ chức đến địa chỉ admin@...").

``receive(app, raw, sender=..., trusted=...)`` turns one message into a request when it
comes from an organisation's (or sub-unit's) own mailbox, was proven to (``trusted``:
authenticated submission by that mailbox, or DKIM-aligned from our own server; the SMTP
side decides), and carries a filled form in its plain-text body. Anything else, and any
mail from a personal or outside address, creates nothing and gets a polite reply in
Vietnamese (and English) explaining how to ask, with the form. The caller sends the
reply (``Answer.reply`` to ``Answer.to``); ``deliver_reply`` does it for local senders.

The form, one field a line, keys in Vietnamese with or without accents (or English)::

    Loại yêu cầu: cấp mới | đổi tên | cấp lại mật khẩu | hủy hộp thư
    Loại hộp thư: cá nhân | đơn vị          (cấp mới)
    Họ tên: Nguyễn Văn An; Chuyên viên      (cấp mới, một dòng một người)
    Địa chỉ: ...@<domain>                    (đổi tên, cấp lại mật khẩu, hủy)
    Tên mới: ...                             (đổi tên)
    Ghi chú: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parseaddr
from typing import TYPE_CHECKING

from congthu.accounts.notices import build
from congthu.directory import Directory, DirectoryError
from congthu.requests.workflow import Request, RequestError, Requests
from congthu.text import fold

if TYPE_CHECKING:
    from congthu.app import App

KIND_WORDS = {
    "cap moi": "create", "tao moi": "create", "create": "create", "new": "create",
    "doi ten": "rename", "rename": "rename",
    "cap lai mat khau": "reset", "dat lai mat khau": "reset", "reset": "reset", "password reset": "reset",
    "huy": "delete", "huy hop thu": "delete", "delete": "delete",
}
KEYS = {
    "loai yeu cau": "kind", "kind": "kind",
    "loai hop thu": "mailbox_kind", "mailbox kind": "mailbox_kind",
    "ho ten": "name", "ho va ten": "name", "name": "name",
    "dia chi": "target", "address": "target",
    "ten moi": "new_name", "new name": "new_name",
    "ghi chu": "note", "note": "note",
}
MAX_BODY = 64 * 1024

FORM = """Loại yêu cầu: cấp mới | đổi tên | cấp lại mật khẩu | hủy hộp thư
Loại hộp thư: cá nhân | đơn vị
Họ tên: Nguyễn Văn An; Chuyên viên
Địa chỉ: (hộp thư cần đổi tên, cấp lại mật khẩu hoặc hủy)
Tên mới: (khi đổi tên)
Ghi chú: (số công văn...)"""


@dataclass(frozen=True)
class Answer:
    """The request filed (None: none), and the explanation to send back (None: the
    filing notice of the workflow is the answer)."""

    request: Request | None
    reply: bytes | None
    to: str


def parse_form(text: str) -> dict[str, list[str]]:
    """The form's fields (keys folded: accents and case do not matter)."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        field = KEYS.get(" ".join(fold(key).split())) if sep else None
        if field and value.strip():
            fields.setdefault(field, []).append(value.strip())
    return fields


def _plain_body(raw: bytes) -> str:
    msg = message_from_bytes(raw[:1024 * 1024], policy=default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(("plain",))
    if part is None:
        return ""
    try:
        return str(part.get_content())[:MAX_BODY]  # type: ignore[attr-defined]
    except (LookupError, ValueError):
        return ""


def explanation(app: App, to: str, why_vi: str, why_en: str) -> bytes:
    admin = f"admin@{app.settings.system.domain}"
    subject = "Hướng dẫn gửi yêu cầu về hộp thư / How to ask for a mailbox change"
    body = (f"Kính gửi quý cơ quan, quý anh chị,\n\nThư gửi đến {admin} chưa thành yêu cầu: {why_vi}\n\n"
            f"Theo Điều 4.1 của Quy chế, yêu cầu cấp mới, đổi tên, cấp lại mật khẩu hoặc hủy hộp thư do lãnh "
            f"đạo cơ quan gửi từ hộp thư của cơ quan (không phải hộp thư cá nhân) đến {admin}, hoặc bằng văn "
            f"bản đến Sở Thông tin và Truyền thông. Nội dung thư điền theo mẫu sau, mỗi mục một dòng:\n\n"
            f"{FORM}\n\nTrung tâm CNTT&TT giải quyết trong ba ngày làm việc và báo kết quả qua thư.\n\n---\n"
            f"Your mail to {admin} did not become a request: {why_en}\n"
            f"Under article 4.1 of the regulation, requests come from the organisation's own mailbox (not a "
            f"personal one), or on paper to the Department, with the form above in the body.\n")
    return build(app.settings, to, subject, body, app.accounts.clock())


async def receive(app: App, raw: bytes, *, sender: str, trusted: bool) -> Answer:
    """One mail to admin@: a request, or the explanation (see the module)."""
    address = parseaddr(sender)[1].strip().lower()
    directory = Directory(app)
    org = None
    if address.endswith("@" + app.settings.system.domain.lower()):
        try:
            found = await directory.get_org(address, include_inactive=False)
            org = found if found.address.lower() == address else None
        except DirectoryError:
            org = None
    if org is None:
        return Answer(None, explanation(app, address, "thư phải gửi từ hộp thư của cơ quan.",
                                        "it must come from an organisation's mailbox."), address)
    if not trusted:
        return Answer(None, explanation(app, address, "không xác thực được thư gửi từ hộp thư của cơ quan "
                                        "(hãy gửi bằng ứng dụng thư đã đăng nhập hoặc webmail).",
                                        "it could not be proven to come from the organisation's mailbox "
                                        "(send it from a signed-in mail client or the webmail)."), address)
    fields = parse_form(_plain_body(raw))
    kind = KIND_WORDS.get(" ".join(fold(fields.get("kind", [""])[0]).split()))
    if kind is None:
        return Answer(None, explanation(app, address, "thiếu hoặc sai mục \"Loại yêu cầu\".",
                                        "the \"Loại yêu cầu\" (kind) line is missing or unknown."), address)
    unit = fold(fields.get("mailbox_kind", ["ca nhan"])[0])
    try:
        request = await Requests(app).file(
            kind, org.id, filed_by=address, source="mail", names="\n".join(fields.get("name", [])),
            mailbox_kind="subunit" if unit.startswith(("don vi", "sub")) else "person",
            target=fields.get("target", [""])[0], new_name=fields.get("new_name", [""])[0],
            note="\n".join(fields.get("note", [])))
    except RequestError as exc:
        text = str(exc)
        return Answer(None, explanation(app, address, text, text), address)
    return Answer(request, None, address)


async def deliver_reply(app: App, answer: Answer) -> bool:
    """Deliver the explanation into a local sender's INBOX (outside senders: the
    caller queues it for SMTP). False when there is nothing to deliver locally."""
    if answer.reply is None:
        return False
    mailbox = await app.store.get_mailbox(answer.to)
    if mailbox is None:
        return False
    results = await app.store.deliver(answer.reply, [mailbox.id], internal_date=app.accounts.clock())
    return bool(results and results[0].ok)


async def handle(app: App, raw: bytes, *, sender: str, trusted: bool) -> None:
    """``receive``, then the explanation into a local sender's INBOX: what the doors run
    (in the background) for a message delivered to admin@."""
    await deliver_reply(app, await receive(app, raw, sender=sender, trusted=trusted))
