"""The settings overview: the mailbox's storage used of its quota (Điều 8.1) and the
user's signed-in sessions (browsers), each with its device, address and times, signed
out one by one or all at once. The other settings pages are ``settingspages.py``.

Signing out another device deletes its row: its next request finds no session. The ids
in the forms are checked against the signed-in mailbox (``sessions.delete_session``), so
another user's session id ends nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.webmail import i18n, render
from congthu.webmail.context import LOGIN, WebContext
from congthu.webmail.sessions import COOKIE
from congthu.webmail.settingspages import NAV

SETTINGS = "/cai-dat"


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()

    @api.get(SETTINGS)
    async def settings_page(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        sessions = await ctx.sessions.list(signed.mailbox.id)
        shown = [{"id": s.id, "device": s.user_agent, "ip": s.client_ip,
                  "created": i18n.show_date(s.created_at, lang), "seen": i18n.show_date(s.last_seen_at, lang),
                  "this": s.id == signed.session.id} for s in sessions]
        quota, used = signed.mailbox.quota_bytes, signed.mailbox.used_bytes
        return ctx.renderer.page(request, "settings.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            "sessions": shown, "changed": request.query_params.get("doi-mat-khau") == "xong",
            "nav": NAV, "quota": quota, "used": min(used, quota) if quota > 0 else used,
            "percent": used * 100 // quota if quota > 0 else 0})

    @api.post(SETTINGS + "/phien")
    async def end_sessions(request: Request) -> Response:
        change = await ctx.changing(request)
        if isinstance(change, Response):
            return change
        signed = change.signed
        which = change.form.get("phien")
        if which == "tat-ca":
            await ctx.sessions.end_all(signed.mailbox.id)
        elif which.isdigit() and len(which) < 10:
            await ctx.sessions.end(signed.mailbox.id, int(which))
        if await ctx.signed(request) is None:  # this browser's own session ended too
            response = render.redirect(LOGIN)
            response.delete_cookie(COOKIE, path="/")
            return response
        return render.redirect(SETTINGS)

    return api
