"""Server-side sessions of the webmail, and the CSRF tokens tied to them.

A session id is 32 random bytes (``secrets.token_urlsafe``) carried by an HttpOnly,
SameSite=Lax cookie (Secure on HTTPS); the table stores only its SHA-256, so reading the
database opens no session. A session ends at the earlier of ``ABSOLUTE_LIFETIME`` after
signing in and ``IDLE_LIFETIME`` after its last request; a session whose password must
be changed first (Điều 13.2) lives ``CHANGE_LIFETIME`` and reaches only the change form.

CSRF (OWASP "synchroniser token" without storage): the token of a form is an HMAC of a
fixed label keyed with the secret the browser already holds in an HttpOnly cookie: the
session id once signed in, a random pre-login id before (``PRE_COOKIE``). Another site
can neither read the cookie nor compute the token.

The SQL is plain synchronous functions on a ``Connection`` (``congthu.db``'s
``run_write`` / ``run_small_read``); ``WebSessions`` wraps them for the pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from congthu.db import Database
from congthu.webmail.tables import web_sessions

COOKIE = "congthu_phien"
PRE_COOKIE = "congthu_vao"
ABSOLUTE_LIFETIME = timedelta(hours=12)
IDLE_LIFETIME = timedelta(hours=2)
CHANGE_LIFETIME = timedelta(minutes=15)
# last_seen_at is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=60)
MAX_USER_AGENT = 300


@dataclass(frozen=True)
class WebSession:
    id: int
    mailbox_id: int
    must_change: bool
    user_agent: str
    client_ip: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    # The random id from the cookie (only for the session of the current request).
    secret: str = ""
    # Its user holds a console role (the header links to /quan-tri; WebContext.signed).
    console: bool = False

    @property
    def csrf(self) -> str:
        return csrf_token(self.secret)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of forms shown to the holder of ``secret`` (a cookie value)."""
    return hmac.new(secret.encode("utf-8", "surrogatepass"), b"congthu-webmail-csrf",
                    hashlib.sha256).hexdigest()


def csrf_matches(secret: str, token: str) -> bool:
    return bool(secret) and hmac.compare_digest(csrf_token(secret).encode(), token.encode("utf-8", "replace"))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _record(row: Any, secret: str = "") -> WebSession:
    return WebSession(
        id=row.id, mailbox_id=row.mailbox_id, must_change=bool(row.must_change), user_agent=row.user_agent,
        client_ip=row.client_ip, created_at=_aware(row.created_at), last_seen_at=_aware(row.last_seen_at),
        expires_at=_aware(row.expires_at), secret=secret,
    )


# -- SQL (one transaction each) ----------------------------------------------------------


def insert_session(conn: Connection, values: dict[str, Any], now: datetime) -> int:
    """A new session; expired sessions of every user are removed in the same write."""
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
    key = conn.execute(web_sessions.insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def find_session(conn: Connection, hashed: str) -> Any:
    return conn.execute(select(web_sessions).where(web_sessions.c.token_hash == hashed)).first()


def touch_session(conn: Connection, session_id: int, now: datetime, expires_at: datetime) -> None:
    conn.execute(update(web_sessions).where(web_sessions.c.id == session_id)
                 .values(last_seen_at=now, expires_at=expires_at))


def sessions_of(conn: Connection, mailbox_id: int, now: datetime) -> list[Any]:
    return list(conn.execute(
        select(web_sessions).where(web_sessions.c.mailbox_id == mailbox_id, web_sessions.c.expires_at >= now)
        .order_by(web_sessions.c.last_seen_at.desc())))


def delete_session(conn: Connection, mailbox_id: int, session_id: int) -> int:
    """Remove one session of this mailbox (never another mailbox's: the id comes from a form)."""
    return int(conn.execute(delete(web_sessions).where(
        web_sessions.c.id == session_id, web_sessions.c.mailbox_id == mailbox_id)).rowcount)


def delete_sessions_of(conn: Connection, mailbox_id: int) -> int:
    return int(conn.execute(delete(web_sessions).where(web_sessions.c.mailbox_id == mailbox_id)).rowcount)


# -- for the pages -----------------------------------------------------------------------


class WebSessions:
    """Opening, finding, listing and ending sessions, on one App's database."""

    def __init__(self, db: Database, clock: Any) -> None:
        self.db = db
        self.clock = clock
        # Told (mailbox id, session id or None for all of them) when sessions end here:
        # the event streams of those sessions close at once (``events.Streams``).
        self.on_end: list[Callable[[int, int | None], None]] = []

    async def open(self, mailbox_id: int, *, must_change: bool, user_agent: str, client_ip: str) -> WebSession:
        """A new session; returns it with its secret (for the cookie)."""
        now = self.clock()
        secret = secrets.token_urlsafe(32)
        expires = now + (CHANGE_LIFETIME if must_change else min(ABSOLUTE_LIFETIME, IDLE_LIFETIME))
        values = dict(token_hash=token_hash(secret), mailbox_id=mailbox_id, must_change=must_change,
                      user_agent=user_agent[:MAX_USER_AGENT], client_ip=client_ip[:64], created_at=now,
                      last_seen_at=now, expires_at=expires)
        session_id = await self.db.run_write(insert_session, values, now)
        return WebSession(id=session_id, mailbox_id=mailbox_id, must_change=must_change,
                          user_agent=values["user_agent"], client_ip=values["client_ip"], created_at=now,
                          last_seen_at=now, expires_at=expires, secret=secret)

    async def find(self, secret: str, *, touch: bool = True) -> WebSession | None:
        """The live session of this cookie value, its idle expiry moved on (unless
        ``touch`` is False: the webmail's event stream is no sign of a user); else None."""
        if not secret or len(secret) > 100:
            return None
        row = await self.db.run_small_read(find_session, token_hash(secret))
        if row is None:
            return None
        session = _record(row, secret)
        now = self.clock()
        if session.expires_at <= now:
            return None
        if touch and not session.must_change and now - session.last_seen_at >= TOUCH_EVERY:
            expires = min(session.created_at + ABSOLUTE_LIFETIME, now + IDLE_LIFETIME)
            await self.db.run_write(touch_session, session.id, now, expires)
        return session

    async def list(self, mailbox_id: int) -> list[WebSession]:
        rows = await self.db.run_small_read(sessions_of, mailbox_id, self.clock())
        return [_record(row) for row in rows]

    async def end(self, mailbox_id: int, session_id: int) -> bool:
        ended = bool(await self.db.run_write(delete_session, mailbox_id, session_id))
        self._ended(mailbox_id, session_id)
        return ended

    async def end_all(self, mailbox_id: int) -> int:
        count = await self.db.run_write(delete_sessions_of, mailbox_id)
        self._ended(mailbox_id, None)
        return count

    def _ended(self, mailbox_id: int, session_id: int | None) -> None:
        for listener in self.on_end:
            listener(mailbox_id, session_id)
