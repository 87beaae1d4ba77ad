"""What every webmail route shares: the App, the templates, the sessions, and the checks
run before a route does anything (signed in, password changed, CSRF token, same origin,
the folder belongs to the signed-in mailbox).

Authorisation is one function, ``own_folder``: every route that takes a folder id (and a
message UID in it) gets the folder only if it belongs to the session's mailbox; any
other id, existing or not, is the same 404, so ids of other mailboxes reveal nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import Response

from congthu.accounts import roles
from congthu.console.access import CONSOLE_ROLES
from congthu.store import Folder, Mailbox
from congthu.webmail import render
from congthu.webmail.sessions import COOKIE, PRE_COOKIE, WebSession, WebSessions, csrf_matches

if TYPE_CHECKING:
    from congthu.app import App

HOME = "/thu"
LOGIN = "/dang-nhap"
CHANGE = "/mat-khau-moi"
MAX_FIELD = 1024
# Where a sign-in may send the browser afterwards: our own mail pages, nothing else
# (no scheme, no host, no "//", no backslash, no dot segments).
_SAFE_NEXT = re.compile(r"^/(thu|cai-dat|quan-tri)(/[A-Za-z0-9_-]+)*/?(\?[A-Za-z0-9_=&%-]*)?$")


def safe_next(value: str | None) -> str:
    return value if value and len(value) <= 200 and _SAFE_NEXT.match(value) else HOME


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def same_origin(request: Request) -> bool:
    """A POST from our own pages: an Origin header, if any, names this host."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


@dataclass
class Signed:
    """The signed-in user of a request."""

    session: WebSession
    mailbox: Mailbox


class WebContext:
    def __init__(self, app: App) -> None:
        self.app = app
        self.renderer = render.Renderer()
        self.sessions = WebSessions(app.db, lambda: app.accounts.clock())

    async def signed(self, request: Request) -> Signed | None:
        """The session and mailbox of the request's cookie, if live and active."""
        session = await self.sessions.find(request.cookies.get(COOKIE, ""))
        if session is None:
            return None
        mailbox = await self.app.store.get_mailbox_by_id(session.mailbox_id)
        if mailbox is None or mailbox.status != "active":
            return None
        if any(g.role in CONSOLE_ROLES for g in await roles.grants(self.app, mailbox.id)):
            session = replace(session, console=True)
        return Signed(session, mailbox)

    async def require(self, request: Request) -> Signed | Response:
        """The signed-in user of a mail page, or where to send the browser instead: the
        sign-in page, or the change form while the password must be changed."""
        signed = await self.signed(request)
        if signed is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            nxt = safe_next(target)
            return render.redirect(LOGIN if nxt == HOME else f"{LOGIN}?tiep={quote(nxt, safe='/')}")
        if signed.session.must_change:
            return render.redirect(CHANGE)
        return signed

    async def own_folder(self, signed: Signed, folder_id: int) -> Folder | None:
        folder = await self.app.store.get_folder_by_id(folder_id)
        if folder is None or folder.mailbox_id != signed.mailbox.id:
            return None
        return folder

    @staticmethod
    def form_ok(request: Request, secret: str, token: str) -> bool:
        return same_origin(request) and csrf_matches(secret, token)

    @staticmethod
    def pre_secret(request: Request) -> str:
        return request.cookies.get(PRE_COOKIE, "")[:100]


async def read_form(request: Request) -> dict[str, list[str]] | None:
    """The POSTed form as lists of values (each cut to MAX_FIELD), or None if unreadable."""
    try:
        form = await request.form(max_files=0, max_fields=1000)
    except Exception:  # a malformed body: the caller answers 400
        return None
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value[:MAX_FIELD])
    return out


def first(form: dict[str, list[str]], key: str) -> str:
    values = form.get(key)
    return values[0] if values else ""
