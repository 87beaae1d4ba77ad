"""Folder management (``/thu/thu-muc``): create, rename and delete the user's own folders,
and empty Trash (of the user's own mailbox: not of a delegated one).

Names are Unicode as the user typed them (NFC; "Dự án 2026"); the store keeps them so
and IMAP shows them in modified UTF-7 (RFC 3501 section 5.1.3) through its own decoder.
A folder is made under a chosen parent ("/" is the hierarchy delimiter, so a name may not
hold one). The Inbox and the special folders (RFC 6154: Drafts, Sent, Archive, Junk,
Trash) cannot be renamed or deleted here.

Deleting a folder: its messages are first moved to Trash (``MailStore.move``, as a
deleted message), then the empty folder is deleted (``delete_folder``, as IMAP DELETE),
after a confirmation box the user ticks. Roundcube deletes a folder's messages for good
after a confirmation (its maintainers declined moving them to Trash, roundcube#9048);
we keep them in Trash as Outlook does, since an official's folder deleted by mistake
must be recoverable. A folder with subfolders is refused until they are deleted or moved.

Emptying Trash marks every message there ``\\Deleted`` and expunges them (what IMAP
clients do), after the same ticked confirmation.
"""

from __future__ import annotations

import unicodedata

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.store import DELIMITER, AlreadyExists, Folder, StoreError
from congthu.store import flags as flagbits
from congthu.webmail import i18n, render
from congthu.webmail.context import HOME, Form, Signed, WebContext
from congthu.webmail.listview import FolderEntry, folder_entries, number

MANAGE = HOME + "/thu-muc"
MAX_NAME = 200


def name_problem(name: str) -> str | None:
    """Why a folder's own name (one level) cannot be used, as a message key, or None."""
    if not name:
        return "folders.name_empty"
    if len(name) > MAX_NAME:
        return "folders.name_long"
    if DELIMITER in name or any(unicodedata.category(ch).startswith("C") for ch in name):
        return "folders.name_bad"
    if name.casefold() == "inbox":
        return "folders.name_taken"
    return None


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    store = ctx.app.store

    async def page(request: Request, signed: Signed, *, error: str = "", done: str = "",
                   values: dict[str, str] | None = None, status: int = 200) -> Response:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        folders = await folder_entries(store, signed.mailbox.id, lang)
        counts = {f.id: await store.message_count(f.id) for f in folders}
        return ctx.renderer.page(request, "folders.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            "folders": folders, "counts": counts, "error": error, "done": done, "values": values or {},
            "parents": [f for f in folders if f.special_use is None or f.name == "INBOX"]}, status=status)

    async def changing(request: Request, folder_id: int | None = None
                       ) -> tuple[Signed, Form, Folder | None, FolderEntry | None] | Response:
        """``WebContext.changing`` (signed in, CSRF token and origin, the folder the
        user's own), with the folder as the list shows it. A folder of another mailbox,
        or none, gives this page's 404."""
        change = await ctx.changing(request)
        if isinstance(change, Response):
            return change
        if folder_id is None:
            return change.signed, change.form, None, None
        # Folder management is for the user's own mailbox only: a delegated folder, even
        # one the user may read, is not found here (its management is the owner's, or
        # IMAP's with the "k" and "x" rights).
        held = await ctx.held(change.signed, folder_id)
        if held is None or held.delegated:
            return await page(request, change.signed, error="error.not_found", status=404)
        folder = held.folder
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        entry = next(f for f in await folder_entries(store, change.signed.mailbox.id, lang) if f.id == folder.id)
        return change.signed, change.form, folder, entry

    @api.get(MANAGE)
    async def manage(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        return await page(request, signed, done=request.query_params.get("xong", "")[:20])

    @api.post(MANAGE + "/tao")
    async def create(request: Request) -> Response:
        found = await changing(request)
        if isinstance(found, Response):
            return found
        signed, form, _folder, _entry = found
        name = unicodedata.normalize("NFC", form.get("ten").strip())
        parent_id = number(form.get("cha"))
        values = {"ten": name}
        problem = name_problem(name)
        if problem:
            return await page(request, signed, error=problem, values=values, status=400)
        full = name
        if parent_id:
            held = await ctx.held(signed, parent_id)
            parent = held.folder if held is not None and not held.delegated else None
            if parent is None or (parent.special_use is not None and parent.name != "INBOX"):
                return await page(request, signed, error="folders.bad_parent", values=values, status=400)
            full = parent.name + DELIMITER + name
        try:
            await store.create_folder(signed.mailbox.id, full)
        except AlreadyExists:
            return await page(request, signed, error="folders.name_taken", values=values, status=400)
        except StoreError:
            return await page(request, signed, error="folders.name_bad", values=values, status=400)
        return render.redirect(MANAGE + "?xong=tao")

    @api.post(MANAGE + "/{folder_id}/doi-ten")
    async def rename(request: Request, folder_id: int) -> Response:
        found = await changing(request, folder_id)
        if isinstance(found, Response):
            return found
        signed, form, folder, entry = found
        assert folder is not None and entry is not None
        if entry.protected:
            return await page(request, signed, error="folders.protected", status=400)
        name = unicodedata.normalize("NFC", form.get("ten").strip())
        problem = name_problem(name)
        if problem:
            return await page(request, signed, error=problem, status=400)
        parent, _, _leaf = folder.name.rpartition(DELIMITER)
        try:
            await store.rename_folder(signed.mailbox.id, folder.name, f"{parent}{DELIMITER}{name}" if parent else name)
        except AlreadyExists:
            return await page(request, signed, error="folders.name_taken", status=400)
        except StoreError:
            return await page(request, signed, error="folders.name_bad", status=400)
        return render.redirect(MANAGE + "?xong=doi-ten")

    @api.post(MANAGE + "/{folder_id}/xoa")
    async def remove(request: Request, folder_id: int) -> Response:
        found = await changing(request, folder_id)
        if isinstance(found, Response):
            return found
        signed, form, folder, entry = found
        assert folder is not None and entry is not None
        if entry.protected:
            return await page(request, signed, error="folders.protected", status=400)
        if form.get("xac-nhan") != "1":
            return await page(request, signed, error="folders.confirm_needed", status=400)
        names = [f.name for f in await store.list_folders(signed.mailbox.id)]
        if any(name.startswith(folder.name + DELIMITER) for name in names):
            return await page(request, signed, error="folders.has_children", status=400)
        uids = [m.uid for m in await store.folder_index(folder.id)]
        if uids:
            trash = next((f for f in await store.list_folders(signed.mailbox.id) if f.special_use == "\\Trash"), None)
            if trash is None:
                return await page(request, signed, error="folders.no_trash", status=400)
            await store.move(folder.id, uids, trash.id)
        try:
            await store.delete_folder(signed.mailbox.id, folder.name)
        except StoreError:
            return await page(request, signed, error="error.not_found", status=404)
        return render.redirect(MANAGE + "?xong=xoa")

    @api.post(HOME + "/{folder_id}/don-rac")
    async def empty_trash(request: Request, folder_id: int) -> Response:
        found = await changing(request, folder_id)
        if isinstance(found, Response):
            return found
        signed, form, folder, _entry = found
        if folder is None or folder.special_use != "\\Trash":
            return await page(request, signed, error="error.not_found", status=404)
        if form.get("xac-nhan") != "1":
            return render.redirect(f"{HOME}/{folder.id}")
        uids = [m.uid for m in await store.folder_index(folder.id)]
        if uids:
            await store.store_flags(folder.id, uids, "add", flagbits.DELETED)
            await store.expunge(folder.id, uids)
        return render.redirect(f"{HOME}/{folder.id}")

    return api
