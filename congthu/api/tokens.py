"""Scoped API tokens: made and revoked by an administrator, for the province's other
applications (issue 15: "scoped tokens for automation").

A token is ``ctk_`` and 256 random bits (URL-safe base64), shown once when it is made;
the table keeps its SHA-256 and its first characters (``hint``) to tell tokens apart.
Each token carries:

* an owner: the account whose rights it exercises, through the console's one check
  (``congthu.console.access``); a token never holds more than its owner, and a role
  taken from the owner, or the owner's departure, acts on the token at once;
* scopes (``SCOPES``), which narrow what the owner's rights allow to some endpoints;
* optionally an organisation: then only that organisation and its sub-units;
* an expiry (``api.token_days``, at most ``api.token_max_days``), a revocation, and the
  time and address of its last use.

Making, listing and revoking are ``congthu api token create|list|revoke`` (``cli.py``),
the console's page (``pages.py``) and the API's ``/api/v1/tokens`` (``tokens_api.py``,
never beyond the calling token); each is audited (``api.token_created``,
``api.token_revoked``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from congthu import audit
from congthu.accounts import roles
from congthu.api.tables import api_tokens
from congthu.console.access import CONSOLE_ROLES
from congthu.directory import Directory, DirectoryError

if TYPE_CHECKING:
    from congthu.app import App

PREFIX = "ctk_"
HINT_LENGTH = 10
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Scope -> what it opens (Vietnamese / English), the endpoints in docs/api.md.
SCOPES: dict[str, str] = {
    "directory:read": "đọc danh bạ: cây tổ chức, cán bộ, tìm kiếm / read the directory",
    "directory:write": "thêm cán bộ theo đề xuất địa chỉ của Điều 3, đổi tên, nghỉ việc (Điều 4.5) / add people "
                       "with the address of article 3, rename them, their departure (article 4.5)",
    "orgs:write": "sắp xếp lại tổ chức (đổi tên, sáp nhập, chia tách, giải thể), nhập danh bạ từ tệp / "
                  "reorganise organisations (rename, merge, split, dissolve), import the directory from a file",
    "mailboxes:read": "đọc trạng thái hộp thư / read the states of mailboxes",
    "mailboxes:export": "xuất thư của hộp thư ra mbox hoặc zip (Điều 4.4, 4.5) / export a mailbox's mail "
                        "(articles 4.4, 4.5)",
    "requests:read": "đọc yêu cầu (Điều 4) / read requests (article 4)",
    "requests:write": "gửi và xử lý yêu cầu (Điều 4) / file and act on requests (article 4)",
    "requests:passwords": "nhận mật khẩu dùng một lần của yêu cầu đã xong / take the one-time passwords "
                          "of done requests",
    "reports:read": "đọc báo cáo (Điều 9.13) / read reports (article 9.13)",
    "aliases:write": "thêm, xóa bí danh (Điều 3.3c) / add and remove aliases (article 3.3c)",
    "delegations:write": "cấp, thu hồi ủy quyền hộp thư tổ chức (Điều 12) / grant and revoke delegations "
                         "(article 12)",
    "calendar:write": "sửa ngày điều chỉnh của lịch làm việc (Điều 4.3) / edit the working-day calendar's "
                      "overrides (article 4.3)",
    "journal:read": "tìm và đọc thư lưu giữa các cơ quan (Điều 7.3–7.5) / search and read the journal "
                    "(articles 7.3-7.5)",
    "quarantine:manage": "xem, giải phóng, xóa thư bị giữ (Điều 9.9) / list, release and delete held messages "
                         "(article 9.9)",
    "tokens:manage": "liệt kê, tạo, thu hồi mã truy cập trong phạm vi của mã đang dùng / list, make and revoke "
                     "tokens within the calling token's own",
}
ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"


class TokenError(Exception):
    """A refused token command; the text (Vietnamese / English) is for the administrator."""


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    description: str
    hint: str
    owner_id: int
    scopes: tuple[str, ...]
    org_id: int | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str
    last_used_at: datetime | None
    last_used_from: str

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return REVOKED
        if now >= self.expires_at:
            return EXPIRED
        return ACTIVE


def token_hash(token: str) -> str:
    """How a token is kept: long and random, so a fast hash suffices (nothing to guess
    from a dictionary), and a check costs one indexed look-up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _token(row: Any) -> Token:
    created, expires = _aware(row.created_at), _aware(row.expires_at)
    assert created is not None and expires is not None
    return Token(id=row.id, name=row.name, description=row.description, hint=row.hint, owner_id=row.owner_id,
                 scopes=tuple(row.scopes.split()), org_id=row.org_id, created_by=row.created_by,
                 created_at=created, expires_at=expires, revoked_at=_aware(row.revoked_at),
                 revoked_by=row.revoked_by, last_used_at=_aware(row.last_used_at),
                 last_used_from=row.last_used_from)


def check_scopes(scopes: list[str]) -> tuple[str, ...]:
    """The scopes, each known, in a stable order; TokenError otherwise."""
    wanted = {s.strip().lower() for text in scopes for s in text.replace(",", " ").split() if s.strip()}
    if not wanted:
        raise TokenError(f"Cần ít nhất một phạm vi / at least one scope is needed: {', '.join(SCOPES)}")
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise TokenError(f"Phạm vi không tồn tại / unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)


# -- SQL (one transaction each, or inside the caller's) ----------------------------------------


def token_by_hash(conn: Connection, digest: str) -> Token | None:
    row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == digest)).first()
    return _token(row) if row is not None else None


def token_rows(conn: Connection) -> list[Token]:
    return [_token(r) for r in conn.execute(select(api_tokens).order_by(api_tokens.c.id))]


def mark_used(conn: Connection, token_id: int, now: datetime, client: str) -> None:
    """The token's last use (in the transaction that audits the call)."""
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                 .values(last_used_at=now, last_used_from=client[:64]))


def _insert(conn: Connection, values: dict[str, Any], actor: str, details: dict[str, Any]) -> Token:
    key: Any = conn.execute(insert(api_tokens).values(**values)).inserted_primary_key
    token_id = int(key[0])
    audit.append(conn, at=values["created_at"], action="api.token_created", actor=actor,
                 target=f"api-token:{token_id}", details=details)
    return _token(conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one())


def _revoke(conn: Connection, token_id: int, actor: str, now: datetime) -> bool:
    """Revoke the token and every token it made through the API, and theirs: a leaked
    automation token cannot leave behind tokens it made for itself."""
    changed = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                           .values(revoked_at=now, revoked_by=actor[:320])).rowcount
    if changed:
        audit.append(conn, at=now, action="api.token_revoked", actor=actor, target=f"api-token:{token_id}",
                     details={})
    makers, seen = [token_id], {token_id}
    while makers:
        made = [int(r[0]) for r in conn.execute(select(api_tokens.c.id).where(
            api_tokens.c.made_by_token.in_(makers)))]
        makers = [t for t in made if t not in seen]
        seen.update(makers)
        for child in makers:
            if conn.execute(update(api_tokens).where(api_tokens.c.id == child, api_tokens.c.revoked_at.is_(None))
                            .values(revoked_at=now, revoked_by=actor[:320])).rowcount:
                audit.append(conn, at=now, action="api.token_revoked", actor=actor, target=f"api-token:{child}",
                             details={"made_by_token": token_id})
    return bool(changed)


# -- what administrators call ------------------------------------------------------------------------


class Tokens:
    """The API tokens of one App (its clock is the accounts' clock, injected by tests)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def now(self) -> datetime:
        return self.app.accounts.clock().astimezone(UTC)

    async def create(self, name: str, scopes: list[str], *, owner: str, actor: str, org: str | int | None = None,
                     days: int | None = None, description: str = "",
                     made_by_token: int | None = None) -> tuple[Token, str]:
        """Make a token; returns it and its secret text (shown once, never kept).
        ``made_by_token``: the calling token, when a token makes it through the API."""
        name = name.strip().lower()
        if not NAME.fullmatch(name):
            raise TokenError(f"Tên không hợp lệ / invalid name {name!r}: 1-64 of a-z 0-9 . - _")
        chosen = check_scopes(scopes)
        settings = self.app.settings.api
        days = settings.token_days if days is None else days
        if not 1 <= days <= settings.token_max_days:
            raise TokenError(f"Số ngày hiệu lực từ 1 đến {settings.token_max_days} / days valid: 1 to "
                             f"{settings.token_max_days}")
        mailbox = await self.app.store.get_mailbox(owner.strip().lower())
        if mailbox is None or mailbox.status != "active":
            raise TokenError(f"Không có hộp thư đang hoạt động / no active mailbox: {owner}")
        held = await roles.grants(self.app, mailbox.id)
        if not any(g.role in CONSOLE_ROLES for g in held):
            raise TokenError(f"{mailbox.address} không có vai trò quản trị nào; mã truy cập chỉ mang quyền của chủ "
                             f"sở hữu / holds no console role, and a token carries only its owner's rights")
        org_id: int | None = None
        if org is not None and str(org).strip():
            try:
                org_id = (await Directory(self.app).get_org(org, include_inactive=False)).id
            except DirectoryError as exc:
                raise TokenError(str(exc)) from None
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self.now()
        expires = now + timedelta(days=days)
        values = dict(name=name, description=description.strip()[:200], token_hash=token_hash(secret),
                      hint=secret[:HINT_LENGTH], owner_id=mailbox.id, scopes=" ".join(chosen), org_id=org_id,
                      created_by=actor[:320], made_by_token=made_by_token, created_at=now, expires_at=expires,
                      revoked_by="", last_used_from="")
        details = {"name": name, "owner": mailbox.address, "scopes": list(chosen), "org_id": org_id,
                   "expires_at": expires.isoformat(), "hint": secret[:HINT_LENGTH]}
        token = await self.app.db.run_write(_insert, values, actor, details)
        return token, secret

    async def listing(self) -> list[Token]:
        return await self.app.db.run_read(token_rows)

    async def revoke(self, token_id: int, *, actor: str) -> bool:
        """Revoke at once (the next call with it is refused); False if already revoked
        or unknown."""
        return await self.app.db.run_write(_revoke, token_id, actor, self.now())

    async def find(self, secret: str) -> Token | None:
        """The token whose text this is (any state), None if none."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        return await self.app.db.run_small_read(token_by_hash, token_hash(secret))
