"""Folder management (``/thu/thu-muc``): create, rename and delete folders, and empty
Trash, in the user's own mailbox or in an organisation mailbox delegated to them
(``?hop-thu=<mailbox id>``, Điều 12) as far as the grant allows.

Names are Unicode as the user typed them (NFC; "Dự án 2026"); the store keeps them so
and IMAP shows them in modified UTF-7 (RFC 3501 section 5.1.3) through its own decoder.
A folder is made under a chosen parent ("/" is the hierarchy delimiter, so a name may not
hold one) through ``congthu.delegation.create_folder``, as IMAP CREATE: a new folder
inherits its parent's folder grants (RFC 4314 section 4). The Inbox and the special
folders (RFC 6154: Drafts, Sent, Archive, Junk, Trash) cannot be renamed or deleted here.

Deleting a folder: its messages are first moved to Trash (``MailStore.move``, as a
deleted message), then the empty folder is deleted (``delete_folder``, as IMAP DELETE),
after a confirmation box the user ticks. Roundcube deletes a folder's messages for good
after a confirmation (its maintainers declined moving them to Trash, roundcube#9048);
we keep them in Trash as Outlook does, since an official's folder deleted by mistake
must be recoverable. A folder with subfolders is refused until they are deleted or moved.

Emptying Trash marks every message there ``\\Deleted`` and expunges them (what IMAP
clients do), after the same ticked confirmation.

In a delegated mailbox the rights are the grant's, read through ``WebContext.held`` and
``mailbox_access`` on every request, with the letters IMAP asks for (RFC 4314 section 4,
``congthu.imap.cmd_mailbox``): creating needs "k" on the parent (the mailbox-wide grant
at the top level), renaming "x" on the folder and "k" where it stays, deleting "x" (and
"i" on Trash for its messages), emptying Trash "t" and "e" there. A delegate whose grant
holds neither "k" nor "x" anywhere has no folder management in that mailbox (404, as
for a mailbox not delegated at all); a folder the delegate sees without the right asked
for is 403. Every change there is audited (``webmail.delegate.folder_*``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu import delegation
from congthu.store import DELIMITER, AlreadyExists, Folder, StoreError
from congthu.store import flags as flagbits
from congthu.webmail import i18n, render
from congthu.webmail.context import HOME, Form, Held, Signed, WebContext, manages_folders
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


@dataclass
class Managed:
    """The mailbox whose folders a request manages, as the user may: their own (every
    right) or one delegated to them."""

    signed: Signed
    access: delegation.Access

    @property
    def mailbox_id(self) -> int:
        return self.access.owner_mailbox_id

    @property
    def delegated(self) -> bool:
        return self.mailbox_id != self.signed.mailbox.id

    def rights(self, folder: Folder | FolderEntry | None) -> str:
        """The rights on a folder (None: the top level, the mailbox-wide grant)."""
        return self.access.rights(None if folder is None or folder.name == delegation.INBOX else folder.id)

    def back(self, done: str = "") -> str:
        """This page again (``done``: the word saying what was done)."""
        query = [f"xong={done}"] if done else []
        if self.delegated:
            query.append(f"hop-thu={self.mailbox_id}")
        return MANAGE + ("?" + "&".join(query) if query else "")


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    app = ctx.app
    store = app.store

    async def managed(signed: Signed, mailbox_id: int) -> Managed | None:
        """The user's own mailbox, or a delegated one whose grant allows some folder
        management; None otherwise (the caller's 404)."""
        access = await ctx.mailbox_access(signed, mailbox_id)
        if access is None or (mailbox_id != signed.mailbox.id and not manages_folders(access)):
            return None
        return Managed(signed, access)

    async def entries(request: Request, where: Managed) -> list[FolderEntry]:
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        found = await folder_entries(ctx.counts, where.mailbox_id, lang)
        if where.delegated:
            visible = {f.id for f in await ctx.visible_folders(where.signed, where.mailbox_id)}
            found = [f for f in found if f.id in visible]
        return found

    async def page(request: Request, where: Managed, *, error: str = "", done: str = "",
                   values: dict[str, str] | None = None, status: int = 200) -> Response:
        signed = where.signed
        folders = await entries(request, where)
        counts = {f.id: await store.message_count(f.id) for f in folders}
        pane: dict[str, Any] = await ctx.pane(request, signed, where.mailbox_id) if where.delegated else {}
        return ctx.renderer.page(request, "folders.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address, **pane,
            "folders": folders, "counts": counts, "error": error, "done": done, "values": values or {},
            "managed_id": where.mailbox_id if where.delegated else "",
            "rights": {f.id: where.rights(f) for f in folders}, "top_rights": where.rights(None),
            "parents": [f for f in folders if (f.special_use is None or f.name == "INBOX") and "k" in where.rights(f)]},
            status=status)

    def not_found(request: Request, signed: Signed) -> Response:
        return ctx.error_page(request, signed, 404)

    async def changing(request: Request, folder_id: int | None = None, need: str = ""
                       ) -> tuple[Managed, Form, Folder | None, FolderEntry | None] | Response:
        """``WebContext.changing`` (signed in, CSRF token and origin), then the mailbox
        managed: the folder's (``held``: one the user may see), else the form's
        ``hop-thu`` (the user's own by default); with the rights ``need`` on the folder.
        A mailbox without folder management for the user, or a folder they cannot see,
        is the 404 of a folder that does not exist; a missing right is 403."""
        change = await ctx.changing(request)
        if isinstance(change, Response):
            return change
        signed, form = change.signed, change.form
        held: Held | None = None
        if folder_id is not None:
            held = await ctx.held(signed, folder_id)
            if held is None:
                return not_found(request, signed)
            mailbox_id = held.folder.mailbox_id
        else:
            mailbox_id = number(form.get("hop-thu")) or signed.mailbox.id
        where = await managed(signed, mailbox_id)
        if where is None:
            return not_found(request, signed)
        if held is None:
            return where, form, None, None
        if not held.may(need):
            return ctx.error_page(request, signed, 403)
        entry = next(f for f in await entries(request, where) if f.id == held.folder.id)
        return where, form, held.folder, entry

    async def applied(request: Request, where: Managed, work: Awaitable[object], *, done: str,
                      action: str, details: dict[str, object], values: dict[str, str] | None = None) -> Response:
        """The one ending of a change of folders: ``work`` (the store's call) done, then
        back to the page saying so (audited in a delegated mailbox); a name taken or
        refused by the store, the page again with the reason."""
        try:
            await work
        except AlreadyExists:
            return await page(request, where, error="folders.name_taken", values=values, status=400)
        except StoreError:
            return await page(request, where, error="folders.name_bad", values=values, status=400)
        if where.delegated:
            await ctx.audit_delegated(request, where.signed, f"webmail.delegate.{action}",
                                      where.access.owner_address, details)
        return render.redirect(where.back(done))

    @api.get(MANAGE)
    async def manage(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        where = await managed(signed, number(request.query_params.get("hop-thu", "")) or signed.mailbox.id)
        if where is None:
            return not_found(request, signed)
        return await page(request, where, done=request.query_params.get("xong", "")[:20])

    @api.post(MANAGE + "/tao")
    async def create(request: Request) -> Response:
        found = await changing(request)
        if isinstance(found, Response):
            return found
        where, form, _folder, _entry = found
        signed = where.signed
        name = unicodedata.normalize("NFC", form.get("ten").strip())
        parent_id = number(form.get("cha"))
        values = {"ten": name}
        problem = name_problem(name)
        if problem:
            return await page(request, where, error=problem, values=values, status=400)
        full = name
        parent: Folder | None = None
        if parent_id:
            held = await ctx.held(signed, parent_id)
            parent = held.folder if held is not None and held.folder.mailbox_id == where.mailbox_id else None
            if parent is None or (parent.special_use is not None and parent.name != "INBOX"):
                return await page(request, where, error="folders.bad_parent", values=values, status=400)
            full = parent.name + DELIMITER + name
        if "k" not in where.rights(parent):  # RFC 4314 section 4: CREATE needs "k" on the parent
            return ctx.error_page(request, signed, 403)
        return await applied(request, where, delegation.create_folder(
            app, where.mailbox_id, full, created_by=signed.mailbox.address),
            done="tao", action="folder_create", details={"folder": full}, values=values)

    @api.post(MANAGE + "/{folder_id}/doi-ten")
    async def rename(request: Request, folder_id: int) -> Response:
        found = await changing(request, folder_id, "x")
        if isinstance(found, Response):
            return found
        where, form, folder, entry = found
        assert folder is not None and entry is not None
        if entry.protected:
            return await page(request, where, error="folders.protected", status=400)
        name = unicodedata.normalize("NFC", form.get("ten").strip())
        problem = name_problem(name)
        if problem:
            return await page(request, where, error=problem, status=400)
        parent, _, _leaf = folder.name.rpartition(DELIMITER)
        # RENAME: "x" on the old name, "k" where the new one goes (the same parent).
        above = await store.get_folder(where.mailbox_id, parent) if parent else None
        if "k" not in where.rights(above):
            return ctx.error_page(request, where.signed, 403)
        new = f"{parent}{DELIMITER}{name}" if parent else name
        return await applied(request, where, store.rename_folder(where.mailbox_id, folder.name, new),
                             done="doi-ten", action="folder_rename", details={"folder": folder.name, "new": new})

    @api.post(MANAGE + "/{folder_id}/xoa")
    async def remove(request: Request, folder_id: int) -> Response:
        found = await changing(request, folder_id, "x")
        if isinstance(found, Response):
            return found
        where, form, folder, entry = found
        assert folder is not None and entry is not None
        if entry.protected:
            return await page(request, where, error="folders.protected", status=400)
        if form.get("xac-nhan") != "1":
            return await page(request, where, error="folders.confirm_needed", status=400)
        names = [f.name for f in await store.list_folders(where.mailbox_id)]
        if any(name.startswith(folder.name + DELIMITER) for name in names):
            return await page(request, where, error="folders.has_children", status=400)
        uids = [m.uid for m in await store.folder_index(folder.id)]
        if uids:
            trash = next((f for f in await store.list_folders(where.mailbox_id) if f.special_use == "\\Trash"), None)
            if trash is None:
                return await page(request, where, error="folders.no_trash", status=400)
            if not await ctx.own_folder(where.signed, trash.id, "i"):
                return ctx.error_page(request, where.signed, 403)
            await store.move(folder.id, uids, trash.id)
        try:
            await store.delete_folder(where.mailbox_id, folder.name)
        except StoreError:
            return await page(request, where, error="error.not_found", status=404)
        if where.delegated:
            await ctx.audit_delegated(request, where.signed, "webmail.delegate.folder_delete",
                                      where.access.owner_address, {"folder": folder.name, "messages": len(uids)})
        return render.redirect(where.back("xoa"))

    @api.post(HOME + "/{folder_id}/don-rac")
    async def empty_trash(request: Request, folder_id: int) -> Response:
        change = await ctx.changing(request, folder_id, need="te")
        if isinstance(change, Response):
            return change
        folder, held = change.folder, change.held
        assert folder is not None and held is not None
        if folder.special_use != "\\Trash":
            return not_found(request, change.signed)
        if change.form.get("xac-nhan") != "1":
            return render.redirect(f"{HOME}/{folder.id}")
        uids = [m.uid for m in await store.folder_index(folder.id)]
        if uids:
            await store.store_flags(folder.id, uids, "add", flagbits.DELETED)
            await store.expunge(folder.id, uids)
        if held.delegated:
            await ctx.audit_delegated(request, change.signed, "webmail.delegate.empty_trash", held.owner_address,
                                      {"messages": len(uids)})
        return render.redirect(f"{HOME}/{folder.id}")

    return api
