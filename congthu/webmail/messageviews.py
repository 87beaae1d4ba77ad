"""Two more views of a message: its conversation (``/thu/<folder>/<uid>/chuoi``) and a
print view (``/thu/<folder>/<uid>/in``).

Conversation: the messages of the signed-in mailbox, in any folder (replies sent from
Sent included), linked to this one by Message-ID, References and In-Reply-To, arranged by
the REFERENCES algorithm of RFC 5256 section 3 (``congthu.imap.threads.references``, what
IMAP THREAD uses). The candidates are found by the store's search (``search_text``, IMAP
SEARCH's path: the folded header section holds the Message-ID, References and
In-Reply-To fields), each ID of this message's chain searched in each folder; each
candidate's own fields are then read from its header and kept only if they really link
it. At most ``MAX_IDS`` IDs of the chain and ``MAX_MESSAGES`` messages.

Print view: the headers and the body (the plain text in the page, or the sanitised HTML
in the same sandboxed frame as the reading page), without the page's navigation; the
stylesheet's ``@media print`` rules and a button that calls the browser's print.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.imap import threads
from congthu.store import Content, Folder, MessageMeta, NotFound
from congthu.text import fold
from congthu.webmail import i18n
from congthu.webmail.context import HOME, Signed, WebContext
from congthu.webmail.reading import part_text, structure_of, view_of

MAX_IDS = 20
MAX_MESSAGES = 100
# Header bytes read of a candidate to check its links.
HEADER_BYTES = 65536


def chain_of(raw: bytes) -> tuple[str | None, list[str]]:
    """(own Message-ID, the IDs it refers to) of a message's header, RFC 5256 step 1:
    References if it has valid ones, else the first valid In-Reply-To."""
    end = raw.find(b"\r\n\r\n")
    head = BytesHeaderParser(policy=compat32).parsebytes(raw[: end + 4 if end >= 0 else HEADER_BYTES])
    own = threads.message_ids(str(head.get("message-id", "")))
    refs = threads.message_ids(str(head.get("references", ""))) or \
        threads.message_ids(str(head.get("in-reply-to", "")))[:1]
    return (own[0] if own else None), refs


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    store = ctx.app.store

    async def found(request: Request, folder_id: int, uid: int
                    ) -> tuple[Signed, Folder, MessageMeta, Content] | Response:
        signed = await ctx.require(request)
        if isinstance(signed, Response):
            return signed
        folder = await ctx.own_folder(signed, folder_id)
        metas = await store.get_messages(folder.id, [uid]) if folder else []
        try:
            content = await store.get_content(metas[0].content_id) if metas else None
        except NotFound:
            content = None
        if folder is None or content is None:
            return ctx.renderer.page(request, "error.html", {
                "csrf": signed.session.csrf, "address": signed.mailbox.address, "session": signed.session},
                status=404)
        return signed, folder, metas[0], content

    @api.get(HOME + "/{folder_id}/{uid}/in")
    async def printable(request: Request, folder_id: int, uid: int) -> Response:
        got = await found(request, folder_id, uid)
        if isinstance(got, Response):
            return got
        signed, folder, meta, content = got
        if folder.mailbox_id != signed.mailbox.id:  # Điều 12: a delegate's reading is audited
            held = await ctx.held(signed, folder.id)
            await ctx.audit_delegated(request, signed, "webmail.delegate.print", held.owner_address if held else "",
                                      {"folder": folder.name, "uid": uid})
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        raw = await store.read_message(content.id)
        view = view_of(structure_of(content.structure, raw), raw)
        text = part_text(raw, view.text_part)[0] if view.html_part is None and view.text_part is not None else ""
        return ctx.renderer.page(request, "print.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            "folder_id": folder.id, "uid": uid, "subject": content.subject, "sender": content.from_addr,
            "to": content.to_addr, "cc": content.cc_addr,
            "date": i18n.show_date(content.sent_date or meta.internal_date, lang),
            "has_html": view.html_part is not None, "text": text, "attachments": view.attachments})

    @api.get(HOME + "/{folder_id}/{uid}/chuoi")
    async def conversation(request: Request, folder_id: int, uid: int) -> Response:
        got = await found(request, folder_id, uid)
        if isinstance(got, Response):
            return got
        signed, folder, meta, content = got
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        own, refs = chain_of(await store.read_message(content.id))
        ids = list(dict.fromkeys(([own] if own else []) + refs))[-MAX_IDS:]
        # The conversation within the folder's mailbox, in the folders the user may read.
        mine = await ctx.visible_folders(signed, folder.mailbox_id)
        candidates: dict[tuple[int, int], None] = {(folder.id, uid): None}
        for each in mine:
            for mid in ids:
                for hit in await store.search_text(each.id, [fold(mid.strip("<>"))]):
                    if len(candidates) < MAX_MESSAGES:
                        candidates[each.id, hit] = None
        chosen: list[threads.ThreadMessage] = []
        where: list[tuple[int, int]] = []
        shown: dict[int, Any] = {}
        wanted = set(ids)
        for fid in {f for f, _u in candidates}:
            for item in await store.list_messages(fid, [u for f, u in candidates if f == fid]):
                item_own, item_refs = chain_of(await store.read_message(item.meta.content_id))
                linked = (fid, item.meta.uid) == (folder.id, uid) or (item_own in wanted) or \
                    bool(own and own in item_refs) or bool(wanted & set(item_refs))
                if not linked:
                    continue
                number = len(where)
                where.append((fid, item.meta.uid))
                shown[number] = item
                chosen.append(threads.ThreadMessage(
                    number, (item.sent_date or item.meta.internal_date, number), item.subject, item_own, item_refs))
        rows = []
        pane = await ctx.pane(request, signed, folder.mailbox_id)
        names = {f.id: f.full for f in pane["folders"]}
        stack = [(node, 0) for node in reversed(threads.references(chosen))]
        while stack:
            node, depth = stack.pop()
            kids = sorted(node.children, key=lambda n: n.message().key)
            stack.extend((kid, depth + (0 if node.dummy else 1)) for kid in reversed(kids))
            if node.dummy or node.msg is None:
                continue
            item = shown[node.msg.uid]
            fid, item_uid = where[node.msg.uid]
            rows.append({"folder_id": fid, "uid": item_uid, "depth": min(depth, 8), "subject": item.subject,
                         "sender": item.from_addr, "folder": names.get(fid, ""),
                         "date": i18n.show_date(item.sent_date or item.meta.internal_date, lang),
                         "current": (fid, item_uid) == (folder.id, uid)})
        return ctx.renderer.page(request, "thread.html", {
            "session": signed.session, "csrf": signed.session.csrf, "address": signed.mailbox.address,
            **pane, "subject": content.subject,
            "rows": rows, "back": f"{HOME}/{folder.id}/{uid}"})

    return api
