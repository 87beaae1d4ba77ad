"""Signing in and out of the webmail, the forced password change, the language switch and
the static files.

Signing in goes through ``Accounts.authenticate`` with protocol "web", the login check of
every door: the same refusal for a wrong password and an unknown address, the same
throttling and locks, TOTP for users who turned it on (the optional code field), the
audit trail. A password that must be changed (first login, reset, older than the limit:
Điều 13.2, ``AuthStatus.EXPIRED``) opens a session that reaches only the change form
(``/mat-khau-moi``), which changes it with ``Accounts.change_password``, the one function
every change goes through; then every session of the user ends and a new one opens (a
new id: no session fixation). The same form, from settings, is the owner's own change:
there the current password (and the two-factor code) is checked by ``authenticate``
(protocol "password", counted and throttled like a login) before the change.

After signing in, the browser goes to ``tiep`` only if it is one of our mail pages
(``context.safe_next``): no open redirect. Without one it goes to the Inbox's own page
(``/thu/<id>``) rather than to ``/thu``, which would only redirect there: the answer to
the POST is still a 303 (POST-redirect-GET: reloading or going back never signs in
again), with one round trip and one session check fewer before the inbox shows.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from congthu.accounts import AuthStatus, PasswordRejected
from congthu.webmail import i18n, render
from congthu.webmail.context import (
    CHANGE,
    HOME,
    LOGIN,
    Signed,
    WebContext,
    client_ip,
    first,
    read_form,
    safe_next,
)
from congthu.webmail.sessions import COOKIE, PRE_COOKIE, WebSession, csrf_token

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}


def _rules_text(ctx: WebContext, lang: str) -> str:
    s = ctx.app.settings.passwords
    if lang == "en":
        return (f"At least {s.min_length} characters with upper and lower case letters, a digit and a special "
                f"character; not containing your name or address; not a common password; not one of your last "
                f"{s.history}.")
    return (f"Ít nhất {s.min_length} ký tự, có chữ hoa, chữ thường, chữ số và ký tự đặc biệt; không chứa tên "
            f"hoặc địa chỉ thư; không phải mật khẩu phổ biến; khác {s.history} mật khẩu gần nhất.")


def user_agent(request: Request) -> str:
    """The User-Agent as text: header bytes arrive as Latin-1; most are ASCII, a few UTF-8."""
    raw = request.headers.get("user-agent", "").encode("latin-1", "replace")
    return raw.decode("utf-8", "replace")


def _open_cookie(request: Request, response: Response, session: WebSession) -> None:
    render.set_cookie(request, response, COOKIE, session.secret)
    response.delete_cookie(PRE_COOKIE, path="/")


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    app = ctx.app
    static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in STATIC_TYPES}

    async def landing(mailbox_id: int, nxt: str) -> str:
        """Where a sign-in sends the browser: ``nxt``, the Inbox's page for ``/thu``."""
        if nxt != HOME:
            return nxt
        inbox = await app.store.get_folder(mailbox_id, "INBOX")
        return f"{HOME}/{inbox.id}" if inbox is not None else HOME

    def login_page(request: Request, address: str = "", error: str = "", status: int = 200,
                   nxt: str = HOME) -> Response:
        secret = ctx.pre_secret(request)
        cookies = {}
        if not secret:
            secret = secrets.token_urlsafe(32)
            cookies[PRE_COOKIE] = secret
        return ctx.renderer.page(request, "login.html", {
            "csrf": csrf_token(secret), "address_value": address, "error": error, "next": nxt,
        }, status=status, cookies=cookies)

    @api.get("/")
    async def root(request: Request) -> Response:
        signed = await ctx.signed(request)
        return render.redirect(HOME if signed else LOGIN)

    @api.get(LOGIN)
    async def show_login(request: Request) -> Response:
        signed = await ctx.signed(request)
        nxt = safe_next(request.query_params.get("tiep"))
        if signed is not None:
            return render.redirect(CHANGE if signed.session.must_change else nxt)
        return login_page(request, nxt=nxt)

    @api.post(LOGIN)
    async def login(request: Request) -> Response:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        t = i18n.translator(lang)
        form = await read_form(request)
        if form is None:
            return login_page(request, error=t("error.bad"), status=400)
        address, nxt = first(form, "address").strip()[:320], safe_next(first(form, "tiep"))
        if not ctx.form_ok(request, ctx.pre_secret(request), first(form, "csrf")):
            return login_page(request, address, t("form.expired"), 403, nxt)
        https = render.secure(request)
        result = await app.accounts.authenticate(
            address, first(form, "password"), protocol="web", client_ip=client_ip(request), secure=https,
            otp=first(form, "otp").strip() or None)
        if result.mailbox is not None and result.status in (AuthStatus.OK, AuthStatus.EXPIRED):
            must_change = result.status is AuthStatus.EXPIRED
            session = await ctx.sessions.open(result.mailbox.id, must_change=must_change,
                                              user_agent=user_agent(request),
                                              client_ip=client_ip(request))
            response = render.redirect(CHANGE if must_change else await landing(result.mailbox.id, nxt))
            _open_cookie(request, response, session)
            return response
        return login_page(request, address, result.message, 401, nxt)

    async def change_page(request: Request, signed: Signed, errors: list[str], status: int = 200) -> Response:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        forced = signed.session.must_change
        return ctx.renderer.page(request, "change_password.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            "errors": errors, "rules": _rules_text(ctx, lang), "forced": forced,
            "two_factor": not forced and await app.accounts.totp_enabled(signed.mailbox.id)}, status=status)

    @api.get(CHANGE)
    async def show_change(request: Request) -> Response:
        signed = await ctx.signed(request)
        if signed is None:
            return render.redirect(f"{LOGIN}?tiep=/cai-dat")
        return await change_page(request, signed, [])

    @api.post(CHANGE)
    async def change(request: Request) -> Response:
        """The forced change (the session was opened by a sign-in moments ago and reaches
        nothing else), or the owner's change from settings, which checks the current
        password (and two-factor code) through ``authenticate`` as /doi-mat-khau does."""
        signed = await ctx.signed(request)
        if signed is None:
            return render.redirect(LOGIN)
        t = i18n.translator(i18n.language(request.cookies.get(i18n.LANG_COOKIE)))
        form = await read_form(request)
        if form is None:
            return await change_page(request, signed, [t("error.bad")], 400)
        if not ctx.form_ok(request, signed.session.secret, first(form, "csrf")):
            return await change_page(request, signed, [t("form.expired")], 403)
        new = first(form, "new")
        if new != first(form, "confirm"):
            return await change_page(request, signed, [t("change.differ")], 400)
        if not signed.session.must_change:
            result = await app.accounts.authenticate(
                signed.mailbox.address, first(form, "current"), protocol="password", client_ip=client_ip(request),
                secure=render.secure(request), otp=first(form, "otp").strip() or None)
            if result.mailbox is None or result.mailbox.id != signed.mailbox.id or \
                    result.status not in (AuthStatus.OK, AuthStatus.EXPIRED):
                return await change_page(request, signed, [result.message], 400)
        try:
            await app.accounts.change_password(signed.mailbox.id, new, actor=signed.mailbox.address,
                                               client=f"web {client_ip(request)}")
        except PasswordRejected as exc:
            return await change_page(request, signed, [r.message for r in exc.refusals], 400)
        # A changed password ends every session; this browser gets a new one.
        await ctx.sessions.end_all(signed.mailbox.id)
        session = await ctx.sessions.open(signed.mailbox.id, must_change=False,
                                          user_agent=user_agent(request),
                                          client_ip=client_ip(request))
        response = render.redirect(await landing(signed.mailbox.id, HOME) if signed.session.must_change
                                   else "/cai-dat?doi-mat-khau=xong")
        _open_cookie(request, response, session)
        return response

    @api.post("/dang-xuat")
    async def logout(request: Request) -> Response:
        signed = await ctx.signed(request)
        form = await read_form(request)
        if signed is not None and form is not None and ctx.form_ok(request, signed.session.secret,
                                                                   first(form, "csrf")):
            await ctx.sessions.end(signed.mailbox.id, signed.session.id)
            response = render.redirect(LOGIN)
            response.delete_cookie(COOKIE, path="/")
            return response
        return render.redirect(HOME if signed else LOGIN)

    @api.get("/ngon-ngu/{lang}")
    async def switch_language(request: Request, lang: str) -> Response:
        """A preference, not an action on the mailbox: a plain link sets the cookie."""
        target = request.query_params.get("tiep")
        response = render.redirect(target if target in (LOGIN, CHANGE) else safe_next(target))
        render.set_cookie(request, response, i18n.LANG_COOKIE, i18n.language(lang), max_age=365 * 86400)
        return response

    @api.get(render.STATIC_PATH + "/{name}")
    async def static(name: str) -> Response:
        path = static_files.get(name)
        if path is None:
            return Response("Không tìm thấy / not found\n", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type=STATIC_TYPES[path.suffix],
                            headers={"Cache-Control": "public, max-age=3600",
                                     "Content-Security-Policy": "default-src 'none'; sandbox"})

    return api
