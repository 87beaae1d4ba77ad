"""The request pages' words in Vietnamese and English; the console's shared words
(``congthu.console.words``) and the webmail's serve the layout, so every page looks and
switches language alike."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
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
    "not_found": ("Không tìm thấy yêu cầu này.", "This request was not found."),
    # Paper requests and their scanned letters (Điều 4.1).
    "paper.title": ("Yêu cầu bằng văn bản (Trung tâm CNTT&TT nhập)", "Paper request (entered by the IT Center)"),
    "paper.is": ("Yêu cầu này đến bằng văn bản giấy", "This request came on paper"),
    "letter.title": ("Công văn (bản quét)", "Letter (scanned)"),
    "letter.file": ("Tệp công văn quét: PDF, JPEG hoặc PNG, tối đa {mb} MB",
                    "The scanned letter: PDF, JPEG or PNG, at most {mb} MB"),
    "letter.none": ("Chưa có công văn.", "No letter."),
    "letter.add": ("Đính kèm công văn", "Attach the letter"),
}
