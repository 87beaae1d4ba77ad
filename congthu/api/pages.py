"""The console's page of the API's tokens, ``/quan-tri/api`` (issue 15): an IT Center
administrator makes a token (shown once), sees every token's owner, scopes,
organisation, expiry and last use, and revokes one at once. The same as
``congthu api token create|list|revoke`` (``tokens.Tokens``).

The console's gate (``congthu.console.pages``: ``visit`` and ``change``, the webmail's
sign-in, sessions, CSRF and layout; two-factor for administrators); the page exists for
those the one check allows ``api.tokens`` (``roles.manage``: a token hands its owner's
rights to a program, as a role would): others get 404, a POST from them 403, audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.api.tokens import ACTIVE, SCOPES, Token, TokenError, Tokens
from congthu.console.access import Viewer
from congthu.console.pages import ConsolePages, id_of, lang_of
from congthu.directory import Directory, DirectoryError
from congthu.webmail import i18n, render
from congthu.webmail.context import Signed, first

if TYPE_CHECKING:
    from congthu.app import App

PAGE = "/quan-tri/api"
TEMPLATES = Path(__file__).parent / "templates"
ACTION = "api.tokens"  # access.PERMISSION: roles.manage
TEXTS: dict[str, tuple[str, str]] = {
    "api.title": ("Mã truy cập API", "API tokens"),
    "api.hint": ("Mã truy cập cho ứng dụng khác của tỉnh; mỗi mã mang quyền của chủ sở hữu, thu hẹp theo phạm vi "
                 "và tổ chức. Tài liệu:", "Tokens for the province's other applications; each carries its owner's "
                 "rights, narrowed by its scopes and organisation. Documentation:"),
    "api.made": ("Mã mới (chỉ hiện một lần, hãy lưu ngay):", "The new token (shown once, keep it now):"),
    "api.revoked": ("Đã thu hồi mã.", "Token revoked."),
    "api.list": ("Các mã đã tạo", "Tokens"),
    "api.none": ("Chưa có mã nào.", "No token yet."),
    "api.new": ("Tạo mã mới", "New token"),
    "api.name": ("Tên ứng dụng", "Application"),
    "api.owner": ("Chủ sở hữu (tài khoản mang quyền)", "Owner (whose rights it carries)"),
    "api.scopes": ("Phạm vi", "Scopes"),
    "api.org": ("Giới hạn tổ chức", "Limited to"),
    "api.all": ("(theo quyền của chủ sở hữu)", "(the owner's rights)"),
    "api.state": ("Trạng thái", "State"),
    "api.expires": ("Hết hạn", "Expires"),
    "api.used": ("Dùng lần cuối", "Last used"),
    "api.revoke": ("Thu hồi", "Revoke"),
    "api.days": ("Số ngày hiệu lực", "Days valid"),
    "api.description": ("Ghi chú", "Description"),
    "api.create": ("Tạo mã", "Make the token"),
}
STATES = {"active": ("hiệu lực", "active"), "expired": ("hết hạn", "expired"), "revoked": ("đã thu hồi", "revoked")}


def router(app: App) -> APIRouter:
    directory = Directory(app)
    pages = ConsolePages(app, directory, templates=[TEMPLATES], texts=TEXTS)
    tokens = Tokens(app)
    api = APIRouter()

    async def show(request: Request, signed: Signed, viewer: Viewer, *, status: int = 200, error: str = "",
                   made: dict[str, str] | None = None, revoked: bool = False,
                   form: dict[str, list[str]] | None = None) -> Response:
        lang = lang_of(request)
        index = i18n.LANGUAGES.index(lang)
        now = tokens.now()
        orgs = {o.id: o for o in await directory.list_orgs(include_inactive=True)}
        rows = []
        for t in reversed(await tokens.listing()):
            rows.append(await row(t, orgs, now, index, lang))
        values = form or {}
        return pages.page(request, signed, "api_tokens.html", {
            "rows": rows, "scopes": list(SCOPES.items()), "error": error, "made": made, "revoked": revoked,
            "orgs": [o for o in sorted(orgs.values(), key=lambda o: o.name) if o.status == "active"],
            "max_days": app.settings.api.token_max_days,
            "form": {"name": first(values, "name"), "scopes": values.get("scope", []),
                     "owner": first(values, "owner") or viewer.address, "org": first(values, "org"),
                     "days": first(values, "days") or str(app.settings.api.token_days),
                     "description": first(values, "description")}}, status)

    async def row(t: Token, orgs: dict[int, Any], now: Any, index: int, lang: str) -> dict[str, Any]:
        owner = await app.store.get_mailbox_by_id(t.owner_id)
        state = t.state(now)
        org = orgs.get(t.org_id) if t.org_id else None
        return {"id": t.id, "name": t.name, "hint": t.hint, "owner": owner.address if owner else str(t.owner_id),
                "scopes": " ".join(t.scopes), "org": org.name if org else "-", "state": STATES[state][index],
                "active": state == ACTIVE, "expires": i18n.show_date(t.expires_at, lang),
                "used": (i18n.show_date(t.last_used_at, lang) + " " + t.last_used_from) if t.last_used_at else "-"}

    @api.get(PAGE)
    async def listing(request: Request) -> Response:
        visit = await pages.visit(request, pages.opening(ACTION))
        if isinstance(visit, Response):
            return visit
        return await show(request, visit.signed, visit.viewer, revoked=request.query_params.get("da-thu-hoi") == "1")

    @api.post(PAGE)
    async def create(request: Request) -> Response:
        change = await pages.change(request, pages.opening(), ACTION, lambda _viewer: (None, "api-tokens"))
        if isinstance(change, Response):
            return change
        signed, viewer, form = change.signed, change.viewer, change.form
        days_text = first(form, "days").strip()
        try:
            if days_text and not (days_text.isdigit() and len(days_text) < 6):
                raise TokenError("Số ngày không hợp lệ / invalid number of days")
            org_text = first(form, "org").strip()
            if org_text:
                try:
                    await directory.get_org(org_text, include_inactive=False)
                except DirectoryError as exc:
                    raise TokenError(str(exc)) from None
            made, secret = await tokens.create(
                first(form, "name"), form.get("scope", []), owner=first(form, "owner") or viewer.address,
                actor=viewer.address, org=org_text or None, days=int(days_text) if days_text else None,
                description=first(form, "description"))
        except TokenError as exc:
            return await show(request, signed, viewer, status=400, error=str(exc), form=form)
        return await show(request, signed, viewer, made={"name": made.name, "secret": secret})

    @api.post(PAGE + "/{id_text}/thu-hoi")
    async def revoke(request: Request, id_text: str) -> Response:
        async def named(_viewer: Viewer) -> int | None:
            return id_of(id_text)

        change = await pages.change(request, named, ACTION, lambda token_id: (None, f"api-token:{token_id}"))
        if isinstance(change, Response):
            return change
        if not await tokens.revoke(change.found, actor=change.viewer.address):
            return pages.error(request, change.signed, "not_found", 404)
        return render.redirect(f"{PAGE}?da-thu-hoi=1")

    return api
