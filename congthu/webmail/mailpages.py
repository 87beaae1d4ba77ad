"""The mail pages: folders with unread counts, a folder's messages fifty at a time, the
actions on chosen messages, reading a message, its attachments and its source.

Every read and write goes through ``MailStore``'s methods, the paths IMAP and POP3 use
(``folder_index``, ``get_contents``, ``store_flags``, ``move``, ``expunge``...): there
is no second way to write mail, and IMAP sessions learn of the webmail's changes from the
change feed as of any other client's. Every route takes the folder through
``WebContext.held`` (through ``own_folder`` and ``changing``), so another mailbox's ids
give 404.

Organisation mailboxes (Điều 12): a folder of a mailbox delegated to the user is held
with the rights granted there (``congthu.delegation``, what IMAP reads), and every
action asks for its RFC 4314 letters: marking read or unread "s", flags "w", delete and
move "t" and "e" on the folder and "i" on the destination (of the same mailbox);
reading marks \\Seen only with "s", as an IMAP FETCH does. The switcher
(``/thu/hop-thu?id=``) opens a delegated mailbox's Inbox (or its first folder the user
may read); switching, reading a message, downloading its parts or source are audited.

The list reads one page from the store (``MailStore.list_page``: the page's rows only,
in the order chosen: date, sender, subject or size), never the whole folder index, and
the folders' unread counts in one query (``unseen_counts``); both counts, the list's total
and the unread ones, are kept while the folders stay as they were (``listview.FolderCounts``).

Deleting moves to Trash (RFC 6154 ``\\Trash``); deleting in Trash marks ``\\Deleted``
and expunges, as an IMAP client does. "Thư rác" / "Không phải thư rác" move to Junk or
back to the Inbox through the same ``move`` and the same Junk learning
(``congthu.content.learning.after_move``) as an IMAP MOVE.

Reading: the message body frame (``/thu/<folder>/<uid>/noi-dung``) holds the sanitised
HTML (``sanitise.py``) in its own document under ``render.BODY_CSP`` (sandbox, no
script); attachments come from ``/tep/...`` and the source from ``/nguon/...``, routes
that serve only downloads (``Content-Disposition: attachment``, nosniff, CSP sandbox).

Images (see ``sanitise.py`` and ``previews.py``): inline ``cid:`` images are written into
the body frame as ``data:`` URLs (only images recognised by their bytes, bounded);
remote images are blocked unless the reader asked for this view (``?anh-ngoai=1``) or
for the sender (``/anh-ngoai``, kept by ``prefs.py``), and then only public https ones,
with the frame's CSP widened for that response only (``render.body_csp``). Image
attachments are shown from ``/thu/<f>/<uid>/anh/<section>``; PDF attachments are
previewed as pages rendered to PNG on the server (``/xem/...``).

The list by conversation (``/theo-chuoi`` switches it per user) reads
``MailStore.thread_page``; ``/cung-chuoi`` lists one conversation's messages; the
actions on its rows act on whole conversations (``chuoi=1`` in the list's form).
"""

from __future__ import annotations

import base64
from email.utils import parseaddr
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from congthu.content import learning
from congthu.mime import MessageStructure, decode_body
from congthu.store import Content, Folder, MessageMeta, NotFound
from congthu.store import flags as flagbits
from congthu.webmail import i18n, previews, render
from congthu.webmail.context import HOME, Held, Signed, WebContext
from congthu.webmail.listview import ORDERS, PAGE_SIZE, SORTS, number, row_of, sort_key, thread_row_of
from congthu.webmail.reading import (
    SECTION,
    Attachment,
    attachment_by_section,
    content_disposition,
    image_part,
    inline_images,
    part_text,
    structure_of,
    view_of,
)
from congthu.webmail.sanitise import sanitise

ACTIONS = ("doc", "chua-doc", "gan-co", "bo-co", "xoa", "chuyen", "rac", "khong-rac")
# The rights (RFC 4314 section 2.1) each action needs on the list's folder: \\Seen is "s",
# other flags "w"; deleting and moving out set \\Deleted and expunge ("t", "e"; RFC 6851
# section 3.3 for MOVE). The destination of a move also needs "i" (checked there).
NEEDS = {"doc": "s", "chua-doc": "s", "gan-co": "w", "bo-co": "w", "xoa": "te", "chuyen": "te",
         "rac": "te", "khong-rac": "te"}
MAX_SELECTED = 500
# What a folder page says after the compose page sent the browser there.
NOTICES = {"da-gui": "done.sent", "da-luu": "done.draft"}
REMOTE = "anh-ngoai"  # the query word: show this message's remote images
MAX_INLINE_BYTES = 10 * 1024 * 1024  # inline images written into one body frame


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    store = ctx.app.store

    def not_found(request: Request, signed: Signed | None = None) -> Response:
        return ctx.renderer.page(request, "error.html", {
            "csrf": signed.session.csrf if signed else "", "address": signed.mailbox.address if signed else "",
            "session": signed.session if signed else None}, status=404)

    async def signed_folder(request: Request, folder_id: int) -> tuple[Signed, Folder] | Response:
        """The signed-in user and a folder they may read, or what to answer: the way to
        sign in, or the 404 page (another mailbox's folder looks like none)."""
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        folder = await ctx.own_folder(signed, folder_id)
        return (signed, folder) if folder is not None else not_found(request, signed)

    async def base_context(request: Request, signed: Signed, mailbox_id: int | None = None) -> dict[str, Any]:
        return {"session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
                **await ctx.pane(request, signed, mailbox_id)}

    @api.get(HOME + "/hop-thu")
    async def switch(request: Request) -> Response:
        """The switcher: the user's own mailbox, or one delegated to them (Điều 12),
        opened at its Inbox or else its first folder the user may read; audited."""
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        mailbox_id = number(request.query_params.get("id", ""))
        if mailbox_id == signed.mailbox.id:
            return render.redirect(HOME)
        access = await ctx.mailbox_access(signed, mailbox_id) if mailbox_id else None
        folders = sorted(await ctx.visible_folders(signed, mailbox_id), key=sort_key) if access else []
        if access is None or not folders:
            return not_found(request, signed)
        await ctx.audit_delegated(request, signed, "webmail.delegate.open", access.owner_address,
                                  {"rights": access.mailbox})
        return render.redirect(f"{HOME}/{folders[0].id}")

    async def message_of(folder: Folder, uid: int) -> tuple[MessageMeta, Content] | None:
        metas = await store.get_messages(folder.id, [uid])
        if not metas:
            return None
        try:
            return metas[0], await store.get_content(metas[0].content_id)
        except NotFound:
            return None

    async def held_message(request: Request, folder_id: int, uid: int, *, section: str = "1"
                           ) -> tuple[Signed, Held, MessageMeta, Content] | Response:
        """The signed-in user, a folder they may read (their own, or delegated to them:
        Điều 12) and its message ``uid``, or what to answer: the way to sign in, or the 404
        page (as for a ``section`` that is no part number)."""
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        held = await ctx.held(signed, folder_id)
        found = await message_of(held.folder, uid) if held and SECTION.match(section) else None
        if held is None or found is None:
            return not_found(request, signed)
        return signed, held, *found

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
        total = await ctx.counts.messages(folder)
        threaded = sort == "ngay" and await ctx.prefs.thread_list(signed.mailbox.id)
        conversations = await ctx.thread_total(folder, total) if threaded else 0
        pages = max(1, ((conversations if threaded else total) + PAGE_SIZE - 1) // PAGE_SIZE)
        page = min(max(1, number(request.query_params.get("trang", "1"), 1)), pages)
        if threaded:
            # Conversations, newest first.
            threads = await store.thread_page(folder.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            rows = [thread_row_of(item, lang) for item in threads]
        else:
            order, descending = ORDERS[sort]
            listed = await store.list_page(folder.id, order, descending=descending,
                                           offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
            rows = [row_of(item, lang) for item in listed]
        context = await base_context(request, signed, folder.mailbox_id)
        current = next(f for f in context["folders"] if f.id == folder.id)
        held = await ctx.held(signed, folder.id)
        return ctx.renderer.page(request, "folder.html", {
            "rights": held.rights if held else "",
            **context, "folder": current, "rows": rows, "page": page, "pages": pages, "sort": sort,
            "sorts": SORTS, "total": total, "conversations": conversations,
            "in_trash": folder.special_use == "\\Trash",
            "in_junk": folder.special_use == "\\Junk",
            # New mail is added live on the first page by date (by conversation too, where
            # the new row replaces its conversation's): after this folder's last UID when
            # it was read (events.py; a row already shown is not added twice).
            "newest": folder.uidnext - 1 if page == 1 and sort == "ngay" else -1,
            "threaded": threaded,
            "notice": next((v for k, v in NOTICES.items() if k in request.query_params), "")})

    @api.post(HOME + "/{folder_id}/thao-tac")
    async def act(request: Request, folder_id: int) -> Response:
        change = await ctx.changing(request, folder_id)
        if isinstance(change, Response):
            return change
        signed, form, folder, held = change.signed, change.form, change.folder, change.held
        assert folder is not None and held is not None
        action = form.get("action")
        if action in ACTIONS and not held.may(NEEDS[action]):
            return ctx.error_page(request, signed, 403)
        uids = sorted({number(v) for v in form.all("uid")[:MAX_SELECTED]} - {0})
        if form.get("chuoi") == "1":
            # Rows of the list by conversation: each stands for its whole conversation.
            members = {item.meta.uid for uid in uids for item in await store.thread_of(folder.id, uid)}
            uids = sorted(members)[:MAX_SELECTED * 10]
        back = f"{HOME}/{folder.id}"
        sort, page = form.get("sap-xep"), number(form.get("trang"), 1)
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
                trash = next((f for f in await store.list_folders(folder.mailbox_id)
                              if f.special_use == "\\Trash"), None)
                if trash is None:
                    return not_found(request, signed)
                if not await ctx.own_folder(signed, trash.id, "i"):
                    return ctx.error_page(request, signed, 403)
                await store.move(folder.id, uids, trash.id)
        elif action in ("chuyen", "rac", "khong-rac"):
            if action == "chuyen":
                target = await ctx.own_folder(signed, number(form.get("dich")))
            else:
                # Junk, or out of it to the Inbox (Điều 9.9: the learning below).
                wanted = "\\Junk" if action == "rac" else None
                target = next((f for f in await store.list_folders(folder.mailbox_id)
                               if (f.special_use == wanted if wanted else f.name == "INBOX")), None)
            # Moves stay within the folder's mailbox; the destination needs "i" there.
            if target is None or target.mailbox_id != folder.mailbox_id:
                return not_found(request, signed)
            if not await ctx.own_folder(signed, target.id, "i"):
                return ctx.error_page(request, signed, 403)
            if target.id != folder.id:
                moved = await store.move(folder.id, uids, target.id)
                # Điều 9.9: into or out of Junk teaches rspamd (in the background), as over IMAP.
                await learning.after_move(ctx.app, held.owner_address, folder.id, target,
                                          [new for _old, new in moved])
        if form.get("ve") == "thu" and action in ("gan-co", "bo-co", "doc") and len(uids) == 1:
            return render.redirect(f"{HOME}/{folder.id}/{uids[0]}")
        return render.redirect(back)

    @api.get(HOME + "/{folder_id}/{uid}")
    async def read(request: Request, folder_id: int, uid: int) -> Response:
        got = await held_message(request, folder_id, uid)
        if isinstance(got, Response):
            return got
        signed, held, meta, content = got
        folder = held.folder
        if held.delegated:
            await ctx.audit_delegated(request, signed, "webmail.delegate.read", held.owner_address,
                                      {"folder": folder.name, "uid": uid, "subject": content.subject or ""})
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        raw = await store.read_message(content.id)
        structure = structure_of(content.structure, raw)
        view = view_of(structure, raw)
        text, cut, blocked, remote_blocked = "", False, 0, 0
        sender = sender_address(content)
        trusted = await ctx.prefs.images_allowed(signed.mailbox.id, sender)
        remote = trusted or request.query_params.get(REMOTE) == "1"
        if view.html_part is None and view.text_part is not None:
            text, cut = part_text(raw, view.text_part)
        elif view.html_part is not None:
            html, cut = part_text(raw, view.html_part)
            cleaned = sanitise(html, images=inline_data(raw, structure), remote=remote)
            blocked, remote_blocked = cleaned.blocked_images, cleaned.remote_images
        if not meta.flags & flagbits.SEEN and held.may("s"):  # RFC 4314: \\Seen needs "s"
            await store.store_flags(folder.id, [uid], "add", flagbits.SEEN)
        context = await base_context(request, signed, folder.mailbox_id)
        current = next(f for f in context["folders"] if f.id == folder.id)
        return ctx.renderer.page(request, "message.html", {
            "rights": held.rights,
            **context, "folder": current, "uid": uid, "subject": content.subject, "sender": content.from_addr,
            "to": content.to_addr, "cc": content.cc_addr,
            "date": i18n.show_date(content.sent_date or meta.internal_date, lang),
            "has_html": view.html_part is not None, "text": text, "cut": cut, "blocked": blocked,
            "remote_blocked": remote_blocked, "remote": remote, "trusted": trusted, "sender_address": sender,
            "previews_available": ctx.previews.available(),
            "shown_images": shown_images(raw, structure, view.attachments),
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
        structure = structure_of(content.structure, raw)
        view = view_of(structure, raw)
        remote = (request.query_params.get(REMOTE) == "1"
                  or await ctx.prefs.images_allowed(signed.mailbox.id, sender_address(content)))
        html = ""
        if view.html_part is not None:
            text, _cut = part_text(raw, view.html_part)
            html = sanitise(text, images=inline_data(raw, structure), remote=remote).html
        page = ctx.renderer.env.get_template("body.html").render(body=html)
        return HTMLResponse(page, headers=render.body_csp(remote))

    @api.get(HOME + "/{folder_id}/{uid}/anh/{section}")
    async def image(request: Request, folder_id: int, uid: int, section: str) -> Response:
        """An image of the message (inline ``cid:`` part or image attachment), only if its
        bytes are an image the page may show (``previews.safe_image``)."""
        signed = await ctx.signed(request)
        if signed is None or signed.session.must_change:
            return Response(status_code=403, headers=render.IMAGE_HEADERS)
        folder = await ctx.own_folder(signed, folder_id)
        found = await message_of(folder, uid) if folder and SECTION.match(section) else None
        if folder is None or found is None:
            return Response(status_code=404, headers=render.IMAGE_HEADERS)
        raw = await store.read_message(found[1].id)
        part = image_part(structure_of(found[1].structure, raw), raw, section)
        data = decode_body(raw, part) if part is not None and part.message is None else b""
        media_type = previews.safe_image(data)
        if media_type is None:
            return Response(status_code=404, headers=render.IMAGE_HEADERS)
        return Response(data, media_type=media_type, headers={
            **render.IMAGE_HEADERS, "Content-Disposition": content_disposition(f"anh-{section}", inline=True)})

    async def pdf_of(request: Request, folder_id: int, uid: int, section: str
                     ) -> tuple[Signed, Folder, str, bytes, str] | Response:
        """(user, folder, cache key, bytes, file name) of a PDF attachment, or the answer."""
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        folder = await ctx.own_folder(signed, folder_id)
        found = await message_of(folder, uid) if folder and SECTION.match(section) else None
        if folder is None or found is None:
            return not_found(request, signed)
        raw = await store.read_message(found[1].id)
        chosen = attachment_by_section(structure_of(found[1].structure, raw), raw, section)
        if chosen is None or chosen[1].message is not None:
            return not_found(request, signed)
        data = decode_body(raw, chosen[1])
        if not previews.looks_like_pdf(data):
            return not_found(request, signed)
        return signed, folder, f"{found[1].sha256}/{section}", data, chosen[0].filename

    @api.get(HOME + "/{folder_id}/{uid}/xem/{section}")
    async def preview(request: Request, folder_id: int, uid: int, section: str) -> Response:
        """A PDF attachment's first pages as pictures rendered on the server."""
        got = await pdf_of(request, folder_id, uid, section)
        if isinstance(got, Response):
            return got
        signed, folder, key, data, filename = got
        count = await ctx.previews.page_count(key, data) if ctx.previews.available() else 0
        context = await base_context(request, signed, folder.mailbox_id)
        current = next(f for f in context["folders"] if f.id == folder.id)
        return ctx.renderer.page(request, "preview.html", {
            **context, "folder": current, "uid": uid, "section": section, "filename": filename,
            "count": count, "shown": min(count, previews.MAX_PAGES)})

    @api.get(HOME + "/{folder_id}/{uid}/xem/{section}/{page}")
    async def preview_page(request: Request, folder_id: int, uid: int, section: str, page: int) -> Response:
        got = await pdf_of(request, folder_id, uid, section)
        if isinstance(got, Response):
            return Response(status_code=got.status_code if got.status_code != 303 else 403,
                            headers=render.IMAGE_HEADERS)
        _signed, _folder, key, data, _name = got
        png = await ctx.previews.page(key, data, page) if ctx.previews.available() else None
        if png is None:
            return Response(status_code=404, headers=render.IMAGE_HEADERS)
        return Response(png, media_type="image/png", headers={
            **render.IMAGE_HEADERS, "Content-Disposition": content_disposition(f"trang-{page}.png", inline=True)})

    @api.post(HOME + "/{folder_id}/{uid}/anh-ngoai")
    async def trust_sender(request: Request, folder_id: int, uid: int) -> Response:
        """Always (or no longer) show remote images of this message's sender."""
        change = await ctx.changing(request, folder_id)
        if isinstance(change, Response):
            return change
        assert change.folder is not None
        found = await message_of(change.folder, uid)
        if found is None:
            return not_found(request, change.signed)
        await ctx.prefs.allow_images(change.signed.mailbox.id, sender_address(found[1]),
                                     change.form.get("bat") == "1")
        return render.redirect(f"{HOME}/{change.folder.id}/{uid}")

    @api.post(HOME + "/theo-chuoi")
    async def thread_toggle(request: Request) -> Response:
        """The list by conversation, or one row a message (the user's choice, kept)."""
        change = await ctx.changing(request)
        if isinstance(change, Response):
            return change
        await ctx.prefs.set_thread_list(change.signed.mailbox.id, change.form.get("bat") == "1")
        back = number(change.form.get("thu-muc"))
        return render.redirect(f"{HOME}/{back}" if back else HOME)

    @api.get(HOME + "/{folder_id}/{uid}/cung-chuoi")
    async def thread_members(request: Request, folder_id: int, uid: int) -> Response:
        """The messages of this folder in the conversation of ``uid``: the rows of one
        conversation of the list, opened."""
        found = await signed_folder(request, folder_id)
        if isinstance(found, Response):
            return found
        signed, folder = found
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        members = await store.thread_of(folder.id, uid)
        if not members:
            return not_found(request, signed)
        context = await base_context(request, signed, folder.mailbox_id)
        current = next(f for f in context["folders"] if f.id == folder.id)
        rows = [row_of(item, lang) for item in members]
        return ctx.renderer.page(request, "thread_list.html", {**context, "folder": current, "rows": rows})

    @api.get("/tep/{folder_id}/{uid}/{section}")
    async def attachment(request: Request, folder_id: int, uid: int, section: str) -> Response:
        got = await held_message(request, folder_id, uid, section=section)
        if isinstance(got, Response):
            return got
        signed, held, _meta, content = got
        folder = held.folder
        if held.delegated:
            await ctx.audit_delegated(request, signed, "webmail.delegate.download", held.owner_address,
                                      {"folder": folder.name, "uid": uid, "section": section})
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
        got = await held_message(request, folder_id, uid)
        if isinstance(got, Response):
            return got
        signed, held, _meta, content = got
        folder = held.folder
        if held.delegated:
            await ctx.audit_delegated(request, signed, "webmail.delegate.source", held.owner_address,
                                      {"folder": folder.name, "uid": uid})
        raw = await store.read_message(content.id)
        # text/plain without a charset: the bytes are the message's, in whatever it used.
        return Response(raw, headers={
            **render.DOWNLOAD_HEADERS, "Content-Type": "text/plain", "Content-Disposition": content_disposition(f"thu-{uid}.eml")})

    return api


def sender_address(content: Content) -> str:
    """The address of the message's (first) From, as stored decoded; "" if none."""
    return parseaddr(content.from_addr.split(",")[0] if content.from_addr else "")[1]


def inline_data(raw: bytes, structure: MessageStructure) -> dict[str, str]:
    """Content-ID -> a ``data:`` URL of that inline image, for the body frame: only parts
    whose bytes ``previews.safe_image`` accepts (typed by their bytes, never SVG, bounded
    in bytes and pixels), at most ``MAX_INLINE_BYTES`` in all (the rest stay blocked).
    Written into the frame, not fetched by it: the frame's opaque origin sends no
    session cookie."""
    found: dict[str, str] = {}
    total = 0
    for cid, section in inline_images(structure).items():
        part = structure.part(section)
        data = decode_body(raw, part) if part is not None else b""
        media_type = previews.safe_image(data)
        if media_type is None or total + len(data) > MAX_INLINE_BYTES:
            continue
        total += len(data)
        found[cid] = f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
    return found


def shown_images(raw: bytes, structure: MessageStructure, attachments: list[Attachment]) -> set[str]:
    """The sections of the image attachments the reading page shows: those whose bytes
    ``previews.safe_image`` accepts (at most ``MAX_INLINE_BYTES`` read in all), not
    the message's inline images (shown in the body already)."""
    inline = set(inline_images(structure).values())
    shown: set[str] = set()
    total = 0
    for attachment in attachments:
        if attachment.preview != "image" or attachment.section in inline:
            continue
        part = structure.part(attachment.section)
        if part is None or total + attachment.size > MAX_INLINE_BYTES:
            continue
        total += attachment.size
        if previews.safe_image(decode_body(raw, part)) is not None:
            shown.add(attachment.section)
    return shown
