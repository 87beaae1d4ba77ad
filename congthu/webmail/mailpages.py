"""The mail pages: folders with unread counts, a folder's messages fifty at a time, the
actions on chosen messages, reading a message, its attachments and its source.

Every read and write goes through ``MailStore``'s methods, the paths IMAP and POP3 use
(``folder_index``, ``get_contents``, ``store_flags``, ``move``, ``expunge``...): there
is no second way to write mail, and IMAP sessions learn of the webmail's changes from the
change feed as of any other client's. Every route takes the folder through
``WebContext.own_folder``, so another mailbox's ids give 404.

The list reads one page from the store (``MailStore.list_page``: the page's rows only,
in the order chosen: date, sender, subject or size), never the whole folder index, and
the folders' unread counts in one query (``unseen_counts``).

Deleting moves to Trash (RFC 6154 ``\\Trash``); deleting in Trash marks ``\\Deleted``
and expunges, as an IMAP client does. "Thư rác" / "Không phải thư rác" move to Junk or
back to the Inbox through the same ``move`` and the same Junk learning
(``congthu.content.learning.after_move``) as an IMAP MOVE.

Reading: the message body frame (``/thu/<folder>/<uid>/noi-dung``) holds the sanitised
HTML (``sanitise.py``) in its own document under ``render.BODY_CSP`` (sandbox, no
script); attachments come from ``/tep/...`` and the source from ``/nguon/...``, routes
that serve only downloads (``Content-Disposition: attachment``, nosniff, CSP sandbox).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from congthu.content import learning
from congthu.mime import decode_body
from congthu.store import Content, Folder, MessageMeta, NotFound
from congthu.store import flags as flagbits
from congthu.webmail import i18n, render
from congthu.webmail.context import HOME, Signed, WebContext, first, read_form
from congthu.webmail.listview import ORDERS, PAGE_SIZE, SORTS, folder_entries, number, row_of
from congthu.webmail.reading import (
    attachment_by_section,
    content_disposition,
    part_text,
    structure_of,
    view_of,
)
from congthu.webmail.sanitise import sanitise

ACTIONS = ("doc", "chua-doc", "gan-co", "bo-co", "xoa", "chuyen", "rac", "khong-rac")
MAX_SELECTED = 500
# What a folder page says after the compose page sent the browser there.
NOTICES = {"da-gui": "done.sent", "da-luu": "done.draft"}


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    store = ctx.app.store

    def not_found(request: Request, signed: Signed | None = None) -> Response:
        return ctx.renderer.page(request, "error.html", {
            "csrf": signed.session.csrf if signed else "", "address": signed.mailbox.address if signed else "",
            "session": signed.session if signed else None}, status=404)

    async def signed_folder(request: Request, folder_id: int) -> tuple[Signed, Folder] | Response:
        """The signed-in user and their own folder ``folder_id``, or what to answer: the
        way to sign in, or the 404 page (another mailbox's folder looks like none)."""
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        folder = await ctx.own_folder(signed, folder_id)
        return (signed, folder) if folder is not None else not_found(request, signed)

    async def base_context(request: Request, signed: Signed) -> dict[str, Any]:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        return {"session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
                "folders": await folder_entries(store, signed.mailbox.id, lang)}

    async def message_of(folder: Folder, uid: int) -> tuple[MessageMeta, Content] | None:
        metas = await store.get_messages(folder.id, [uid])
        if not metas:
            return None
        try:
            return metas[0], await store.get_content(metas[0].content_id)
        except NotFound:
            return None

    @api.get(HOME)
    async def home(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        inbox = await store.get_folder(signed.mailbox.id, "INBOX")
        if inbox is None:
            return not_found(request, signed)
        return render.redirect(f"{HOME}/{inbox.id}")

    @api.get(HOME + "/{folder_id}")
    async def folder_page(request: Request, folder_id: int) -> Response:
        found = await signed_folder(request, folder_id)
        if isinstance(found, Response):
            return found
        signed, folder = found
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        sort = request.query_params.get("sap-xep", "ngay")
        sort = sort if sort in SORTS else "ngay"
        total = await store.message_count(folder.id)
        pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
        page = min(max(1, number(request.query_params.get("trang", "1"), 1)), pages)
        order, descending = ORDERS[sort]
        listed = await store.list_page(folder.id, order, descending=descending,
                                       offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        rows = [row_of(item, lang) for item in listed]
        context = await base_context(request, signed)
        current = next(f for f in context["folders"] if f.id == folder.id)
        return ctx.renderer.page(request, "folder.html", {
            **context, "folder": current, "rows": rows, "page": page, "pages": pages, "sort": sort,
            "sorts": SORTS, "total": total, "in_trash": folder.special_use == "\\Trash",
            "in_junk": folder.special_use == "\\Junk",
            # New mail is added live on the first page by date: after this folder's last UID
            # when it was read (events.py; a row already shown is not added twice).
            "newest": folder.uidnext - 1 if page == 1 and sort == "ngay" else -1,
            "notice": next((v for k, v in NOTICES.items() if k in request.query_params), "")})

    @api.post(HOME + "/{folder_id}/thao-tac")
    async def act(request: Request, folder_id: int) -> Response:
        found = await signed_folder(request, folder_id)
        if isinstance(found, Response):
            return found
        signed, folder = found
        form = await read_form(request)
        if form is None or not ctx.form_ok(request, signed.session.secret, first(form, "csrf")):
            return ctx.renderer.page(request, "error.html", {
                "csrf": signed.session.csrf, "address": signed.mailbox.address, "session": signed.session,
                "bad": True}, status=403)
        action = first(form, "action")
        uids = sorted({number(v) for v in form.get("uid", [])[:MAX_SELECTED]} - {0})
        back = f"{HOME}/{folder.id}"
        sort, page = first(form, "sap-xep"), number(first(form, "trang"), 1)
        if sort in SORTS and sort != "ngay":
            back += f"?sap-xep={sort}&trang={page}"
        elif page > 1:
            back += f"?trang={page}"
        if action not in ACTIONS or not uids:
            return render.redirect(back)
        if action == "doc":
            await store.store_flags(folder.id, uids, "add", flagbits.SEEN)
        elif action == "chua-doc":
            await store.store_flags(folder.id, uids, "remove", flagbits.SEEN)
        elif action == "gan-co":
            await store.store_flags(folder.id, uids, "add", flagbits.FLAGGED)
        elif action == "bo-co":
            await store.store_flags(folder.id, uids, "remove", flagbits.FLAGGED)
        elif action == "xoa":
            if folder.special_use == "\\Trash":
                await store.store_flags(folder.id, uids, "add", flagbits.DELETED)
                await store.expunge(folder.id, uids)
            else:
                trash = next((f for f in await store.list_folders(signed.mailbox.id)
                              if f.special_use == "\\Trash"), None)
                if trash is None:
                    return not_found(request, signed)
                await store.move(folder.id, uids, trash.id)
        elif action in ("chuyen", "rac", "khong-rac"):
            if action == "chuyen":
                target = await ctx.own_folder(signed, number(first(form, "dich")))
            else:
                # Junk, or out of it to the Inbox (Điều 9.9: the learning below).
                wanted = "\\Junk" if action == "rac" else None
                target = next((f for f in await store.list_folders(signed.mailbox.id)
                               if (f.special_use == wanted if wanted else f.name == "INBOX")), None)
            if target is None:
                return not_found(request, signed)
            if target.id != folder.id:
                moved = await store.move(folder.id, uids, target.id)
                # Điều 9.9: into or out of Junk teaches rspamd (in the background), as over IMAP.
                await learning.after_move(ctx.app, signed.mailbox.address, folder.id, target,
                                          [new for _old, new in moved])
        if first(form, "ve") == "thu" and action in ("gan-co", "bo-co", "doc") and len(uids) == 1:
            return render.redirect(f"{HOME}/{folder.id}/{uids[0]}")
        return render.redirect(back)

    @api.get(HOME + "/{folder_id}/{uid}")
    async def read(request: Request, folder_id: int, uid: int) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        folder = await ctx.own_folder(signed, folder_id)
        found = await message_of(folder, uid) if folder else None
        if folder is None or found is None:
            return not_found(request, signed)
        meta, content = found
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        raw = await store.read_message(content.id)
        structure = structure_of(content.structure, raw)
        view = view_of(structure, raw)
        text, cut, blocked = "", False, 0
        if view.html_part is None and view.text_part is not None:
            text, cut = part_text(raw, view.text_part)
        elif view.html_part is not None:
            html, cut = part_text(raw, view.html_part)
            blocked = sanitise(html).blocked_images
        if not meta.flags & flagbits.SEEN:
            await store.store_flags(folder.id, [uid], "add", flagbits.SEEN)
        context = await base_context(request, signed)
        current = next(f for f in context["folders"] if f.id == folder.id)
        return ctx.renderer.page(request, "message.html", {
            **context, "folder": current, "uid": uid, "subject": content.subject, "sender": content.from_addr,
            "to": content.to_addr, "cc": content.cc_addr,
            "date": i18n.show_date(content.sent_date or meta.internal_date, lang),
            "has_html": view.html_part is not None, "text": text, "cut": cut, "blocked": blocked,
            "attachments": view.attachments, "flagged": bool(meta.flags & flagbits.FLAGGED),
            "in_trash": folder.special_use == "\\Trash"})

    @api.get(HOME + "/{folder_id}/{uid}/noi-dung")
    async def body(request: Request, folder_id: int, uid: int) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return Response(status_code=403, headers=render.BODY_HEADERS)
        folder = await ctx.own_folder(signed, folder_id)
        found = await message_of(folder, uid) if folder else None
        if folder is None or found is None:
            return Response(status_code=404, headers=render.BODY_HEADERS)
        _meta, content = found
        raw = await store.read_message(content.id)
        view = view_of(structure_of(content.structure, raw), raw)
        html = ""
        if view.html_part is not None:
            text, _cut = part_text(raw, view.html_part)
            html = sanitise(text).html
        page = ctx.renderer.env.get_template("body.html").render(body=html)
        return HTMLResponse(page, headers=render.BODY_HEADERS)

    @api.get("/tep/{folder_id}/{uid}/{section}")
    async def attachment(request: Request, folder_id: int, uid: int, section: str) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        folder = await ctx.own_folder(signed, folder_id)
        found = await message_of(folder, uid) if folder else None
        if folder is None or found is None or len(section) > 40:
            return not_found(request, signed)
        _meta, content = found
        raw = await store.read_message(content.id)
        chosen = attachment_by_section(structure_of(content.structure, raw), raw, section)
        if chosen is None:
            return not_found(request, signed)
        listed, part = chosen
        data = raw[part.body_start:part.body_end] if part.message is not None else decode_body(raw, part)
        return Response(data, media_type="application/octet-stream", headers={
            **render.DOWNLOAD_HEADERS, "Content-Disposition": content_disposition(listed.filename)})

    @api.get("/nguon/{folder_id}/{uid}")
    async def source(request: Request, folder_id: int, uid: int) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        folder = await ctx.own_folder(signed, folder_id)
        found = await message_of(folder, uid) if folder else None
        if folder is None or found is None:
            return not_found(request, signed)
        raw = await store.read_message(found[1].id)
        # text/plain without a charset: the bytes are the message's, in whatever it used.
        return Response(raw, headers={
            **render.DOWNLOAD_HEADERS, "Content-Type": "text/plain", "Content-Disposition": content_disposition(f"thu-{uid}.eml")})

    return api
