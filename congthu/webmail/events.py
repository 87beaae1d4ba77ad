"""New mail without reload: ``/thu/su-kien``, a stream of server-sent events (HTML Living
Standard, "Server-sent events") fed by the store's change feed, the one IMAP IDLE uses
(``ChangeHub.watch``: this process's commits, the other workers' through ``LocalFeed``,
other nodes' through PostgreSQL NOTIFY).

The stream watches every folder of the signed-in mailbox. When one changes it sends
``so-chua-doc`` (the folders' unread counts, ``MailStore.unseen_counts``, kept under the
folders' state by ``listview.FolderCounts``, so the streams of many tabs count once) and, for the
folder shown (``?thu-muc=``), ``thu-moi`` for each message with a UID above the newest
the page has (``?sau=``, or the ``Last-Event-ID`` the browser sends when it reconnects:
each ``thu-moi`` carries its UID as the event id), read with ``list_page`` by UID. On a
list by conversation (``?chuoi=1``) each new message's row stands for its conversation
(``MailStore.thread_of``: its size and unread count, and the UIDs of its other messages,
whose row the page removes: the conversation moves to the top). The
payloads are JSON; the page's script puts every value in with ``textContent``, so a
hostile subject is text.

Bounds: the session is checked again every ``CHECK_SECONDS``, on every change, at once
when this process ends sessions of its mailbox (sign-out, sign-out everywhere, a new
password: ``WebSessions.on_end``) and when the mailbox is revoked or disabled anywhere
(``ChangeHub.guard``, Điều 4.5): once it is signed out or expired the stream says
``het-phien`` and ends. A session has at
most ``MAX_PER_SESSION`` streams (tabs): one more is answered 204, which stops that tab's
EventSource (its page works, without live updates). Refusing the newest rather than
ending the oldest keeps tabs from taking turns reconnecting, and leaves a browser on
HTTP/1.1 (six connections per host) room for its other requests; a closed tab's stream
ends at once (the server hears the disconnect), freeing its place. A stream lasts at
most ``MAX_SECONDS``, then ends and the browser reconnects by itself (``retry``), so a
server stopping never waits long for open streams. A comment line every
``CHECK_SECONDS`` keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from congthu.store import Folder
from congthu.store import flags as flagbits
from congthu.webmail import i18n, render
from congthu.webmail.context import HOME, Signed, WebContext
from congthu.webmail.listview import PAGE_SIZE, number, row_of
from congthu.webmail.sessions import COOKIE

EVENTS = HOME + "/su-kien"
CHECK_SECONDS = 10.0
MAX_SECONDS = 55.0
MAX_PER_SESSION = 4
RETRY_MS = 3000
# Changes that come together are sent together: wait this long after the first.
GATHER_SECONDS = 0.05


class Stream:
    """One open stream: ``wake`` makes it look at its folders and its session again."""

    def __init__(self, mailbox_id: int) -> None:
        self.mailbox_id = mailbox_id
        self.wake = asyncio.Event()


class Streams:
    """The open streams of one App, by session."""

    def __init__(self) -> None:
        self.by_session: dict[int, list[Stream]] = {}

    def open(self, session_id: int, mailbox_id: int) -> Stream | None:
        """A new stream, or None when the session has its share."""
        mine = self.by_session.setdefault(session_id, [])
        if len(mine) >= MAX_PER_SESSION:
            return None
        stream = Stream(mailbox_id)
        mine.append(stream)
        return stream

    def close(self, session_id: int, stream: Stream) -> None:
        mine = self.by_session.get(session_id, [])
        with contextlib.suppress(ValueError):
            mine.remove(stream)
        if not mine:
            self.by_session.pop(session_id, None)

    def count(self, session_id: int) -> int:
        return len(self.by_session.get(session_id, []))

    def sessions_ended(self, mailbox_id: int, session_id: int | None) -> None:
        """Sessions were ended in this process (sign-out, sign-out everywhere, a new
        password): their streams check the session now and end, rather than at their
        next ``CHECK_SECONDS``. Another process's streams end at theirs."""
        for sid, mine in self.by_session.items():
            if session_id is None or sid == session_id:
                for stream in mine:
                    if stream.mailbox_id == mailbox_id:
                        stream.wake.set()


def message(event: str, data: Any, ident: int | None = None) -> bytes:
    """One server-sent event; ``data`` as one line of JSON (no newline can break out)."""
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def routes(ctx: WebContext) -> APIRouter:
    api = APIRouter()
    store = ctx.app.store
    streams = Streams()
    ctx.sessions.on_end.append(streams.sessions_ended)

    async def new_rows(folder: Folder, after: int, lang: str, threaded: bool) -> list[dict[str, Any]]:
        listed = await store.list_page(folder.id, "uid", descending=True, limit=PAGE_SIZE)
        rows = []
        for item in reversed([i for i in listed if i.meta.uid > after]):
            row = row_of(item, lang)
            shown: dict[str, Any] = {
                "uid": row.uid, "subject": row.subject, "sender": row.sender, "date": row.date,
                "size": i18n.show_size(row.size, lang), "seen": row.seen, "flagged": row.flagged,
                "url": f"{HOME}/{folder.id}/{row.uid}"}
            if threaded:
                members = await store.thread_of(folder.id, row.uid)
                unseen = sum(1 for m in members if not m.meta.flags & flagbits.SEEN)
                shown.update({"count": len(members), "seen": unseen == 0,
                              "count_text": i18n.translator(lang)("list.thread_count", count=len(members)),
                              "thread_url": f"{HOME}/{folder.id}/{row.uid}/cung-chuoi",
                              "replaces": [m.meta.uid for m in members if m.meta.uid != row.uid]})
            rows.append(shown)
        return rows

    async def quietly_signed(request: Request) -> Signed | None:
        """The request's live session and active mailbox, without moving the session's
        idle expiry on: an open tab's stream must not keep a session alive."""
        session = await ctx.sessions.find(request.cookies.get(COOKIE, ""), touch=False)
        if session is None:
            return None
        mailbox = await store.get_mailbox_by_id(session.mailbox_id)
        return Signed(session, mailbox) if mailbox is not None and mailbox.status == "active" else None

    async def still_signed(request: Request, signed: Signed) -> bool:
        again = await quietly_signed(request)
        return again is not None and again.session.id == signed.session.id and not again.session.must_change

    @api.get(EVENTS)
    async def events(request: Request) -> Response:
        signed = await quietly_signed(request)
        if signed is None or signed.session.must_change:
            # 204: the browser's EventSource stops reconnecting (the page, when next
            # loaded, goes to the sign-in).
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        shown_id = number(request.query_params.get("thu-muc", ""))
        shown = await ctx.own_folder(signed, shown_id) if shown_id else None
        threaded = request.query_params.get("chuoi") == "1"
        after = max(number(request.query_params.get("sau", "")),
                    number(request.headers.get("last-event-id", "")[:12]))
        # The mailbox of the page: the shown folder's (a delegated one, Điều 12, gives
        # the counts of its folders the user may read), else the user's own.
        mailbox_id = shown.mailbox_id if shown is not None else signed.mailbox.id
        folders = await ctx.visible_folders(signed, mailbox_id)
        visible = {f.id for f in folders}

        async def unseen() -> dict[int, int]:
            counts = await ctx.counts.unseen_of(mailbox_id, await store.list_folders(mailbox_id))
            return {fid: n for fid, n in counts.items() if fid in visible}

        async def still_allowed() -> bool:
            """A delegated folder's stream stops when the grant is revoked."""
            return shown is None or shown.mailbox_id == signed.mailbox.id or \
                await ctx.own_folder(signed, shown.id) is not None
        session_id = signed.session.id
        opened = streams.open(session_id, signed.mailbox.id)
        if opened is None:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        wake = opened.wake

        async def stream() -> AsyncIterator[bytes]:
            nonlocal after
            watches = {f.id: store.hub.watch(f.id, wake) for f in folders}
            # The mailbox revoked or disabled, in any process or node (Điều 4.5): look now.
            guard = store.hub.guard(signed.mailbox.id, wake.set)
            seen = {f.id: f.highestmodseq for f in folders}
            started = time.monotonic()
            try:
                yield f"retry: {RETRY_MS}\n\n".encode()
                yield message("so-chua-doc", await unseen())
                if shown is not None:  # what arrived between the page and this stream
                    for row in await new_rows(shown, after, lang, threaded):
                        after = max(after, row["uid"])
                        yield message("thu-moi", row, row["uid"])
                while True:
                    left = MAX_SECONDS - (time.monotonic() - started)
                    if left <= 0:
                        return
                    try:
                        await asyncio.wait_for(wake.wait(), min(CHECK_SECONDS, left))
                        woke = True
                    except TimeoutError:
                        woke = False
                    if not await still_signed(request, signed) or not await still_allowed():
                        yield message("het-phien", {})
                        return
                    if not woke:
                        yield b": ping\n\n"
                        continue
                    await asyncio.sleep(GATHER_SECONDS)
                    wake.clear()
                    changed = [fid for fid, w in watches.items() if w.modseq > seen[fid]]
                    for fid in changed:
                        seen[fid] = watches[fid].modseq
                    yield message("so-chua-doc", await unseen())
                    if shown is not None and shown.id in changed:
                        for row in await new_rows(shown, after, lang, threaded):
                            after = max(after, row["uid"])
                            yield message("thu-moi", row, row["uid"])
            finally:
                for w in watches.values():
                    w.close()
                guard.close()
                streams.close(session_id, opened)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={
            **render.PAGE_HEADERS, "X-Accel-Buffering": "no"})

    return api
