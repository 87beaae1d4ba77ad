"""Search (``/thu/tim?q=...``): in one folder or in all the mailbox's folders, accent- and
case-insensitive ("lich lam viec" finds "Lịch làm việc") in the subject, the sender, the
other header fields and the body.

There is one search: each folder is searched with ``MailStore.search_text``, the call
IMAP SEARCH TEXT makes, on the folded text made at delivery (``congthu.mime.search``)
through the trigram index (``congthu.store.search``). The query is folded with
``congthu.text.fold`` as IMAP's is; each word must occur (in any order), a phrase in
double quotes must occur as written. The hits are shown newest first (arrival date),
``PAGE_SIZE`` a page; of a folder with more than ``MAX_PER_FOLDER`` hits only the newest
are shown, and the page says so.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.store import Folder
from congthu.text import fold
from congthu.webmail import i18n
from congthu.webmail.context import HOME, WebContext
from congthu.webmail.listview import PAGE_SIZE, number, row_of

SEARCH = HOME + "/tim"
MAX_QUERY = 200
MAX_TERMS = 10
MAX_PER_FOLDER = 2000
_TERM = re.compile(r'"([^"]*)"|(\S+)')


def terms_of(query: str) -> list[str]:
    """The folded terms of a query: words, and phrases in double quotes kept whole."""
    found = [fold(phrase or word) for phrase, word in _TERM.findall(query[:MAX_QUERY])]
    return [term for term in dict.fromkeys(found) if term][:MAX_TERMS]


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    store = ctx.app.store

    @api.get(SEARCH)
    async def search(request: Request) -> Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        query = request.query_params.get("q", "")[:MAX_QUERY]
        scope_id = number(request.query_params.get("thu-muc", ""))
        held = await ctx.held(signed, scope_id) if scope_id else None
        scope = held.folder if held else None
        # The mailbox searched: the scope folder's, else the one named (a delegated
        # mailbox, Điều 12), else the user's own; only folders the user may read.
        mailbox_id = scope.mailbox_id if scope else number(request.query_params.get("hop-thu", "")) or signed.mailbox.id
        access = await ctx.mailbox_access(signed, mailbox_id)
        if access is None:
            return ctx.error_page(request, signed, 404)
        pane = await ctx.pane(request, signed, mailbox_id)
        folders = pane["folders"]
        chosen: list[Folder] = [scope] if scope is not None else await ctx.visible_folders(signed, mailbox_id)
        terms = terms_of(query)
        if terms and mailbox_id != signed.mailbox.id:
            await ctx.audit_delegated(request, signed, "webmail.delegate.search", access.owner_address,
                                      {"query": query, "folder": scope.name if scope else ""})
        hits: list[tuple[object, int, int]] = []  # (arrival date, uid, folder id)
        total, capped = 0, False
        for folder in chosen if terms else []:
            uids = await store.search_text(folder.id, terms)
            total += len(uids)
            if len(uids) > MAX_PER_FOLDER:
                uids, capped = uids[-MAX_PER_FOLDER:], True
            for meta in await store.get_messages(folder.id, uids):
                hits.append((meta.internal_date, meta.uid, folder.id))
        hits.sort(reverse=True)
        pages = max(1, (len(hits) + PAGE_SIZE - 1) // PAGE_SIZE)
        page = min(max(1, number(request.query_params.get("trang", "1"), 1)), pages)
        chosen_hits = hits[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        by_folder: dict[int, list[int]] = {}
        for _date, uid, folder_id in chosen_hits:
            by_folder.setdefault(folder_id, []).append(uid)
        listed = {}
        for folder_id, uids in by_folder.items():
            for item in await store.list_messages(folder_id, uids):
                listed[folder_id, item.meta.uid] = item
        names = {f.id: f.full for f in folders}
        rows = [(row_of(listed[key], lang), names.get(key[0], "")) for key in
                ((folder_id, uid) for _date, uid, folder_id in chosen_hits) if key in listed]
        return ctx.renderer.page(request, "search.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            **pane, "query": query, "scope": scope.id if scope else 0, "searched": bool(terms),
            "rows": rows, "total": total, "capped": capped, "page": page, "pages": pages,
            "max_per_folder": MAX_PER_FOLDER})

    return api
