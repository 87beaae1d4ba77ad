"""What every webmail route shares: the App, the templates, the sessions, and the checks
run before a route does anything (signed in, password changed, CSRF token, same origin,
the folder belongs to the signed-in mailbox).

Authorisation is one function, ``held``: every route that takes a folder id (and a
message UID in it) gets the folder, with the rights the signed-in user has there, only if
it belongs to the session's mailbox (every right) or to a mailbox delegated to the user
(Điều 12; ``congthu.delegation``, the grants IMAP reads: the folder's own grant, else the
mailbox-wide one) with "l" and "r" there, its owner active. Any other id, existing or
not, is the same 404, so ids of other mailboxes reveal nothing. ``own_folder`` and
``changing`` call it and take the rights a route needs (RFC 4314 letters: "s" to change
\\Seen, "w" other flags, "t" and "e" to delete or move out, "i" to move in): a folder
the user sees without that right is a 403.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import Response

from congthu import audit, delegation
from congthu.accounts import roles
from congthu.console.access import CONSOLE_ROLES
from congthu.store import Folder, Mailbox
from congthu.webmail import i18n, render
from congthu.webmail.listview import FolderCounts, folder_entries
from congthu.webmail.prefs import Prefs
from congthu.webmail.previews import Previews
from congthu.webmail.sessions import COOKIE, PRE_COOKIE, WebSession, WebSessions, csrf_matches

if TYPE_CHECKING:
    from congthu.app import App

HOME = "/thu"
LOGIN = "/dang-nhap"
CHANGE = "/mat-khau-moi"
MAX_FIELD = 1024
MAX_THREAD_TOTALS = 10_000  # folders whose conversation count is kept
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


def manages_folders(access: delegation.Access) -> bool:
    """Whether a grant lets its holder manage some folder of the mailbox: "k" (create)
    or "x" (delete, rename) on the mailbox or on one of its folders (RFC 4314)."""
    return any(ch in rights for rights in (access.mailbox, *access.folders.values()) for ch in "kx")


@dataclass(frozen=True)
class Held:
    """A folder the signed-in user may act on: the rights there (RFC 4314 letters and
    "0", every one in the user's own mailbox), and the mailbox's owner."""

    folder: Folder
    rights: str
    owner_address: str
    delegated: bool

    def may(self, letters: str) -> bool:
        return all(ch in self.rights for ch in letters)


@dataclass
class Signed:
    """The signed-in user of a request."""

    session: WebSession
    mailbox: Mailbox


class Form:
    """A POSTed form: ``get`` gives a field's first value ("" if absent), ``all`` every value."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def get(self, key: str, default: str = "") -> str:
        values = self.fields.get(key)
        return values[0] if values else default

    def all(self, key: str) -> list[str]:
        return self.fields.get(key, [])


@dataclass
class Change:
    """A POST allowed to change something: its user, its form, and the user's own folder
    when the route names one."""

    signed: Signed
    form: Form
    folder: Folder | None = None
    held: Held | None = None


class WebContext:
    def __init__(self, app: App) -> None:
        self.app = app
        self.renderer = render.Renderer()
        self.sessions = WebSessions(app.db, lambda: app.accounts.clock())
        self.prefs = Prefs(app.db, lambda: app.accounts.clock())
        self.previews = Previews()
        self.counts = FolderCounts(app.store)
        # Folder id -> ((UIDNEXT, message count), conversations): the list by
        # conversation's total, counted again only when the folder's messages changed.
        self.thread_totals: dict[int, tuple[tuple[int, int], int]] = {}

    async def thread_total(self, folder: Folder, messages: int) -> int:
        """How many conversations the folder holds (``MailStore.thread_count``, a scan of
        the folder's subject index), kept while its UIDNEXT and message count stay the
        same: a message added raises the one, a message removed lowers the other."""
        key = (folder.uidnext, messages)
        known = self.thread_totals.get(folder.id)
        if known is not None and known[0] == key:
            return known[1]
        total = await self.app.store.thread_count(folder.id)
        if len(self.thread_totals) >= MAX_THREAD_TOTALS:
            self.thread_totals.clear()
        self.thread_totals[folder.id] = (key, total)
        return total

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

    async def held(self, signed: Signed, folder_id: int) -> Held | None:
        """The one authorisation check: folder ``folder_id`` with the user's rights there,
        if the user may see and read it (own mailbox, or delegated with "lr" there)."""
        folder = await self.app.store.get_folder_by_id(folder_id)
        if folder is None:
            return None
        if folder.mailbox_id == signed.mailbox.id:
            return Held(folder, delegation.ALL_RIGHTS, signed.mailbox.address, False)
        # Read again on every request: a grant revoked takes effect on the next click.
        access = await delegation.access_of(self.app, folder.mailbox_id, signed.mailbox.id)
        rights = access.rights(None if folder.name == delegation.INBOX else folder.id)
        if not access.owner_active or "l" not in rights or "r" not in rights:
            return None
        return Held(folder, rights, access.owner_address, True)

    async def own_folder(self, signed: Signed, folder_id: int, need: str = "") -> Folder | None:
        """``held``'s folder if the user also has the rights ``need`` there, else None."""
        held = await self.held(signed, folder_id)
        return held.folder if held is not None and held.may(need) else None

    async def mailbox_access(self, signed: Signed, mailbox_id: int) -> delegation.Access | None:
        """The user's access to a whole mailbox (the folder pane, search, the switcher):
        every right in their own; a delegated one with "l" somewhere, its owner active."""
        if mailbox_id == signed.mailbox.id:
            return delegation.Access(mailbox_id, signed.mailbox.address, True, delegation.ALL_RIGHTS)
        access = await delegation.access_of(self.app, mailbox_id, signed.mailbox.id)
        return access if access.owner_active and access.any_lookup else None

    async def delegated(self, signed: Signed) -> list[delegation.Access]:
        """The organisation mailboxes delegated to the user that they can open (Điều 12)."""
        return [a for a in await delegation.accesses_of(self.app, signed.mailbox.id)
                if a.owner_active and a.any_lookup]

    async def visible_folders(self, signed: Signed, mailbox_id: int) -> list[Folder]:
        """The folders of a mailbox the user may see and read: all of their own, those
        of a delegated mailbox with "lr" (the same rule as ``held``)."""
        access = await self.mailbox_access(signed, mailbox_id)
        if access is None:
            return []
        folders = await self.app.store.list_folders(mailbox_id)
        if mailbox_id == signed.mailbox.id:
            return folders
        return [f for f in folders
                if all(ch in access.rights(None if f.name == delegation.INBOX else f.id) for ch in "lr")]

    async def pane(self, request: Request, signed: Signed, mailbox_id: int | None = None) -> dict[str, Any]:
        """What the layout's folder pane shows for a page of mailbox ``mailbox_id`` (the
        user's own by default): its folders the user may see, with unread counts; the
        switcher between the user's mailbox and those delegated to them; and, in a
        delegated one, whose it is and whether the user may change anything."""
        lang = i18n.language(request.cookies.get(i18n.LANG_COOKIE))
        mailbox_id = signed.mailbox.id if mailbox_id is None else mailbox_id
        entries = await folder_entries(self.counts, mailbox_id, lang)
        if mailbox_id != signed.mailbox.id:
            visible = {f.id for f in await self.visible_folders(signed, mailbox_id)}
            entries = [e for e in entries if e.id in visible]
        delegated = await self.delegated(signed)
        acting = next((a for a in delegated if a.owner_mailbox_id == mailbox_id), None)
        return {"folders": entries, "mailbox_id": mailbox_id,
                "mailboxes": [(signed.mailbox.id, signed.mailbox.address)]
                + [(a.owner_mailbox_id, a.owner_address) for a in delegated] if delegated else [],
                "acting": acting.owner_address if acting else "",
                "acting_read_only": acting is not None and not any(ch in acting.mailbox for ch in "wte"),
                "acting_manage": acting is not None and manages_folders(acting)}

    async def audit_delegated(self, request: Request, signed: Signed, action: str, owner_address: str,
                              details: dict[str, object] | None = None) -> None:
        """Điều 12, 13.3: every use of a delegated mailbox in the webmail (switching into
        it, reading, sending as it, searching it) goes into the audit trail."""
        await audit.record(self.app, action, signed.mailbox.address, owner_address,
                           {"door": "web", **(details or {})}, client=client_ip(request))

    def error_page(self, request: Request, signed: Signed, status: int, *, bad: bool = False) -> Response:
        """The error page (404: not found, whatever the reason; 403 with ``bad``: a form
        whose token or origin is wrong; 403 without it: a right the user lacks)."""
        return self.renderer.page(request, "error.html", {
            "csrf": signed.session.csrf, "address": signed.mailbox.address, "session": signed.session,
            **({"bad": True} if bad else {}), **({"forbidden": True} if status == 403 and not bad else {})},
            status=status)

    async def changing(self, request: Request, folder_id: int | None = None, *,
                       max_chars: int = MAX_FIELD, need: str = "") -> Change | Response:
        """The checks every POST that changes something runs first, in this order:
        signed in (else to the sign-in), a readable form with the session's CSRF token
        from our own origin (else 403), and, given ``folder_id``, a folder the user may
        see (``held``; else the same 404 as a folder that does not exist) with the
        rights ``need`` there (else 403)."""
        signed = await self.require(request)
        if isinstance(signed, Response):
            return signed
        fields = await read_form(request, max_chars)
        if fields is None or not self.form_ok(request, signed.session.secret, first(fields, "csrf")):
            return self.error_page(request, signed, 403, bad=True)
        if folder_id is None:
            return Change(signed, Form(fields))
        held = await self.held(signed, folder_id)
        if held is None:
            return self.error_page(request, signed, 404)
        if not held.may(need):
            return self.error_page(request, signed, 403)
        return Change(signed, Form(fields), held.folder, held)

    @staticmethod
    def form_ok(request: Request, secret: str, token: str) -> bool:
        return same_origin(request) and csrf_matches(secret, token)

    @staticmethod
    def pre_secret(request: Request) -> str:
        return request.cookies.get(PRE_COOKIE, "")[:100]


async def read_form(request: Request, max_chars: int = MAX_FIELD) -> dict[str, list[str]] | None:
    """The POSTed form as lists of values (each cut to ``max_chars``), or None if unreadable."""
    try:
        form = await request.form(max_files=0, max_fields=1000)
    except Exception:  # a malformed body: the caller answers 400
        return None
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value[:max_chars])
    return out


def first(form: dict[str, list[str]], key: str) -> str:
    values = form.get(key)
    return values[0] if values else ""
