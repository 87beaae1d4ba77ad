"""The SQL of the credential tables: one synchronous function per transaction's work,
each taking a ``Connection`` first (``Database.run_write`` / ``run_read`` /
``run_small_read``, or a caller's own transaction).

``credentials`` (one per mailbox), ``password_history``, ``app_passwords``, ``totp`` and
``recovery_codes`` are the accounts package's own tables (``tables.py``); no other
package reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from congthu.accounts.tables import app_passwords, credentials, password_history, recovery_codes
from congthu.accounts.tables import totp as totp_table
from congthu.store.changes import account_changed, mailbox_key

# Read before every login, by mailbox id (run_small_read: no hop to a reader thread).
_CREDENTIAL = select(credentials).where(credentials.c.mailbox_id == bindparam("b_mailbox"))
_TOTP_ENABLED = select(totp_table.c.enabled).where(totp_table.c.mailbox_id == bindparam("b_mailbox"))


def credential_row(conn: Connection, mailbox_id: int) -> Any:
    return conn.execute(_CREDENTIAL, {"b_mailbox": mailbox_id}).first()


def totp_enabled(conn: Connection, mailbox_id: int) -> bool:
    row = conn.execute(_TOTP_ENABLED, {"b_mailbox": mailbox_id}).first()
    return bool(row and row.enabled)


# What a password login needs of a mailbox's credentials, in one statement: the
# credential and whether its second factor is on (``LoginChecks.authenticate``).
_CREDENTIAL_AND_TOTP = (
    select(credentials, totp_table.c.enabled.label("totp_enabled"))
    .select_from(credentials.outerjoin(totp_table, totp_table.c.mailbox_id == credentials.c.mailbox_id))
    .where(credentials.c.mailbox_id == bindparam("b_mailbox"))
)


def credential_and_totp(conn: Connection, mailbox_id: int) -> tuple[Any, bool]:
    """(the credential row or None, whether the second factor is on)."""
    row = conn.execute(_CREDENTIAL_AND_TOTP, {"b_mailbox": mailbox_id}).first()
    return row, bool(row is not None and row.totp_enabled)


def store_password(conn: Connection, mailbox_id: int, values: dict[str, Any], hashed: str, now: datetime,
                   keep: int) -> None:
    """Write a credential (insert or update) and the history, keeping the ``keep`` newest
    (announced on the account feed, as every change here of what a login reads)."""
    account_changed(conn, mailbox_key(mailbox_id))
    result = conn.execute(update(credentials).where(credentials.c.mailbox_id == mailbox_id).values(**values))
    if not result.rowcount:
        conn.execute(insert(credentials).values(mailbox_id=mailbox_id, **values))
    conn.execute(insert(password_history).values(mailbox_id=mailbox_id, password_hash=hashed, set_at=now))
    old = conn.execute(
        select(password_history.c.id).where(password_history.c.mailbox_id == mailbox_id)
        .order_by(password_history.c.id.desc()).offset(keep)
    ).scalars().all()
    if old:
        conn.execute(delete(password_history).where(password_history.c.id.in_(old)))


def history_hashes(conn: Connection, mailbox_id: int, count: int) -> list[str]:
    return list(conn.execute(
        select(password_history.c.password_hash).where(password_history.c.mailbox_id == mailbox_id)
        .order_by(password_history.c.id.desc()).limit(count)
    ).scalars().all())


def after_login(conn: Connection, mailbox_id: int, values: dict[str, Any], app_password_id: int | None,
                now: datetime) -> None:
    """A successful check: store a rehash or new SCRAM keys, note the app password's use."""
    if values:
        conn.execute(update(credentials).where(credentials.c.mailbox_id == mailbox_id).values(**values))
        account_changed(conn, mailbox_key(mailbox_id))
    if app_password_id is not None:
        conn.execute(update(app_passwords).where(app_passwords.c.id == app_password_id).values(last_used_at=now))


def reminders_due(conn: Connection, horizon: datetime) -> list[Any]:
    """(mailbox_id, changed_at, reminded_days) of passwords set at ``horizon`` or before
    that need not be changed at first login (their expiry is near)."""
    return list(conn.execute(
        select(credentials.c.mailbox_id, credentials.c.changed_at, credentials.c.reminded_days)
        .where(credentials.c.must_change.is_(False), credentials.c.changed_at <= horizon)
        .order_by(credentials.c.mailbox_id)
    ).all())


def mark_reminded(conn: Connection, mailbox_id: int, days: int) -> None:
    conn.execute(update(credentials).where(credentials.c.mailbox_id == mailbox_id).values(reminded_days=days))


# -- app passwords ----------------------------------------------------------------------

def app_password_rows(conn: Connection, mailbox_id: int) -> list[Any]:
    return list(conn.execute(
        select(app_passwords).where(app_passwords.c.mailbox_id == mailbox_id).order_by(app_passwords.c.id)).all())


def app_password_id(conn: Connection, mailbox_id: int, password_hash: str) -> int | None:
    row = conn.execute(select(app_passwords.c.id).where(and_(
        app_passwords.c.mailbox_id == mailbox_id, app_passwords.c.password_hash == password_hash))).first()
    return int(row.id) if row else None


def add_app_password(conn: Connection, mailbox_id: int, label: str, password_hash: str, stored_key: str,
                     server_key: str, now: datetime) -> None:
    conn.execute(insert(app_passwords).values(
        mailbox_id=mailbox_id, label=label[:100], password_hash=password_hash,
        scram_stored_key=stored_key, scram_server_key=server_key, created_at=now))


def revoke_app_password(conn: Connection, mailbox_id: int, app_password_id: int) -> bool:
    result = conn.execute(delete(app_passwords).where(and_(
        app_passwords.c.mailbox_id == mailbox_id, app_passwords.c.id == app_password_id)))
    return bool(result.rowcount)


# -- second factor (RFC 6238) -------------------------------------------------------------

def totp_row(conn: Connection, mailbox_id: int) -> Any:
    return conn.execute(select(totp_table).where(totp_table.c.mailbox_id == mailbox_id)).first()


def totp_begin(conn: Connection, mailbox_id: int, secret: str, now: datetime) -> None:
    account_changed(conn, mailbox_key(mailbox_id))
    conn.execute(delete(totp_table).where(totp_table.c.mailbox_id == mailbox_id))
    conn.execute(insert(totp_table).values(mailbox_id=mailbox_id, secret=secret, enabled=False,
                                           created_at=now, last_step=0))


def totp_enable(conn: Connection, mailbox_id: int, step: int, recovery_hashes: Sequence[str]) -> None:
    account_changed(conn, mailbox_key(mailbox_id))
    conn.execute(update(totp_table).where(totp_table.c.mailbox_id == mailbox_id).values(enabled=True, last_step=step))
    conn.execute(delete(recovery_codes).where(recovery_codes.c.mailbox_id == mailbox_id))
    conn.execute(insert(recovery_codes), [{"mailbox_id": mailbox_id, "code_hash": h} for h in recovery_hashes])


def totp_used(conn: Connection, mailbox_id: int, step: int) -> None:
    conn.execute(update(totp_table).where(totp_table.c.mailbox_id == mailbox_id).values(last_step=step))


def totp_remove(conn: Connection, mailbox_id: int) -> None:
    account_changed(conn, mailbox_key(mailbox_id))
    conn.execute(delete(totp_table).where(totp_table.c.mailbox_id == mailbox_id))
    conn.execute(delete(recovery_codes).where(recovery_codes.c.mailbox_id == mailbox_id))


def use_recovery_code(conn: Connection, mailbox_id: int, code_hash: str, now: datetime) -> bool:
    used = conn.execute(update(recovery_codes).where(and_(
        recovery_codes.c.mailbox_id == mailbox_id, recovery_codes.c.code_hash == code_hash,
        recovery_codes.c.used_at.is_(None))).values(used_at=now))
    return bool(used.rowcount)
