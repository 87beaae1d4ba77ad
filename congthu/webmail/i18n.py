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
    "console": ("Quản trị", "Administration"),
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
    "error.forbidden": ("Bạn không có quyền làm việc này trong hộp thư được ủy quyền.",
                        "You do not have the right to do this in the delegated mailbox."),
    "deleg.switch": ("Hộp thư", "Mailbox"),
    "deleg.own": ("Hộp thư của tôi", "My mailbox"),
    "deleg.open": ("Mở", "Open"),
    "deleg.viewing": ("Bạn đang làm việc trong hộp thư {address} (được ủy quyền, Điều 12). Mọi truy cập được ghi nhật ký.",
                      "You are working in the mailbox {address} (delegated, Điều 12). Every access is logged."),
    "deleg.read_only": ("Chỉ được đọc.", "Read only."),
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
    "compose.format": ("Kiểu soạn", "Writing"),
    "compose.format_plain": ("Văn bản thường", "Plain text"),
    "compose.format_rich": ("Có định dạng", "Rich text"),
    "editor.tools": ("Định dạng văn bản", "Text formatting"),
    "editor.bold": ("Đậm", "Bold"),
    "editor.italic": ("Nghiêng", "Italic"),
    "editor.underline": ("Gạch chân", "Underline"),
    "editor.bullets": ("Danh sách", "Bullets"),
    "editor.numbers": ("Đánh số", "Numbering"),
    "editor.link": ("Liên kết", "Link"),
    "editor.link_prompt": ("Địa chỉ liên kết (https://..., mailto:...)", "Link address (https://..., mailto:...)"),
    "editor.link_bad": ("Liên kết phải bắt đầu bằng https://, http:// hoặc mailto:.",
                        "A link must start with https://, http:// or mailto:."),
    "editor.quote": ("Trích dẫn", "Quote"),
    "editor.clear": ("Xóa định dạng", "Clear formatting"),
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
    # The list, search, folders and new mail (mailpages, searchpages, folderpages, events).
    "sort.size_asc": ("Nhỏ nhất trước", "Smallest first"),
    "sort.from": ("Theo người gửi", "By sender"),
    "sort.subject": ("Theo tiêu đề", "By subject"),
    "action.junk": ("Thư rác", "Junk"),
    "action.not_junk": ("Không phải thư rác", "Not junk"),
    "trash.empty": ("Dọn sạch thùng rác", "Empty Trash"),
    "trash.confirm": ("Tôi chắc chắn muốn xóa hẳn {count} thư trong thùng rác",
                      "I am sure I want to delete the {count} messages in Trash for good"),
    "search.title": ("Tìm thư", "Search"),
    "search.query": ("Tìm (không cần dấu)", "Search (accents optional)"),
    "search.box": ("Tìm thư", "Search mail"),
    "search.scope": ("Trong", "In"),
    "search.all": ("Mọi thư mục", "All folders"),
    "search.go": ("Tìm", "Search"),
    "search.hint": ("Tìm trong tiêu đề, người gửi, người nhận và nội dung; không phân biệt dấu và chữ hoa. "
                    "Đặt cụm từ trong dấu ngoặc kép để tìm đúng cụm.",
                    "Searches subjects, senders, recipients and text, ignoring accents and case. "
                    "Put a phrase in double quotes to find it as written."),
    "search.count": ("Tìm thấy {count} thư.", "{count} messages found."),
    "search.capped": ("Chỉ hiển thị {count} thư mới nhất của mỗi thư mục; hãy thêm từ để thu hẹp.",
                      "Only the newest {count} of each folder are shown; add words to narrow the search."),
    "folders.title": ("Quản lý thư mục", "Manage folders"),
    "folders.manage": ("Quản lý thư mục", "Manage folders"),
    "folders.create": ("Tạo thư mục", "New folder"),
    "folders.create_go": ("Tạo", "Create"),
    "folders.name": ("Tên thư mục", "Folder name"),
    "folders.new_name": ("Tên mới", "New name"),
    "folders.parent": ("Nằm trong", "Inside"),
    "folders.top": ("(cấp cao nhất)", "(top level)"),
    "folders.messages": ("Số thư", "Messages"),
    "folders.rename": ("Đổi tên", "Rename"),
    "folders.delete": ("Xóa thư mục", "Delete folder"),
    "folders.delete_confirm": ("Chuyển {count} thư vào thùng rác và xóa thư mục",
                               "Move its {count} messages to Trash and delete the folder"),
    "folders.delete_note": ("Xóa một thư mục sẽ chuyển các thư của nó vào Thùng rác (có thể khôi phục), "
                            "rồi xóa thư mục. Thư mục có thư mục con phải xóa thư mục con trước.",
                            "Deleting a folder moves its messages to Trash (recoverable), then deletes the "
                            "folder. A folder with subfolders needs them deleted first."),
    "folders.no_right": ("Bạn không được đổi tên hay xóa thư mục này.", "You may not rename or delete this folder."),
    "folders.special": ("Thư mục đặc biệt, không đổi tên hay xóa được.", "A special folder: it cannot be renamed "
                        "or deleted."),
    "folders.done_tao": ("Đã tạo thư mục.", "Folder created."),
    "folders.done_doi_ten": ("Đã đổi tên thư mục.", "Folder renamed."),
    "folders.done_xoa": ("Đã xóa thư mục; thư của nó ở trong Thùng rác.",
                         "Folder deleted; its messages are in Trash."),
    "folders.name_empty": ("Hãy nhập tên thư mục.", "Enter a folder name."),
    "folders.name_long": ("Tên thư mục quá dài (tối đa 200 ký tự).", "The name is too long (at most 200 characters)."),
    "folders.name_bad": ("Tên thư mục không được chứa dấu „/” hay ký tự điều khiển.",
                         "A folder name cannot contain “/” or control characters."),
    "folders.name_taken": ("Đã có thư mục mang tên này.", "A folder with this name exists."),
    "folders.bad_parent": ("Không thể tạo thư mục con trong thư mục này.", "Subfolders cannot be made there."),
    "folders.protected": ("Hộp thư đến và các thư mục đặc biệt không đổi tên hay xóa được.",
                          "The Inbox and the special folders cannot be renamed or deleted."),
    "folders.confirm_needed": ("Hãy đánh dấu ô xác nhận trước khi xóa.", "Tick the confirmation box to delete."),
    "folders.has_children": ("Thư mục này có thư mục con: hãy xóa hoặc chuyển chúng trước.",
                             "This folder has subfolders: delete or move them first."),
    "folders.no_trash": ("Không tìm thấy Thùng rác.", "There is no Trash folder."),
    "list.new_mail": ("Có thư mới", "New mail"),
    "list.drag": ("Kéo thư đã chọn thả vào một thư mục để chuyển.", "Drag selected messages onto a folder to move them."),
    "help.title": ("Phím tắt", "Keyboard shortcuts"),
    "help.keys": ("j / k: thư sau / trước · Enter hoặc o: mở thư · x: chọn thư · r: trả lời · /: tìm thư · "
                  "kéo thư đã chọn thả vào thư mục để chuyển",
                  "j / k: next / previous message · Enter or o: open · x: select · r: reply · /: search · "
                  "drag selected messages onto a folder to move them"),
    "msg.print": ("In thư", "Print"),
    "msg.thread": ("Cả chuỗi thư", "Whole conversation"),
    "msg.back_message": ("← Quay lại thư", "← Back to the message"),
    # Images, previews, the list by conversation, attachments kept in drafts (issue 14).
    "msg.show_images": ("Hiện ảnh từ bên ngoài", "Show remote images"),
    "msg.images_note": ("Ảnh từ bên ngoài có thể cho người gửi biết bạn đã mở thư, lúc nào và từ đâu.",
                        "Remote images can tell the sender that, when and where you opened the message."),
    "msg.always_images": ("Luôn hiện ảnh từ {sender}", "Always show images from {sender}"),
    "msg.never_images": ("Thôi tự động hiện ảnh từ {sender}", "Stop showing images from {sender} automatically"),
    "msg.images_shown": ("Đang hiện ảnh từ bên ngoài của thư này.", "Remote images of this message are shown."),
    "msg.preview": ("Xem trước", "Preview"),
    "msg.preview_pages": ("{shown} / {count} trang đầu, hiển thị dưới dạng ảnh (tệp không được mở trong trình duyệt).",
                          "First {shown} of {count} pages, shown as pictures (the file is not opened in the browser)."),
    "msg.preview_none": ("Không xem trước được tệp này; hãy tải về.", "This file cannot be previewed; download it."),
    "msg.preview_page": ("Trang {page}", "Page {page}"),
    "list.threads": ("Xem theo cuộc hội thoại", "Group by conversation"),
    "list.no_threads": ("Xem từng thư", "One row per message"),
    "list.thread_count": ("{count} thư", "{count} messages"),
    "list.thread_open": ("Mở cuộc hội thoại", "Open the conversation"),
    "list.thread_total": ("{count} cuộc hội thoại", "{count} conversations"),
    "list.thread_title": ("Cuộc hội thoại", "Conversation"),
    "compose.kept": ("Tệp đã lưu trong thư nháp (bỏ chọn để gỡ)", "Files kept in the draft (untick to remove)"),
    # Settings pages (settingspages.py): signature, vacation, forwarding, two-factor,
    # app passwords, quota, mail client set-up.
    "set.nav": ("Mục cài đặt", "Settings sections"),
    "set.overview": ("Tổng quan", "Overview"),
    "set.saved": ("Đã lưu.", "Saved."),
    "set.save": ("Lưu", "Save"),
    "set.quota": ("Dung lượng hộp thư", "Mailbox storage"),
    "set.quota_used": ("Đã dùng {used} trên {quota} ({percent}%).", "{used} of {quota} used ({percent}%)."),
    "set.quota_note": ("Theo Điều 8.1 Quy chế, mỗi hộp thư có {quota}. Khi đầy, thư gửi đến sẽ bị từ chối.",
                       "Under Article 8.1 each mailbox has {quota}. When it is full, incoming mail is refused."),
    "set.signature": ("Chữ ký", "Signature"),
    "set.signature_intro": ("Chữ ký được thêm vào cuối thư mới, thư trả lời và thư chuyển tiếp.",
                            "The signature is added under new messages, replies and forwards."),
    "set.signature_text": ("Nội dung chữ ký (văn bản thường)", "Signature text (plain text)"),
    "set.vacation": ("Trả lời tự động", "Automatic reply"),
    "set.vacation_intro": ("Khi bạn vắng mặt, người gửi thư cho bạn nhận một thư trả lời tự động, mỗi người "
                           "nhiều nhất một lần trong {days} ngày. Không trả lời thư từ danh sách thư, thư "
                           "báo lỗi, thư tự động và địa chỉ dịch vụ thư nước ngoài (Điều 7.7).",
                           "While you are away, people who write to you get an automatic reply, each at most "
                           "once in {days} days. Mailing lists, bounces, automatic mail and foreign mail "
                           "services (Article 7.7) get none."),
    "set.vacation_on": ("Bật trả lời tự động", "Turn the automatic reply on"),
    "set.vacation_subject": ("Tiêu đề (để trống: tiêu đề thư nhận được)", "Subject (empty: the received subject)"),
    "set.vacation_body": ("Nội dung thư trả lời", "Reply text"),
    "set.vacation_start": ("Từ ngày", "From"),
    "set.vacation_end": ("Đến hết ngày", "Until (inclusive)"),
    "set.date_hint": ("Ngày theo dạng ngày/tháng/năm, ví dụ 15/12/2026; để trống nếu không giới hạn.",
                      "Dates as day/month/year, e.g. 15/12/2026; leave empty for no limit."),
    "set.bad_date": ("Ngày không hợp lệ: {value} (hãy nhập ngày/tháng/năm).",
                     "Not a valid date: {value} (use day/month/year)."),
    "set.vacation_active": ("Trả lời tự động đang bật.", "The automatic reply is on."),
    "set.forwarding": ("Chuyển tiếp thư", "Forwarding"),
    "set.forwarding_intro": ("Thư đến hộp thư này được chuyển nguyên vẹn tới các địa chỉ dưới đây. Theo Điều 7.7 "
                             "Quy chế, không được tự động chuyển tiếp thư công vụ đến dịch vụ thư nước ngoài "
                             "(Gmail, Yahoo, Outlook.com...).",
                             "Mail to this mailbox is forwarded unchanged to the addresses below. Article 7.7 "
                             "forbids automatic forwarding of official mail to foreign mail services (Gmail, "
                             "Yahoo, Outlook.com...)."),
    "set.forwarding_on": ("Bật chuyển tiếp", "Turn forwarding on"),
    "set.forwarding_targets": ("Chuyển tới (mỗi dòng một địa chỉ, tối đa {count})",
                               "Forward to (one address a line, at most {count})"),
    "set.forwarding_keep": ("Giữ một bản trong hộp thư này", "Keep a copy in this mailbox"),
    "set.refused": ("Chưa lưu: {reason}", "Not saved: {reason}"),
    "set.security": ("Xác thực hai lớp", "Two-factor authentication"),
    "set.totp_on": ("Xác thực hai lớp đang bật: khi đăng nhập web cần mã từ ứng dụng xác thực. Ứng dụng thư "
                    "(Thunderbird, Outlook, điện thoại) dùng mật khẩu ứng dụng.",
                    "Two-factor authentication is on: signing in on the web needs a code from your "
                    "authenticator app. Mail clients use app passwords."),
    "set.totp_off": ("Xác thực hai lớp đang tắt. Bật để bảo vệ hộp thư khi lộ mật khẩu.",
                     "Two-factor authentication is off. Turn it on to protect your mailbox if your password leaks."),
    "set.totp_begin": ("Bật xác thực hai lớp", "Turn on two-factor authentication"),
    "set.totp_scan": ("Quét mã QR bằng ứng dụng xác thực (Google Authenticator, Microsoft Authenticator, "
                      "FreeOTP...), rồi nhập mã 6 chữ số ứng dụng hiện ra.",
                      "Scan the QR code with an authenticator app (Google Authenticator, Microsoft "
                      "Authenticator, FreeOTP...), then enter the 6-digit code it shows."),
    "set.totp_secret": ("Hoặc nhập khóa này bằng tay:", "Or type this key by hand:"),
    "set.totp_code": ("Mã 6 chữ số", "6-digit code"),
    "set.totp_confirm": ("Xác nhận và bật", "Confirm and turn on"),
    "set.totp_wrong": ("Mã không đúng hoặc đã hết hạn, hãy thử mã mới.", "Wrong or expired code; try a new one."),
    "set.totp_done": ("Đã bật xác thực hai lớp.", "Two-factor authentication is on."),
    "set.recovery": ("Mã khôi phục", "Recovery codes"),
    "set.recovery_note": ("Mỗi mã dùng được một lần thay cho mã 6 chữ số khi mất điện thoại. Hãy in hoặc chép "
                          "lại ngay: trang này chỉ hiện các mã một lần.",
                          "Each code works once instead of the 6-digit code if you lose your phone. Print or "
                          "copy them now: this page shows them only once."),
    "set.totp_disable": ("Tắt xác thực hai lớp", "Turn off two-factor authentication"),
    "set.totp_disable_note": ("Cần mật khẩu hiện tại và một mã xác thực (hoặc mã khôi phục).",
                              "Needs your current password and a code (or a recovery code)."),
    "set.totp_disabled": ("Đã tắt xác thực hai lớp.", "Two-factor authentication is off."),
    "set.wrong_password": ("Mật khẩu hoặc mã không đúng.", "Wrong password or code."),
    "set.app_passwords": ("Mật khẩu ứng dụng", "App passwords"),
    "set.app_intro": ("Mỗi ứng dụng thư (Thunderbird, Outlook, điện thoại) có thể dùng một mật khẩu riêng, "
                      "thu hồi được bất cứ lúc nào mà không đổi mật khẩu chính. Bắt buộc khi đã bật xác thực "
                      "hai lớp.",
                      "Each mail client (Thunderbird, Outlook, a phone) can have its own password, revoked "
                      "at any time without changing your main password. Required once two-factor "
                      "authentication is on."),
    "set.app_label": ("Tên gợi nhớ (ví dụ: Điện thoại, Thunderbird ở cơ quan)",
                      "Label (e.g. Phone, Thunderbird at work)"),
    "set.app_create": ("Tạo mật khẩu ứng dụng", "Create an app password"),
    "set.app_created": ("Mật khẩu ứng dụng mới cho „{label}”: chép vào ứng dụng thư ngay, trang này chỉ hiện "
                        "một lần.",
                        "New app password for “{label}”: copy it into the mail client now, it is shown only "
                        "once."),
    "set.app_none": ("Chưa có mật khẩu ứng dụng nào.", "No app passwords yet."),
    "set.app_created_at": ("Tạo lúc", "Created"),
    "set.app_used_at": ("Dùng gần nhất", "Last used"),
    "set.app_revoke": ("Thu hồi", "Revoke"),
    "set.app_revoked": ("Đã thu hồi mật khẩu ứng dụng.", "App password revoked."),
    "set.app_label_needed": ("Hãy đặt tên gợi nhớ (tối đa 60 ký tự).", "Give a label (at most 60 characters)."),
    "set.clients": ("Cài đặt ứng dụng thư", "Set up a mail client"),
    "set.clients_intro": ("Thunderbird và Outlook tự tìm cấu hình khi bạn nhập địa chỉ thư. Nếu cần nhập "
                          "tay, dùng các thông số dưới đây; tên đăng nhập là địa chỉ thư đầy đủ.",
                          "Thunderbird and Outlook find the settings when you enter your address. To enter "
                          "them by hand, use the values below; the user name is your full address."),
    "set.clients_server": ("Máy chủ", "Server"),
    "set.clients_protocol": ("Giao thức", "Protocol"),
    "set.clients_port": ("Cổng", "Port"),
    "set.clients_security": ("Bảo mật", "Security"),
    "set.clients_incoming": ("Thư đến", "Incoming"),
    "set.clients_outgoing": ("Thư đi", "Outgoing"),
    "set.clients_username": ("Tên đăng nhập: {address}", "User name: {address}"),
    "set.clients_tls": ("SSL/TLS", "SSL/TLS"),
    "set.clients_starttls": ("STARTTLS", "STARTTLS"),
    "set.clients_apple": ("iPhone, iPad, Mac: tải hồ sơ cấu hình", "iPhone, iPad, Mac: download the profile"),
    "set.clients_thunderbird": ("Cấu hình cho Thunderbird (tự động)", "Thunderbird configuration (automatic)"),
    "set.clients_android": ("Điện thoại Android: chọn tài khoản IMAP và nhập các thông số trên.",
                            "Android phones: choose an IMAP account and enter the values above."),
    "set.clients_2fa": ("Đã bật xác thực hai lớp: ứng dụng thư phải dùng mật khẩu ứng dụng.",
                        "Two-factor authentication is on: mail clients must use an app password."),
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
