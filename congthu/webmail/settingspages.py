"""The settings pages beyond sessions and the password (``accountpages.py``): signature,
vacation auto-reply, forwarding (Điều 7.7), two-factor authentication (TOTP, RFC 6238)
with its QR code and recovery codes, app passwords for mail clients, and how to set up
a mail client.

Every page acts on the signed-in mailbox only: no route takes a mailbox id, and the only
ids a form carries (an app password's) are checked against that mailbox by its owner
(``Accounts.revoke_app_password``), so another mailbox's settings can be neither read
nor changed. Every POST checks the session, the CSRF token and the origin
(``WebContext.form_ok``); every change is audited by the package that owns it
(``congthu.mailrules``, ``congthu.accounts``). Secrets (recovery codes, a new app
password) are shown once, in the answer to the POST that made them, never stored in
clear and never in a URL.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable
from datetime import date
from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from congthu.accounts import totp
from congthu.autoconfig.servers import client_servers
from congthu.mailrules import RuleRefused, Vacation, rules
from congthu.webmail import i18n, render
from congthu.webmail.context import Form, Signed, WebContext, client_ip

SETTINGS = "/cai-dat"
SIGNATURE = SETTINGS + "/chu-ky"
VACATION = SETTINGS + "/tra-loi-tu-dong"
FORWARDING = SETTINGS + "/chuyen-tiep"
SECURITY = SETTINGS + "/xac-thuc-hai-lop"
APP_PASSWORDS = SETTINGS + "/mat-khau-ung-dung"
CLIENTS = SETTINGS + "/ung-dung-thu"
# The sections, in the order the settings pages list them.
NAV = [(SETTINGS, "set.overview"), (SIGNATURE, "set.signature"), (VACATION, "set.vacation"),
       (FORWARDING, "set.forwarding"), (SECURITY, "set.security"), (APP_PASSWORDS, "set.app_passwords"),
       (CLIENTS, "set.clients")]
MAX_TEXT_FIELD = 10_000  # characters of a text area (the rules check their own limits)
MAX_LABEL = 60
_DMY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def parse_date(value: str) -> date | None:
    """A date typed the Vietnamese way (ngày/tháng/năm: 15/12/2026, 15-12-2026,
    15.12.2026) or in ISO form (2026-12-15); None for an empty field; ``ValueError``
    otherwise."""
    if not value.strip():
        return None
    match = _DMY.match(value)
    if match:
        return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    match = _ISO.match(value)
    if match:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    raise ValueError(value)


def show_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code in inline SVG (segno, made here: no image request, nothing
    sent elsewhere). The SVG holds only a path made from ``text``'s bits."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=5, border=4,
                                     title=None, svgclass="qr", lineclass=None)
    return Markup(out.getvalue().decode("ascii"))  # noqa: S704 (segno's own SVG, no user text in it)


def back_to(page: str, word: str = "1") -> Response:
    """After a change: back to the settings page ``page`` (a GET), which says what was
    done (``?xong=``: "1" saved, or the word of the change)."""
    return render.redirect(f"{page}?xong={word}")


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    app = ctx.app

    def show(request: Request, signed: Signed, template: str, values: dict[str, Any],
             status: int = 200) -> Response:
        return ctx.renderer.page(request, template, {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            "nav": NAV, **values}, status=status)

    def words(request: Request) -> Any:
        return i18n.translator(i18n.language(request.cookies.get(i18n.LANG_COOKIE)))

    def refusal_text(request: Request, refused: RuleRefused) -> str:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        reason = refused.vietnamese if lang == "vi" else refused.english
        return words(request)("set.refused", reason=reason)

    async def posted(request: Request) -> tuple[Signed, Form] | Response:
        """The signed-in user and the form of a POST whose session, token and origin
        are right (``WebContext.changing``); otherwise the answer to send."""
        change = await ctx.changing(request, max_chars=MAX_TEXT_FIELD)
        return change if isinstance(change, Response) else (change.signed, change.form)

    async def saved(request: Request, signed: Signed, change: Awaitable[object], *, template: str,
                    typed: dict[str, Any], back: str) -> Response:
        """The one way a rule is saved: ``change`` (the owner's call) done, then back to
        the page with "Đã lưu"; refused by the owner (``RuleRefused``), the same page
        again with the reason in the user's language and what was typed."""
        try:
            await change
        except RuleRefused as refused:
            return show(request, signed, template, {**typed, "saved": False,
                                                    "error": refusal_text(request, refused)}, 400)
        return back_to(back)

    # -- signature ---------------------------------------------------------------------

    @api.get(SIGNATURE)
    async def signature_page(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        text = await rules.get_signature(app, signed.mailbox.id)
        return show(request, signed, "settings_signature.html", {
            "text": text, "saved": request.query_params.get("xong") == "1", "error": ""})

    @api.post(SIGNATURE)
    async def signature_save(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        return await saved(request, signed, rules.set_signature(
            app, signed.mailbox, form.get("chu-ky", ""), actor=signed.mailbox.address, client=client_ip(request)),
            template="settings_signature.html", typed={"text": form.get("chu-ky", "")}, back=SIGNATURE)

    # -- vacation ----------------------------------------------------------------------

    def vacation_values(vacation: Vacation) -> dict[str, Any]:
        return {"enabled": vacation.enabled, "subject": vacation.subject, "body": vacation.body,
                "start": show_date(vacation.start), "end": show_date(vacation.end)}

    @api.get(VACATION)
    async def vacation_page(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        vacation = await rules.get_vacation(app, signed.mailbox.id)
        return show(request, signed, "settings_vacation.html", {
            "v": vacation_values(vacation), "days": app.settings.mailrules.vacation_days,
            "saved": request.query_params.get("xong") == "1", "error": ""})

    @api.post(VACATION)
    async def vacation_save(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        enabled, subject, body = form.get("bat") == "1", form.get("tieu-de", ""), form.get("noi-dung", "")
        start, end = form.get("tu-ngay", ""), form.get("den-ngay", "")
        typed = {"v": {"enabled": enabled, "subject": subject, "body": body, "start": start, "end": end},
                 "days": app.settings.mailrules.vacation_days}
        dates: list[date | None] = []
        for value in (start, end):
            try:
                dates.append(parse_date(value))
            except ValueError:
                return show(request, signed, "settings_vacation.html", {
                    **typed, "saved": False, "error": words(request)("set.bad_date", value=value[:40])}, 400)
        return await saved(request, signed, rules.set_vacation(
            app, signed.mailbox, Vacation(enabled, subject, body, dates[0], dates[1]),
            actor=signed.mailbox.address, client=client_ip(request)),
            template="settings_vacation.html", typed=typed, back=VACATION)

    # -- forwarding --------------------------------------------------------------------

    @api.get(FORWARDING)
    async def forwarding_page(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        rule = await rules.get_forwarding(app, signed.mailbox.id)
        return show(request, signed, "settings_forwarding.html", {
            "enabled": rule.enabled, "targets": "\n".join(rule.targets), "keep": rule.keep_copy,
            "most": app.settings.mailrules.forward_max_targets,
            "saved": request.query_params.get("xong") == "1", "error": ""})

    @api.post(FORWARDING)
    async def forwarding_save(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        enabled, keep = form.get("bat") == "1", form.get("giu-ban-sao") == "1"
        typed = form.get("dia-chi", "")
        return await saved(request, signed, rules.set_forwarding(
            app, signed.mailbox, re.split(r"[\s,;]+", typed), enabled=enabled, keep_copy=keep,
            actor=signed.mailbox.address, client=client_ip(request)),
            template="settings_forwarding.html", back=FORWARDING, typed={
                "enabled": enabled, "targets": typed, "keep": keep,
                "most": app.settings.mailrules.forward_max_targets})

    # -- two-factor authentication (TOTP) ------------------------------------------------

    async def security_page_values(signed: Signed, **values: Any) -> dict[str, Any]:
        return {"enabled": await app.accounts.totp_enabled(signed.mailbox.id), "secret": "", "qr": "",
                "codes": [], "error": "", "done": "", **values}

    def enrolment(secret: str, account: str) -> dict[str, Any]:
        return {"secret": secret, "qr": qr_svg(totp.uri(secret, account)),
                "secret_shown": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))}

    @api.get(SECURITY)
    async def security_page(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        done = "set.totp_disabled" if request.query_params.get("xong") == "tat" else ""
        return show(request, signed, "settings_security.html", await security_page_values(signed, done=done))

    @api.post(SECURITY + "/bat-dau")
    async def security_begin(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, _form = got
        if await app.accounts.totp_enabled(signed.mailbox.id):
            return render.redirect(SECURITY)
        secret = await app.accounts.totp_begin(signed.mailbox.id)
        return show(request, signed, "settings_security.html", await security_page_values(
            signed, **enrolment(secret, signed.mailbox.address)))

    @api.post(SECURITY + "/xac-nhan")
    async def security_confirm(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        if await app.accounts.totp_enabled(signed.mailbox.id):
            return render.redirect(SECURITY)
        codes = await app.accounts.totp_confirm(signed.mailbox.id, form.get("ma", "")[:20],
                                                actor=signed.mailbox.address)
        if codes is None:
            # The QR again, from the secret the page carried (the check used the stored one).
            secret = re.sub(r"[^A-Z2-7]", "", form.get("khoa", "").upper())[:64]
            return show(request, signed, "settings_security.html", await security_page_values(
                signed, error="set.totp_wrong", **(enrolment(secret, signed.mailbox.address) if secret else {})),
                400)
        return show(request, signed, "settings_security.html", await security_page_values(
            signed, codes=codes, done="set.totp_done"))

    @api.post(SECURITY + "/tat")
    async def security_disable(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        mailbox = await app.accounts.verify_password(signed.mailbox.address, form.get("mat-khau", "")[:1024])
        if (mailbox is None or mailbox.id != signed.mailbox.id
                or not await app.accounts.check_second_factor(signed.mailbox.id, form.get("ma", "")[:40])):
            return show(request, signed, "settings_security.html", await security_page_values(
                signed, error="set.wrong_password"), 400)
        await app.accounts.totp_disable(signed.mailbox.id, actor=signed.mailbox.address)
        return back_to(SECURITY, "tat")

    # -- app passwords -------------------------------------------------------------------

    async def app_password_values(request: Request, signed: Signed, **values: Any) -> dict[str, Any]:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        rows = await app.accounts.list_app_passwords(signed.mailbox.id)
        shown = [{"id": r["id"], "label": r["label"], "created": i18n.show_date(r["created_at"], lang),
                  "used": i18n.show_date(r["last_used_at"], lang)} for r in rows]
        return {"rows": shown, "new_password": "", "new_label": "", "error": "", "done": "", **values}

    @api.get(APP_PASSWORDS)
    async def app_passwords_page(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        done = "set.app_revoked" if request.query_params.get("xong") == "thu-hoi" else ""
        return show(request, signed, "settings_app_passwords.html",
                    await app_password_values(request, signed, done=done))

    @api.post(APP_PASSWORDS)
    async def app_password_create(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        label = " ".join(form.get("ten", "").split())
        if not label or len(label) > MAX_LABEL or not label.isprintable():
            return show(request, signed, "settings_app_passwords.html",
                        await app_password_values(request, signed, error="set.app_label_needed"), 400)
        password = await app.accounts.add_app_password(signed.mailbox.id, label, actor=signed.mailbox.address)
        return show(request, signed, "settings_app_passwords.html",
                    await app_password_values(request, signed, new_password=password, new_label=label))

    @api.post(APP_PASSWORDS + "/thu-hoi")
    async def app_password_revoke(request: Request) -> Response:
        got = await posted(request)
        if isinstance(got, Response):
            return got
        signed, form = got
        which = form.get("id", "")
        # The owner's check: an id of another mailbox's password revokes nothing.
        if which.isdigit() and len(which) < 12:
            await app.accounts.revoke_app_password(signed.mailbox.id, int(which), actor=signed.mailbox.address)
        return back_to(APP_PASSWORDS, "thu-hoi")

    # -- mail client set-up --------------------------------------------------------------

    @api.get(CLIENTS)
    async def clients_page(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        servers = client_servers(app.settings)
        doors = [{"protocol": d.protocol.upper() if d.protocol != "smtp" else "SMTP", "port": d.port,
                  "tls": d.implicit_tls, "incoming": d.protocol != "smtp"}
                 for name in ("imap", "pop3", "smtp") for d in servers.of(name)]
        return show(request, signed, "settings_clients.html", {
            "host": servers.host, "doors": doors,
            "two_factor": await app.accounts.totp_enabled(signed.mailbox.id)})

    return api
