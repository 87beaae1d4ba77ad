"""The webmail's words in Vietnamese (the default) and English, and how they are shown.

The language is the ``LANG_COOKIE`` cookie ("vi" or "en") the switch in the page header
sets; anything else is Vietnamese. Special folders (RFC 6154) get their Vietnamese
names; other folders show their own name. Dates are shown in Vietnam's time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

LANG_COOKIE = "congthu_ngon_ngu"
LANGUAGES = ("vi", "en")
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

TEXTS: dict[str, tuple[str, str]] = {
    "app": ("Công Thư", "Công Thư"),
    "skip": ("Bỏ qua, tới nội dung chính", "Skip to main content"),
    "lang.switch": ("English", "Tiếng Việt"),
    "login.title": ("Đăng nhập", "Sign in"),
    "login.address": ("Địa chỉ thư", "Mail address"),
    "login.password": ("Mật khẩu", "Password"),
    "login.otp": ("Mã xác thực hai lớp (nếu đã bật)", "Two-factor code (if turned on)"),
    "login.submit": ("Đăng nhập", "Sign in"),
    "login.forgot": ("Quên mật khẩu? Hãy liên hệ bộ phận quản trị thư của cơ quan.",
                     "Forgot your password? Contact your agency's mail administrators."),
    "form.expired": ("Biểu mẫu đã hết hạn hoặc không hợp lệ, hãy thử lại.",
                     "The form expired or is not valid, please try again."),
    "logout": ("Đăng xuất", "Sign out"),
    "settings": ("Cài đặt", "Settings"),
    "account": ("Tài khoản", "Account"),
    "folders": ("Thư mục", "Folders"),
    "unread": ("chưa đọc", "unread"),
    "change.title": ("Đổi mật khẩu", "Change password"),
    "change.why": ("Bạn cần đặt mật khẩu mới trước khi dùng hộp thư (lần đăng nhập đầu hoặc mật khẩu đã hết hạn).",
                   "You must choose a new password before using your mailbox (first sign-in or expired password)."),
    "change.new": ("Mật khẩu mới", "New password"),
    "change.current": ("Mật khẩu hiện tại", "Current password"),
    "change.done": ("Đã đổi mật khẩu. Các thiết bị khác đã được đăng xuất; hãy dùng mật khẩu mới trong mọi ứng dụng thư.",
                    "Your password was changed. Other devices were signed out; use the new password in every "
                    "mail client."),
    "change.confirm": ("Nhập lại mật khẩu mới", "New password again"),
    "change.submit": ("Đổi mật khẩu", "Change password"),
    "change.differ": ("Hai mật khẩu mới không khớp.", "The two new passwords differ."),
    "list.empty": ("Thư mục này không có thư.", "This folder has no messages."),
    "list.from": ("Người gửi", "From"),
    "list.subject": ("Tiêu đề", "Subject"),
    "list.date": ("Ngày", "Date"),
    "list.size": ("Cỡ", "Size"),
    "list.select": ("Chọn", "Select"),
    "list.select_all": ("Chọn tất cả", "Select all"),
    "list.no_subject": ("(không có tiêu đề)", "(no subject)"),
    "list.page": ("Trang {page} / {pages}", "Page {page} of {pages}"),
    "list.newer": ("← Mới hơn", "← Newer"),
    "list.older": ("Cũ hơn →", "Older →"),
    "list.count": ("{count} thư", "{count} messages"),
    "list.sort": ("Sắp xếp", "Sort"),
    "sort.date": ("Mới nhất trước", "Newest first"),
    "sort.date_asc": ("Cũ nhất trước", "Oldest first"),
    "sort.size": ("Lớn nhất trước", "Largest first"),
    "sort.apply": ("Sắp xếp", "Sort"),
    "flag.flagged": ("Có gắn cờ", "Flagged"),
    "flag.unread": ("Chưa đọc", "Unread"),
    "action.read": ("Đánh dấu đã đọc", "Mark read"),
    "action.unread": ("Đánh dấu chưa đọc", "Mark unread"),
    "action.flag": ("Gắn cờ", "Flag"),
    "action.unflag": ("Bỏ cờ", "Remove flag"),
    "action.delete": ("Xóa", "Delete"),
    "action.delete_forever": ("Xóa hẳn", "Delete permanently"),
    "action.move": ("Chuyển tới", "Move to"),
    "action.move_go": ("Chuyển", "Move"),
    "action.actions": ("Thao tác với thư đã chọn", "Actions on selected messages"),
    "msg.from": ("Từ", "From"),
    "msg.to": ("Tới", "To"),
    "msg.cc": ("Đồng gửi", "Cc"),
    "msg.date": ("Ngày gửi", "Date"),
    "msg.attachments": ("Tệp đính kèm", "Attachments"),
    "msg.download": ("Tải về", "Download"),
    "msg.source": ("Xem mã nguồn thư", "Message source"),
    "msg.back": ("← Quay lại danh sách", "← Back to the list"),
    "msg.body": ("Nội dung thư", "Message body"),
    "msg.images_blocked": ("Đã chặn {count} ảnh từ bên ngoài để bảo vệ bạn.",
                           "{count} remote images were blocked to protect you."),
    "msg.links": ("Liên kết trong thư mở ở thẻ mới; di chuột lên liên kết để xem địa chỉ thật.",
                  "Links open in a new tab; hover over a link to see its real target."),
    "msg.truncated": ("Thư quá dài, chỉ hiển thị phần đầu.", "The message is too long; only its start is shown."),
    "msg.no_body": ("(Thư không có nội dung văn bản)", "(The message has no text)"),
    "sessions.title": ("Phiên đăng nhập", "Signed-in sessions"),
    "sessions.intro": ("Các trình duyệt đang đăng nhập vào hộp thư của bạn.",
                       "The browsers signed in to your mailbox."),
    "sessions.device": ("Thiết bị", "Device"),
    "sessions.address": ("Địa chỉ IP", "IP address"),
    "sessions.created": ("Đăng nhập lúc", "Signed in"),
    "sessions.seen": ("Hoạt động gần nhất", "Last active"),
    "sessions.this": ("Phiên này", "This session"),
    "sessions.end": ("Đăng xuất thiết bị này", "Sign out this device"),
    "sessions.end_all": ("Đăng xuất mọi thiết bị", "Sign out everywhere"),
    "sessions.password": ("Đổi mật khẩu", "Change password"),
    "error.title": ("Không tìm thấy", "Not found"),
    "error.not_found": ("Không tìm thấy thư hoặc thư mục này.", "This message or folder was not found."),
    "error.bad": ("Yêu cầu không hợp lệ.", "The request is not valid."),
    "done.moved": ("Đã chuyển thư.", "Messages moved."),
    "done.sent": ("Đã gửi thư.", "Message sent."),
    "done.draft": ("Đã lưu thư nháp.", "Draft saved."),
    "compose.new": ("Soạn thư", "Write"),
    "compose.title": ("Soạn thư", "New message"),
    "compose.from": ("Từ", "From"),
    "compose.to": ("Tới", "To"),
    "compose.cc": ("Đồng gửi (Cc)", "Cc"),
    "compose.bcc": ("Gửi ẩn (Bcc)", "Bcc"),
    "compose.subject": ("Tiêu đề", "Subject"),
    "compose.body": ("Nội dung", "Message"),
    "compose.addresses_hint": ("Nhiều địa chỉ cách nhau bằng dấu phẩy.", "Separate addresses with commas."),
    "compose.files": ("Tệp đính kèm", "Attachments"),
    "compose.files_limit": ("Mỗi tệp tối đa {mb} MB (Điều 8.1 Quy chế).", "At most {mb} MB per file (Article 8.1)."),
    "compose.file_too_big_js": ("Tệp „{name}” lớn hơn {mb} MB (Điều 8.1 Quy chế), không thể đính kèm.",
                                "The file “{name}” is larger than {mb} MB (Article 8.1) and cannot be attached."),
    "compose.file_too_big": ("Tệp „{name}” lớn hơn {mb} MB (Điều 8.1 Quy chế), không thể đính kèm.",
                             "The file “{name}” is larger than {mb} MB (Article 8.1) and cannot be attached."),
    "compose.too_big": ("Thư vượt quá kích thước tối đa {mb} MB.", "The message exceeds the maximum size of {mb} MB."),
    "compose.forward_attached": ("Thư gốc được đính kèm nguyên vẹn: {name}", "The original is attached unchanged: {name}"),
    "compose.original_gone": ("Không còn tìm thấy thư gốc để đính kèm.", "The original message is no longer there."),
    "compose.bad_address": ("Địa chỉ không hợp lệ: {addresses}", "Not a valid address: {addresses}"),
    "compose.no_recipient": ("Hãy nhập ít nhất một người nhận.", "Enter at least one recipient."),
    "compose.refused": ("Thư chưa được gửi: {reason}", "The message was not sent: {reason}"),
    "compose.send": ("Gửi", "Send"),
    "compose.save": ("Lưu nháp", "Save draft"),
    "compose.autosaved": ("Đã tự lưu nháp lúc", "Draft saved at"),
    "compose.autosave_failed": ("Chưa lưu được nháp, sẽ thử lại.", "The draft could not be saved; retrying."),
    "msg.reply": ("Trả lời", "Reply"),
    "msg.reply_all": ("Trả lời tất cả", "Reply all"),
    "msg.forward": ("Chuyển tiếp", "Forward"),
    "msg.forward_attached": ("Chuyển tiếp dạng tệp đính kèm", "Forward as attachment"),
    "msg.continue_draft": ("Tiếp tục soạn", "Continue writing"),
}

SPECIAL_NAMES: dict[str, tuple[str, str]] = {
    "INBOX": ("Hộp thư đến", "Inbox"),
    "\\Drafts": ("Thư nháp", "Drafts"),
    "\\Sent": ("Thư đã gửi", "Sent"),
    "\\Trash": ("Thùng rác", "Trash"),
    "\\Junk": ("Thư rác", "Junk"),
    "\\Archive": ("Lưu trữ", "Archive"),
}


def language(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else "vi"


def translator(lang: str) -> Callable[..., str]:
    index = LANGUAGES.index(lang)

    def t(key: str, **values: object) -> str:
        text = TEXTS[key][index]
        return text.format(**values) if values else text

    return t


def folder_name(name: str, special_use: str | None, lang: str) -> str:
    """The name a user sees: Vietnamese (or English) for INBOX and special folders."""
    names = SPECIAL_NAMES.get("INBOX" if name == "INBOX" else (special_use or ""))
    return names[LANGUAGES.index(lang)] if names else name


def show_date(value: datetime | None, lang: str, *, with_year: bool = True) -> str:
    if value is None:
        return ""
    local = value.astimezone(VIETNAM)
    if lang == "vi":
        return local.strftime("%d/%m/%Y %H:%M" if with_year else "%d/%m %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def show_size(size: int, lang: str) -> str:
    comma = lang == "vi"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            text = f"{size / scale:.1f}"
            return f"{text.replace('.', ',') if comma else text} {unit}"
    return f"{size} B"
