"""The console's words in Vietnamese and English; the webmail's (``congthu.webmail.i18n``)
are used for the shared layout, so both look and switch language alike."""

from __future__ import annotations

from collections.abc import Callable

from congthu.webmail import i18n

TEXTS: dict[str, tuple[str, str]] = {
    "console": ("Quản trị", "Administration"),
    "requests": ("Yêu cầu (Điều 4)", "Requests (article 4)"),
    "new": ("Tạo yêu cầu", "New request"),
    "all": ("Tất cả", "All"),
    "overdue": ("Quá hạn", "Overdue"),
    "id": ("Số", "No."),
    "kind": ("Loại", "Kind"),
    "org": ("Cơ quan", "Organisation"),
    "state": ("Trạng thái", "State"),
    "filed": ("Ngày nhận", "Filed"),
    "due": ("Hạn (hết ngày)", "Due (end of day)"),
    "due.rule": ("Hạn giải quyết: ba ngày làm việc kể từ ngày sau ngày nhận (Điều 4.3); không tính thứ Bảy, "
                 "Chủ nhật, ngày lễ, Tết, có tính ngày làm bù.",
                 "Due: three working days from the day after filing (article 4.3); weekends, public holidays "
                 "and Tết excluded, swapped working days included."),
    "none": ("Không có yêu cầu nào.", "No requests."),
    "filter": ("Lọc", "Filter"),
    "source": ("Nguồn", "Source"),
    "filed_by": ("Người gửi", "Filed by"),
    "details": ("Nội dung", "Details"),
    "note": ("Ghi chú", "Note"),
    "reason": ("Lý do", "Reason"),
    "result": ("Kết quả", "Result"),
    "history": ("Lịch sử", "History"),
    "start": ("Bắt đầu xử lý", "Start"),
    "done": ("Hoàn thành (thực hiện)", "Carry out (done)"),
    "refuse": ("Từ chối", "Refuse"),
    "passwords": ("Mật khẩu dùng một lần", "One-time passwords"),
    "passwords.why": ("Chỉ người quản lý của cơ quan thấy các mật khẩu này; hãy trao cho từng người, họ phải đổi ở "
                      "lần đăng nhập đầu. Hệ thống không gửi mật khẩu qua thư.",
                      "Only your organisation's manager sees these passwords; hand each to its owner, who must "
                      "change it at first sign-in. They are never sent by mail."),
    "passwords.take": ("Đã ghi lại, xóa khỏi hệ thống", "Noted, remove them from the system"),
    "passwords.taken": ("Mật khẩu đã được xóa khỏi hệ thống.", "The passwords were removed from the system."),
    "form.kind": ("Loại yêu cầu", "Kind of request"),
    "form.org": ("Cơ quan yêu cầu", "Requesting organisation"),
    "form.mailbox_kind": ("Loại hộp thư mới", "Kind of new mailboxes"),
    "form.person": ("Cá nhân", "Personal"),
    "form.subunit": ("Đơn vị trực thuộc", "Sub-unit"),
    "form.names": ("Họ tên (mỗi dòng một người; có thể thêm \"; chức danh\")",
                   "Names (one a line; optionally \"; title\")"),
    "form.target": ("Địa chỉ hộp thư (đổi tên, cấp lại mật khẩu, hủy)", "Mailbox address (rename, reset, delete)"),
    "form.new_name": ("Tên mới (đổi tên)", "New name (rename)"),
    "form.submit": ("Gửi yêu cầu", "Send the request"),
    "enrol.title": ("Cần bật xác thực hai lớp", "Two-factor authentication required"),
    "enrol.text": ("Quản trị viên phải bật xác thực hai lớp (TOTP) trước khi dùng trang quản trị. Liên hệ Trung "
                   "tâm CNTT&TT hoặc chạy: congthu user totp {address} enable, rồi đăng nhập lại với mã.",
                   "Administrators must turn on two-factor authentication (TOTP) before using the console. Ask "
                   "the IT Center, or run: congthu user totp {address} enable, then sign in again with a code."),
    "denied": ("Bạn không có quyền thực hiện việc này.", "You may not do this."),
    "not_found": ("Không tìm thấy yêu cầu này.", "This request was not found."),
}


def translator(lang: str) -> Callable[..., str]:
    index = i18n.LANGUAGES.index(lang)
    shared = i18n.translator(lang)

    def t(key: str, **values: object) -> str:
        if key not in TEXTS:
            return shared(key, **values)
        text = TEXTS[key][index]
        return text.format(**values) if values else text

    return t
