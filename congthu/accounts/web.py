"""The change-password page, ``/doi-mat-khau`` (Điều 13.2).

Where every "password expired" answer points. A plain HTML form (no JavaScript): address,
current password, the new password twice, and the two-factor code for users who turned
it on. The current password is checked by ``Accounts.authenticate`` (protocol
"password"), so lockout, TLS and audit rules hold here as on every door; an expired or
one-time password is accepted for this purpose only. The new one must pass the rules of
``passwords.py``.

CSRF: a random token in a SameSite=Strict, HttpOnly cookie that the form repeats in a
hidden field (double submit); a POST whose Origin names another site is refused too.
Everything shown is HTML-escaped.
"""

from __future__ import annotations

import hmac
import secrets
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from congthu.accounts.model import AuthStatus
from congthu.accounts.passwords import PasswordRejected

if TYPE_CHECKING:
    from congthu.app import App

PATH = "/doi-mat-khau"
COOKIE = "congthu_csrf"
MAX_FIELD = 1024

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on the
    # form's POST, which the same-origin check must refuse.
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;padding:.4rem;box-sizing:border-box;font-size:1rem}
button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}
.err{background:#fde8e8;border:1px solid #e99;padding:.6rem}.ok{background:#e6f6e6;border:1px solid #8c8;padding:.6rem}
.note{color:#555;font-size:.9rem}
"""


def _page(body: str, status: int = 200, token: str | None = None, secure: bool = False) -> HTMLResponse:
    html = (
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Đổi mật khẩu / Change password</title><style>{_STYLE}</style></head><body>"
        f"{body}</body></html>"
    )
    response = HTMLResponse(html, status_code=status, headers=_HEADERS)
    if token is not None:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path=PATH)
    return response


def _form(token: str, address: str = "", messages: list[str] | None = None, rules: str = "") -> str:
    errors = ""
    if messages:
        items = "".join(f"<li>{escape(m)}</li>" for m in messages)
        errors = f'<div class="err" role="alert"><ul>{items}</ul></div>'
    return (
        "<h1>Đổi mật khẩu / Change password</h1>"
        f"{errors}"
        f'<form method="post" action="{PATH}" autocomplete="off">'
        f'<input type="hidden" name="csrf" value="{escape(token)}">'
        '<label for="address">Địa chỉ thư / Address</label>'
        f'<input id="address" name="address" type="email" required value="{escape(address)}">'
        '<label for="current">Mật khẩu hiện tại / Current password</label>'
        '<input id="current" name="current" type="password" required>'
        '<label for="new">Mật khẩu mới / New password</label>'
        '<input id="new" name="new" type="password" required>'
        '<label for="confirm">Nhập lại mật khẩu mới / New password again</label>'
        '<input id="confirm" name="confirm" type="password" required>'
        '<label for="otp">Mã xác thực hai lớp (nếu đã bật) / Two-factor code (if turned on)</label>'
        '<input id="otp" name="otp" inputmode="numeric">'
        '<button type="submit">Đổi mật khẩu / Change</button></form>'
        f'<p class="note">{escape(rules)}</p>'
    )


def _rules_text(app: App) -> str:
    s = app.settings.passwords
    return (f"Mật khẩu mới: ít nhất {s.min_length} ký tự, có chữ hoa, chữ thường, chữ số và ký tự đặc biệt; "
            f"không chứa tên hoặc địa chỉ thư; không quá phổ biến; khác {s.history} mật khẩu gần nhất. / "
            f"New password: at least {s.min_length} characters with upper and lower case, a digit and a "
            f"special character; not containing your name or address; not common; not one of your last "
            f"{s.history}.")


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def router(app: App) -> APIRouter:
    api = APIRouter()

    @api.get(PATH, response_class=HTMLResponse)
    async def show(request: Request) -> HTMLResponse:
        token = secrets.token_urlsafe(32)
        address = request.query_params.get("address", "")[:320]
        return _page(_form(token, address, rules=_rules_text(app)), token=token,
                     secure=request.url.scheme == "https")

    @api.post(PATH, response_class=HTMLResponse)
    async def change(request: Request) -> HTMLResponse:
        secure = request.url.scheme == "https"
        new_token = secrets.token_urlsafe(32)
        try:
            form = await request.form()
        except Exception:
            return _page(_form(new_token, messages=["Biểu mẫu không hợp lệ / invalid form"], rules=_rules_text(app)),
                         400, new_token, secure)
        fields = {k: str(form.get(k, ""))[:MAX_FIELD] for k in ("csrf", "address", "current", "new", "confirm", "otp")}
        cookie = request.cookies.get(COOKIE, "")
        if not (cookie and hmac.compare_digest(cookie.encode(), fields["csrf"].encode()) and _same_origin(request)):
            return _page(_form(new_token, fields["address"], [
                "Phiên biểu mẫu hết hạn hoặc không hợp lệ, hãy thử lại / "
                "the form expired or is not valid, please try again"], _rules_text(app)), 403, new_token, secure)
        address = fields["address"].strip()
        if fields["new"] != fields["confirm"]:
            return _page(_form(new_token, address, ["Hai mật khẩu mới không khớp / the new passwords differ"],
                               _rules_text(app)), 400, new_token, secure)
        client_ip = request.client.host if request.client else ""
        result = await app.accounts.authenticate(address, fields["current"], protocol="password",
                                                 client_ip=client_ip, secure=secure, otp=fields["otp"] or None)
        if result.status not in (AuthStatus.OK, AuthStatus.EXPIRED) or result.mailbox is None:
            return _page(_form(new_token, address, [result.message], _rules_text(app)), 400, new_token, secure)
        try:
            await app.accounts.change_password(result.mailbox.id, fields["new"], actor=result.mailbox.address,
                                               client=f"web {client_ip}")
        except PasswordRejected as exc:
            return _page(_form(new_token, address, [r.message for r in exc.refusals], _rules_text(app)),
                         400, new_token, secure)
        return _page(
            '<h1>Đổi mật khẩu / Change password</h1><div class="ok" role="status">'
            f"Đã đổi mật khẩu cho {escape(result.mailbox.address)}. Hãy đăng nhập lại bằng mật khẩu mới "
            f"trong mọi ứng dụng thư. / The password of {escape(result.mailbox.address)} was changed. "
            "Log in again with the new password in every mail client.</div>"
        )

    return api
