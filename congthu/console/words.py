"""The console's shared words (layout, navigation, errors) in Vietnamese and English; a
package's pages add their own (``translator(lang, own)``), and the webmail's words
(``congthu.webmail.i18n``) serve the shared layout, so every page looks and switches
language alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from congthu.webmail import i18n

TEXTS: dict[str, tuple[str, str]] = {
    "console": ("Quản trị", "Administration"),
    "nav.requests": ("Yêu cầu", "Requests"),
    "nav.overdue": ("Quá hạn", "Overdue"),
    "nav.directory": ("Danh bạ, đơn vị", "Directory"),
    "nav.reports": ("Báo cáo", "Reports"),
    "nav.journal": ("Lưu thư", "Mail records"),
    "nav.quarantine": ("Thư bị giữ", "Quarantine"),
    "nav.api": ("Mã truy cập API", "API tokens"),
    "nav.mail": ("Hộp thư", "Mail"),
    "enrol.title": ("Cần bật xác thực hai lớp", "Two-factor authentication required"),
    "enrol.text": ("Quản trị viên phải bật xác thực hai lớp (TOTP) trước khi dùng trang quản trị. Liên hệ Trung "
                   "tâm CNTT&TT hoặc chạy: congthu user totp {address} enable, rồi đăng nhập lại với mã.",
                   "Administrators must turn on two-factor authentication (TOTP) before using the console. Ask "
                   "the IT Center, or run: congthu user totp {address} enable, then sign in again with a code."),
    "denied": ("Bạn không có quyền thực hiện việc này.", "You may not do this."),
    "not_found": ("Không tìm thấy trang này.", "This page was not found."),
}


def translator(lang: str, own: Mapping[str, tuple[str, str]] | None = None) -> Callable[..., str]:
    """Words of ``own`` first, then the console's, then the webmail's."""
    index = i18n.LANGUAGES.index(lang)
    shared = i18n.translator(lang)
    mine = own or {}

    def t(key: str, **values: object) -> str:
        pair = mine.get(key) or TEXTS.get(key)
        if pair is None:
            return shared(key, **values)
        text = pair[index]
        return text.format(**values) if values else text

    return t
