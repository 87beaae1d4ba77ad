"""The mails of the request workflow (Điều 4.3): each change of a request to the
requesting organisation's mailbox, and overdue alerts to the IT Center and the
Department. Built with the accounts' system-mail builder (RFC 5322, UTF-8 body, RFC 2047
subject, ``Auto-Submitted``); never a password in them (Điều 13.2: one-time passwords
are shown to the organisation's manager in the console only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from congthu.accounts.notices import build
from congthu.config import Settings

if TYPE_CHECKING:
    from congthu.requests.workflow import Request

KIND_TEXT = {
    "create": ("cấp mới hộp thư", "new mailboxes"),
    "rename": ("đổi tên", "rename"),
    "reset": ("cấp lại mật khẩu", "password reset"),
    "delete": ("hủy hộp thư", "mailbox deletion"),
}
STATE_TEXT = {
    "received": ("đã được tiếp nhận", "has been received"),
    "in_progress": ("đang được xử lý", "is being carried out"),
    "done": ("đã được thực hiện xong", "has been carried out"),
    "refused": ("không được thực hiện", "was refused"),
}


def show_day(value: Any) -> str:
    return value.strftime("%d/%m/%Y")


def _result_lines(request: Request) -> list[str]:
    done = request.result.get("done", {})
    lines = []
    for key in sorted((k for k in done if k.isdigit()), key=int):
        lines.append(f"  - {done[key]['name']}: {done[key]['address']}")
    if "renamed" in done:
        lines.append(f"  - {done['renamed']['name']}: {done['renamed']['address']}")
    for label in ("reset", "revoked", "dissolved"):
        if label in done:
            lines.append(f"  - {done[label]}")
    return lines


def state_notice(settings: Settings, request: Request, org_name: str, to: Sequence[str], when: datetime) -> bytes:
    kind_vi, kind_en = KIND_TEXT[request.kind]
    state_vi, state_en = STATE_TEXT[request.state]
    due = show_day(request.due_on)
    subject = f"Yêu cầu số {request.id} ({kind_vi}) {state_vi} / Request {request.id} ({kind_en}) {state_en}"
    vi = [f"Kính gửi {org_name},", "",
          f"Yêu cầu số {request.id} ({kind_vi}) của cơ quan {state_vi}.",
          f"Hạn giải quyết (Điều 4.3, ba ngày làm việc): hết ngày {due}."]
    en = [f"Request {request.id} ({kind_en}) of your organisation {state_en}.",
          f"Due (article 4.3, three working days): by the end of {due}."]
    if request.state == "refused":
        vi.append(f"Lý do: {request.reason}")
        en.append(f"Reason: {request.reason}")
    if request.state == "done":
        lines = _result_lines(request)
        if lines:
            vi += ["Kết quả:", *lines]
            en += ["Result:", *lines]
        if request.has_passwords:
            vi.append("Mật khẩu dùng một lần được gửi riêng cho người quản lý của cơ quan trên trang quản trị "
                      "(không gửi qua thư); phải đổi ở lần đăng nhập đầu.")
            en.append("The one-time passwords are shown to the organisation's manager in the administration "
                      "console (never by mail) and must be changed at first sign-in.")
    body = "\n".join([*vi, "", "---", *en, ""])
    return build(settings, ", ".join(to), subject, body, when)


def overdue_alert(settings: Settings, overdue: Sequence[tuple[Request, str]], to: Sequence[str],
                  when: datetime) -> bytes:
    subject = (f"Cảnh báo: {len(overdue)} yêu cầu quá hạn ba ngày làm việc / "
               f"Alert: {len(overdue)} requests past their three working days")
    lines = [f"  - số {r.id} ({KIND_TEXT[r.kind][0]}), {org}: hạn {show_day(r.due_on)}, trạng thái {r.state}"
             for r, org in overdue]
    body = "\n".join([
        "Các yêu cầu sau đã quá hạn giải quyết theo Điều 4.3 của Quy chế:", *lines, "",
        "Xem tại /quan-tri/yeu-cau hoặc: congthu request list --overdue", "", "---",
        "These requests are past their due date (article 4.3 of the regulation):",
        *[f"  - {r.id} ({KIND_TEXT[r.kind][1]}), {org}: due {show_day(r.due_on)}, state {r.state}"
          for r, org in overdue], ""])
    return build(settings, ", ".join(to), subject, body, when)
